//! The run's state machine end to end through the binary: which phases run
//! after each kind of failure, the exit code, and what the journal records.
//!
//! Steps append their name to `ran.txt` in the sandbox, so each test asserts
//! exactly which steps ran, and in which order.

use crate::support::*;

/// Runs `release.yaml` non-interactively with every confirm and gate approved.
pub fn run_approved(sb: &Sandbox, yaml: &str) -> Run {
    sb.write("release.yaml", yaml);
    sb.relctl(&["run", "release.yaml", "--non-interactive", "--approve", "all"])
}

/// The step names in `ran.txt`, in the order they ran.
pub fn ran(sb: &Sandbox) -> Vec<String> {
    sb.read("ran.txt").lines().map(str::to_string).collect()
}

/// The states the run entered, in order.
pub fn states(journal: &[serde_json::Value]) -> Vec<String> {
    events(journal, "state_entered").iter().map(|e| e["state"].as_str().unwrap().to_string()).collect()
}

/// The `step_finished` event of the step with journal key `key`.
pub fn finished<'a>(journal: &'a [serde_json::Value], key: &str) -> &'a serde_json::Value {
    events(journal, "step_finished").into_iter().find(|e| e["key"] == key).unwrap_or_else(|| panic!("no step_finished for {key}"))
}

#[test]
fn a_clean_run_is_released_and_runs_finalize() {
    let sb = Sandbox::new();
    let run = run_approved(
        &sb,
        "version: 1
name: clean
checklist:
  - id: ready
    confirm: Ready?
  - run: echo checklist >> ran.txt
execute:
  - run: echo execute >> ran.txt
validate:
  - run: echo validate >> ran.txt
  - id: go
    gate: Go?
rollback:
  - run: echo rollback >> ran.txt
finalize:
  - run: echo finalize >> ran.txt
",
    );
    run.expect_code(0);
    assert_eq!(ran(&sb), ["checklist", "execute", "validate", "finalize"]);
    assert!(run.stdout.contains("== RELEASED == (exit 0)"), "{}", run.stdout);
    let j = sb.journal();
    assert_eq!(final_state(&j), "released");
    assert_eq!(events(&j, "run_finished")[0]["exit_code"], 0);
    assert_eq!(states(&j), ["checklist", "execute", "validate", "finalize", "released"]);
    let decisions = events(&j, "decision");
    assert_eq!(decisions.len(), 2);
    assert!(decisions.iter().all(|d| d["approved"] == true && d["by"] == "flag"), "{decisions:?}");
}

#[test]
fn checklist_failure_aborts_without_touching_anything_else() {
    let sb = Sandbox::new();
    let run = run_approved(
        &sb,
        "version: 1
name: abort
checklist:
  - run: echo checklist >> ran.txt
  - name: Prerequisites
    run: echo missing tool >&2; exit 1
  - run: echo checklist-after >> ran.txt
execute:
  - run: echo execute >> ran.txt
validate:
  - run: echo validate >> ran.txt
rollback:
  - run: echo rollback >> ran.txt
finalize:
  - run: echo finalize >> ran.txt
",
    );
    run.expect_code(1);
    assert_eq!(ran(&sb), ["checklist"]);
    assert!(run.stdout.contains("== ABORTED == (exit 1)"), "{}", run.stdout);
    let j = sb.journal();
    assert_eq!(final_state(&j), "aborted");
    assert_eq!(states(&j), ["checklist", "aborted"]);
    assert!(events(&j, "step_started").iter().all(|e| e["key"].as_str().unwrap().starts_with("checklist.")));
    let failed = finished(&j, "checklist.1");
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["message"], "exited with code 1: missing tool");
}

#[test]
fn execute_failure_rolls_back_then_verifies_with_the_checks() {
    let sb = Sandbox::new();
    let run = run_approved(
        &sb,
        "version: 1
name: exec-fails
execute:
  - run: echo execute-1 >> ran.txt
  - run: echo execute-2 >> ran.txt; exit 7
  - run: echo execute-3 >> ran.txt
validate:
  - run: echo check >> ran.txt
  - id: go
    gate: Go?
rollback:
  - run: echo rollback >> ran.txt
finalize:
  - run: echo finalize >> ran.txt
",
    );
    run.expect_code(3);
    assert_eq!(ran(&sb), ["execute-1", "execute-2", "rollback", "check"]);
    assert!(run.stdout.contains("== ROLLED BACK == (exit 3)"), "{}", run.stdout);
    let j = sb.journal();
    assert_eq!(final_state(&j), "rolled_back");
    assert_eq!(states(&j), ["checklist", "execute", "rolling_back", "verifying_rollback", "rolled_back"]);
    assert_eq!(finished(&j, "execute.1")["message"], "exited with code 7");
    assert_eq!(finished(&j, "verify.0")["status"], "succeeded");
    assert!(events(&j, "decision").is_empty(), "the gate is not asked when verifying a rollback");
}

