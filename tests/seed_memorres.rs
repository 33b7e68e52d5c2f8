//! runbooks/memorres-release.yaml (seed 000, the primary SOP) end to end,
//! its scripts as shipped, against local stand-ins: the fake Jenkins for
//! the deploy job (curl and jq, as the script calls it), the AWS CLI
//! pointed at the fake ECS for the service and at moto for CloudWatch
//! alarms, metrics and logs, the fake Slack where QA and the release
//! manager answer, and the app and staging served by python3.

use crate::support::ecs::{FakeEcs, Rollout};
use crate::support::jenkins::{Jenkins, Job, TOKEN as JENKINS_TOKEN, USER as JENKINS_USER};
use crate::support::moto;
use crate::support::slack::{Member, Slack, TOKEN};
use crate::support::*;

/// The AWS CLI against moto, for seeding what the SOP expects to exist.
fn aws(args: &[&str]) {
    let out = std::process::Command::new("aws")
        .args(args)
        .args(["--endpoint-url", &moto::url(), "--region", moto::REGION])
        .envs(moto::env())
        .output()
        .expect("the aws CLI");
    assert!(out.status.success(), "aws {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn release(sb: &Sandbox, go: &str) -> (Run, FakeEcs) {
    let service = moto::unique("memorres");
    // Monitoring ready: the service's alarms exist and are quiet; its log group exists.
    for alarm in ["cpu", "5xx"] {
        let name = format!("{service}-{alarm}");
        aws(&[
            "cloudwatch",
            "put-metric-alarm",
            "--alarm-name",
            &name,
            "--namespace",
            "AWS/ECS",
            "--metric-name",
            "CPUUtilization",
            "--statistic",
            "Maximum",
            "--period",
            "60",
            "--evaluation-periods",
            "1",
            "--threshold",
            "80",
            "--comparison-operator",
            "GreaterThanThreshold",
        ]);
        aws(&["cloudwatch", "set-alarm-state", "--alarm-name", &name, "--state-value", "OK", "--state-reason", "quiet"]);
    }
    aws(&["logs", "create-log-group", "--log-group-name", &format!("/ecs/{service}")]);
    let ecs = FakeEcs::start(&[Rollout::Completes(1)]).named(&service);
    let jenkins = Jenkins::start();
    jenkins.job(
        "deploy-production",
        Job::ending("SUCCESS").with_params(&["SERVICE", "REF"]).console("Deploying...\r\nFinished: SUCCESS\r\n", 64),
    );
    let slack = Slack::start();
    for id in ["U0CAROL003", "U0DAVE0004", "U0BOB00002"] {
        slack.add_member(id, Member::default());
    }
    sb.write("web/health", r#"{"status": "ok"}"#);
    sb.write("web/version.json", r#"{"build": "417"}"#);
    sb.write("web/staging/health", r#"{"status": "ok", "version": "4.2.0"}"#);
    let web = serve_dir(&sb.path().join("web"));
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks/memorres-release.yaml"))
        .unwrap()
        .replace("    notify: true", &format!("    notify: true\n    api_url: {}\n    poll: 200ms", slack.api_url()))
        .replace("wait: 5m", "wait: 1s");
    sb.write("release.yaml", &text);
    std::process::Command::new("cp")
        .args(["-r", concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks/scripts")])
        .arg(sb.path())
        .status()
        .unwrap();
    let _answering = slack.answering(&[
        ("QA passed all checks", "U0CAROL003", ":white_check_mark:"),
        ("Smoke tests passed", "U0DAVE0004", "yes"),
        ("Go / no-go", "U0BOB00002", go),
    ]);
    let vars = [
        format!("service={service}"),
        "version=4.2.0".into(),
        format!("app_url={}", web.url),
        format!("staging_url={}/staging", web.url),
        "ecs_cluster=prod".into(),
        format!("jenkins_url={}", jenkins.url()),
    ];
    let mut args: Vec<String> = [
        "run",
        "release.yaml",
        "--non-interactive",
        "--approve",
        "stakeholder-approval",
        "--approve",
        "rollback-plan",
        "--as",
        "alice",
    ]
    .map(String::from)
    .to_vec();
    for v in vars {
        args.extend(["--var".to_string(), v]);
    }
    let mut env: Vec<(&str, String)> = moto::env();
    env.extend([
        ("AWS_ENDPOINT_URL", moto::url()),
        ("AWS_ENDPOINT_URL_ECS", ecs.url()),
        ("AWS_DEFAULT_REGION", moto::REGION.into()),
        ("SLACK_BOT_TOKEN", TOKEN.into()),
        ("JENKINS_USER", JENKINS_USER.into()),
        ("JENKINS_TOKEN", JENKINS_TOKEN.into()),
        ("JIRA_USER", "ci".into()),
        ("JIRA_TOKEN", "unused".into()),
    ]);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = sb.relctl_bounded(&words, &pairs);
    assert_eq!(jenkins.triggers().len(), 1, "one deploy job");
    (r, ecs)
}

#[test]
fn the_memorres_release_runs_end_to_end_with_qa_and_the_release_manager_in_slack() {
    let sb = Sandbox::new();
    let (r, ecs) = release(&sb, "go");
    r.expect_code(0);
    assert!(r.stdout.contains("Finished: SUCCESS"), "the Jenkins console is followed:\n{}", r.stdout);
    assert!(ecs.calls("UpdateService").is_empty(), "nothing rolled back");
    let d: Vec<(String, String)> = events(&sb.journal(), "decision")
        .iter()
        .map(|d| (d["id"].as_str().unwrap_or("").to_string(), d["actor"].as_str().unwrap_or("").to_string()))
        .collect();
    for (id, who) in [("staging-signoff", "carol"), ("smoke-test", "dave"), ("go-no-go", "bob")] {
        assert!(d.contains(&(id.into(), who.into())), "{id} by {who}: {d:?}");
    }
}

#[test]
fn a_memorres_no_go_redeploys_the_last_stable_task_definition_and_verifies_it() {
    let sb = Sandbox::new();
    let (r, ecs) = release(&sb, "no-go: checkout latency doubled");
    r.expect_code(3);
    let updates = ecs.calls("UpdateService");
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert!(updates[0]["taskDefinition"].as_str().unwrap().ends_with("task-definition/checkout:1"), "{updates:?}");
    assert!(r.stdout.contains("ROLLED BACK"), "{}", r.stdout);
    let go = events(&sb.journal(), "decision").into_iter().find(|d| d["id"] == "go-no-go").unwrap().clone();
    assert_eq!((go["approved"].as_bool(), go["actor"].as_str()), (Some(false), Some("bob")), "{go}");
    assert_eq!(go["comment"], "checkout latency doubled");
}
