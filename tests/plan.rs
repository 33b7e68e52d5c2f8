//! `relctl plan`: what a release manager reviews before a run — every phase
//! in order, nested parallel steps, timeouts and retries, who answers each
//! gate — and the input problems that stop a run before it starts.

use crate::support::*;

const FULL: &str = "version: 1
name: checkout-release
description: Release the checkout service.
vars:
  version: { required: true, description: version to release }
  url: http://127.0.0.1:8080
approvers:
  release_managers: [alice, bob]
checklist:
  - id: approval
    confirm: Stakeholders approved checkout ${{ vars.version }}?
  - id: record-previous
    name: Record the rollback target
    run: ./live-version.sh
execute:
  - id: deploy
    name: Deploy
    timeout: 20m
    retry: { attempts: 3, delay: 5s, backoff: 2 }
    idempotent: true
    run: ./deploy.sh ${{ vars.version }}
    env:
      TOKEN: ${{ secrets.DEPLOY_TOKEN }}
validate:
  - name: Bake
    wait: 1m30s
  - id: checks
    parallel:
      - id: health
        timeout: 5s
        http:
          url: ${{ vars.url }}/health
          expect: { status: 200, json: { status: healthy } }
      - run: ./check-queue.sh
        retry: { attempts: 2, delay: 500ms }
  - id: go
    gate: Go / no-go for checkout ${{ vars.version }}
    approvers: release_managers
rollback:
  - name: Announce the rollback
    continue_on_failure: true
    run: ./announce.sh rolling back
  - run: ./deploy.sh ${{ steps.record-previous.outputs.previous }}
finalize:
  - run: ./announce.sh ${{ vars.version }} is live
    when: ${{ vars.version != '0.0.0' }}
";

#[test]
fn plan_shows_every_phase_gate_retry_timeout_and_parallel_block() {
    let sb = Sandbox::new();
    sb.write("release.yaml", FULL);
    let mut cmd = sb.cmd(&["plan", "release.yaml", "--var", "version=2.4.0"]);
    cmd.env_remove("DEPLOY_TOKEN");
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // A plan is a review: a missing secret is shown, not an error (a run refuses it).
    assert!(stdout.contains("secrets: DEPLOY_TOKEN (NOT SET)"), "{stdout}");
    assert!(stdout.contains("validate.1.0"), "parallel children are listed under their block:\n{stdout}");
    assert!(stdout.contains("alice, bob  (CI: --approve go)"), "{stdout}");
    insta::assert_snapshot!("plan_full_runbook", stdout);
}

#[test]
fn plan_without_a_gate_says_checks_decide() {
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1
name: small
execute:
  - run: ./deploy.sh
validate:
  - run: ./check.sh
",
    );
    let run = sb.relctl(&["plan", "release.yaml"]);
    run.expect_code(0);
    assert!(run.stdout.contains("(no gate: go when every check passes)"), "{}", run.stdout);
    assert!(run.stdout.contains("GATES AND CONFIRMS\n  (none)"), "{}", run.stdout);
}

#[test]
fn plan_refuses_a_missing_required_var_and_names_it() {
    let sb = Sandbox::new();
    sb.write("release.yaml", FULL);
    let run = sb.relctl(&["plan", "release.yaml"]);
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("var `version` (version to release) is required: pass --var version=VALUE"), "{}", run.stderr);
}

#[test]
fn plan_refuses_an_unknown_var_with_did_you_mean() {
    let sb = Sandbox::new();
    sb.write("release.yaml", FULL);
    let run = sb.relctl(&["plan", "release.yaml", "--var", "version=2.4.0", "--var", "urll=http://x"]);
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("--var urll: the runbook declares no var `urll` (did you mean `url`?)"), "{}", run.stderr);
}

#[test]
fn run_refuses_a_missing_required_var_before_any_step() {
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1
name: needs-version
vars:
  version: { required: true }
checklist:
  - run: touch started
",
    );
    let run = sb.relctl(&["run", "release.yaml", "--non-interactive", "--approve", "all"]);
    run.expect_code(2);
    assert!(run.stderr.contains("var `version` is required"), "{}", run.stderr);
    assert!(!sb.path().join("started").exists(), "no step may run");
    assert!(!sb.path().join(".relctl/runs").exists(), "no run is recorded");
}

#[test]
fn malformed_var_flag_is_a_usage_error() {
    let sb = Sandbox::new();
    sb.write("release.yaml", FULL);
    let run = sb.relctl(&["plan", "release.yaml", "--var", "version"]);
    run.expect_code(2);
    assert!(run.stderr.contains("--var version: expected KEY=VALUE"), "{}", run.stderr);
}

const ECS: &str = "version: 1
name: ecs-release
vars:
  cluster: prod
integrations:
  aws: { region: us-east-1 }
execute:
  - id: deploy
    ecs.deploy: { cluster: \"${{ vars.cluster }}\", service: checkout, task_definition: \"checkout:7\" }
validate:
  - ecs.check: { cluster: prod, service: checkout }
rollback:
  - ecs.rollback: { cluster: prod, service: checkout }
";

#[test]
fn plan_shows_default_deadlines_the_rollback_target_and_the_verification_pass() {
    let sb = Sandbox::new();
    sb.write("release.yaml", ECS);
    let run = sb.relctl(&["plan", "release.yaml"]);
    run.expect_code(0);
    let line = |key: &str| run.stdout.lines().find(|l| l.trim_start().starts_with(key)).unwrap_or_default().to_string();
    assert!(
        line("execute.0").ends_with("(timeout 30m by default, records ecs prod/checkout for the rollback)"),
        "{}",
        run.stdout
    );
    assert!(line("rollback.0").ends_with("(timeout 30m by default, restores ecs prod/checkout)"), "{}", run.stdout);
    assert!(
        line("verify.0").contains("check ECS prod/checkout is healthy and stable  (timeout 10m by default)"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_rollback_target_built_from_vars_that_matches_no_deploy_is_refused() {
    // `--var cluster=staging` deploys staging/checkout; the rollback names
    // prod/checkout, which nothing in this run changes.
    let sb = Sandbox::new();
    sb.write("release.yaml", ECS);
    let run = sb.relctl(&["plan", "release.yaml", "--var", "cluster=staging"]);
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.contains("rollback.0 (`ecs.rollback`) restores ecs prod/checkout, which no step in `execute` changes"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("`execute` changes staging/checkout (execute.0)"), "{}", run.stderr);
}