#[test]
fn failed_check_runs_every_check_then_no_go_rolls_back() {
    let sb = Sandbox::new();
    // `health` fails until the rollback has put the old version back.
    let run = run_approved(
        &sb,
        "version: 1
name: no-go
execute:
  - run: echo execute >> ran.txt
validate:
  - id: health
    run: echo health >> ran.txt; test -f rolled-back
  - id: errors
    run: echo errors >> ran.txt; exit 1
    when: ${{ vars.never == 'set' }}
  - id: latency
    run: echo latency >> ran.txt
  - id: go
    gate: Go?
rollback:
  - run: echo rollback >> ran.txt; touch rolled-back
finalize:
  - run: echo finalize >> ran.txt
vars:
  never: unset
",
    );
    run.expect_code(3);
    assert_eq!(ran(&sb), ["execute", "health", "latency", "rollback", "health", "latency"]);
    let j = sb.journal();
    assert_eq!(final_state(&j), "rolled_back");
    assert_eq!(finished(&j, "validate.0")["status"], "failed");
    assert_eq!(finished(&j, "validate.2")["status"], "succeeded", "checks after a failed one still run");
    let gate = events(&j, "decision");
    assert_eq!(gate.len(), 1);
    assert_eq!(gate[0]["gate"], true);
    assert_eq!(gate[0]["approved"], false);
    assert_eq!(
        gate[0]["reason"],
        "no-go: 1 check(s) failed: health; this gate allows no override (`allow_override: true` on it would)"
    );
}

#[test]
fn failing_rollback_step_still_runs_the_rest_and_needs_a_human() {
    let sb = Sandbox::new();
    let run = run_approved(
        &sb,
        "version: 1
name: rollback-fails
execute:
  - run: echo execute >> ran.txt; exit 1
validate:
  - run: echo check >> ran.txt
rollback:
  - run: echo rollback-1 >> ran.txt; exit 1
  - run: echo rollback-2 >> ran.txt
finalize:
  - run: echo finalize >> ran.txt
",
    );
    run.expect_code(4);
    assert_eq!(ran(&sb), ["execute", "rollback-1", "rollback-2"]);
    assert!(run.stdout.contains("== ROLLBACK FAILED == (exit 4)"), "{}", run.stdout);
    assert!(run.stderr.contains("A human is needed"), "{}", run.stderr);
    let j = sb.journal();
    assert_eq!(final_state(&j), "rollback_failed");
    assert_eq!(finished(&j, "rollback.0")["status"], "failed");
    assert_eq!(finished(&j, "rollback.1")["status"], "succeeded");
}

#[test]
fn rollback_that_does_not_verify_needs_a_human() {
    let sb = Sandbox::new();
    let run = run_approved(
        &sb,
        "version: 1
name: verify-fails
execute:
  - run: echo execute >> ran.txt; exit 1
validate:
  - run: echo check >> ran.txt; exit 1
rollback:
  - run: echo rollback >> ran.txt
finalize:
  - run: echo finalize >> ran.txt
",
    );
    run.expect_code(4);
    assert_eq!(ran(&sb), ["execute", "rollback", "check"]);
    let j = sb.journal();
    assert_eq!(final_state(&j), "rollback_failed");
    assert_eq!(states(&j), ["checklist", "execute", "rolling_back", "verifying_rollback", "rollback_failed"]);
}

#[test]
fn finalize_failure_is_a_warning_not_a_rollback() {
    let sb = Sandbox::new();
    let run = run_approved(
        &sb,
        "version: 1
name: finalize-fails
execute:
  - run: echo execute >> ran.txt
rollback:
  - run: echo rollback >> ran.txt
finalize:
  - name: Announce
    run: echo finalize-1 >> ran.txt; exit 1
  - run: echo finalize-2 >> ran.txt
",
    );
    run.expect_code(0);
    assert_eq!(ran(&sb), ["execute", "finalize-1", "finalize-2"]);
    assert!(run.stdout.contains("⚠ Announce"), "{}", run.stdout);
    assert!(run.stdout.contains("== RELEASED (with warnings) == (exit 0)"), "{}", run.stdout);
    let j = sb.journal();
    assert_eq!(final_state(&j), "released_with_warnings");
    let announce = finished(&j, "finalize.0");
    assert_eq!(announce["status"], "failed");
    assert_eq!(announce["tolerated"], true);
}

