//! `http` steps against a loopback server: each expectation passes and fails
//! as documented, failure messages say what was sent and what came back, and
//! outputs reach later steps.

use std::time::Duration;

use crate::support::http_server::{Reply, Server};
use crate::support::*;

/// Runs a runbook whose only execute step is `step` (YAML, indented as a
/// list item under `execute:`), approved and non-interactive.
fn run_step(sb: &Sandbox, step: &str) -> Run {
    // A validate check, so that a rollback is verified (exit 3, not 4).
    sb.write("release.yaml", &format!("version: 1\nname: http\nvalidate:\n  - run: \"true\"\nexecute:\n{step}"));
    sb.relctl(&["run", "release.yaml", "--non-interactive", "--approve", "all"])
}

/// The message of the first execute step, from the journal.
fn message(sb: &Sandbox) -> String {
    step_message(sb, "execute.0")
}

#[test]
fn matching_status_passes_and_records_outputs() {
    let server = Server::start();
    server.route("/health", vec![Reply::text(204, "")]);
    let sb = Sandbox::new();
    let run = run_step(
        &sb,
        &format!(
            "  - id: health
    http:
      url: {}
      expect: {{ status: [200, 204] }}
",
            server.url("/health")
        ),
    );
    run.expect_code(0);
    assert_eq!(server.hits("/health"), 1);
    let j = sb.journal();
    let done = events(&j, "step_finished")[0];
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["outputs"]["status"], "204");
    assert!(done["outputs"]["latency_ms"].as_str().unwrap().parse::<u64>().is_ok(), "{done}");
}

#[test]
fn status_mismatch_names_method_url_got_and_expected() {
    let server = Server::start();
    server.route("/health", vec![Reply::text(503, "down")]);
    let sb = Sandbox::new();
    let url = server.url("/health");
    let run = run_step(&sb, &format!("  - http: {url}\n"));
    run.expect_code(3);
    assert_eq!(message(&sb), format!("GET {url}: status 503 (expected 200)"));
    assert!(run.stdout.contains(&format!("GET {url}: status 503 (expected 200)")), "{}", run.stdout);
}

#[test]
fn json_expectations_match_nested_and_dotted_paths() {
    let server = Server::start();
    let body = r#"{"status":"healthy","build":{"version":"1.2.3"},"checks":[{"name":"db","ok":true}],"replicas":3}"#;
    server.route("/health", vec![Reply::json(200, body)]);
    let sb = Sandbox::new();
    let url = server.url("/health");
    let run = run_step(
        &sb,
        &format!(
            "  - http:
      url: {url}
      expect:
        json:
          status: healthy
          build:
            version: 1.2.3
          checks.0.ok: true
          replicas: 3
"
        ),
    );
    run.expect_code(0);

    let sb = Sandbox::new();
    let run = run_step(
        &sb,
        &format!(
            "  - http:
      url: {url}
      expect:
        json:
          build.version: 2.0.0
          checks.0.name: db
          checks.1.name: cache
"
        ),
    );
    run.expect_code(3);
    assert_eq!(
        message(&sb),
        format!(
            "GET {url}: JSON field `build.version` is \"1.2.3\" (expected \"2.0.0\"); \
             JSON field `checks.1.name` is missing (expected \"cache\")"
        )
    );
}

#[test]
fn json_expectation_on_a_body_that_is_not_json_fails() {
    let server = Server::start();
    server.route("/health", vec![Reply::text(200, "<html>ok</html>")]);
    let sb = Sandbox::new();
    let run = run_step(
        &sb,
        &format!("  - http:\n      url: {}\n      expect: {{ json: {{ status: healthy }} }}\n", server.url("/health")),
    );
    run.expect_code(3);
    assert!(message(&sb).contains("body is not JSON"), "{}", message(&sb));
}

