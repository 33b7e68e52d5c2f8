//! Runs without a person: confirms and gates fail closed unless `--approve`
//! answers them, approvals never override failed checks, and only listed
//! approvers may answer. Every decision is journaled with who, how and when.

use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use crate::support::*;

/// Runs the command, failing the test (and killing relctl) if it has not
/// finished within a generous bound: waiting for an answer that cannot come
/// is the bug these tests guard against.
fn run_bounded(mut cmd: Command) -> Run {
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("start relctl");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => {
            let out = out.expect("wait for relctl");
            Run {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        }
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("relctl did not finish: it is waiting for an answer nobody can give");
        }
    }
}

fn relctl(sb: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = sb.cmd(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_bounded(cmd)
}

const CHECKLIST_CONFIRM: &str = "version: 1
name: confirm
checklist:
  - id: signoff
    confirm: QA signed off?
execute:
  - run: touch executed
rollback:
  - run: touch rolled-back
";

const VALIDATE_GATE: &str = "version: 1
name: gate
execute:
  - run: touch executed
validate:
  - run: touch checked
  - id: go
    gate: Go?
rollback:
  - run: touch rolled-back
finalize:
  - run: touch finalized
";

/// The only decision in the journal.
fn decision(sb: &Sandbox) -> serde_json::Value {
    let j = sb.journal();
    let d = events(&j, "decision");
    assert_eq!(d.len(), 1, "{d:?}");
    d[0].clone()
}

#[test]
fn unapproved_confirm_fails_closed_and_aborts() {
    let sb = Sandbox::new();
    sb.write("release.yaml", CHECKLIST_CONFIRM);
    let run = relctl(&sb, &["run", "release.yaml", "--non-interactive"], &[]);
    run.expect_code(1);
    assert!(!sb.path().join("executed").exists());
    assert!(!sb.path().join("rolled-back").exists());
    assert_eq!(final_state(&sb.journal()), "aborted");
    let d = decision(&sb);
    assert_eq!(d["approved"], false);
    assert_eq!(d["by"], "policy");
    assert_eq!(d["reason"], "not interactive and no --approve signoff (or --approve all): failing closed");
}

#[test]
fn unapproved_gate_fails_closed_and_rolls_back() {
    let sb = Sandbox::new();
    sb.write("release.yaml", VALIDATE_GATE);
    let run = relctl(&sb, &["run", "release.yaml", "--non-interactive"], &[]);
    run.expect_code(3);
    assert!(sb.path().join("rolled-back").exists());
    assert!(!sb.path().join("finalized").exists());
    assert_eq!(final_state(&sb.journal()), "rolled_back");
    let d = decision(&sb);
    assert_eq!((d["gate"].clone(), d["approved"].clone()), (true.into(), false.into()));
    assert!(d["reason"].as_str().unwrap().contains("failing closed"), "{d}");
}

#[test]
fn ci_environment_alone_means_non_interactive() {
    let sb = Sandbox::new();
    sb.write("release.yaml", CHECKLIST_CONFIRM);
    relctl(&sb, &["run", "release.yaml"], &[("CI", "true")]).expect_code(1);
    assert!(!sb.path().join("executed").exists());
    assert_eq!(decision(&sb)["by"], "policy");

    let sb = Sandbox::new();
    sb.write("release.yaml", VALIDATE_GATE);
    relctl(&sb, &["run", "release.yaml"], &[("CI", "true")]).expect_code(3);
    assert!(sb.path().join("rolled-back").exists());
}

#[test]
fn approve_by_id_answers_only_that_step() {
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1
name: two-confirms
checklist:
  - id: qa
    confirm: QA signed off?
  - id: change-board
    confirm: Change board approved?
execute:
  - run: touch executed
",
    );
    let run = relctl(&sb, &["run", "release.yaml", "--non-interactive", "--approve", "qa"], &[]);
    run.expect_code(1);
    assert!(!sb.path().join("executed").exists());
    let j = sb.journal();
    let d = events(&j, "decision");
    assert_eq!(d.len(), 2);
    assert_eq!((d[0]["id"].as_str(), d[0]["approved"].as_bool(), d[0]["by"].as_str()), (Some("qa"), Some(true), Some("flag")));
    assert_eq!(
        (d[1]["id"].as_str(), d[1]["approved"].as_bool(), d[1]["by"].as_str()),
        (Some("change-board"), Some(false), Some("policy"))
    );

    let run = relctl(&sb, &["run", "release.yaml", "--non-interactive", "--approve", "qa", "--approve", "change-board"], &[]);
    run.expect_code(0);
    assert!(sb.path().join("executed").exists());
}

