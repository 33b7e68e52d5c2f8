//! Prompts as a person meets them: relctl in a pseudo-terminal, answered by
//! keystrokes (dialoguer), not by the scripted prompter.

use rexpect::process::WaitStatus;
use rexpect::session::{PtySession, spawn_command};

use crate::support::*;

const RUNBOOK: &str = r#"
version: 1
name: pty-release
approvers:
  release_managers: [alice]
checklist:
  - id: approval
    confirm: "Stakeholders approved?"
execute:
  - run: echo deployed >> marks.txt
validate:
  - id: health
    run: test -f healthy
  - id: go
    gate: "Go / no-go for pty-release"
    approvers: release_managers
rollback:
  - run: echo rolled-back >> marks.txt
finalize:
  - run: echo finalized >> marks.txt
"#;

pub fn spawn(sb: &Sandbox, args: &[&str]) -> PtySession {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(args);
    spawn_command(person_at_a_terminal(cmd, sb), Some(30_000)).expect("spawn relctl in a pty")
}

/// `cmd` as a person runs it at a terminal: in the sandbox, not CI, colours on.
pub fn person_at_a_terminal(mut cmd: std::process::Command, sb: &Sandbox) -> std::process::Command {
    cmd.current_dir(sb.path())
        .env_remove("CI")
        .env_remove("NO_COLOR")
        .env_remove("RELCTL_ACTOR")
        .env("TERM", "xterm-256color")
        .env("RELCTL_LOCK_DIR", sb.path().join("locks"))
        .env("XDG_STATE_HOME", sb.path().join("xdg-state"))
        .env("USER", "tester");
    cmd
}

/// Types `keys` and Enter, as a person at the prompt would.
pub fn press(p: &mut PtySession, keys: &str) {
    p.send(keys).unwrap();
    p.send("\r").unwrap();
    p.flush().unwrap();
}

/// The run ends saying `outcome`, with exit code `code`.
pub fn ends(p: &mut PtySession, outcome: &str, code: i32) {
    p.exp_string(outcome).unwrap();
    p.exp_eof().unwrap();
    assert_eq!(exit_code(p), code);
}

pub fn exit_code(p: &PtySession) -> i32 {
    match p.process().wait().expect("wait for relctl") {
        WaitStatus::Exited(_, code) => code,
        other => panic!("relctl did not exit normally: {other:?}"),
    }
}

/// Starts `release.yaml` as alice and approves the checklist confirm; the
/// run goes on towards its gate.
fn start_as_alice_and_approve(sb: &Sandbox) -> PtySession {
    let mut p = spawn(sb, &["run", "release.yaml", "--as", "alice"]);
    p.exp_string("[alice] Stakeholders approved?").unwrap();
    press(&mut p, "y");
    p
}

/// The journal's go/no-go decision of the latest run.
fn gate_decision(sb: &Sandbox) -> serde_json::Value {
    events(&sb.journal(), "decision").into_iter().find(|d| d["gate"] == true).expect("a recorded gate decision").clone()
}

#[test]
fn a_release_manager_says_no_go_in_the_terminal_with_a_comment() {
    let sb = Sandbox::new();
    sb.write("release.yaml", RUNBOOK);
    sb.write("healthy", "");
    let mut p = start_as_alice_and_approve(&sb);
    p.exp_string("All 1 validation check(s) passed").unwrap();
    p.exp_string("Go / no-go for pty-release").unwrap();
    // Down to "No-go", Enter, then a comment.
    press(&mut p, "\x1b[B");
    p.exp_string("Comment for the record").unwrap();
    press(&mut p, "error rate too high");
    ends(&mut p, "ROLLED BACK", 3);
    assert_eq!(sb.read("marks.txt"), "deployed\nrolled-back\n");
    let gate = gate_decision(&sb);
    assert_eq!(gate["approved"], false);
    assert_eq!(gate["actor"], "alice");
    assert_eq!(gate["by"], "terminal");
    assert_eq!(gate["comment"], "error rate too high");
}

#[test]
fn go_is_the_default_when_every_check_passed() {
    let sb = Sandbox::new();
    sb.write("release.yaml", RUNBOOK);
    sb.write("healthy", "");
    let mut p = spawn(&sb, &["run", "release.yaml", "--as", "alice", "--approve", "approval"]);
    p.exp_string("All 1 validation check(s) passed.").unwrap();
    p.exp_string("Go / no-go for pty-release").unwrap();
    press(&mut p, "");
    p.exp_string("Comment for the record").unwrap();
    press(&mut p, "");
    ends(&mut p, "RELEASED", 0);
    assert_eq!(sb.read("marks.txt"), "deployed\nfinalized\n");
}

