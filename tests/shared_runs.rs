//! Runs in the shared store (moto): the journal as numbered objects, the run
//! index `history` reads, a run finished from a machine that never saw it,
//! and a store that goes away mid-run.

use std::time::Duration;

use crate::shared_state::{Shared, kill9, wait_for_lock};
use crate::support::s3_faults::S3Faults;
use crate::support::tcp_proxy::Proxy;
use crate::support::*;

/// Objects under `runs/RUN_ID/journal/`, in key order.
fn journal_objects(shared: &Shared, run_id: &str) -> Vec<(String, String)> {
    let prefix = format!("{}/runs/{run_id}/journal/", shared.prefix);
    let mut objects: Vec<(String, String)> = shared.objects().into_iter().filter(|(k, _)| k.starts_with(&prefix)).collect();
    objects.sort();
    objects
}

fn object(shared: &Shared, key: &str) -> Option<String> {
    let key = format!("{}/{key}", shared.prefix);
    shared.objects().into_iter().find(|(k, _)| *k == key).map(|(_, b)| b)
}

const THREE_STEPS: &str = "version: 1
name: mirrored
vars:
  version: { required: true }
execute:
  - run: echo one
  - run: echo two
validate:
  - run: \"true\"
finalize:
  - run: echo three
";

#[test]
fn every_journal_line_reaches_s3_in_numbered_objects_that_chain_like_the_local_journal() {
    let shared = Shared::new();
    let sb = Sandbox::new();
    sb.write("release.yaml", THREE_STEPS);
    shared.run(&sb, &["run", "release.yaml", "--non-interactive", "--var", "version=2.4.1"], &[]).expect_code(0);
    let run_id = sb.latest_run_id();
    let objects = journal_objects(&shared, &run_id);
    assert!(objects.len() > 3, "one object per step boundary, not one per run: {}", objects.len());
    for (i, (key, _)) in objects.iter().enumerate() {
        assert!(key.ends_with(&format!("/journal/{i:08}.jsonl")), "numbered without gaps: {key}");
    }
    let stored: String = objects.iter().map(|(_, b)| b.as_str()).collect();
    assert_eq!(stored, std::fs::read_to_string(sb.run_dir().join("journal.jsonl")).unwrap(), "the same bytes, so the same chain");
    assert_eq!(object(&shared, &format!("runs/{run_id}/runbook.yaml")).as_deref(), Some(THREE_STEPS));
    let index: serde_json::Value = serde_json::from_str(&object(&shared, &format!("index/{run_id}.json")).unwrap()).unwrap();
    assert_eq!(index["state"], "RELEASED");
    assert_eq!(index["vars"]["version"], "2.4.1");
    assert!(index["duration_ms"].as_u64().is_some(), "{index}");
}

#[test]
fn history_and_status_from_any_machine_read_the_shared_index() {
    let shared = Shared::new();
    let (a, b, c) = (Sandbox::new(), Sandbox::new(), Sandbox::new());
    for sb in [&a, &b] {
        sb.write("release.yaml", THREE_STEPS);
    }
    shared.run(&a, &["run", "release.yaml", "--non-interactive", "--var", "version=1.0.0", "--as", "alice"], &[]).expect_code(0);
    shared.run(&b, &["run", "release.yaml", "--non-interactive", "--var", "version=1.0.1", "--as", "bob"], &[]).expect_code(0);
    let r = shared.run(&c, &["history"], &[]);
    r.expect_code(0);
    let rows: Vec<&str> = r.stdout.lines().filter(|l| l.contains("mirrored")).collect();
    assert_eq!(rows.len(), 2, "{}", r.stdout);
    assert!(
        rows[0].contains("bob") && rows[0].contains("version=1.0.1") && rows[0].contains("RELEASED"),
        "newest first: {}",
        r.stdout
    );
    assert!(rows[1].contains("alice") && rows[1].contains("version=1.0.0"), "{}", r.stdout);
    let json = shared.run(&c, &["history", "--output", "json"], &[]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["runs"].as_array().unwrap().len(), 2);
    assert!(doc["runs"][0]["duration_ms"].as_u64().is_some(), "{doc}");
    // status of a run this machine never saw: brought from S3.
    let run_id = a.latest_run_id();
    let r = shared.run(&c, &["status", &run_id], &[]);
    r.expect_code(0);
    assert!(r.stdout.contains("RELEASED") && r.stdout.contains("alice"), "{}", r.stdout);
    // verify and report read it the same way, on a machine that never saw it.
    let elsewhere = Sandbox::new();
    shared.run(&elsewhere, &["verify", &b.latest_run_id()], &[]).expect_code(0);
    let report = shared.run(&elsewhere, &["report", &b.latest_run_id(), "--format", "junit"], &[]);
    report.expect_code(0);
    assert!(report.stdout.contains("<testsuite"), "{}", report.stdout);
}

