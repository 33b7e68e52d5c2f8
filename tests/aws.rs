//! S3 and CloudWatch steps through the real AWS SDK, against moto's server.

use crate::support::moto;
use crate::support::*;

fn runbook(body: &str) -> String {
    format!(
        "version: 1\nname: {}\nintegrations:\n  aws: {{ region: {}, endpoint_url: \"{}\" }}\n{body}",
        moto::unique("aws"),
        moto::REGION,
        moto::url()
    )
}

fn run(sb: &Sandbox, yaml: &str, extra: &[&str]) -> Run {
    sb.write("release.yaml", yaml);
    let mut args = vec!["run", "release.yaml", "--non-interactive", "--approve", "all"];
    args.extend_from_slice(extra);
    let env = moto::env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    sb.relctl_env(&args, &env)
}

const LIVE: &[(&str, &str)] = &[
    ("live/index.html", "<html>v1</html>"),
    ("live/assets/app-v1.js", "v1"),
    ("live/assets/shared.js", "shared v1"),
    ("releases/2.0/index.html", "<html>v2</html>"),
    ("releases/2.0/assets/app-v2.js", "v2"),
    ("releases/2.0/assets/shared.js", "shared v2"),
    ("releases/2.0/assets/a b+c.js", "odd key"),
];

fn promote_runbook(bucket: &str, validate: &str) -> String {
    runbook(&format!(
        "execute:
  - id: frontend
    s3.promote: {{ bucket: {bucket}, from: releases/2.0/, to: live/, last: [index.html] }}
validate:
{validate}
rollback:
  - s3.rollback: {{ bucket: {bucket}, to: live/ }}
"
    ))
}

#[test]
fn promote_makes_live_exactly_the_release_and_keeps_headers() {
    let rt = moto::runtime();
    let s3 = rt.block_on(moto::s3());
    let bucket = moto::unique("web");
    rt.block_on(moto::bucket(&s3, &bucket, LIVE));
    let sb = Sandbox::new();
    let r = run(
        &sb,
        &promote_runbook(
            &bucket,
            "  - s3.check: { bucket: BUCKET, prefix: live/, expect: [index.html, assets/], min_objects: 4 }"
                .replace("BUCKET", &bucket)
                .as_str(),
        ),
        &[],
    );
    r.expect_code(0);
    let live = rt.block_on(moto::listing(&s3, &bucket, "live/"));
    let keys: Vec<&str> = live.keys().map(String::as_str).collect();
    assert_eq!(keys, ["live/assets/a b+c.js", "live/assets/app-v2.js", "live/assets/shared.js", "live/index.html"]);
    assert_eq!(live["live/index.html"].1, "text/html", "content type kept by the copy");
    assert_eq!(rt.block_on(moto::body(&s3, &bucket, "live/assets/shared.js")), "shared v2");
    let journal = sb.journal();
    let outputs = &events(&journal, "step_finished").into_iter().find(|e| e["key"] == "execute.0").unwrap()["outputs"];
    assert_eq!(outputs["copied"], "4");
    assert_eq!(outputs["deleted"], "1", "app-v1.js is not in the release: {outputs}");
}

#[test]
fn failed_validation_rolls_s3_back_to_exactly_what_it_was() {
    let rt = moto::runtime();
    let s3 = rt.block_on(moto::s3());
    let bucket = moto::unique("web");
    rt.block_on(moto::bucket(&s3, &bucket, LIVE));
    let before = rt.block_on(moto::listing(&s3, &bucket, "live/"));
    let sb = Sandbox::new();
    // The check wants a file the release lacks: no-go, rollback, then the
    // same check verifies the restored state.
    let check = format!("  - s3.check: {{ bucket: {bucket}, prefix: live/, expect: [assets/app-v1.js] }}");
    let r = run(&sb, &promote_runbook(&bucket, &check), &[]);
    r.expect_code(3);
    let after = rt.block_on(moto::listing(&s3, &bucket, "live/"));
    assert_eq!(after, before, "live/ must hold exactly what it held before: keys, ETags, content types");
    assert_eq!(rt.block_on(moto::body(&s3, &bucket, "live/index.html")), "<html>v1</html>");
    let j = sb.journal();
    assert_eq!(final_state(&j), "rolled_back");
    let rollback = events(&j, "step_finished").into_iter().find(|e| e["key"] == "rollback.0").unwrap().clone();
    assert!(rollback["message"].as_str().unwrap().contains("as before the promote"), "{rollback}");
}