#[test]
fn no_go_is_the_default_when_a_check_failed() {
    let sb = Sandbox::new();
    sb.write("release.yaml", RUNBOOK);
    let mut p = spawn(&sb, &["run", "release.yaml", "--as", "alice", "--approve", "approval"]);
    p.exp_string("1 validation check(s) FAILED").unwrap();
    p.exp_string("Go / no-go for pty-release").unwrap();
    press(&mut p, "");
    p.exp_string("Comment for the record").unwrap();
    press(&mut p, "");
    p.exp_string("ROLLBACK").unwrap();
    p.exp_eof().unwrap();
    // The health check still fails after rollback, so the rollback is unverified.
    assert_eq!(exit_code(&p), 4);
}

#[test]
fn refusing_the_checklist_confirm_aborts_before_any_change() {
    let sb = Sandbox::new();
    sb.write("release.yaml", RUNBOOK);
    let mut p = spawn(&sb, &["run", "release.yaml", "--as", "alice"]);
    p.exp_string("Stakeholders approved?").unwrap();
    press(&mut p, "n");
    ends(&mut p, "ABORTED", 1);
    assert_eq!(sb.read("marks.txt"), "");
}

#[test]
fn someone_not_in_approvers_cannot_answer_the_gate() {
    let sb = Sandbox::new();
    sb.write("release.yaml", RUNBOOK);
    sb.write("healthy", "");
    // Known before any change: refused up front, nothing asked or run. (A
    // resumed run still refuses at the question itself: see below.)
    let mut p = spawn(&sb, &["run", "release.yaml", "--as", "mallory", "--approve", "approval"]);
    ends(&mut p, "mallory cannot answer every question", 1);
    assert!(!sb.path().join("marks.txt").exists());
}

#[test]
fn first_ctrl_c_asks_and_the_run_stays_resumable() {
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1\nname: irq\nexecute:\n  - id: long\n    idempotent: true\n    run: |\n      touch started\n      while [ ! -f go ]; do sleep 0.05; done\n",
    );
    let mut p = spawn(&sb, &["run", "release.yaml"]);
    wait_until("the step to start", || sb.path().join("started").exists());
    p.send_control('c').unwrap();
    p.exp_string("Stop the run now?").unwrap();
    press(&mut p, "y");
    ends(&mut p, "relctl resume", 130);
    sb.write("go", "");
    sb.relctl(&["resume", "--non-interactive"]).expect_code(0);
}

/// While the release manager decides, the run's Slack message says so.
#[test]
fn slack_shows_the_run_waiting_at_the_gate_while_a_person_decides() {
    use crate::support::slack::{Slack, TOKEN};
    let slack = Slack::start();
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        &format!(
            "version: 1\nname: gate-in-slack\nintegrations:\n  slack:\n    channel: \"#releases\"\n    token: ${{{{ secrets.SLACK_BOT_TOKEN }}}}\n    api_url: {}\n    notify: true\nexecute:\n  - run: 'true'\nvalidate:\n  - run: 'true'\n  - id: go\n    gate: \"Go?\"\n",
            slack.api_url()
        ),
    );
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["run", "release.yaml", "--as", "alice"])
        .current_dir(sb.path())
        .env_remove("CI")
        .env("TERM", "xterm-256color")
        .env("RELCTL_LOCK_DIR", sb.path().join("locks"))
        .env("XDG_STATE_HOME", sb.path().join("xdg-state"))
        .env("SLACK_BOT_TOKEN", TOKEN);
    let mut p = spawn_command(cmd, Some(30_000)).expect("spawn relctl in a pty");
    p.exp_string("Go?").unwrap();
    wait_until("the parent to say it is waiting", || {
        slack.parents().first().is_some_and(|m| m.updates.iter().any(|u| u.contains("waiting at the gate")))
    });
    press(&mut p, "");
    p.exp_string("Comment for the record").unwrap();
    press(&mut p, "");
    ends(&mut p, "RELEASED", 0);
    let parent = slack.parents().remove(0);
    assert!(parent.updates.last().unwrap().contains("GO by alice"), "{:?}", parent.updates);
}

const GATED: &str = r#"
version: 1
name: pty-gated
approvers:
  release_managers: [alice]
checklist:
  - id: approval
    confirm: "Stakeholders approved?"
    approvers: release_managers
execute:
  - run: echo deployed >> marks.txt
validate:
  - id: health
    run: test -f healthy
  - id: go
    gate: "Go / no-go for pty-gated"
    approvers: release_managers
rollback:
  - run: echo rolled-back >> marks.txt && touch healthy