#[test]
fn body_contains_checks_the_body_text() {
    let server = Server::start();
    server.route("/version", vec![Reply::text(200, "checkout 1.2.3 (build 77)")]);
    let sb = Sandbox::new();
    let url = server.url("/version");
    run_step(&sb, &format!("  - http:\n      url: {url}\n      expect: {{ body_contains: 1.2.3 }}\n")).expect_code(0);

    let sb = Sandbox::new();
    run_step(&sb, &format!("  - http:\n      url: {url}\n      expect: {{ body_contains: 2.0.0 }}\n")).expect_code(3);
    assert_eq!(message(&sb), format!("GET {url}: body does not contain \"2.0.0\""));
}

#[test]
fn slower_than_max_latency_fails() {
    let server = Server::start();
    server.route("/slow", vec![Reply::text(200, "ok").delayed(Duration::from_secs(1))]);
    let sb = Sandbox::new();
    let url = server.url("/slow");
    run_step(&sb, &format!("  - http:\n      url: {url}\n      expect: {{ status: 200, max_latency: 200ms }}\n")).expect_code(3);
    let m = message(&sb);
    assert!(m.starts_with(&format!("GET {url}: took ")), "{m}");
    assert!(m.ends_with("(limit 200ms)"), "{m}");
}

#[test]
fn closed_port_says_it_could_not_connect() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let sb = Sandbox::new();
    let url = format!("http://127.0.0.1:{port}/health");
    run_step(&sb, &format!("  - http: {url}\n")).expect_code(3);
    let m = message(&sb);
    assert!(m.starts_with(&format!("HTTP: GET {url}: could not connect (")), "{m}");
    let j = sb.journal();
    let finished = events(&j, "step_finished").into_iter().find(|e| e["key"] == "execute.0").unwrap().clone();
    assert_eq!(finished["help"], "check the URL and that the service is running and reachable from here");
}

#[test]
fn retries_call_the_server_until_it_answers() {
    let server = Server::start();
    server.route("/ready", vec![Reply::text(503, "starting"), Reply::text(503, "starting"), Reply::text(200, "ready")]);
    let sb = Sandbox::new();
    let run = run_step(&sb, &format!("  - retry: {{ attempts: 5, delay: 10ms }}\n    http: {}\n", server.url("/ready")));
    run.expect_code(0);
    assert_eq!(server.hits("/ready"), 3);
    assert_eq!(events(&sb.journal(), "step_retrying").len(), 2);
}

#[test]
fn status_and_body_outputs_reach_a_later_run_step() {
    let server = Server::start();
    server.route("/version", vec![Reply::text(200, "1.2.3")]);
    let sb = Sandbox::new();
    let run = run_step(
        &sb,
        &format!(
            "  - id: live
    http: {}
  - run: echo status=${{{{ steps.live.outputs.status }}}} body=${{{{ steps.live.outputs.body }}}} > seen.txt
",
            server.url("/version")
        ),
    );
    run.expect_code(0);
    assert_eq!(sb.read("seen.txt"), "status=200 body=1.2.3\n");
}

#[test]
fn method_headers_and_body_arrive_at_the_server() {
    let server = Server::start();
    server.route("/deploy", vec![Reply::json(201, r#"{"accepted":true}"#)]);
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        &format!(
            "version: 1
name: http-post
vars:
  version: 1.2.3
execute:
  - http:
      url: {}
      method: post
      headers:
        Content-Type: application/json
        X-Release: checkout ${{{{ vars.version }}}}
      body: '{{\"version\": \"${{{{ vars.version }}}}\"}}'
      expect: {{ status: 201, json: {{ accepted: true }} }}
",
            server.url("/deploy")
        ),
    );
    sb.relctl(&["run", "release.yaml", "--non-interactive"]).expect_code(0);
    let requests = server.requests.lock().unwrap();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.headers["x-release"], "checkout 1.2.3");
    assert_eq!(r.body, r#"{"version": "1.2.3"}"#);
}
