//! `cloudwatch.metric` against moto's CloudWatch (PutMetricData, then the
//! check's GetMetricData through relctl's SDK client).

use crate::support::moto;
use crate::support::*;

/// Puts `values` of `metric` in a namespace and target group of their own
/// (the same string); returns it. moto 5.2.5 drops the namespace from the
/// match when a query has dimensions (moto/cloudwatch/models.py,
/// `get_metric_data`: the dimension filter restarts from every metric of
/// the period); CloudWatch matches namespace, name and dimensions. A unique
/// dimension value keeps the tests' metrics apart on both.
fn put(metric: &str, values: &[f64]) -> String {
    put_named(metric, values)
}

fn put_named(metric: &str, values: &[f64]) -> String {
    let namespace = moto::unique("RelctlTest");
    moto::runtime().block_on(async {
        let cw = moto::cloudwatch().await;
        for v in values {
            let datum = aws_sdk_cloudwatch::types::MetricDatum::builder()
                .metric_name(metric)
                .dimensions(aws_sdk_cloudwatch::types::Dimension::builder().name("TargetGroup").value(&namespace).build())
                .value(*v)
                // Reported a little while ago, as a service's metrics are when a release looks at them.
                .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from(
                    std::time::SystemTime::now() - std::time::Duration::from_secs(30),
                ))
                .build();
            cw.put_metric_data().namespace(&namespace).metric_data(datum).send().await.unwrap();
        }
    });
    namespace
}

fn check(namespace: &str, settings: &str) -> (Sandbox, Run) {
    let sb = Sandbox::new();
    let yaml = format!(
        "version: 1\nname: metrics\nintegrations:\n  aws: {{ region: us-east-1, endpoint_url: \"{}\" }}\nchecklist:\n  - id: errors\n    cloudwatch.metric: {{ namespace: \"{namespace}\", metric: HTTPCode_Target_5XX_Count, dimensions: {{ TargetGroup: \"{namespace}\" }}, {settings} }}\nexecute:\n  - run: touch deployed\n",
        moto::url()
    );
    sb.write("release.yaml", &yaml);
    let env: Vec<(&str, String)> = moto::env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = sb.relctl_bounded(&["run", "release.yaml", "--non-interactive"], &pairs);
    (sb, r)
}

#[test]
fn a_metric_above_its_max_fails_the_check_naming_the_value_and_the_threshold() {
    let ns = put("HTTPCode_Target_5XX_Count", &[4.0, 3.0]);
    let (sb, r) = check(&ns, "stat: Sum, max: 5");
    r.expect_code(1);
    assert!(r.stdout.contains("HTTPCode_Target_5XX_Count Sum over 5m = 7, above max 5"), "{}", r.stdout);
    assert!(!sb.path().join("deployed").exists(), "a failed checklist check stops the release before any change");
    let finished = finished(&sb, "checklist.0");
    assert_eq!(finished["outputs"]["value"], "7", "{finished}");
    let (sb, r) = check(&ns, "stat: Sum, max: 10");
    r.expect_code(0);
    assert!(r.stdout.contains("= 7 (max 10)"), "{}", r.stdout);
    assert!(sb.path().join("deployed").exists());
}

#[test]
fn a_metric_below_its_min_fails_and_other_statistics_are_asked_for_as_written() {
    let ns = put("HTTPCode_Target_5XX_Count", &[2.0, 6.0]);
    let (_, r) = check(&ns, "stat: Average, min: 5");
    r.expect_code(1);
    assert!(r.stdout.contains("Average over 5m = 4, below min 5"), "{}", r.stdout);
    let (_, r) = check(&ns, "stat: Maximum, min: 5, max: 6");
    r.expect_code(0);
}

#[test]
fn no_data_fails_unless_allowed() {
    let ns = moto::unique("RelctlEmpty");
    let (_, r) = check(&ns, "stat: Sum, max: 5");
    r.expect_code(1);
    assert!(r.stdout.contains("no data, so nothing shows it within max 5"), "{}", r.stdout);
    let (_, r) = check(&ns, "stat: Sum, max: 5, allow_no_data: true");
    r.expect_code(0);
    assert!(r.stdout.contains("no data (allowed)"), "{}", r.stdout);
}

#[test]
fn a_metric_check_without_a_threshold_or_with_a_bad_statistic_is_a_runbook_error() {
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1\nname: m\nintegrations: { aws: { region: us-east-1 } }\nvalidate:\n  - cloudwatch.metric: { namespace: AWS/ELB, metric: Latency }\n  - cloudwatch.metric: { namespace: AWS/ELB, metric: Latency, stat: Median, max: 1, window: 90s }\n",
    );
    let r = sb.relctl(&["validate", "release.yaml"]);
    r.expect_code(2);
    assert!(r.stderr.contains("needs `max` or `min`"), "{}", r.stderr);
    assert!(r.stderr.contains("unknown statistic") && r.stderr.contains("p99"), "{}", r.stderr);
}

