//! The runbooks in runbooks/ modelled on the seed SOPs, run end to end
//! against local stand-ins: here the Burdenoff Kubernetes release (seed
//! 003) with a recording `kubectl` on PATH, the app's health endpoints
//! served by python3, and a status page that records what it is told.

use std::sync::Arc;

use crate::support::http_server::{Response, serve};
use crate::support::*;

/// A stand-in for kubectl: records each call, answers `get deployment` with
/// the current image and `alembic current` with a revision, and on
/// `rollout undo` the app is healthy again (the old version is back).
const KUBECTL: &str = r#"#!/usr/bin/env bash
echo "$*" >> "$KUBECTL_LOG"
case "$*" in
  *"get deployment/"*) printf 'previous=burdenoff.azurecr.io/product-backend:v1.1.0\n' ;;
  *"alembic current"*) echo "3f2a1b (head)" ;;
  *"rollout undo"*) cp "$APP_DIR/health/ready.healthy" "$APP_DIR/health/ready" ;;
esac
"#;

const HEALTHY: &str = r#"{"status": "healthy", "checks": {"database": "ok", "redis": "ok", "storage": "ok"}}"#;
const DEGRADED: &str = r#"{"status": "degraded", "checks": {"database": "failing", "redis": "ok", "storage": "ok"}}"#;

/// The product's app: /health/live, /health/ready (as `ready` says), /api/status.
fn app(sb: &Sandbox, ready: &str) -> Served {
    sb.write("app/health/live", "ok\n");
    sb.write("app/health/ready", ready);
    sb.write("app/health/ready.healthy", HEALTHY);
    sb.write("app/api/status", r#"{"status": "ok"}"#);
    serve_dir(&sb.path().join("app"))
}

fn release(sb: &Sandbox, app: &Served, status_page: &str) -> Run {
    let runbook = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks/burdenoff-k8s-release.yaml")).unwrap();
    sb.write("release.yaml", &runbook);
    sb.write("bin/kubectl", KUBECTL);
    std::process::Command::new("chmod").arg("+x").arg(sb.path().join("bin/kubectl")).status().unwrap();
    let path = format!("{}:{}", sb.path().join("bin").display(), std::env::var("PATH").unwrap());
    let (log, app_dir) = (sb.path().join("kubectl.log"), sb.path().join("app"));
    let app_url = format!("app_url={}", app.url);
    let status = format!("status_page_url={status_page}");
    sb.relctl_bounded(
        &["run", "release.yaml", "--non-interactive", "--approve", "all", "--as", "dana", "--var", "version=v1.2.0"]
            .into_iter()
            .chain(["--var", &app_url, "--var", &status])
            .collect::<Vec<_>>(),
        &[
            ("PATH", &path),
            ("KUBECTL_LOG", log.to_str().unwrap()),
            ("APP_DIR", app_dir.to_str().unwrap()),
            // A Tuesday at 11:00 UTC, inside the SOP's deployment window.
            ("RELCTL_NOW", "2026-12-01T11:00:00Z"),
        ],
    )
}

#[test]
fn the_burdenoff_kubernetes_release_runs_end_to_end_migrating_after_a_backup() {
    let sb = Sandbox::new();
    let app = app(&sb, HEALTHY);
    let (port, posts) = serve(Arc::new(|_| Response::json(201, &serde_json::json!({"id": "inc-1"}))));
    let r = release(&sb, &app, &format!("http://127.0.0.1:{port}/incidents"));
    r.expect_code(0);
    let calls = sb.read("kubectl.log");
    let order = [
        "rollout status deployment/product-backend --timeout=30s",
        "exec deployment/product-backend -- poetry run alembic current",
        "pg_dump",
        "get deployment/product-backend",
        "set image deployment/product-backend product-backend=burdenoff.azurecr.io/product-backend:v1.2.0",
        "alembic upgrade head",
    ];
    let mut at = 0;
    for call in order {
        let found = calls[at..].find(call).unwrap_or_else(|| panic!("`{call}` after the calls before it in:\n{calls}"));
        at += found + call.len();
    }
    let run_id = sb.latest_run_id();
    assert!(calls.contains(&format!("/backups/pre-{run_id}.sql")), "the backup names this run: {calls}");
    assert!(!calls.contains("rollout undo"), "{calls}");
    let posts = posts.lock().unwrap();
    assert_eq!(posts.len(), 2, "the status page heard of the start and the end");
    assert!(posts[0].body.contains("In Progress") && posts[1].body.contains("Resolved"));
    assert!(r.stdout.contains("previous image burdenoff.azurecr.io/product-backend:v1.1.0"), "{}", r.stdout);
}

#[test]
fn an_unready_backend_rolls_back_the_database_to_its_recorded_revision_then_the_rollout() {
    let sb = Sandbox::new();
    let app = app(&sb, DEGRADED);
    let r = release(&sb, &app, "");
    r.expect_code(3);
    assert!(r.stdout.contains("checks.database"), "the failed expectation is named: {}", r.stdout);
    let calls = sb.read("kubectl.log");
    let downgrade = calls.find("alembic downgrade 3f2a1b").unwrap_or_else(|| panic!("{calls}"));
    let undo = calls.find("rollout undo deployment/product-backend").unwrap_or_else(|| panic!("{calls}"));
    assert!(downgrade < undo, "the schema goes back before the code: {calls}");
    assert_eq!(finished(&sb, "execute.0")["status"], "skipped", "no status page configured: not updated");
}

#[test]
fn outside_the_sops_deployment_window_nothing_starts() {
    let sb = Sandbox::new();
    let runbook = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks/burdenoff-k8s-release.yaml")).unwrap();
    sb.write("release.yaml", &runbook);
    // A Friday afternoon.
    let r = sb.relctl_env(
        &["run", "release.yaml", "--non-interactive", "--approve", "all", "--as", "dana", "--var", "version=v1.2.0"],
        &[("RELCTL_NOW", "2026-12-04T14:00:00Z")],
    );
    r.expect_code(1);
    assert!(r.stderr.contains("not now") && r.stderr.contains("next opening is 2026-12-08"), "{}", r.stderr);
    assert!(!sb.path().join(".relctl/runs").exists() || sb.journal_text().is_empty(), "nothing started");
}