#[test]
fn approve_all_does_not_override_a_failed_check() {
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1
name: failed-check
execute:
  - run: touch executed
validate:
  - name: health
    run: test -f rolled-back
  - id: go
    gate: Go?
rollback:
  - run: touch rolled-back
finalize:
  - run: touch finalized
",
    );
    let run = relctl(&sb, &["run", "release.yaml", "--non-interactive", "--approve", "all"], &[]);
    run.expect_code(3);
    assert!(!sb.path().join("finalized").exists());
    let d = decision(&sb);
    assert_eq!(d["approved"], false);
    assert_eq!(
        d["reason"],
        "no-go: 1 check(s) failed: health; this gate allows no override (`allow_override: true` on it would)"
    );
}

const APPROVERS: &str = "version: 1
name: approvers
approvers:
  release_managers: [alice, bob]
execute:
  - run: touch executed
validate:
  - run: 'true'
  - id: go
    gate: Go / no-go?
    approvers: release_managers
rollback:
  - run: touch rolled-back
finalize:
  - run: touch finalized
";

#[test]
fn someone_outside_the_approvers_is_refused_before_anything_is_deployed() {
    // Before: relctl deployed, then refused the gate and rolled back (exit 3),
    // though everything needed to know it was there before the first change.
    let sb = Sandbox::new();
    sb.write("release.yaml", APPROVERS);
    let run = relctl(&sb, &["run", "release.yaml", "--non-interactive", "--as", "mallory", "--approve", "all"], &[]);
    run.expect_code(1);
    assert!(!sb.path().join("executed").exists(), "nothing was deployed");
    assert!(run.stderr.contains("mallory cannot answer every question"), "{}", run.stderr);
    assert!(run.stderr.contains("validate gate `go` is for alice, bob only"), "{}", run.stderr);
    assert!(run.stderr.contains("--as NAME"), "{}", run.stderr);
    assert!(!sb.path().join(".relctl/runs").exists(), "no run was started");
}

#[test]
fn an_approver_can_say_go() {
    let sb = Sandbox::new();
    sb.write("release.yaml", APPROVERS);
    let run = relctl(&sb, &["run", "release.yaml", "--non-interactive", "--as", "alice", "--approve", "all"], &[]);
    run.expect_code(0);
    assert!(sb.path().join("finalized").exists());
    let d = decision(&sb);
    assert_eq!((d["actor"].as_str(), d["approved"].as_bool(), d["by"].as_str()), (Some("alice"), Some(true), Some("flag")));
    assert!(d["at"].as_str().is_some_and(|at| at.ends_with('Z')), "{d}");
    assert_eq!(sb.journal()[0]["actor"], "alice", "run_started names the actor too");
}

#[test]
fn relctl_actor_names_the_approver() {
    let sb = Sandbox::new();
    sb.write("release.yaml", APPROVERS);
    let run = relctl(&sb, &["run", "release.yaml", "--non-interactive", "--approve", "go"], &[("RELCTL_ACTOR", "bob")]);
    run.expect_code(0);
    assert_eq!(decision(&sb)["actor"], "bob");
}

#[test]
fn github_actor_is_used_when_relctl_actor_is_unset() {
    let sb = Sandbox::new();
    sb.write("release.yaml", APPROVERS);
    let run = relctl(&sb, &["run", "release.yaml", "--approve", "go"], &[("CI", "true"), ("GITHUB_ACTOR", "alice")]);
    run.expect_code(0);
    assert_eq!(decision(&sb)["actor"], "alice");

    // RELCTL_ACTOR wins over the CI system's user, and --as over both.
    let sb = Sandbox::new();
    sb.write("release.yaml", APPROVERS);
    let env = [("CI", "true"), ("GITHUB_ACTOR", "alice"), ("RELCTL_ACTOR", "mallory")];
    let r = relctl(&sb, &["run", "release.yaml", "--approve", "go"], &env);
    r.expect_code(1);
    assert!(r.stderr.contains("mallory cannot answer"), "{}", r.stderr);
    let sb = Sandbox::new();
    sb.write("release.yaml", APPROVERS);
    relctl(&sb, &["run", "release.yaml", "--approve", "go", "--as", "bob"], &env).expect_code(0);
    assert_eq!(decision(&sb)["actor"], "bob");
}

#[test]
fn every_decision_records_actor_how_and_when() {
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1
name: decisions
checklist:
  - id: signoff
    confirm: Signed off?
execute:
  - run: 'true'
validate:
  - id: go
    gate: Go?
",
    );
    let run = relctl(&sb, &["run", "release.yaml", "--non-interactive", "--approve", "all", "--as", "carol"], &[]);
    run.expect_code(0);
    let j = sb.journal();
    let d = events(&j, "decision");
    assert_eq!(d.len(), 2);
    for decision in d {
        assert_eq!(decision["actor"], "carol");
        assert_eq!(decision["by"], "flag");
        assert!(decision["at"].as_str().is_some_and(|at| !at.is_empty()), "{decision}");
        assert!(decision["question"].is_string(), "{decision}");
    }
    assert!(run.stdout.contains("GO by carol via --approve"), "{}", run.stdout);
}