#[test]
fn continue_on_failure_in_execute_does_not_roll_back() {
    let sb = Sandbox::new();
    let run = run_approved(
        &sb,
        "version: 1
name: tolerated
execute:
  - name: Notify
    continue_on_failure: true
    run: echo notify >> ran.txt; exit 1
  - run: echo execute >> ran.txt
rollback:
  - run: echo rollback >> ran.txt
finalize:
  - run: echo finalize >> ran.txt
",
    );
    run.expect_code(0);
    assert_eq!(ran(&sb), ["notify", "execute", "finalize"]);
    let j = sb.journal();
    assert_eq!(final_state(&j), "released");
    assert_eq!(finished(&j, "execute.0")["tolerated"], true);
}

#[test]
fn validate_without_a_gate_goes_when_every_check_passes() {
    let sb = Sandbox::new();
    let run = run_approved(
        &sb,
        "version: 1
name: no-gate
execute:
  - run: echo execute >> ran.txt
validate:
  - run: echo check-1 >> ran.txt
  - run: echo check-2 >> ran.txt
rollback:
  - run: echo rollback >> ran.txt
finalize:
  - run: echo finalize >> ran.txt
",
    );
    run.expect_code(0);
    assert_eq!(ran(&sb), ["execute", "check-1", "check-2", "finalize"]);
    let j = sb.journal();
    assert_eq!(final_state(&j), "released");
    assert!(events(&j, "decision").is_empty());
}

#[test]
fn validate_without_a_gate_rolls_back_when_a_check_fails() {
    let sb = Sandbox::new();
    let run = run_approved(
        &sb,
        "version: 1
name: no-gate-fails
execute:
  - run: echo execute >> ran.txt
validate:
  - run: echo check >> ran.txt; test -f rolled-back
rollback:
  - run: echo rollback >> ran.txt; touch rolled-back
finalize:
  - run: echo finalize >> ran.txt
",
    );
    run.expect_code(3);
    assert_eq!(ran(&sb), ["execute", "check", "rollback", "check"]);
    assert_eq!(final_state(&sb.journal()), "rolled_back");
}

#[test]
fn a_rollback_nothing_checked_is_unverified() {
    let sb = Sandbox::new();
    let run = run_approved(
        &sb,
        "version: 1
name: unverified
execute:
  - run: exit 1
rollback:
  - run: echo undo >> ran.txt
validate:
  - gate: go?
",
    );
    run.expect_code(4);
    assert!(run.stdout.contains("nothing verified it"), "{}", run.stdout);
    assert_eq!(ran(&sb), ["undo"]);
    assert_eq!(final_state(&sb.journal()), "rollback_failed");
}

#[test]
fn relctl_failing_itself_is_not_reported_as_an_aborted_release() {
    // A state dir that cannot be created (a file stands where its parent
    // should be) is relctl's own failure: 70, never 1 ("aborted before any
    // change"), which CI would read as a clean refusal.
    let sb = Sandbox::new();
    sb.write("release.yaml", "version: 1\nname: internal\nexecute:\n  - run: echo ran >> ran.txt\n");
    sb.write("blocker", "a file, not a directory");
    let run = sb.relctl(&["run", "release.yaml", "--non-interactive", "--state-dir", "blocker/state"]);
    run.expect_code(70);
    assert!(run.stderr.contains("cannot create state dir"), "{}", run.stderr);
    assert!(ran(&sb).is_empty());
}

#[test]
fn a_journal_write_that_fails_stops_the_run_before_the_next_step_and_resume_goes_on() {
    // A full disk, played by a file-size limit on relctl set from inside the
    // first step: the write of that step's end fails part-way. The run must
    // stop there (relctl's own failure: 70), never run the next step
    // unrecorded, leave a journal status can read, and resume once the
    // limit is gone.
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        r#"version: 1
name: disk-full
execute:
  - id: fill
    idempotent: true
    run: |
      test -f limited && exit 0
      touch limited
      journal="$(dirname "$RELCTL_OUTPUT")/journal.jsonl"
      prlimit --pid $PPID --fsize=$(( $(stat -c %s "$journal") + 40 ))
  - run: touch second-ran
"#,
    );
    let run = sb.relctl(&["run", "release.yaml", "--non-interactive"]);
    run.expect_code(70);
    assert!(run.stderr.contains("cannot write the journal"), "{}", run.stderr);
    assert!(!sb.path().join("second-ran").exists(), "a step ran after the journal stopped recording");
    sb.relctl(&["status"]).expect_code(0);
    sb.relctl(&["resume", "--non-interactive"]).expect_code(0);
    assert!(sb.path().join("second-ran").exists());
    sb.relctl(&["verify"]).expect_code(0);
}