#[test]
fn a_run_killed_mid_execute_is_finished_from_a_machine_that_never_saw_it_with_no_step_lost_or_doubled() {
    let shared = Shared::new();
    let (a, b) = (Sandbox::new(), Sandbox::new());
    let world = Sandbox::new();
    let marks = world.path().join("marks.txt");
    let (go, pid) = (world.path().join("go"), world.path().join("step.pid"));
    let runbook = "version: 1
name: handover
execute:
  - run: echo deploy-1 >> \"$MARKS\"
  - id: slow
    run: test -f \"$GO\" || { echo $$ > \"$PID\"; exec sleep 60; }; echo deploy-2 >> \"$MARKS\"
    idempotent: true
  - run: echo deploy-3 >> \"$MARKS\"
validate:
  - run: \"true\"
finalize:
  - run: echo finalized >> \"$MARKS\"
";
    for sb in [&a, &b] {
        sb.write("release.yaml", runbook);
    }
    let paths = [
        ("MARKS", marks.to_str().unwrap()),
        ("GO", go.to_str().unwrap()),
        ("PID", pid.to_str().unwrap()),
        ("RELCTL_LOCK_LEASE", "2s"),
    ];
    let mut holder = shared.spawn(&a, &["run", "release.yaml", "--non-interactive"], &paths);
    let lock = wait_for_lock(&shared, "handover");
    wait_until("the slow step wrote its pid", || std::fs::read_to_string(&pid).is_ok_and(|p| !p.trim().is_empty()));
    kill9(holder.id());
    let _ = holder.wait();
    kill9(std::fs::read_to_string(&pid).unwrap().trim().parse().unwrap());
    std::thread::sleep(Duration::from_secs(3));
    std::fs::write(&go, "").unwrap();
    // Machine B has no state dir for the run: it comes from S3.
    let run_id = lock["run_id"].as_str().unwrap();
    assert!(!b.path().join(".relctl").exists());
    let r = shared.run(&b, &["resume", run_id, "-f", "release.yaml", "--non-interactive"], &paths);
    r.expect_code(0);
    assert_eq!(std::fs::read_to_string(&marks).unwrap(), "deploy-1\ndeploy-2\ndeploy-3\nfinalized\n");
    let local = std::fs::read_to_string(b.path().join(".relctl/runs").join(run_id).join("journal.jsonl")).unwrap();
    let stored: String = journal_objects(&shared, run_id).iter().map(|(_, b)| b.as_str()).collect();
    assert_eq!(stored, local, "B's journal continued A's, in S3 too");
    b.relctl(&["verify", run_id, "-f", "release.yaml"]).expect_code(0);
    assert_eq!(shared.audit_actions("handover"), ["acquired", "taken_over", "released"]);
}

#[test]
fn s3_going_away_mid_run_stops_it_before_the_next_step_and_resume_catches_s3_up() {
    let shared = Shared::new();
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        // A step whose start reached the disk but not S3 counts as cut off, like
        // after a disk failure: asked about on resume, unless idempotent.
        "version: 1\nname: outage\nexecute:\n  - run: sleep 3\n  - run: echo next >> next.txt\n    idempotent: true\nvalidate:\n  - run: \"true\"\n",
    );
    let mut proxy = Proxy::new(&crate::support::moto::url());
    let endpoint = proxy.url();
    let via_proxy = [("AWS_ENDPOINT_URL", endpoint.as_str()), ("AWS_MAX_ATTEMPTS", "2")];
    let child = shared.spawn(&sb, &["run", "release.yaml", "--non-interactive"], &via_proxy);
    wait_for_lock(&shared, "outage");
    // Cut once the step's start is in S3 too: cut before, the start itself
    // is what S3 missed, and a resume rightly asks about the step (a race
    // this test lost under load).
    wait_until("the first step's start in S3", || {
        sb.journal_text().contains("step_started")
            && journal_objects(&shared, &sb.latest_run_id()).iter().any(|(_, b)| b.contains("step_started"))
    });
    proxy.cut();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(70), "{stderr}");
    assert!(stderr.contains("cannot write the journal to the shared state"), "{stderr}");
    assert!(sb.read("next.txt").is_empty(), "the step after the outage did not run");
    // S3 is back: the resume sends what S3 missed first, then goes on.
    proxy.restore();
    let r = shared.run(&sb, &["resume", "--non-interactive"], &via_proxy);
    r.expect_code(0);
    assert_eq!(sb.read("next.txt"), "next\n");
    let run_id = sb.latest_run_id();
    let stored: String = journal_objects(&shared, &run_id).iter().map(|(_, b)| b.as_str()).collect();
    assert_eq!(stored, std::fs::read_to_string(sb.run_dir().join("journal.jsonl")).unwrap(), "nothing is missing from S3");
}

#[test]
fn a_409_conditional_request_conflict_is_retried_not_taken_for_a_held_lock() {
    let shared = Shared::new();
    let sb = Sandbox::new();
    sb.write("release.yaml", THREE_STEPS);
    let faults = S3Faults::new(&crate::support::moto::url(), "/locks/", 2);
    let endpoint = faults.url();
    let r =
        shared.run(&sb, &["run", "release.yaml", "--non-interactive", "--var", "version=1"], &[("AWS_ENDPOINT_URL", &endpoint)]);
    r.expect_code(0);
    // Two conflicts, then the create, the confirming rewrite; the release is a DELETE.
    assert!(faults.puts("/locks/mirrored.json") >= 4, "the conflicting create was tried again");
    assert_eq!(shared.audit_actions("mirrored"), ["acquired", "released"]);
}

#[test]
fn an_s3_only_endpoint_setting_is_used_for_the_shared_state() {
    let shared = Shared::new();
    let sb = Sandbox::new();
    sb.write("release.yaml", THREE_STEPS);
    let faults = S3Faults::new(&crate::support::moto::url(), "/nothing/", 0);
    let endpoint = faults.url();
    // The general endpoint leads nowhere; AWS_ENDPOINT_URL_S3 wins for S3.
    let env = [("AWS_ENDPOINT_URL", "http://127.0.0.1:9"), ("AWS_ENDPOINT_URL_S3", endpoint.as_str())];
    shared.run(&sb, &["run", "release.yaml", "--non-interactive", "--var", "version=1"], &env).expect_code(0);
    assert!(faults.puts("/locks/") > 0, "the S3 calls went to AWS_ENDPOINT_URL_S3");
}
