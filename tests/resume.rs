//! Resume after the process is killed outright (SIGKILL) in the middle of a
//! step: nothing that finished runs twice, and the interrupted step runs again
//! only when that is safe or someone says so.

use crate::support::*;

const RUNBOOK: &str = r#"
version: 1
name: resume-demo
checklist:
  - id: one
    run: echo one >> marks.txt
execute:
  - id: two
    IDEMPOTENT
    run: |
      echo two-start >> marks.txt
      echo $$ > two.pid
      while [ ! -f release-two ]; do sleep 0.05; done
      echo two-end >> marks.txt
      echo token=from-two >> "$RELCTL_OUTPUT"
  - id: three
    run: echo three ${{ steps.two.outputs.token }} >> marks.txt
validate:
  - run: grep -q three marks.txt
finalize:
  - run: echo fin >> marks.txt
"#;

fn count(text: &str, line: &str) -> usize {
    text.lines().filter(|l| *l == line).count()
}

/// Starts a run, waits until step `two` is running, then SIGKILLs relctl and
/// the step's shell (as a crash or OOM kill would).
fn kill_during_step_two(sb: &Sandbox) {
    let mut child = sb.cmd(&["run", "release.yaml", "--non-interactive"]).spawn().unwrap();
    wait_until("step two to start", || sb.read("two.pid").trim().parse::<i32>().is_ok());
    child.kill().unwrap();
    child.wait().unwrap();
    let pid: i32 = sb.read("two.pid").trim().parse().unwrap();
    // SAFETY: signalling a process this test started.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    std::fs::remove_file(sb.path().join("two.pid")).unwrap();
}

#[test]
fn resume_after_sigkill_refuses_to_rerun_a_non_idempotent_step_in_ci() {
    let sb = Sandbox::new();
    sb.write("release.yaml", &RUNBOOK.replace("IDEMPOTENT", "idempotent: false"));
    kill_during_step_two(&sb);
    let run_id = sb.latest_run_id();

    let r = sb.relctl(&["resume", "--non-interactive"]);
    r.expect_code(6);
    assert!(r.stderr.contains("step `two` (execute.0) was started but not finished"), "{}", r.stderr);
    assert!(r.stderr.contains("--rerun execute.0"), "{}", r.stderr);

    let status = sb.relctl(&["status"]);
    assert!(status.stdout.contains(&run_id), "{}", status.stdout);
    assert!(status.stdout.contains("not finished"), "{}", status.stdout);

    sb.write("release-two", "");
    sb.relctl(&["resume", &run_id, "--non-interactive", "--rerun", "two"]).expect_code(0);
    let marks = sb.read("marks.txt");
    assert_eq!(count(&marks, "one"), 1, "a finished step ran twice:\n{marks}");
    assert_eq!(count(&marks, "two-start"), 2, "{marks}");
    assert_eq!(count(&marks, "two-end"), 1, "{marks}");
    assert_eq!(count(&marks, "three from-two"), 1, "{marks}");
    assert_eq!(count(&marks, "fin"), 1, "{marks}");
    let j = sb.journal();
    assert_eq!(final_state(&j), "released");
    assert_eq!(events(&j, "run_resumed").len(), 2);
}

#[test]
fn resume_reruns_an_idempotent_step_and_keeps_earlier_outputs() {
    let sb = Sandbox::new();
    sb.write("release.yaml", &RUNBOOK.replace("IDEMPOTENT", "idempotent: true"));
    kill_during_step_two(&sb);
    sb.write("release-two", "");
    let r = sb.relctl(&["resume", "--non-interactive"]);
    r.expect_code(0);
    assert!(r.stdout.contains("resuming run"), "{}", r.stdout);
    let marks = sb.read("marks.txt");
    assert_eq!(count(&marks, "one"), 1, "{marks}");
    assert_eq!(count(&marks, "two-end"), 1, "{marks}");
    assert_eq!(count(&marks, "fin"), 1, "{marks}");
}