/// A runbook whose execute puts `after` into the metric (the release making
/// it worse, or not), then waits for `go-on` (so a test can kill it there),
/// and whose validate compares with the level before the release.
fn baseline_runbook(namespace: &str, after: f64, compare: &str) -> String {
    let put = format!(
        "import boto3, datetime, os; boto3.client('cloudwatch', endpoint_url=os.environ['MOTO'], region_name='us-east-1').put_metric_data(Namespace='{namespace}', MetricData=[{{'MetricName': 'TargetResponseTime', 'Dimensions': [{{'Name': 'TargetGroup', 'Value': '{namespace}'}}], 'Value': {after}, 'Timestamp': datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=20)}}])"
    );
    format!(
        "version: 1\nname: baseline\nintegrations:\n  aws: {{ region: us-east-1, endpoint_url: \"{url}\" }}\nexecute:\n  - run: \"$PY -c \\\"{put}\\\"\"\n  - run: test -f go-on || {{ echo $$ > step.pid; exec sleep 60; }}\n    idempotent: true\nvalidate:\n  - id: latency\n    cloudwatch.metric: {{ namespace: \"{namespace}\", metric: TargetResponseTime, dimensions: {{ TargetGroup: \"{namespace}\" }}, stat: Average, {compare} }}\nrollback:\n  - run: echo rolled-back >> marks.txt\n",
        url = moto::url(),
        put = put.replace('"', "\\\\\\\""),
    )
}

fn baseline_env() -> Vec<(&'static str, String)> {
    let mut env = moto::env();
    env.push(("PY", std::env::var("RELCTL_TEST_PYTHON").expect("RELCTL_TEST_PYTHON (scripts/moto.sh sets it)")));
    env.push(("MOTO", moto::url()));
    env
}

#[test]
fn a_metric_worse_than_before_the_release_fails_and_the_baseline_is_journaled() {
    let ns = put_named("TargetResponseTime", &[1.0]);
    let sb = Sandbox::new();
    sb.write("release.yaml", &baseline_runbook(&ns, 5.0, "max_ratio: 1.2"));
    sb.write("go-on", "");
    let env = baseline_env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = sb.relctl_bounded(&["run", "release.yaml", "--non-interactive"], &pairs);
    // Rolled back; the rollback here cannot bring the window's average back
    // down, so its verification fails too: a person is needed (exit 4).
    r.expect_code(4);
    assert!(r.stdout.contains("Average over 5m = 3, 3.00x the 1 before the release (at most 1.2x)"), "{}", r.stdout);
    assert_eq!(sb.read("marks.txt"), "rolled-back\n");
    let baseline = events(&sb.journal(), "integration_state").into_iter().find(|e| e["integration"] == "baseline").cloned();
    assert_eq!(baseline.expect("the baseline is journaled")["value"], "1");
    // Within the ratio: released.
    let ns = put_named("TargetResponseTime", &[1.0]);
    let sb = Sandbox::new();
    sb.write("release.yaml", &baseline_runbook(&ns, 1.2, "max_ratio: 1.2, max_increase: 0.5"));
    sb.write("go-on", "");
    sb.relctl_bounded(&["run", "release.yaml", "--non-interactive"], &pairs).expect_code(0);
}

#[test]
fn a_resumed_run_compares_with_the_baseline_measured_before_execute_not_a_new_one() {
    let ns = put_named("TargetResponseTime", &[1.0]);
    let sb = Sandbox::new();
    sb.write("release.yaml", &baseline_runbook(&ns, 5.0, "max_increase: 1"));
    let env = baseline_env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut c = sb.cmd(&["run", "release.yaml", "--non-interactive"]);
    for (k, v) in &pairs {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    wait_until("the release made it worse and waits", || !sb.read("step.pid").trim().is_empty());
    // SAFETY: signalling processes this test started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
        libc::kill(sb.read("step.pid").trim().parse().unwrap(), libc::SIGKILL);
    }
    let _ = child.wait();
    sb.write("go-on", "");
    // Measured now, the level would be 3 and the increase 0; against the
    // journaled 1 it is 2, above the 1 allowed.
    let r = sb.relctl_bounded(&["resume", "--non-interactive"], &pairs);
    r.expect_code(4);
    assert!(r.stdout.contains("2 above the 1 before the release (at most 1)"), "{}", r.stdout);
}
