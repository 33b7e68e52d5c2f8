//! relctl killed outright (SIGKILL, OOM, a lost CI runner) while a step runs:
//! the step's processes are not relctl's children any more and go on. A
//! resumed run must not start the step again beside them: it waits for
//! them, or ends them when told to (or when the step's timeout is over).

use crate::support::*;

fn signal(pid: i32, sig: i32) {
    // SAFETY: signalling a process this test started.
    unsafe {
        libc::kill(pid, sig);
    }
}

fn running(pid: i32) -> bool {
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !state.is_empty() && state.rsplit(") ").next().is_some_and(|rest| !rest.starts_with('Z'))
}

/// An idempotent step (resume runs it again unasked) whose first run waits
/// for `release` and whose second finishes at once.
fn runbook(extra: &str) -> String {
    format!(
        "version: 1\nname: leftover\nexecute:\n  - id: deploy\n    idempotent: true\n{extra}    run: |\n      echo start >> marks.txt\n      echo $$ > deploy.pid\n      if [ -f second ]; then echo end >> marks.txt; exit 0; fi\n      touch second\n      while [ ! -f release ]; do sleep 0.05; done\n      echo end >> marks.txt\nfinalize:\n  - run: echo fin >> marks.txt\n"
    )
}

/// Starts the run, and SIGKILLs relctl (only relctl) while the step runs.
/// Returns the step's shell, left running.
fn kill_relctl_mid_step(sb: &Sandbox) -> i32 {
    let mut child = sb.cmd(&["run", "release.yaml", "--non-interactive"]).spawn().unwrap();
    wait_until("the step to start", || sb.read("deploy.pid").trim().parse::<i32>().is_ok());
    child.kill().unwrap();
    child.wait().unwrap();
    let pid: i32 = sb.read("deploy.pid").trim().parse().unwrap();
    assert!(running(pid), "the step should outlive a SIGKILLed relctl");
    pid
}

#[test]
fn resume_after_sigkill_waits_for_the_killed_steps_processes_instead_of_running_the_step_beside_them() {
    let sb = Sandbox::new();
    sb.write("release.yaml", &runbook(""));
    let leftover = kill_relctl_mid_step(&sb);
    let mut resume = sb.cmd(&["resume", "--non-interactive"]).spawn().unwrap();
    wait_until("resume to find the leftover", || sb.journal_text().contains("\"leftover_processes\""));
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(sb.read("marks.txt"), "start\n", "the step ran again beside its leftover");
    assert!(running(leftover));
    sb.write("release", "");
    assert_eq!(resume.wait().unwrap().code(), Some(0));
    // The first run ended by itself, then the step ran again: never both at once.
    assert_eq!(sb.read("marks.txt"), "start\nend\nstart\nend\nfin\n");
    let j = sb.journal();
    let found = &events(&j, "leftover_processes")[0];
    assert_eq!(found["key"], "execute.0");
    assert_eq!(found["pgid"], leftover);
    assert_eq!(found["ending"], false);
    let gone = &events(&j, "leftover_gone")[0];
    assert_eq!(gone["ended"], false);
    assert!(gone["waited_ms"].as_u64().unwrap() >= 500, "{gone}");
}

#[test]
fn stop_leftovers_ends_the_killed_steps_processes_before_the_step_runs_again() {
    let sb = Sandbox::new();
    sb.write("release.yaml", &runbook(""));
    let leftover = kill_relctl_mid_step(&sb);
    let r = sb.relctl(&["resume", "--non-interactive", "--stop-leftovers"]);
    r.expect_code(0);
    assert!(r.stdout.contains("still running") && r.stdout.contains("ending them"), "{}", r.stdout);
    assert!(!running(leftover), "the leftover was not ended");
    // The leftover never got to its end; the re-run did.
    assert_eq!(sb.read("marks.txt"), "start\nstart\nend\nfin\n");
    let j = sb.journal();
    let found = &events(&j, "leftover_processes")[0];
    assert_eq!(found["ending"], true);
    assert!(found["why"].as_str().unwrap().contains("--stop-leftovers, by tester"), "{found}");
    assert_eq!(events(&j, "leftover_gone")[0]["ended"], true);
}

#[test]
fn a_leftover_past_its_steps_timeout_is_ended_not_waited_for() {
    let sb = Sandbox::new();
    sb.write("release.yaml", &runbook("    timeout: 1s\n"));
    let leftover = kill_relctl_mid_step(&sb);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    sb.relctl(&["resume", "--non-interactive"]).expect_code(0);
    assert!(!running(leftover));
    assert_eq!(sb.read("marks.txt"), "start\nstart\nend\nfin\n");
    let j = sb.journal();
    let found = &events(&j, "leftover_processes")[0];
    assert!(found["why"].as_str().unwrap().contains("past the step's 1s timeout"), "{found}");
}

#[test]
fn a_leftover_that_already_ended_is_not_waited_for() {
    let sb = Sandbox::new();
    sb.write("release.yaml", &runbook(""));
    let leftover = kill_relctl_mid_step(&sb);
    signal(-leftover, libc::SIGKILL);
    // SAFETY: signal 0 only asks whether the group is still there.
    wait_until("the leftover's group to die", || unsafe { libc::kill(-leftover, 0) } != 0);
    sb.relctl(&["resume", "--non-interactive"]).expect_code(0);
    assert!(events(&sb.journal(), "leftover_processes").is_empty());
    assert_eq!(sb.read("marks.txt"), "start\nstart\nend\nfin\n");
}

#[test]
fn at_a_terminal_resume_offers_to_end_the_killed_steps_processes() {
    use crate::pty::{exit_code, press, spawn};
    let sb = Sandbox::new();
    sb.write("release.yaml", &runbook(""));
    let leftover = kill_relctl_mid_step(&sb);
    let mut p = spawn(&sb, &["resume"]);
    p.exp_string("is still running from the stopped run").unwrap();
    assert_eq!(sb.read("marks.txt"), "start\n", "the step ran again before anyone answered");
    press(&mut p, "y");
    p.exp_string("ending them").unwrap();
    p.exp_string("RELEASED").unwrap();
    assert_eq!(exit_code(&p), 0);
    assert!(!running(leftover));
    assert_eq!(sb.read("marks.txt"), "start\nstart\nend\nfin\n");
    let j = sb.journal();
    let found = &events(&j, "leftover_processes")[0];
    assert!(found["why"].as_str().unwrap().contains("ended by tester"), "{found}");
}