#[test]
fn assume_done_skips_the_interrupted_step() {
    let sb = Sandbox::new();
    sb.write("release.yaml", &RUNBOOK.replace("IDEMPOTENT", "idempotent: false").replace(" ${{ steps.two.outputs.token }}", ""));
    kill_during_step_two(&sb);
    sb.relctl(&["resume", "--non-interactive", "--assume-done", "two"]).expect_code(0);
    let marks = sb.read("marks.txt");
    assert_eq!(count(&marks, "two-start"), 1, "{marks}");
    assert_eq!(count(&marks, "three"), 1, "{marks}");
    let j = sb.journal();
    let assumed = events(&j, "step_finished").into_iter().find(|e| e["key"] == "execute.0").unwrap().clone();
    assert!(assumed["message"].as_str().unwrap().contains("assumed done by tester"), "{assumed}");
}

#[test]
fn resume_with_nothing_to_resume_says_so() {
    let sb = Sandbox::new();
    sb.write("release.yaml", "version: 1\nname: x\nexecute:\n  - run: 'true'\n");
    sb.relctl(&["run", "release.yaml", "--non-interactive"]).expect_code(0);
    let r = sb.relctl(&["resume"]);
    r.expect_code(2);
    assert!(r.stderr.contains("no unfinished run"), "{}", r.stderr);
    let id = sb.latest_run_id();
    let r = sb.relctl(&["resume", &id]);
    r.expect_code(2);
    assert!(r.stderr.contains("already finished"), "{}", r.stderr);
}

#[test]
fn a_torn_last_journal_line_does_not_stop_resume() {
    let sb = Sandbox::new();
    sb.write("release.yaml", &RUNBOOK.replace("IDEMPOTENT", "idempotent: true"));
    kill_during_step_two(&sb);
    let journal = sb.path().join(".relctl/runs").join(sb.latest_run_id()).join("journal.jsonl");
    let mut text = std::fs::read_to_string(&journal).unwrap();
    text.push_str("{\"event\":\"step_fin");
    std::fs::write(&journal, text).unwrap();
    sb.write("release-two", "");
    sb.relctl(&["resume", "--non-interactive"]).expect_code(0);
    // Resumed where the intact journal ends: nothing finished ran again,
    // the cut-off (idempotent) step ran to its end, and the run finished.
    let marks = sb.read("marks.txt");
    assert_eq!(count(&marks, "one"), 1, "{marks}");
    assert_eq!(count(&marks, "two-start"), 2, "{marks}");
    assert_eq!(count(&marks, "two-end"), 1, "{marks}");
    assert_eq!(count(&marks, "fin"), 1, "{marks}");
    // Before: resume appended after the torn line, and from then on status,
    // history and resume failed ("damaged at line N"). Now the tail was cut
    // off first, and that is on the record.
    sb.relctl(&["status"]).expect_code(0);
    let verify = sb.relctl(&["verify"]);
    verify.expect_code(0);
    assert!(verify.stdout.contains("journal intact"), "{}", verify.stdout);
    assert_eq!(events(&sb.journal(), "journal_repaired").len(), 1);
}

