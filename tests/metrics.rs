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
