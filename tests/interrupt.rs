//! Ctrl-C (SIGINT) and SIGTERM in CI: the step stops, the run is recorded as
//! interrupted and exits 130, and `resume` finishes it.

use crate::support::*;

fn signal(pid: u32, sig: i32) {
    // SAFETY: signalling a process this test started.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

const RUNBOOK: &str = "version: 1\nname: irq\nexecute:\n  - id: long\n    idempotent: true\n    run: |\n      echo $$ > long.pid\n      while [ ! -f go ]; do sleep 0.05; done\n      echo done >> marks.txt\nfinalize:\n  - run: echo fin >> marks.txt\n";

fn interrupted_by(sig: i32) {
    let sb = Sandbox::new();
    sb.write("release.yaml", RUNBOOK);
    let mut child = sb.cmd(&["run", "release.yaml", "--non-interactive"]).spawn().unwrap();
    wait_until("the step to start", || sb.read("long.pid").trim().parse::<i32>().is_ok());
    let step_pid: u32 = sb.read("long.pid").trim().parse().unwrap();
    signal(child.id(), sig);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    // The step's shell was stopped with the run.
    wait_until("the step's process to exit", || !std::path::Path::new(&format!("/proc/{step_pid}")).exists());
    let j = sb.journal();
    assert_eq!(events(&j, "interrupted").len(), 1);
    assert_eq!(events(&j, "interrupted")[0]["state"], "execute");
    assert!(events(&j, "run_finished").is_empty());

    sb.write("go", "");
    sb.relctl(&["resume", "--non-interactive"]).expect_code(0);
    assert_eq!(sb.read("marks.txt"), "done\nfin\n");
}

#[test]
fn sigint_in_ci_records_the_interruption_and_exits_130() {
    interrupted_by(libc::SIGINT);
}

#[test]
fn sigterm_is_handled_like_an_interrupt() {
    interrupted_by(libc::SIGTERM);
}

#[test]
fn sighup_from_a_dropped_session_is_handled_like_an_interrupt() {
    interrupted_by(libc::SIGHUP);
}

#[test]
fn a_step_that_ignores_sigterm_does_not_outlive_relctl() {
    // Before: relctl sent SIGTERM, exited in 20 ms, and the step (which
    // ignores SIGTERM) went on running beside whatever came next.
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1\nname: stubborn\nexecute:\n  - run: |\n      (trap '' TERM; while true; do sleep 0.1; done) &\n      echo $! > long.pid\n      wait\n",
    );
    let mut child = sb.cmd(&["run", "release.yaml", "--non-interactive"]).spawn().unwrap();
    wait_until("the step to start", || sb.read("long.pid").trim().parse::<i32>().is_ok());
    let step_pid: u32 = sb.read("long.pid").trim().parse().unwrap();
    signal(child.id(), libc::SIGTERM);
    assert_eq!(child.wait().unwrap().code(), Some(130));
    // relctl waited for the grace period, then SIGKILLed the whole group
    // (a zombie left for init to reap is dead).
    let state = std::fs::read_to_string(format!("/proc/{step_pid}/stat")).unwrap_or_default();
    let running = !state.is_empty() && state.rsplit(") ").next().is_some_and(|rest| !rest.starts_with('Z'));
    assert!(!running, "the step outlived relctl: {state}");
}
