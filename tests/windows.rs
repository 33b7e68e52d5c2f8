//! Release windows and freezes: a run outside them is refused before any
//! change, naming why and the next opening; `--override-window --reason`
//! goes ahead on the record. The clock is injected (RELCTL_NOW).

use crate::support::*;

const SCHEDULED: &str = "version: 1
name: scheduled
windows:
  - { days: [tue, wed, thu], from: \"09:00\", to: \"16:00\", zone: Europe/Berlin }
freezes:
  - { from: 2026-12-21, to: 2027-01-04, reason: year-end freeze, zone: Europe/Berlin }
execute:
  - run: touch deployed
";

fn at(sb: &Sandbox, now: &str, extra: &[&str]) -> Run {
    let mut args = vec!["run", "release.yaml", "--non-interactive"];
    args.extend_from_slice(extra);
    sb.relctl_env(&args, &[("RELCTL_NOW", now)])
}

#[test]
fn a_run_outside_the_window_is_refused_before_any_change_naming_the_next_opening() {
    let sb = Sandbox::new();
    sb.write("release.yaml", SCHEDULED);
    // Friday 2026-12-04 18:00 UTC: closed until Tuesday 09:00 Berlin (08:00 UTC).
    let r = at(&sb, "2026-12-04T18:00:00Z", &[]);
    r.expect_code(1);
    assert!(r.stderr.contains("outside the release windows (tue,wed,thu 09:00–16:00 Europe/Berlin)"), "{}", r.stderr);
    assert!(r.stderr.contains("the next opening is 2026-12-08T08:00:00Z"), "{}", r.stderr);
    assert!(r.stderr.contains("--override-window --reason TEXT"), "{}", r.stderr);
    assert!(!sb.path().join("deployed").exists());
    assert!(!sb.path().join(".relctl/runs").exists(), "nothing was started");
    // In the freeze, even inside a window: closed until the freeze ends.
    let r = at(&sb, "2026-12-22T10:00:00Z", &[]);
    r.expect_code(1);
    assert!(
        r.stderr.contains("year-end freeze") && r.stderr.contains("the next opening is 2027-01-05T08:00:00Z"),
        "{}",
        r.stderr
    );
    // Inside the window: it runs.
    at(&sb, "2026-12-08T09:00:00Z", &[]).expect_code(0);
    assert!(sb.path().join("deployed").exists());
}

#[test]
fn an_override_needs_a_reason_and_is_on_the_record() {
    let sb = Sandbox::new();
    sb.write("release.yaml", SCHEDULED);
    at(&sb, "2026-12-04T18:00:00Z", &["--override-window"]).expect_code(2);
    let r = at(&sb, "2026-12-04T18:00:00Z", &["--override-window", "--reason", "INC-77 hotfix"]);
    r.expect_code(0);
    assert!(r.stdout.contains("WINDOW OVERRIDDEN by tester: INC-77 hotfix"), "{}", r.stdout);
    let j = sb.journal();
    let o = &events(&j, "window_overridden")[0];
    assert_eq!((o["actor"].as_str(), o["reason"].as_str()), (Some("tester"), Some("INC-77 hotfix")));
    assert!(o["closed"].as_str().unwrap().contains("outside the release windows"), "{o}");
    let status = sb.relctl(&["status"]);
    assert!(status.stdout.contains("WINDOW OVERRIDDEN") && status.stdout.contains("INC-77 hotfix"), "{}", status.stdout);
    let md = sb.relctl(&["report", "--format", "markdown"]);
    assert!(md.stdout.contains("**Release window overridden** by tester: INC-77 hotfix"), "{}", md.stdout);
}

#[test]
fn a_broken_schedule_is_reported_where_it_is() {
    let sb = Sandbox::new();
    sb.write("release.yaml", "version: 1\nname: s\nwindows:\n  - { days: [mon], from: \"9am\", to: \"16:00\", zone: Mars/Olympus }\nexecute:\n  - run: 'true'\n");
    let r = sb.relctl(&["validate", "release.yaml"]);
    r.expect_code(2);
    assert!(r.stderr.contains("release.yaml:4:") && r.stderr.contains("`from` is a time of day, HH:MM"), "{}", r.stderr);
    assert!(r.stderr.contains("unknown time zone `Mars/Olympus`"), "{}", r.stderr);
}
