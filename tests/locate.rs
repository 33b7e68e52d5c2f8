//! The hints relctl prints (`relctl resume RUN_ID`) work from wherever they
//! are typed: a run is found through this user's index of runs when the
//! current directory does not have it, and `history` there lists them.

use crate::support::*;

const LONG: &str = "version: 1\nname: elsewhere\nexecute:\n  - id: long\n    idempotent: true\n    run: |\n      touch started\n      while [ ! -f go ]; do sleep 0.05; done\n      echo done >> marks.txt\n";

#[test]
fn resume_status_verify_and_history_find_a_run_started_from_another_directory() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.path().join("deploy")).unwrap();
    std::fs::create_dir_all(sb.path().join("elsewhere")).unwrap();
    sb.write("deploy/release.yaml", LONG);
    // Started from the top directory: the state lives in deploy/.relctl.
    let mut child = sb.cmd(&["run", "deploy/release.yaml", "--non-interactive"]).spawn().unwrap();
    wait_until("the step to start", || sb.path().join("deploy/started").exists());
    // SAFETY: signalling a process this test started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let run_id = std::fs::read_dir(sb.path().join("deploy/.relctl/runs")).unwrap().next().unwrap().unwrap().file_name();
    let run_id = run_id.to_string_lossy().to_string();

    // Before: "no run … in .relctl", and `history` said "no runs" with exit 0.
    let in_other = |args: &[&str]| {
        let mut c = sb.cmd(args);
        c.current_dir(sb.path().join("elsewhere"));
        let out = c.output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    };
    let status = in_other(&["status", &run_id]);
    status.expect_code(0);
    assert!(status.stdout.contains(&run_id), "{}", status.stdout);
    assert!(status.stderr.contains("runs in ") && status.stderr.contains("deploy/.relctl"), "{}", status.stderr);
    in_other(&["verify", &run_id]).expect_code(0);
    let history = in_other(&["history"]);
    assert!(history.stdout.contains("this user's runs elsewhere") && history.stdout.contains(&run_id), "{}", history.stdout);
    sb.write("deploy/go", "");
    in_other(&["resume", &run_id, "--non-interactive"]).expect_code(0);
    assert_eq!(sb.read("deploy/marks.txt"), "done\n");
    // Named explicitly, a state dir is taken at its word.
    in_other(&["status", &run_id, "--state-dir", "nowhere"]).expect_code(2);
}

#[test]
fn status_of_a_run_going_on_now_says_so_instead_of_offering_a_resume_that_would_fail() {
    // Before: "continue with: relctl resume", which then failed with exit 5.
    let sb = Sandbox::new();
    sb.write("release.yaml", &LONG.replace("deploy/", ""));
    let mut child = sb.cmd(&["run", "release.yaml", "--non-interactive"]).spawn().unwrap();
    wait_until("the step to start", || sb.path().join("started").exists());
    let live = sb.relctl(&["status"]);
    live.expect_code(0);
    assert!(live.stdout.contains("result: in progress, in EXECUTING — tester is running it now"), "{}", live.stdout);
    assert!(!live.stdout.contains("relctl resume"), "{}", live.stdout);
    let json = sb.relctl(&["status", "--output", "json"]);
    let doc: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(doc["live"]["pid"], child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    let stopped = sb.relctl(&["status"]);
    assert!(stopped.stdout.contains("result: not finished — stopped in EXECUTING"), "{}", stopped.stdout);
    assert!(stopped.stdout.contains("relctl resume"), "{}", stopped.stdout);
    // The killed run's step is still waiting: let it end, and see it end
    // before the sandbox goes (else it waits for a file in a directory that
    // is gone, forever, on the machine that ran the suite).
    sb.write("go", "");
    wait_until("the killed run's step to end", || sb.read("marks.txt").contains("done"));
}
