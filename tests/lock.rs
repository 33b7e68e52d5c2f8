//! One run per runbook at a time, held across the whole run.

use crate::support::*;

#[test]
fn a_second_run_of_the_same_runbook_is_refused_naming_the_holder() {
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1\nname: locked\nexecute:\n  - run: |\n      touch started\n      while [ ! -f go ]; do sleep 0.05; done\n",
    );
    let mut first = sb.cmd(&["run", "release.yaml", "--non-interactive", "--as", "alice"]).spawn().unwrap();
    wait_until("the first run to start its step", || sb.path().join("started").exists());
    let first_id = sb.latest_run_id();

    let second = sb.relctl(&["run", "release.yaml", "--non-interactive", "--as", "bob"]);
    second.expect_code(5);
    assert!(second.stderr.contains("runbook `locked` is locked by run"), "{}", second.stderr);
    assert!(second.stderr.contains(&first_id), "{}", second.stderr);
    assert!(second.stderr.contains("alice"), "{}", second.stderr);
    // The refused run leaves nothing behind.
    let runs = std::fs::read_dir(sb.path().join(".relctl/runs")).unwrap().count();
    assert_eq!(runs, 1);

    sb.write("go", "");
    assert_eq!(first.wait().unwrap().code(), Some(0));
    sb.relctl(&["run", "release.yaml", "--non-interactive"]).expect_code(0);
}

#[test]
fn the_lock_is_freed_when_the_holder_is_killed() {
    let sb = Sandbox::new();
    sb.write("release.yaml", "version: 1\nname: locked\nexecute:\n  - idempotent: true\n    run: |\n      touch started\n      while [ ! -f go ]; do sleep 0.05; done\n");
    let mut first = sb.cmd(&["run", "release.yaml", "--non-interactive"]).spawn().unwrap();
    wait_until("the first run to start its step", || sb.path().join("started").exists());
    first.kill().unwrap();
    first.wait().unwrap();
    sb.write("go", "");
    sb.relctl(&["resume", "--non-interactive"]).expect_code(0);
}