#[test]
fn rollback_of_a_promote_that_never_ran_is_a_no_op_that_says_so() {
    let rt = moto::runtime();
    let s3 = rt.block_on(moto::s3());
    let bucket = moto::unique("web");
    rt.block_on(moto::bucket(&s3, &bucket, LIVE));
    let sb = Sandbox::new();
    let yaml = runbook(&format!(
        "execute:\n  - run: exit 1\n  - s3.promote: {{ bucket: {bucket}, from: releases/2.0/, to: live }}\nvalidate:\n  - s3.check: {{ bucket: {bucket}, prefix: live/, expect: [index.html] }}\nrollback:\n  - s3.rollback: {{ bucket: {bucket}, to: live/ }}\n"
    ));
    let r = run(&sb, &yaml, &[]);
    r.expect_code(3);
    assert!(r.stdout.contains("nothing to restore"), "{}", r.stdout);
}

#[test]
fn a_rollback_naming_a_prefix_no_promote_changes_is_refused_before_the_run() {
    // Before: `s3.rollback` of `live-site/` after a promote to `live/` found
    // nothing recorded and "succeeded" at restoring nothing.
    let sb = Sandbox::new();
    let yaml = runbook(
        "execute:\n  - s3.promote: { bucket: web, from: releases/2.0/, to: live/ }\nrollback:\n  - s3.rollback: { bucket: web, to: live-site/ }\n",
    );
    let r = run(&sb, &yaml, &[]);
    r.expect_code(2);
    assert!(r.stderr.contains("`s3.rollback` restores s3 web/live-site/, which no step in `execute` changes"), "{}", r.stderr);
    assert!(r.stderr.contains("release.yaml:8:5"), "{}", r.stderr);
    assert!(!sb.path().join(".relctl/runs").exists(), "nothing may run");
}

#[test]
fn s3_check_names_what_is_missing() {
    let rt = moto::runtime();
    let s3 = rt.block_on(moto::s3());
    let bucket = moto::unique("web");
    rt.block_on(moto::bucket(&s3, &bucket, LIVE));
    let sb = Sandbox::new();
    let yaml = runbook(&format!(
        "checklist:\n  - s3.check: {{ bucket: {bucket}, prefix: live/, expect: [index.html, fonts/, robots.txt], min_objects: 10 }}\n"
    ));
    let r = run(&sb, &yaml, &[]);
    r.expect_code(1);
    assert!(r.stdout.contains("missing under s3://"), "{}", r.stdout);
    assert!(r.stdout.contains("fonts/, robots.txt"), "{}", r.stdout);
    assert!(r.stdout.contains("expected at least 10"), "{}", r.stdout);
}

#[test]
fn a_missing_bucket_is_an_error_naming_s3_and_the_call() {
    let sb = Sandbox::new();
    let yaml = runbook("checklist:\n  - s3.check: { bucket: no-such-bucket-relctl, expect: [index.html] }\n");
    let r = run(&sb, &yaml, &[]);
    r.expect_code(1);
    assert!(r.stdout.contains("S3: ListObjectsV2 s3://no-such-bucket-relctl/"), "{}", r.stdout);
    assert!(r.stdout.contains("NoSuchBucket"), "{}", r.stdout);
}

#[test]
fn alarms_ok_pass_and_a_firing_alarm_fails_naming_it() {
    let rt = moto::runtime();
    let cw = rt.block_on(moto::cloudwatch());
    let prefix = moto::unique("checkout-prod");
    rt.block_on(moto::alarm(&cw, &format!("{prefix}-5xx"), false));
    rt.block_on(moto::alarm(&cw, &format!("{prefix}-latency"), false));
    let sb = Sandbox::new();
    let yaml = runbook(&format!("checklist:\n  - cloudwatch.alarms: {{ prefix: \"{prefix}-\", expect: OK }}\n"));
    run(&sb, &yaml, &[]).expect_code(0);

    rt.block_on(moto::alarm(&cw, &format!("{prefix}-latency"), true));
    let r = run(&sb, &yaml, &[]);
    r.expect_code(1);
    assert!(r.stdout.contains(&format!("in ALARM: {prefix}-latency")), "{}", r.stdout);
}

