//! `cloudwatch.alarms` against DescribeAlarms as AWS pages it (moto answers
//! everything in one page and accepts any number of names, so the fake in
//! tests/support/cloudwatch.rs stands in): every page is read, and names
//! are asked for at most 100 at a time.

use crate::support::cloudwatch::{Alarm, FakeCloudWatch};
use crate::support::*;

fn alarm(name: &str, state: &'static str, composite: bool) -> Alarm {
    Alarm { name: name.to_string(), state, composite }
}

fn run(sb: &Sandbox, cw: &FakeCloudWatch, step: &str) -> Run {
    let yaml = format!(
        "version: 1\nname: cw\nintegrations:\n  aws: {{ region: us-east-1, endpoint_url: \"{}\" }}\nchecklist:\n  - cloudwatch.alarms: {step}\nexecute:\n  - run: touch deployed\n",
        cw.url()
    );
    sb.write("release.yaml", &yaml);
    let env = [("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_EC2_METADATA_DISABLED", "true")];
    sb.relctl_bounded(&["run", "release.yaml", "--non-interactive", "--approve", "all"], &env)
}

#[test]
fn an_alarm_firing_on_the_last_page_is_not_missed() {
    let mut alarms: Vec<Alarm> = (0..7).map(|i| alarm(&format!("checkout-{i}"), "OK", false)).collect();
    alarms.push(alarm("checkout-composite", "ALARM", true));
    let cw = FakeCloudWatch::start(alarms, 2);
    let sb = Sandbox::new();
    let r = run(&sb, &cw, "{ prefix: \"checkout-\", expect: OK }");
    r.expect_code(1);
    assert!(r.stdout.contains("in ALARM: checkout-composite"), "{}", r.stdout);
    let tokens: Vec<String> =
        cw.calls().iter().filter_map(|c| c.iter().find(|(k, _)| k == "NextToken").map(|(_, v)| v.clone())).collect();
    assert_eq!(tokens, ["page-2", "page-4", "page-6"], "every page was asked for");

    cw.set_state("checkout-composite", "OK");
    run(&sb, &cw, "{ prefix: \"checkout-\", expect: OK }").expect_code(0);
    assert!(sb.path().join("deployed").exists(), "all clear across the pages: the release went on");
}

#[test]
fn more_than_100_alarm_names_are_asked_for_100_at_a_time() {
    let alarms: Vec<Alarm> = (0..150).map(|i| alarm(&format!("svc-{i:03}"), "OK", false)).collect();
    let cw = FakeCloudWatch::start(alarms, 40);
    let names: Vec<String> = (0..150).map(|i| format!("svc-{i:03}")).collect();
    let sb = Sandbox::new();
    let r = run(&sb, &cw, &format!("{{ names: [{}], expect: OK }}", names.join(", ")));
    r.expect_code(0);
    assert!(r.stdout.contains("150 alarms OK"), "{}", r.stdout);
    let per_call: Vec<usize> =
        cw.calls().iter().map(|c| c.iter().filter(|(k, _)| k.starts_with("AlarmNames.member.")).count()).collect();
    assert!(per_call.iter().all(|n| *n <= 100), "at most 100 names per call: {per_call:?}");
    assert_eq!(per_call, [100, 100, 100, 50, 50], "two batches, each read to its last page");
}
