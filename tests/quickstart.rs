//! The README's quickstart, end to end: the example runbook releases the
//! local demo app, and a broken build is rolled back and verified.

use std::net::TcpListener;
use std::path::Path;

use crate::support::*;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn quickstart(sb: &Sandbox, extra: &[&str]) -> Run {
    let runbook = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart.yaml");
    let workdir = sb.path().join("app");
    let state = sb.path().join(".relctl");
    let port = free_port().to_string();
    let mut args = vec![
        "run".to_string(),
        runbook.display().to_string(),
        "--non-interactive".into(),
        "--approve".into(),
        "all".into(),
        "--state-dir".into(),
        state.display().to_string(),
        "--var".into(),
        format!("workdir={}", workdir.display()),
        "--var".into(),
        format!("port={port}"),
    ];
    args.extend(extra.iter().map(std::string::ToString::to_string));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = sb.relctl(&args);
    // Whatever happened, do not leave the demo app running.
    let _ = std::process::Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart/stop.sh"))
        .arg(&workdir)
        .output();
    run
}

#[test]
fn quickstart_releases_the_demo_app() {
    let sb = Sandbox::new();
    let r = quickstart(&sb, &[]);
    r.expect_code(0);
    assert!(r.stdout.contains("== RELEASED =="), "{}", r.stdout);
    assert_eq!(final_state(&sb.journal()), "released");
}

#[test]
fn quickstart_rolls_back_a_broken_build_and_verifies_it() {
    let sb = Sandbox::new();
    let r = quickstart(&sb, &["--var", "break=yes", "--var", "version=1.2.0"]);
    r.expect_code(3);
    let j = sb.journal();
    assert_eq!(final_state(&j), "rolled_back");
    let gate = events(&j, "decision").into_iter().find(|d| d["gate"] == true).unwrap().clone();
    assert_eq!(gate["approved"], false);
    let health = std::fs::read_to_string(sb.path().join("app/site/health.json")).unwrap();
    assert!(health.contains("\"version\":\"1.0.0\"") || health.contains("\"version\": \"1.0.0\""), "{health}");
}

#[test]
fn dry_run_changes_nothing_and_takes_no_lock_or_journal() {
    let sb = Sandbox::new();
    let r = quickstart(&sb, &["--dry-run"]);
    r.expect_code(0);
    assert!(r.stdout.contains("dry run: would ./quickstart/deploy.sh"), "{}", r.stdout);
    // Not "== RELEASED ==": nothing was released.
    assert!(r.stdout.contains("== DRY RUN: nothing was changed == (a real run would end RELEASED; exit 0)"), "{}", r.stdout);
    assert!(!r.stdout.contains("== RELEASED =="), "{}", r.stdout);
    assert!(!r.stdout.contains("${{"), "expressions are shown resolved: {}", r.stdout);
    assert!(!sb.path().join("app").exists(), "a dry run started the app");
    assert!(!sb.path().join(".relctl/runs").exists());
}