finalize:
  - run: echo finalized >> marks.txt
"#;

/// Starts a run as alice in a pty and SIGKILLs it while `prompt` waits.
fn kill_at(sb: &Sandbox, prompt: &str, answer_first: bool) {
    sb.write("release.yaml", GATED);
    let mut p = spawn(sb, &["run", "release.yaml", "--as", "alice"]);
    if answer_first {
        p.exp_string("[alice] Stakeholders approved?").unwrap();
        press(&mut p, "y");
    }
    p.exp_string(prompt).unwrap();
    p.process_mut().signal(rexpect::process::Signal::SIGKILL).unwrap();
    let _ = p.process().wait();
}

#[test]
fn a_gate_cut_off_by_a_kill_cannot_be_assumed_done_and_is_asked_again_on_resume() {
    // Before: `resume --non-interactive --as mallory --assume-done go`
    // released with exit 0, ran finalize and recorded no decision.
    let sb = Sandbox::new();
    kill_at(&sb, "Go / no-go for pty-gated", true);
    let r = sb.relctl(&["resume", "--non-interactive", "--as", "mallory", "--assume-done", "go"]);
    r.expect_code(2);
    assert!(r.stderr.contains("--assume-done go: `go` is a gate, a question"), "{}", r.stderr);
    assert!(r.stderr.contains("never assumed answered"), "{}", r.stderr);
    let r = sb.relctl(&["resume", "--non-interactive", "--as", "mallory", "--rerun", "go"]);
    r.expect_code(2);

    // Resumed, the gate is asked again: mallory may not answer it, so no-go.
    let r = sb.relctl(&["resume", "--non-interactive", "--as", "mallory", "--approve", "go"]);
    r.expect_code(3);
    assert_eq!(sb.read("marks.txt"), "deployed\nrolled-back\n", "finalize never ran");
    let gate = gate_decision(&sb);
    assert_eq!(gate["approved"], false);
    assert_eq!(gate["actor"], "mallory");
    assert_eq!(gate["by"], "policy");
    assert!(gate["reason"].as_str().unwrap().contains("mallory may not answer"), "{gate}");
}

#[test]
fn a_checklist_confirm_cut_off_by_a_kill_is_asked_again_not_skipped() {
    let sb = Sandbox::new();
    kill_at(&sb, "[alice] Stakeholders approved?", false);
    sb.relctl(&["resume", "--non-interactive", "--as", "mallory", "--assume-done", "approval"]).expect_code(2);
    let r = sb.relctl(&["resume", "--non-interactive", "--as", "mallory", "--approve", "approval"]);
    r.expect_code(1);
    assert_eq!(sb.read("marks.txt"), "", "execute never ran without the approval");
    let j = sb.journal();
    let confirm = events(&j, "decision").into_iter().next().expect("a recorded decision").clone();
    assert_eq!((confirm["approved"].as_bool(), confirm["actor"].as_str()), (Some(false), Some("mallory")));
}

#[test]
fn keys_typed_before_the_gate_is_shown_do_not_answer_it() {
    // Before: an Enter pressed during a long step was read by the go/no-go
    // prompt the moment it appeared, answering "Go" for a person who never
    // saw the question.
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1\nname: typeahead\nexecute:\n  - run: touch started; sleep 2\nvalidate:\n  - id: go\n    gate: \"Go / no-go for typeahead\"\nrollback:\n  - run: echo rolled-back >> marks.txt\nfinalize:\n  - run: echo finalized >> marks.txt\n",
    );
    let mut p = spawn(&sb, &["run", "release.yaml", "--as", "alice"]);
    wait_until("the long step to start", || sb.path().join("started").exists());
    // Typed ahead while the step runs: Enter (would pick "Go"), and more.
    p.send("\r\r y\r").unwrap();
    p.flush().unwrap();
    p.exp_string("Go / no-go for typeahead").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(events(&sb.journal(), "decision").is_empty(), "the gate was answered by keys typed before it was shown");
    // Now the person answers: No-go.
    press(&mut p, "\x1b[B");
    p.exp_string("Comment for the record").unwrap();
    press(&mut p, "");
    p.exp_eof().unwrap();
    // No check verifies the rollback here: a human is needed (4).
    assert_eq!(exit_code(&p), 4);
    assert_eq!(sb.read("marks.txt"), "rolled-back\n", "no-go, as the person chose");
}

