//! ECS steps through the real aws-sdk-ecs against a fake ECS that moves
//! deployments along (moto's never progress), and the full release (ECS,
//! S3, alarms) with moto for S3 and CloudWatch.

use crate::support::ecs::{FakeEcs, Rollout};
use crate::support::moto;
use crate::support::*;

pub fn runbook(name: &str, body: &str) -> String {
    format!("version: 1\nname: {name}\nintegrations:\n  aws: {{ region: us-east-1 }}\n{body}")
}

/// relctl with ECS pointed at the fake and everything else at moto.
fn relctl(sb: &Sandbox, ecs: &FakeEcs, args: &[&str]) -> std::process::Command {
    let mut cmd = sb.cmd(args);
    for (k, v) in moto::env() {
        cmd.env(k, v);
    }
    cmd.env("AWS_ENDPOINT_URL_ECS", ecs.url());
    if let Ok(url) = std::env::var("RELCTL_TEST_MOTO_URL") {
        cmd.env("AWS_ENDPOINT_URL", url);
    }
    cmd
}

pub fn run(sb: &Sandbox, ecs: &FakeEcs, yaml: &str) -> Run {
    sb.write("release.yaml", yaml);
    let out = relctl(sb, ecs, &["run", "release.yaml", "--non-interactive", "--approve", "all"]).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

pub const DEPLOY: &str = "execute:
  - id: backend
    ecs.deploy: { cluster: prod, service: checkout, image: { container: app, image: \"registry/checkout:2.0.0\" }, poll: 20ms }
validate:
  - ecs.check: { cluster: prod, service: checkout, poll: 20ms }
rollback:
  - ecs.rollback: { cluster: prod, service: checkout, poll: 20ms }
";

fn outputs(sb: &Sandbox, key: &str) -> serde_json::Value {
    events(&sb.journal(), "step_finished").into_iter().find(|e| e["key"] == key).unwrap()["outputs"].clone()
}

#[test]
fn deploy_registers_a_revision_with_the_new_image_and_waits_until_stable() {
    let ecs = FakeEcs::start(&[Rollout::Completes(4)]);
    let sb = Sandbox::new();
    let r = run(&sb, &ecs, &runbook("ecs-ok", DEPLOY));
    r.expect_code(0);
    let new = "arn:aws:ecs:us-east-1:123456789012:task-definition/checkout:2";
    assert_eq!(ecs.primary(), (new.to_string(), 1));
    let td = ecs.task_definition(new);
    assert_eq!(td["containerDefinitions"][0]["image"], "registry/checkout:2.0.0");
    assert_eq!(td["containerDefinitions"][1]["image"], "registry/envoy:1.30", "other containers are copied as they were");
    assert_eq!(td["cpu"], "256");
    let register = &ecs.calls("RegisterTaskDefinition")[0];
    assert_eq!(register["tags"][0]["key"], "team", "tags are copied: {register}");
    assert!(register.get("revision").is_none() && register.get("status").is_none(), "output-only fields are not sent");
    let o = outputs(&sb, "execute.0");
    assert_eq!(o["task_definition_arn"], new);
    assert_eq!(o["previous_task_definition_arn"], "arn:aws:ecs:us-east-1:123456789012:task-definition/checkout:1");
    assert_eq!(o["deployment_id"], "ecs-svc/2");
    assert!(r.stdout.contains("IN_PROGRESS"), "progress is shown: {}", r.stdout);
}

#[test]
fn a_failed_rollout_stops_at_once_and_the_rollback_verifies() {
    let ecs = FakeEcs::start(&[Rollout::Fails(2), Rollout::Completes(2)]);
    let sb = Sandbox::new();
    let r = run(&sb, &ecs, &runbook("ecs-fail", DEPLOY));
    r.expect_code(3);
    let failed = events(&sb.journal(), "step_finished").into_iter().find(|e| e["key"] == "execute.0").unwrap().clone();
    let message = failed["message"].as_str().unwrap();
    assert!(message.contains("FAILED: ECS deployment circuit breaker"), "{message}");
    assert!(message.contains("Essential container in task exited"), "latest events are named: {message}");
    assert_eq!(ecs.primary(), ("arn:aws:ecs:us-east-1:123456789012:task-definition/checkout:1".to_string(), 1));
    assert_eq!(ecs.calls("UpdateService").len(), 2, "the deploy, then the rollback");
}

#[test]
fn ecs_rolling_back_by_itself_is_never_reported_as_success() {
    let ecs = FakeEcs::start(&[Rollout::RolledBackByEcs(2), Rollout::Completes(1)]);
    let sb = Sandbox::new();
    let r = run(&sb, &ecs, &runbook("ecs-cb", DEPLOY));
    assert_ne!(r.code, 0, "{}", r.stdout);
    let failed = events(&sb.journal(), "step_finished").into_iter().find(|e| e["key"] == "execute.0").unwrap().clone();
    assert_eq!(failed["status"], "failed");
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("checkout:2 to prod/checkout FAILED (ECS deployment circuit breaker: tasks failed to start.)"),
        "{message}"
    );
    assert!(message.contains("ECS's circuit breaker is rolling it back to arn:aws:ecs:us-east-1:123456789012:task-definition/checkout:1 (deployment ecs-svc/3)"), "{message}");
    assert!(message.contains("rolling back to deployment ecs-svc/1"), "ECS's events are named: {message}");
}

#[test]
fn a_stuck_rollout_times_out() {
    let ecs = FakeEcs::start(&[Rollout::Stuck, Rollout::Completes(1)]);
    let sb = Sandbox::new();
    let yaml = runbook("ecs-stuck", &DEPLOY.replace("  - id: backend\n", "  - id: backend\n    timeout: 1s\n"));
    let r = run(&sb, &ecs, &yaml);
    r.expect_code(3);
    assert!(r.stdout.contains("timed out after 1s"), "{}", r.stdout);
}

#[test]
fn checklist_refuses_someone_elses_rollout() {
    let ecs = FakeEcs::start(&[Rollout::Completes(1)]);
    ecs.start_foreign_rollout();
    let sb = Sandbox::new();
    let r = run(
        &sb,
        &ecs,
        &runbook(
            "ecs-busy",
            "checklist:\n  - ecs.check: { cluster: prod, service: checkout }\nexecute:\n  - run: echo deployed >> ran.txt\n",
        ),
    );
    r.expect_code(1);
    assert!(r.stdout.contains("a deployment is already in progress"), "{}", r.stdout);
    assert_eq!(sb.read("ran.txt"), "");
}

#[test]
fn check_fails_on_unhealthy_tasks_and_a_missing_service() {
    let ecs = FakeEcs::start(&[Rollout::Completes(1)]);
    ecs.set_unhealthy();
    let sb = Sandbox::new();
    let r = run(&sb, &ecs, &runbook("ecs-sick", "checklist:\n  - ecs.check: { cluster: prod, service: checkout }\n"));
    r.expect_code(1);
    assert!(r.stdout.contains("UNHEALTHY tasks"), "{}", r.stdout);
    let r = run(&sb, &ecs, &runbook("ecs-missing", "checklist:\n  - ecs.check: { cluster: prod, service: chekout }\n"));
    r.expect_code(1);
    assert!(r.stdout.contains("MISSING"), "{}", r.stdout);
    let r = run(&sb, &ecs, &runbook("ecs-nocluster", "checklist:\n  - ecs.check: { cluster: staging, service: checkout }\n"));
    r.expect_code(1);
    assert!(r.stdout.contains("ClusterNotFoundException"), "{}", r.stdout);
}

#[test]
fn rollback_to_where_the_service_already_is_is_a_no_op() {
    let ecs = FakeEcs::start(&[Rollout::Completes(1)]);
    let sb = Sandbox::new();
    let yaml = runbook(
        "ecs-noop",
        "execute:\n  - run: exit 1\nvalidate:\n  - ecs.check: { cluster: prod, service: checkout }\nrollback:\n  - ecs.rollback: { cluster: prod, service: checkout, to: \"checkout:1\" }\n",
    );
    let r = run(&sb, &ecs, &yaml);
    r.expect_code(3);
    assert!(r.stdout.contains("nothing to do"), "{}", r.stdout);
    assert!(ecs.calls("UpdateService").is_empty());
}

#[test]
fn resume_after_sigkill_during_the_wait_continues_the_same_deployment() {
    let ecs = FakeEcs::start(&[Rollout::Completes(60)]);
    let sb = Sandbox::new();
    sb.write("release.yaml", &runbook("ecs-resume", DEPLOY));
    let mut child = relctl(&sb, &ecs, &["run", "release.yaml", "--non-interactive"]).spawn().unwrap();
    wait_until("the deployment to be journaled", || sb.journal_text().contains("\"deployment_id\":\"ecs-svc/2\""));
    child.kill().unwrap();
    child.wait().unwrap();
    let out = relctl(&sb, &ecs, &["resume", "--non-interactive"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(ecs.calls("UpdateService").len(), 1, "no second deployment");
    assert_eq!(ecs.calls("RegisterTaskDefinition").len(), 1, "no second revision");
    assert!(String::from_utf8_lossy(&out.stdout).contains("re-attaching to deployment ecs-svc/2"));
}

fn full_release(bucket: &str, prefix: &str, check: &str) -> String {
    runbook(
        &moto::unique("full"),
        &format!(
            "checklist:
  - ecs.check: {{ cluster: prod, service: checkout }}
  - cloudwatch.alarms: {{ prefix: \"{prefix}-\", expect: OK }}
execute:
  - id: backend
    ecs.deploy: {{ cluster: prod, service: checkout, image: {{ container: app, image: \"registry/checkout:2.0.0\" }}, poll: 20ms }}
  - id: frontend
    s3.promote: {{ bucket: {bucket}, from: \"releases/2.0/\", to: \"live/\", last: [index.html] }}
validate:
  - ecs.check: {{ cluster: prod, service: checkout }}
  - s3.check: {{ bucket: {bucket}, prefix: \"live/\", expect: [{check}] }}
  - cloudwatch.alarms: {{ prefix: \"{prefix}-\", expect: OK }}
rollback:
  - ecs.rollback: {{ cluster: prod, service: checkout, poll: 20ms }}
  - s3.rollback: {{ bucket: {bucket}, to: \"live/\" }}
"
        ),
    )
}

fn seed() -> (tokio::runtime::Runtime, aws_sdk_s3::Client, String, String) {
    let rt = moto::runtime();
    let s3 = rt.block_on(moto::s3());
    let cw = rt.block_on(moto::cloudwatch());
    let bucket = moto::unique("assets");
    let prefix = moto::unique("checkout-prod");
    rt.block_on(moto::bucket(
        &s3,
        &bucket,
        &[
            ("live/index.html", "v1"),
            ("live/assets/a.js", "a1"),
            ("releases/2.0/index.html", "v2"),
            ("releases/2.0/assets/b.js", "b2"),
        ],
    ));
    rt.block_on(moto::alarm(&cw, &format!("{prefix}-5xx"), false));
    (rt, s3, bucket, prefix)
}

#[test]
fn a_full_release_deploys_ecs_promotes_s3_and_checks_alarms() {
    let (rt, s3, bucket, prefix) = seed();
    let ecs = FakeEcs::start(&[Rollout::Completes(3)]);
    let sb = Sandbox::new();
    run(&sb, &ecs, &full_release(&bucket, &prefix, "index.html, assets/b.js")).expect_code(0);
    assert_eq!(ecs.primary().0, "arn:aws:ecs:us-east-1:123456789012:task-definition/checkout:2");
    assert_eq!(rt.block_on(moto::body(&s3, &bucket, "live/index.html")), "v2");
}

#[test]
fn a_failed_validation_rolls_back_ecs_and_s3_and_verifies_both() {
    let (rt, s3, bucket, prefix) = seed();
    let before = rt.block_on(moto::listing(&s3, &bucket, "live/"));
    let ecs = FakeEcs::start(&[Rollout::Completes(3), Rollout::Completes(2)]);
    let sb = Sandbox::new();
    // Validation wants a file only the old release has: no-go.
    let r = run(&sb, &ecs, &full_release(&bucket, &prefix, "assets/a.js"));
    r.expect_code(3);
    assert_eq!(rt.block_on(moto::listing(&s3, &bucket, "live/")), before, "S3 exactly as before");
    assert_eq!(
        ecs.primary(),
        ("arn:aws:ecs:us-east-1:123456789012:task-definition/checkout:1".to_string(), 1),
        "service on the old task definition"
    );
    assert_eq!(final_state(&sb.journal()), "rolled_back");
}

/// moto does not move rollouts along, but it checks the requests: the
/// revision relctl registers and the service update are accepted and stored.
#[test]
fn ecs_request_shapes_are_accepted_by_moto() {
    use aws_sdk_ecs::types::ContainerDefinition;
    let rt = moto::runtime();
    let ecs = rt.block_on(moto::ecs());
    let (cluster, family) = (moto::unique("cluster"), moto::unique("web"));
    rt.block_on(async {
        ecs.create_cluster().cluster_name(&cluster).send().await.unwrap();
        let app = ContainerDefinition::builder().name("app").image("registry/web:1").memory(512).build();
        let side = ContainerDefinition::builder().name("sidecar").image("registry/envoy:1").memory(128).build();
        ecs.register_task_definition()
            .family(&family)
            .container_definitions(app)
            .container_definitions(side)
            .send()
            .await
            .unwrap();
        ecs.create_service()
            .cluster(&cluster)
            .service_name("web")
            .task_definition(&family)
            .desired_count(1)
            .send()
            .await
            .unwrap();
    });
    let sb = Sandbox::new();
    let yaml = format!(
        "version: 1\nname: {}\nintegrations:\n  aws: {{ region: us-east-1, endpoint_url: \"{}\" }}\nexecute:\n  - id: backend\n    timeout: 2s\n    ecs.deploy: {{ cluster: {cluster}, service: web, image: {{ container: app, image: \"registry/web:2\" }}, poll: 100ms }}\n",
        moto::unique("moto-ecs"),
        moto::url()
    );
    sb.write("release.yaml", &yaml);
    let mut cmd = sb.cmd(&["run", "release.yaml", "--non-interactive"]);
    for (k, v) in moto::env() {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert_ne!(out.status.code(), Some(0), "moto never completes a rollout: {}", String::from_utf8_lossy(&out.stdout));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(stdout.contains("instead of"), "moto keeps the old task definition on the deployment: {stdout}");
    let (td, service) = rt.block_on(async {
        let td = ecs.describe_task_definition().task_definition(format!("{family}:2")).send().await.unwrap();
        let svc = ecs.describe_services().cluster(&cluster).services("web").send().await.unwrap();
        (td.task_definition.unwrap(), svc.services.unwrap().remove(0))
    });
    let images: Vec<_> =
        td.container_definitions().iter().map(|c| (c.name().unwrap().to_string(), c.image().unwrap().to_string())).collect();
    assert_eq!(
        images,
        [("app".to_string(), "registry/web:2".to_string()), ("sidecar".to_string(), "registry/envoy:1".to_string())]
    );
    assert!(service.task_definition().unwrap().ends_with(&format!("{family}:2")), "{:?}", service.task_definition());
    let j = sb.journal();
    let cp: Vec<_> = events(&j, "step_checkpoint").into_iter().map(|e| e["data"].clone()).collect();
    assert!(
        cp.iter().any(|d| d["previous_task_definition_arn"].as_str().is_some_and(|a| a.ends_with(&format!("{family}:1")))),
        "{cp:?}"
    );
}

#[test]
fn check_waits_for_health_checks_to_pass_not_just_for_tasks_to_run() {
    let ecs = FakeEcs::start(&[Rollout::Completes(1)]);
    ecs.set_starting();
    let sb = Sandbox::new();
    let r = run(&sb, &ecs, &runbook("ecs-starting", "checklist:\n  - ecs.check: { cluster: prod, service: checkout }\n"));
    r.expect_code(1);
    assert!(r.stdout.contains("health checks not passing"), "{}", r.stdout);
    assert!(r.stdout.contains("container app is UNKNOWN"), "{}", r.stdout);
    assert!(!r.stdout.contains("container sidecar"), "a container without a health check is not judged: {}", r.stdout);
}