#[test]
fn monitoring_is_not_ready_when_the_alarms_do_not_exist() {
    let sb = Sandbox::new();
    let prefix = moto::unique("nothing-here");
    let yaml = runbook(&format!("checklist:\n  - cloudwatch.alarms: {{ prefix: \"{prefix}-\" }}\n"));
    let r = run(&sb, &yaml, &[]);
    r.expect_code(1);
    assert!(r.stdout.contains("monitoring is not ready"), "{}", r.stdout);
}

#[test]
fn an_alarm_firing_during_the_bake_time_ends_it_and_rolls_back() {
    let rt = moto::runtime();
    let cw = rt.block_on(moto::cloudwatch());
    let prefix = moto::unique("bake");
    let alarm = format!("{prefix}-errors");
    rt.block_on(moto::alarm(&cw, &alarm, false));
    let sb = Sandbox::new();
    // The bake is long; an alarm firing ends it at once. After the rollback
    // the same bake waits for the alarm to clear, which verifies it.
    let yaml = runbook(&format!(
        "execute:\n  - run: 'true'\nvalidate:\n  - wait: 4s\n    watch: {{ prefix: \"{prefix}-\", every: 100ms }}\n  - run: echo checked >> ran.txt\nrollback:\n  - run: echo rolled-back >> ran.txt\n"
    ));
    sb.write("release.yaml", &yaml);
    let mut cmd = sb.cmd(&["run", "release.yaml", "--non-interactive", "--approve", "all"]);
    for (k, v) in &moto::env() {
        cmd.env(k, v);
    }
    let started = std::time::Instant::now();
    let child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
    wait_until("the bake to start", || sb.journal_text().contains("\"key\":\"validate.0\""));
    rt.block_on(moto::alarm(&cw, &alarm, true));
    wait_until("the rollback", || sb.read("ran.txt").contains("rolled-back"));
    let fired = started.elapsed();
    rt.block_on(moto::alarm(&cw, &alarm, false));
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains(&format!("in ALARM: {alarm}")), "{stdout}");
    let j = sb.journal();
    let first = events(&j, "step_finished").into_iter().find(|e| e["key"] == "validate.0").unwrap().clone();
    assert_eq!(first["status"], "failed");
    assert!(fired < std::time::Duration::from_secs(60), "bounded");
    let verify = events(&j, "step_finished").into_iter().find(|e| e["key"] == "verify.0").unwrap().clone();
    assert_eq!(verify["status"], "succeeded", "{verify}");
}

#[test]
fn rollback_of_multipart_objects_is_verified_by_content_not_etag() {
    let rt = moto::runtime();
    let s3 = rt.block_on(moto::s3());
    let bucket = moto::unique("web");
    rt.block_on(moto::bucket(&s3, &bucket, LIVE));
    rt.block_on(moto::multipart(&s3, &bucket, "live/assets/big.js", "a large bundle"));
    let sb = Sandbox::new();
    let check = format!("  - s3.check: {{ bucket: {bucket}, prefix: live/, expect: [assets/app-v1.js] }}");
    run(&sb, &promote_runbook(&bucket, &check), &[]).expect_code(3);
    assert_eq!(rt.block_on(moto::body(&s3, &bucket, "live/assets/big.js")), "a large bundle");
    assert_eq!(final_state(&sb.journal()), "rolled_back");
}

#[test]
fn delete_stale_false_keeps_what_the_release_lacks() {
    let rt = moto::runtime();
    let s3 = rt.block_on(moto::s3());
    let bucket = moto::unique("web");
    rt.block_on(moto::bucket(&s3, &bucket, LIVE));
    let sb = Sandbox::new();
    let yaml = runbook(&format!(
        "execute:\n  - s3.promote: {{ bucket: {bucket}, from: releases/2.0/, to: live/, last: [index.html], delete_stale: false }}\n"
    ));
    run(&sb, &yaml, &[]).expect_code(0);
    let live = rt.block_on(moto::listing(&s3, &bucket, "live/"));
    assert!(live.contains_key("live/assets/app-v1.js"), "kept: {live:?}");
    assert_eq!(rt.block_on(moto::body(&s3, &bucket, "live/index.html")), "<html>v2</html>");
    let stdout_order = sb.journal_text();
    let copied = stdout_order.find("copied 3 objects").expect("the assets first");
    let entry = stdout_order.find("then the entry files: index.html").expect("then index.html");
    assert!(copied < entry, "entry files are copied after everything else");
}
