//! `prometheus` against a real Prometheus server scraping an exporter whose
//! error rate the test controls (tests/support/prometheus.rs).

use std::sync::Arc;
use std::time::Duration;

use crate::support::http_server::{Response, serve};
use crate::support::prometheus::{Exporter, Prometheus};
use crate::support::*;

const ERROR_RATE: &str = r#"sum(rate(http_requests_total{code=~"5.."}[5s])) / sum(rate(http_requests_total[5s]))"#;

fn check(url: &str, settings: &str) -> (Sandbox, Run) {
    let sb = Sandbox::new();
    let yaml = format!(
        "version: 1\nname: prom\nchecklist:\n  - id: errors\n    prometheus: {{ url: \"{url}\", query: '{ERROR_RATE}', {settings} }}\nexecute:\n  - run: touch deployed\n"
    );
    sb.write("release.yaml", &yaml);
    let r = sb.relctl_bounded(&["run", "release.yaml", "--non-interactive"], &[]);
    (sb, r)
}

/// Lets the 5 s rate window fill with the exporter's current rates.
fn settle(prom: &Prometheus) {
    std::thread::sleep(Duration::from_secs(6));
    prom.wait_for_samples(6);
}

#[test]
fn an_error_rate_above_its_max_fails_the_check_and_one_within_it_passes() {
    let exporter = Exporter::start(100, 0);
    let prom = Prometheus::start(&exporter);
    settle(&prom);
    let (sb, r) = check(&prom.url, "max: 0.01");
    r.expect_code(0);
    assert!(r.stdout.contains(" = 0 (max 0.01)"), "{}", r.stdout);
    assert!(sb.path().join("deployed").exists());
    exporter.set(50, 50);
    settle(&prom);
    let (sb, r) = check(&prom.url, "max: 0.01");
    r.expect_code(1);
    assert!(r.stdout.contains(" = 0.5, above max 0.01"), "{}", r.stdout);
    assert!(!sb.path().join("deployed").exists());
}

#[test]
fn a_release_that_raises_the_error_rate_over_its_level_before_rolls_back() {
    let exporter = Exporter::start(100, 0);
    let prom = Prometheus::start(&exporter);
    settle(&prom);
    let sb = Sandbox::new();
    let yaml = format!(
        "version: 1\nname: prom-baseline\nexecute:\n  - run: curl -fsS '{set}' > /dev/null\nvalidate:\n  - wait: 7s\n  - id: errors\n    prometheus: {{ url: \"{url}\", query: '{ERROR_RATE}', max_increase: 1% }}\nrollback:\n  - run: curl -fsS '{reset}' > /dev/null\n  - wait: 7s\n",
        set = exporter.set_url(90, 10),
        reset = exporter.set_url(100, 0),
        url = prom.url,
    );
    sb.write("release.yaml", &yaml);
    let r = sb.relctl_bounded(&["run", "release.yaml", "--non-interactive"], &[]);
    r.expect_code(3);
    assert!(r.stdout.contains("0.1 above the 0 before the release (at most 0.01)"), "{}", r.stdout);
    let baseline = events(&sb.journal(), "integration_state").into_iter().find(|e| e["integration"] == "baseline").cloned();
    assert_eq!(baseline.expect("journaled")["value"], "0");
}

#[test]
fn a_query_prometheus_refuses_fails_with_its_own_words() {
    let exporter = Exporter::start(1, 0);
    let prom = Prometheus::start(&exporter);
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        &format!("version: 1\nname: prom\nchecklist:\n  - prometheus: {{ url: \"{}\", query: 'sum(rate(', max: 1 }}\n", prom.url),
    );
    let r = sb.relctl_bounded(&["run", "release.yaml", "--non-interactive"], &[]);
    r.expect_code(1);
    assert!(r.stdout.contains("HTTP 400, bad_data") && r.stdout.contains("parse error"), "{}", r.stdout);
    // Many series is not one number.
    sb.write(
        "release.yaml",
        &format!(
            "version: 1\nname: prom\nchecklist:\n  - prometheus: {{ url: \"{}\", query: 'http_requests_total', max: 1 }}\n",
            prom.url
        ),
    );
    let r = sb.relctl_bounded(&["run", "release.yaml", "--non-interactive"], &[]);
    r.expect_code(1);
    assert!(r.stdout.contains("returns 2 series, not one number"), "{}", r.stdout);
}