#[test]
fn a_mistyped_approve_id_is_a_usage_error_with_a_hint() {
    let sb = Sandbox::new();
    sb.write("release.yaml", "version: 1\nname: typo\nvalidate:\n  - id: go-no-go\n    gate: go?\n");
    let r = sb.relctl(&["run", "release.yaml", "--non-interactive", "--approve", "go-nogo"]);
    r.expect_code(2);
    assert!(r.stderr.contains("no confirm or gate has id `go-nogo`"), "{}", r.stderr);
    assert!(r.stderr.contains("did you mean `go-no-go`?"), "{}", r.stderr);
    assert!(!sb.path().join(".relctl/runs").exists(), "nothing may run");
}

#[test]
fn a_gate_cannot_be_skipped_or_ignored() {
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1\nname: g\nchecklist:\n  - confirm: ok?\n    continue_on_failure: true\nvalidate:\n  - gate: go?\n    when: ${{ env.NEVER }}\n  - gate: really?\n    continue_on_failure: true\n",
    );
    let r = sb.relctl(&["validate", "release.yaml"]);
    r.expect_code(2);
    assert!(r.stderr.contains("a `confirm` cannot have `continue_on_failure`"), "{}", r.stderr);
    assert!(r.stderr.contains("a `gate` cannot have `when`"), "{}", r.stderr);
    assert!(r.stderr.contains("a `gate` cannot have `continue_on_failure`"), "{}", r.stderr);
}

const OVERRIDABLE: &str = "version: 1
name: override
execute:
  - run: echo deployed >> marks.txt
validate:
  - name: error budget
    run: exit 1
  - id: go
    gate: Go?
    allow_override: OVERRIDE
rollback:
  - run: echo rolled-back >> marks.txt
finalize:
  - run: echo finalized >> marks.txt
";

#[test]
fn a_failed_check_is_overridden_only_by_the_gate_s_own_id_with_a_reason_where_allowed() {
    let sb = Sandbox::new();
    sb.write("release.yaml", &OVERRIDABLE.replace("OVERRIDE", "true"));
    // `--approve all` never overrides a failed check, reason or not.
    relctl(&sb, &["run", "release.yaml", "--approve", "all"], &[("CI", "true")]).expect_code(4);
    // The gate's own id without a reason: still no-go, saying how.
    let r = relctl(&sb, &["run", "release.yaml", "--approve", "go"], &[("CI", "true")]);
    r.expect_code(4);
    assert!(r.stdout.contains("--approve go --reason TEXT"), "{}", r.stdout);
    // With its id and a reason: go, recorded as an override that status shows.
    let sb = Sandbox::new();
    sb.write("release.yaml", &OVERRIDABLE.replace("OVERRIDE", "true"));
    let r = relctl(
        &sb,
        &["run", "release.yaml", "--approve", "go", "--reason", "budget alarm is known-bad (INC-42)"],
        &[("CI", "true")],
    );
    r.expect_code(0);
    assert!(r.stdout.contains("GO (OVERRIDE)") && r.stdout.contains("over failed checks: error budget"), "{}", r.stdout);
    // And said again at the very end, under the outcome.
    assert!(
        r.stderr.contains(
            "OVERRIDE: gate `go` went ahead over failed checks (error budget) by tester: budget alarm is known-bad (INC-42)"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(sb.read("marks.txt"), "deployed\nfinalized\n");
    let d = events(&sb.journal(), "decision").into_iter().find(|d| d["gate"] == true).unwrap().clone();
    assert_eq!(d["overridden"], serde_json::json!(["error budget"]));
    assert_eq!(d["comment"], "budget alarm is known-bad (INC-42)");
    let status = sb.relctl(&["status"]);
    assert!(
        status.stdout.contains("GO (OVERRIDE)") && status.stdout.contains("over failed checks: error budget"),
        "{}",
        status.stdout
    );
}

#[test]
fn a_gate_that_allows_no_override_stays_no_go_and_a_stray_reason_is_a_usage_error() {
    let sb = Sandbox::new();
    sb.write("release.yaml", &OVERRIDABLE.replace("OVERRIDE", "false"));
    let r = relctl(&sb, &["run", "release.yaml", "--approve", "go", "--reason", "please"], &[("CI", "true")]);
    r.expect_code(2);
    assert!(r.stderr.contains("--reason goes with --approve ID naming a gate that allows an override"), "{}", r.stderr);
    assert_eq!(sb.read("marks.txt"), "", "nothing ran");
}