/// Sends `sig` to relctl while the gate waits at the terminal; relctl must
/// exit 130 promptly, journal the interruption, record no decision, and the
/// run must resume to a decision by an allowed approver.
fn signal_at_the_gate(sig: rexpect::process::Signal) {
    let sb = Sandbox::new();
    sb.write("release.yaml", GATED);
    let mut p = start_as_alice_and_approve(&sb);
    p.exp_string("Go / no-go for pty-gated").unwrap();
    let sent = std::time::Instant::now();
    p.process_mut().signal(sig).unwrap();
    // Fails (after the session's 30 s) rather than hangs if relctl does not exit.
    p.exp_eof().unwrap_or_else(|e| panic!("{sig:?}: relctl did not exit: {e}"));
    let code = exit_code(&p);
    let took = sent.elapsed();
    assert_eq!(code, 130, "{sig:?}");
    // Generous against a loaded machine; the bug it guards against was a hang.
    assert!(took < std::time::Duration::from_secs(10), "{sig:?}: took {took:?}");
    let j = sb.journal();
    assert_eq!(events(&j, "interrupted").len(), 1, "{sig:?}");
    assert!(events(&j, "decision").iter().all(|d| d["gate"] != true), "{sig:?}: a gate decision was recorded");
    // The lock was released and the gate is asked again on resume.
    sb.relctl(&["resume", "--non-interactive", "--as", "alice", "--approve", "go"]).expect_code(3);
}

#[test]
fn sigterm_at_a_waiting_gate_exits_130_instead_of_hanging() {
    // Before: "interrupted" was journaled, then relctl never exited and kept
    // the lock (the journal's observer waited for the prompt's display).
    signal_at_the_gate(rexpect::process::Signal::SIGTERM);
}

#[test]
fn the_terminal_going_away_at_a_gate_is_an_interruption_not_a_crash() {
    signal_at_the_gate(rexpect::process::Signal::SIGHUP);
}

#[test]
fn go_over_a_failed_check_at_the_terminal_needs_a_reason_and_is_recorded_as_an_override() {
    let sb = Sandbox::new();
    sb.write("release.yaml", GATED);
    let mut p = start_as_alice_and_approve(&sb);
    p.exp_string("validation check(s) FAILED").unwrap();
    p.exp_string("Go / no-go for pty-gated").unwrap();
    // Up to "Go" (No-go is the default when a check failed), then no reason.
    press(&mut p, "\x1b[A");
    p.exp_string("Reason for going ahead over 1 failed check(s) (required)").unwrap();
    // An empty reason is not taken: the question stays.
    press(&mut p, "");
    p.exp_string("(required)").unwrap();
    press(&mut p, "health probe is down, app verified by hand");
    ends(&mut p, "RELEASED", 0);
    let gate = gate_decision(&sb);
    assert_eq!(gate["overridden"], serde_json::json!(["health"]));
    assert_eq!(gate["comment"], "health probe is down, app verified by hand");
    assert_eq!(gate["by"], "terminal");
}

const TIMED: &str = r#"
version: 1
name: pty-timed
execute:
  - run: echo deployed >> marks.txt
validate:
  - run: "true"
  - id: go
    gate: "Go / no-go for pty-timed"
    timeout: 2s
rollback:
  - run: echo rolled-back >> marks.txt
"#;

#[test]
fn a_gate_nobody_answers_within_its_timeout_is_no_go_on_the_record_not_a_hang() {
    let sb = Sandbox::new();
    sb.write("release.yaml", TIMED);
    let mut p = spawn(&sb, &["run", "release.yaml", "--as", "alice"]);
    p.exp_string("unanswered within 2s, the answer is no-go").unwrap();
    p.exp_string("Go / no-go for pty-timed").unwrap();
    // Nobody touches the keyboard.
    p.exp_string("(no answer)").unwrap();
    ends(&mut p, "ROLLED BACK", 3);
    let gate = gate_decision(&sb);
    assert_eq!(gate["approved"], false);
    assert_eq!(gate["by"], "policy");
    assert!(gate["reason"].as_str().unwrap().contains("unanswered for 2s"), "{gate}");
    assert_eq!(sb.read("marks.txt"), "deployed\nrolled-back\n");
}

#[test]
fn a_gate_answered_before_its_timeout_counts() {
    let sb = Sandbox::new();
    sb.write("release.yaml", &TIMED.replace("timeout: 2s", "timeout: 30s"));
    let mut p = spawn(&sb, &["run", "release.yaml", "--as", "alice"]);
    p.exp_string("Go / no-go for pty-timed").unwrap();
    press(&mut p, "");
    p.exp_string("Comment for the record").unwrap();
    press(&mut p, "looks good");
    ends(&mut p, "RELEASED", 0);
    assert_eq!(gate_decision(&sb)["comment"], "looks good");
}