#[test]
fn credentials_are_sent_as_given_and_never_shown() {
    // A Prometheus behind an authenticating proxy: 401 without the token,
    // else the API's answer for a one-series vector (the format of
    // prometheus.io/docs/prometheus/latest/querying/api/#instant-queries).
    let (port, requests) = serve(Arc::new(|req| match req.header("authorization") {
        Some("Bearer pr0m-t0ken" | "Basic YWxpY2U6czNjcmV0") => Response::json(
            200,
            &serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1_764_000_000.0, "0.002"]}]}}),
        ),
        _ => Response::text(401, "Unauthorized"),
    }));
    let sb = Sandbox::new();
    let url = format!("http://127.0.0.1:{port}");
    sb.write(
        "release.yaml",
        &format!(
            "version: 1\nname: prom\nchecklist:\n  - prometheus: {{ url: \"{url}\", query: up, max: 0.01, bearer_token: \"${{{{ secrets.PROM_TOKEN }}}}\" }}\n  - prometheus: {{ url: \"{url}\", query: up, max: 0.01, username: alice, password: \"${{{{ secrets.PROM_PASSWORD }}}}\" }}\n"
        ),
    );
    let r = sb.relctl_bounded(
        &["run", "release.yaml", "--non-interactive", "-v"],
        &[("PROM_TOKEN", "pr0m-t0ken"), ("PROM_PASSWORD", "s3cret")],
    );
    r.expect_code(0);
    assert_eq!(requests.lock().unwrap().len(), 2);
    for secret in ["pr0m-t0ken", "s3cret"] {
        assert!(!r.all().contains(secret) && !sb.journal_text().contains(secret), "{secret} shown");
    }
    let r =
        sb.relctl_bounded(&["run", "release.yaml", "--non-interactive"], &[("PROM_TOKEN", "wrong"), ("PROM_PASSWORD", "s3cret")]);
    r.expect_code(1);
    assert!(r.stdout.contains("401"), "{}", r.stdout);
}

#[test]
fn a_bake_watching_the_error_rate_ends_early_when_it_rises_and_the_release_rolls_back() {
    let exporter = Exporter::start(100, 0);
    let prom = Prometheus::start(&exporter);
    settle(&prom);
    let sb = Sandbox::new();
    // The error rate rises a few seconds into the bake (as a release's
    // errors do); the 25 s bake watching it must end long before its time.
    let yaml = format!(
        "version: 1\nname: prom-bake\nexecute:\n  - run: echo deployed\nvalidate:\n  - id: bake\n    wait: 25s\n    watch:\n      every: 1s\n      prometheus: {{ url: \"{url}\", query: '{ERROR_RATE}', max_increase: 5% }}\nrollback:\n  - run: curl -fsS '{reset}' > /dev/null\n",
        reset = exporter.set_url(100, 0),
        url = prom.url,
    );
    sb.write("release.yaml", &yaml);
    let rates = exporter.rates.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(4));
        *rates.lock().unwrap() = (50, 50);
    });
    let r = sb.relctl_bounded(&["run", "release.yaml", "--non-interactive"], &[]);
    // The rollback's verification bakes in full (25 s) before it judges: ROLLED BACK.
    r.expect_code(3);
    let bake = finished(&sb, "validate.0");
    assert!(bake["duration_ms"].as_u64().unwrap() < 15_000, "the bake ended early: {bake}\n{}", r.stdout);
    assert!(r.stdout.contains("during the bake") && r.stdout.contains("before the release (at most 0.05)"), "{}", r.stdout);
    assert!(r.stdout.contains("ROLLING BACK"), "{}", r.stdout);
    let baseline = events(&sb.journal(), "integration_state").into_iter().find(|e| e["integration"] == "baseline").cloned();
    assert_eq!(baseline.expect("the watched check's baseline is journaled")["value"], "0");
}
