//! Shared state in S3 (moto's server, through relctl's real SDK client):
//! the runbook's lock across machines. A "machine" here is a sandbox: its
//! own local state dir and OS lock dir, sharing only the S3 location.

use std::time::{Duration, Instant};

use crate::support::moto;
use crate::support::*;

/// A location of its own in moto, and the environment relctl needs for it.
pub struct Shared {
    pub prefix: String,
    pub bucket: String,
    pub env: Vec<(&'static str, String)>,
}

impl Shared {
    pub fn new() -> Shared {
        let bucket = moto::unique("state").to_lowercase();
        moto::runtime().block_on(async { moto::s3().await.create_bucket().bucket(&bucket).send().await.unwrap() });
        let state = format!("s3://{bucket}/team-a");
        let mut env = moto::env();
        env.push(("AWS_ENDPOINT_URL", moto::url()));
        env.push(("RELCTL_STATE", state));
        Shared { prefix: "team-a".into(), bucket, env }
    }

    pub fn with(&self, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        let mut env = self.env.clone();
        env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_string())));
        env
    }

    pub fn run(&self, sb: &Sandbox, args: &[&str], extra: &[(&'static str, &str)]) -> Run {
        let env = self.with(extra);
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        sb.relctl_bounded(args, &pairs)
    }

    pub fn spawn(&self, sb: &Sandbox, args: &[&str], extra: &[(&'static str, &str)]) -> std::process::Child {
        let mut c = sb.cmd(args);
        for (k, v) in self.with(extra) {
            c.env(k, v);
        }
        c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap()
    }

    /// Every object under the location: key → body.
    pub fn objects(&self) -> Vec<(String, String)> {
        moto::runtime().block_on(async {
            let s3 = moto::s3().await;
            let mut out = Vec::new();
            let mut pages = s3.list_objects_v2().bucket(&self.bucket).into_paginator().send();
            while let Some(page) = pages.next().await {
                for o in page.unwrap().contents() {
                    let key = o.key().unwrap().to_string();
                    let body = s3.get_object().bucket(&self.bucket).key(&key).send().await.unwrap().body.collect().await.unwrap();
                    out.push((key, String::from_utf8_lossy(&body.into_bytes()).into_owned()));
                }
            }
            out
        })
    }

    pub fn lock(&self, name: &str) -> Option<serde_json::Value> {
        let key = format!("team-a/locks/{name}.json");
        self.objects().into_iter().find(|(k, _)| *k == key).map(|(_, b)| serde_json::from_str(&b).unwrap())
    }

    pub fn audit_actions(&self, name: &str) -> Vec<String> {
        let prefix = format!("team-a/audit/{name}/");
        self.objects()
            .into_iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, b)| serde_json::from_str::<serde_json::Value>(&b).unwrap()["action"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn delete_lock(&self, name: &str) {
        moto::runtime().block_on(async {
            moto::s3().await.delete_object().bucket(&self.bucket).key(format!("team-a/locks/{name}.json")).send().await.unwrap();
        });
    }
}

pub fn release(name: &str, step: &str) -> String {
    format!(
        "version: 1\nname: {name}\nexecute:\n  - id: deploy\n    run: {step}\n    idempotent: true\nvalidate:\n  - run: \"true\"\nfinalize:\n  - run: echo finalized >> finalized.txt\n"
    )
}

pub fn wait_for_lock(shared: &Shared, name: &str) -> serde_json::Value {
    let start = Instant::now();
    loop {
        if let Some(l) = shared.lock(name) {
            return l;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no lock appeared for {name}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn kill9(pid: u32) {
    // SAFETY: signalling a process this test started.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
}

#[test]
fn two_machines_racing_for_one_runbook_twenty_times_never_both_proceed() {
    let shared = Shared::new();
    let (a, b) = (Sandbox::new(), Sandbox::new());
    for sb in [&a, &b] {
        sb.write("release.yaml", &release("race", "echo $RELCTL_RUN_ID >> ran.txt && sleep 1"));
    }
    for round in 0..20 {
        let first = shared.spawn(&a, &["run", "release.yaml", "--non-interactive"], &[]);
        let second = shared.spawn(&b, &["run", "release.yaml", "--non-interactive"], &[]);
        let (ra, rb) = (first.wait_with_output().unwrap(), second.wait_with_output().unwrap());
        let mut codes = [ra.status.code().unwrap(), rb.status.code().unwrap()];
        codes.sort_unstable();
        assert_eq!(
            codes,
            [0, 5],
            "round {round}: one proceeds, the other is refused as locked\nA: {}\nB: {}",
            String::from_utf8_lossy(&ra.stderr),
            String::from_utf8_lossy(&rb.stderr)
        );
        let loser = if ra.status.code() == Some(5) { &ra } else { &rb };
        assert!(String::from_utf8_lossy(&loser.stderr).contains("is locked in s3://"), "the refusal names the store");
    }
    let ran = a.read("ran.txt").lines().count() + b.read("ran.txt").lines().count();
    assert_eq!(ran, 20, "every round deployed exactly once");
    assert!(shared.lock("race").is_none(), "the last winner released the lock");
}

#[test]
fn the_lock_names_its_holder_and_is_released_with_the_run_and_no_secret_reaches_s3() {
    let shared = Shared::new();
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1\nname: named\nexecute:\n  - run: sleep 2 && echo ${{ secrets.DEPLOY_TOKEN }} > /dev/null\n",
    );
    let ci = [
        ("DEPLOY_TOKEN", "s3cr3t-t0ken-value"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "acme/checkout"),
        ("GITHUB_RUN_ID", "4242"),
    ];
    let child = shared.spawn(&sb, &["run", "release.yaml", "--non-interactive", "--as", "alice"], &ci);
    let lock = wait_for_lock(&shared, "named");
    assert_eq!(lock["kind"], "run");
    assert_eq!(lock["actor"], "alice");
    assert_eq!(lock["ci_job_url"], "https://github.com/acme/checkout/actions/runs/4242");
    assert!(lock["run_id"].as_str().is_some_and(|r| !r.is_empty()), "{lock}");
    assert!(lock["lease_expires"].as_str().is_some() && lock["host"].as_str().is_some(), "{lock}");
    assert!(lock["lock_id"].as_str().unwrap().starts_with("lk-"), "{lock}");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(shared.lock("named").is_none(), "released at the end");
    assert_eq!(shared.audit_actions("named"), ["acquired", "released"]);
    for (key, body) in shared.objects() {
        assert!(!body.contains("s3cr3t-t0ken-value"), "{key} holds the secret");
    }
}

#[test]
fn a_killed_holders_lock_goes_stale_and_only_unlock_with_a_reason_frees_it() {
    let shared = Shared::new();
    let (a, b) = (Sandbox::new(), Sandbox::new());
    a.write("release.yaml", &release("stale", "echo $$ > step.pid && exec sleep 60"));
    b.write("release.yaml", &release("stale", "echo deployed >> deployed.txt"));
    let lease = [("RELCTL_LOCK_LEASE", "2s")];
    let mut holder = shared.spawn(&a, &["run", "release.yaml", "--non-interactive"], &lease);
    let lock = wait_for_lock(&shared, "stale");
    wait_until("the step wrote its pid", || !a.read("step.pid").trim().is_empty());
    kill9(holder.id());
    let _ = holder.wait();
    kill9(a.read("step.pid").trim().parse().unwrap());
    std::thread::sleep(Duration::from_secs(3));
    // Stale: a new run is still refused, and told how to free it.
    let r = shared.run(&b, &["run", "release.yaml", "--non-interactive", "--lock-wait", "10s"], &lease);
    r.expect_code(5);
    let lock_id = lock["lock_id"].as_str().unwrap();
    assert!(r.stderr.contains("STALE") && r.stderr.contains(&format!("relctl unlock {lock_id}")), "{}", r.stderr);
    assert!(b.read("deployed.txt").is_empty());
    let r = shared.run(&b, &["unlock", lock_id], &[]);
    r.expect_code(2);
    let r = shared.run(&b, &["unlock", lock_id, "--reason", "runner i-0abc terminated", "--as", "bob"], &[]);
    r.expect_code(0);
    assert!(r.stdout.contains("not finished"), "{}", r.stdout);
    shared.run(&b, &["run", "release.yaml", "--non-interactive"], &lease).expect_code(0);
    assert_eq!(b.read("deployed.txt"), "deployed\n");
    let status = shared.run(&b, &["lock", "status", "--name", "stale"], &[]);
    assert!(status.stdout.contains("unlocked") && status.stdout.contains("runner i-0abc terminated"), "{}", status.stdout);
    assert!(status.stdout.contains("by bob"), "{}", status.stdout);
    // The run index shows it beside the runs, from any machine.
    let history = shared.run(&Sandbox::new(), &["history"], &[]);
    assert!(history.stdout.contains("lock events") && history.stdout.contains("unlocked"), "{}", history.stdout);
    assert!(history.stdout.contains("runner i-0abc terminated"), "{}", history.stdout);
}

#[test]
fn resume_of_the_killed_run_takes_its_own_stale_lock_over() {
    let shared = Shared::new();
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        &release("takeover", "echo start >> marks.txt; test -f go-on || { echo $$ > step.pid; exec sleep 60; }"),
    );
    let lease = [("RELCTL_LOCK_LEASE", "2s")];
    let mut holder = shared.spawn(&sb, &["run", "release.yaml", "--non-interactive"], &lease);
    wait_for_lock(&shared, "takeover");
    wait_until("the step wrote its pid", || !sb.read("step.pid").trim().is_empty());
    kill9(holder.id());
    let _ = holder.wait();
    kill9(sb.read("step.pid").trim().parse().unwrap());
    std::thread::sleep(Duration::from_secs(3));
    sb.write("go-on", "");
    let r = shared.run(&sb, &["resume", "--non-interactive"], &lease);
    r.expect_code(0);
    assert_eq!(sb.read("finalized.txt"), "finalized\n");
    assert_eq!(shared.audit_actions("takeover"), ["acquired", "taken_over", "released"]);
    assert!(shared.lock("takeover").is_none());
}

#[test]
fn an_interrupted_run_keeps_its_lock_until_resumed_and_a_new_run_is_refused() {
    let shared = Shared::new();
    let (a, b) = (Sandbox::new(), Sandbox::new());
    a.write("release.yaml", &release("stopped", "test -f go-on || exec sleep 60"));
    b.write("release.yaml", &release("stopped", "echo deployed >> deployed.txt"));
    let mut holder = shared.spawn(&a, &["run", "release.yaml", "--non-interactive"], &[]);
    wait_for_lock(&shared, "stopped");
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: signalling a process this test started.
    unsafe {
        libc::kill(holder.id() as i32, libc::SIGTERM);
    }
    assert_eq!(holder.wait().unwrap().code(), Some(130));
    let lock = shared.lock("stopped").expect("an interrupted run keeps its lock");
    assert_eq!(lock["stopped"], "interrupted");
    let r = shared.run(&b, &["run", "release.yaml", "--non-interactive", "--lock-wait", "30s"], &[]);
    r.expect_code(5);
    assert!(r.stderr.contains("stopped unfinished") && r.stderr.contains("relctl resume"), "{}", r.stderr);
    a.write("go-on", "");
    shared.run(&a, &["resume", "--non-interactive"], &[]).expect_code(0);
    assert!(shared.lock("stopped").is_none());
    shared.run(&b, &["run", "release.yaml", "--non-interactive"], &[]).expect_code(0);
}

#[test]
fn a_manual_lock_refuses_runs_at_once_even_with_lock_wait_until_released() {
    let shared = Shared::new();
    let sb = Sandbox::new();
    sb.write("release.yaml", &release("manual", "echo deployed >> deployed.txt"));
    let r = shared.run(&sb, &["lock", "acquire", "-f", "release.yaml", "-m", "incident 4411: freeze", "--as", "carol"], &[]);
    r.expect_code(0);
    let started = Instant::now();
    let r = shared.run(&sb, &["run", "release.yaml", "--non-interactive", "--lock-wait", "60s"], &[]);
    r.expect_code(5);
    assert!(started.elapsed() < Duration::from_secs(20), "no waiting for a manual lock");
    assert!(r.stderr.contains("incident 4411: freeze") && r.stderr.contains("carol"), "{}", r.stderr);
    assert!(sb.read("deployed.txt").is_empty());
    let status = shared.run(&sb, &["lock", "status", "--name", "manual", "--output", "json"], &[]);
    let doc: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(doc["locks"][0]["kind"], "manual", "{doc}");
    assert_eq!(doc["locks"][0]["message"], "incident 4411: freeze");
    assert_eq!(doc["events"][0]["action"], "manual_acquired");
    // A run's lock cannot be released as if it were manual, and the manual one needs no run.
    shared.run(&sb, &["lock", "release", "-f", "release.yaml", "--reason", "4411 closed"], &[]).expect_code(0);
    shared.run(&sb, &["run", "release.yaml", "--non-interactive"], &[]).expect_code(0);
    assert_eq!(shared.audit_actions("manual"), ["manual_acquired", "manual_released", "acquired", "released"]);
}

#[test]
fn lock_wait_waits_for_a_live_run_to_finish_then_proceeds() {
    let shared = Shared::new();
    let (a, b) = (Sandbox::new(), Sandbox::new());
    a.write("release.yaml", &release("waiting", "sleep 2"));
    b.write("release.yaml", &release("waiting", "echo deployed >> deployed.txt"));
    let first = shared.spawn(&a, &["run", "release.yaml", "--non-interactive"], &[]);
    wait_for_lock(&shared, "waiting");
    let r = shared.run(&b, &["run", "release.yaml", "--non-interactive", "--lock-wait", "60s"], &[]);
    r.expect_code(0);
    assert_eq!(first.wait_with_output().unwrap().status.code(), Some(0));
    assert_eq!(b.read("deployed.txt"), "deployed\n");
}

#[test]
fn a_run_whose_lock_is_taken_away_stops_before_its_next_step() {
    let shared = Shared::new();
    let sb = Sandbox::new();
    sb.write("release.yaml", "version: 1\nname: lost\nexecute:\n  - run: sleep 4\n  - run: echo next >> next.txt\n");
    let lease = [("RELCTL_LOCK_LEASE", "2s")];
    let holder = shared.spawn(&sb, &["run", "release.yaml", "--non-interactive"], &lease);
    wait_for_lock(&shared, "lost");
    shared.delete_lock("lost");
    let out = holder.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("was lost") && stderr.contains("nothing runs without the lock"), "{stderr}");
    assert!(sb.read("next.txt").is_empty(), "no step ran after the lock was lost");
}

#[test]
fn lock_after_rollback_leaves_the_runbook_locked_with_the_reason() {
    let shared = Shared::new();
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1\nname: afterwards\nlock_after_rollback: true\nexecute:\n  - run: \"true\"\nvalidate:\n  - id: health\n    run: test -f rolled-back\nrollback:\n  - run: touch rolled-back\n",
    );
    shared.run(&sb, &["run", "release.yaml", "--non-interactive"], &[]).expect_code(3);
    let lock = shared.lock("afterwards").expect("still locked");
    assert_eq!(lock["kind"], "manual");
    assert!(lock["message"].as_str().unwrap().contains("health"), "{lock}");
    let r = shared.run(&sb, &["run", "release.yaml", "--non-interactive"], &[]);
    r.expect_code(5);
    assert!(r.stderr.contains("rolled back"), "{}", r.stderr);
    shared.run(&sb, &["lock", "release", "--name", "afterwards", "--reason", "fixed"], &[]).expect_code(0);
    assert!(shared.audit_actions("afterwards").contains(&"locked_after_rollback".to_string()));
}

#[test]
fn abandoning_a_stopped_run_frees_its_shared_lock_on_the_record() {
    let shared = Shared::new();
    let sb = Sandbox::new();
    sb.write("release.yaml", &release("abandoned", "exec sleep 60"));
    let mut holder = shared.spawn(&sb, &["run", "release.yaml", "--non-interactive"], &[]);
    let lock = wait_for_lock(&shared, "abandoned");
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: signalling a process this test started.
    unsafe {
        libc::kill(holder.id() as i32, libc::SIGTERM);
    }
    assert_eq!(holder.wait().unwrap().code(), Some(130));
    let run_id = lock["run_id"].as_str().unwrap();
    shared.run(&sb, &["abandon", run_id, "--reason", "done by hand"], &[]).expect_code(0);
    assert!(shared.lock("abandoned").is_none());
    assert_eq!(shared.audit_actions("abandoned"), ["acquired", "kept", "abandoned"]);
}

#[test]
fn an_unreachable_store_refuses_the_run_before_any_change_naming_the_call() {
    let sb = Sandbox::new();
    sb.write("release.yaml", &release("unreachable", "echo deployed >> deployed.txt"));
    let mut env = moto::env();
    // Nothing listens on port 9 of loopback.
    env.push(("AWS_ENDPOINT_URL", "http://127.0.0.1:9".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = sb.relctl_bounded(&["run", "release.yaml", "--non-interactive", "--state", "s3://somewhere/x"], &pairs);
    r.expect_code(70);
    assert!(r.stderr.contains("S3 (shared state)") && r.stderr.contains("s3://somewhere/"), "{}", r.stderr);
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
    assert!(sb.read("deployed.txt").is_empty());
}