/// The journal with `edit` applied to its text.
fn edit_journal(sb: &Sandbox, edit: impl FnOnce(String) -> String) {
    let path = sb.run_dir().join("journal.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(text)).unwrap();
}

#[test]
fn an_edited_journal_is_caught_by_verify_status_and_resume() {
    // Before: 0 of 8 edits (who approved, a flipped decision, a forged
    // step_finished or run_finished) were noticed.
    let sb = Sandbox::new();
    sb.write("release.yaml", &RUNBOOK.replace("IDEMPOTENT", "idempotent: true"));
    kill_during_step_two(&sb);
    let intact = sb.relctl(&["verify"]);
    intact.expect_code(0);
    // Forge the checklist step's record: it "failed".
    edit_journal(&sb, |t| t.replacen("\"status\":\"succeeded\"", "\"status\":\"failed\"", 1));
    let verify = sb.relctl(&["verify"]);
    verify.expect_code(6);
    assert!(verify.stdout.contains("cannot be trusted from line"), "{}", verify.stdout);
    let status = sb.relctl(&["status"]);
    status.expect_code(6);
    assert!(status.stderr.contains("JOURNAL DAMAGED"), "{}", status.stderr);
    sb.write("release-two", "");
    let r = sb.relctl(&["resume", "--non-interactive"]);
    r.expect_code(6);
    assert!(r.stderr.contains("cannot be trusted") && r.stderr.contains("--accept-damaged-journal"), "{}", r.stderr);
    assert_eq!(count(&sb.read("marks.txt"), "two-start"), 1, "nothing ran");

    // Going on anyway is a choice on the record.
    sb.relctl(&["resume", "--non-interactive", "--accept-damaged-journal"]).expect_code(0);
    let accepted = events(&sb.journal(), "damage_accepted").into_iter().next().expect("damage_accepted").clone();
    assert_eq!(accepted["actor"], "tester");
    assert!(accepted["damage"][0].as_str().unwrap().contains("the chain breaks here"), "{accepted}");
}

#[test]
fn the_end_of_a_run_names_the_journal_s_last_hash_and_verify_agrees() {
    let sb = Sandbox::new();
    sb.write("release.yaml", "version: 1\nname: hash\nexecute:\n  - run: echo ok\n");
    let run = sb.relctl(&["run", "release.yaml", "--non-interactive"]);
    run.expect_code(0);
    let hash = run.stderr.split("last hash ").nth(1).and_then(|s| s.split(';').next()).expect("a last hash").to_string();
    assert_eq!(hash.len(), 64, "{}", run.stderr);
    let verify = sb.relctl(&["verify"]);
    verify.expect_code(0);
    assert!(verify.stdout.ends_with(&format!("last hash {hash}\n")), "{}", verify.stdout);
}

#[test]
fn a_killed_release_holds_its_runbook_until_it_is_resumed_or_abandoned() {
    // Before: kill -9 freed the OS lock at once, and a new `relctl run` of
    // the same runbook went ahead beside the half-done release.
    let sb = Sandbox::new();
    sb.write("release.yaml", &RUNBOOK.replace("IDEMPOTENT", "idempotent: true"));
    kill_during_step_two(&sb);
    let old = sb.latest_run_id();
    let r = sb.relctl(&["run", "release.yaml", "--non-interactive"]);
    r.expect_code(5);
    assert!(r.stderr.contains(&format!("has an unfinished run, {old} (stopped in EXECUTING)")), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("relctl resume {old}")) && r.stderr.contains(&format!("relctl abandon {old}")),
        "{}",
        r.stderr
    );
    assert_eq!(count(&sb.read("marks.txt"), "one"), 1, "the new run changed nothing");
    assert_eq!(sb.latest_run_id(), old, "the refused run left no run behind");

    // Abandoning needs a reason, is journaled with who and why, and frees the runbook.
    sb.relctl(&["abandon", &old]).expect_code(2);
    sb.relctl(&["abandon", &old, "--reason", "rolled back by hand", "--as", "carol"]).expect_code(0);
    let abandoned = events(&sb.journal(), "run_abandoned")[0].clone();
    assert_eq!((abandoned["actor"].as_str(), abandoned["reason"].as_str()), (Some("carol"), Some("rolled back by hand")));
    sb.relctl(&["resume", &old, "--non-interactive"]).expect_code(2);
    assert!(sb.relctl(&["history"]).stdout.contains("ABANDONED by carol"));
    sb.write("release-two", "");
    sb.relctl(&["run", "release.yaml", "--non-interactive"]).expect_code(0);
    sb.relctl(&["verify", &old]).expect_code(0);
}
