//! `alb.shift`, `alb.rollback` and `canary` against moto's ELBv2, through
//! the real aws-sdk-elasticloadbalancingv2: weights move on a listener's
//! default action and on a rule, and a rollback puts the forward action
//! back exactly as ELBv2 described it before the first shift (compared as
//! boto3 describes it, tests/support/alb.py).

use crate::support::moto;
use crate::support::*;

pub struct Alb {
    pub listener: String,
    pub rule: String,
    pub blue: String,
    pub green: String,
}

fn python(args: &[&str]) -> serde_json::Value {
    let py = std::env::var("RELCTL_TEST_PYTHON").expect("RELCTL_TEST_PYTHON (scripts/moto.sh sets it)");
    let out = std::process::Command::new(py)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/alb.py"))
        .args(args)
        .env("RELCTL_TEST_MOTO_URL", moto::url())
        .output()
        .expect("run alb.py");
    assert!(out.status.success(), "alb.py {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("alb.py prints JSON")
}

pub fn alb() -> Alb {
    let v = python(&["setup", &moto::unique("a")]);
    let s = |k: &str| v[k].as_str().unwrap().to_string();
    Alb { listener: s("listener"), rule: s("rule"), blue: s("blue"), green: s("green") }
}

/// Both action lists, as ELBv2 describes them.
pub fn actions(a: &Alb) -> serde_json::Value {
    python(&["actions", &a.listener, &a.rule])
}

/// The canary's weight on the listener now (None: it is not in the forward action).
pub fn canary_weight(a: &Alb) -> Option<i32> {
    moto::runtime().block_on(async {
        let out = moto::elbv2().await.describe_listeners().listener_arns(&a.listener).send().await.unwrap();
        let action = out.listeners()[0].default_actions()[0].clone();
        let groups = action.forward_config().map(|f| f.target_groups().to_vec()).unwrap_or_default();
        groups
            .iter()
            .find(|g| g.target_group_arn() == Some(a.green.as_str()))
            .and_then(aws_sdk_elasticloadbalancingv2::types::TargetGroupTuple::weight)
    })
}

fn run(sb: &Sandbox, args: &[&str]) -> Run {
    let env = moto::env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    sb.relctl_bounded(args, &pairs)
}

/// The runbook; `rule` adds the rule's rollback (only a runbook that shifts
/// the rule may have it: a rollback of something never changed is refused).
fn runbook_with(a: &Alb, execute: &str, validate: &str, rule: bool) -> String {
    let rule_rollback =
        if rule { "  - alb.rollback: { listener: \"${{ vars.listener }}\", rule: \"${{ vars.rule }}\" }\n" } else { "" };
    format!(
        "version: 1
name: alb
vars:
  listener: {}
  rule: {}
  blue: {}
  green: {}
integrations:
  aws: {{ region: us-east-1, endpoint_url: \"{}\" }}
execute:
{execute}validate:
{validate}rollback:
  - alb.rollback: {{ listener: \"${{{{ vars.listener }}}}\" }}
{rule_rollback}  - run: touch rolled-back
",
        a.listener,
        a.rule,
        a.blue,
        a.green,
        moto::url()
    )
}

fn runbook(a: &Alb, execute: &str, validate: &str) -> String {
    runbook_with(a, execute, validate, false)
}

const SHIFT: &str = "  - alb.shift: { listener: \"${{ vars.listener }}\", stable: \"${{ vars.blue }}\", canary: \"${{ vars.green }}\", percent: PCT }\n";
const SHIFT_RULE: &str = "  - alb.shift: { listener: \"${{ vars.listener }}\", rule: \"${{ vars.rule }}\", stable: \"${{ vars.blue }}\", canary: \"${{ vars.green }}\", percent: PCT }\n";

#[test]
fn shifts_on_a_listener_and_a_rule_are_undone_exactly_by_the_rollback() {
    let a = alb();
    let before = actions(&a);
    let sb = Sandbox::new();
    let execute = format!("{}{}{}", SHIFT.replace("PCT", "25"), SHIFT.replace("PCT", "100"), SHIFT_RULE.replace("PCT", "50"));
    // Unhealthy until rolled back: the release fails validation, the rollback is verified.
    sb.write("release.yaml", &runbook_with(&a, &execute, "  - run: test -f rolled-back\n", true));
    let r = run(&sb, &["run", "release.yaml", "--non-interactive"]);
    r.expect_code(3);
    assert!(r.stdout.contains(&format!("25% to {}", a.green.split('/').nth(1).unwrap())), "{}", r.stdout);
    // Each shift took: ELBv2 read back what was asked for.
    let weights = |key: &str| finished(&sb, key)["outputs"]["weights"].as_str().unwrap_or_default().to_string();
    let (blue, green) = (a.blue.split('/').nth(1).unwrap(), a.green.split('/').nth(1).unwrap());
    assert_eq!(weights("execute.1"), format!("{blue} 0, {green} 100"));
    assert_eq!(weights("execute.2"), format!("{blue} 50, {green} 50"));
    assert_eq!(actions(&a), before, "the listener and the rule forward exactly as before the first shift");
    let journal = sb.journal_text();
    assert!(journal.contains(r#"\"stickiness\":[true,300]"#), "the listener's stickiness was journaled before the change");
}

#[test]
fn blue_green_is_a_shift_to_one_hundred_that_keeps_blue_at_weight_zero() {
    let a = alb();
    let sb = Sandbox::new();
    sb.write("release.yaml", &runbook(&a, &SHIFT.replace("PCT", "100"), "  - run: \"true\"\n"));
    run(&sb, &["run", "release.yaml", "--non-interactive", "--approve", "all"]).expect_code(0);
    let now = actions(&a);
    let groups = &now["listener"][0]["ForwardConfig"]["TargetGroups"];
    let weight = |arn: &str| groups.as_array().unwrap().iter().find(|g| g["TargetGroupArn"] == arn).unwrap()["Weight"].clone();
    assert_eq!((weight(&a.blue), weight(&a.green)), (serde_json::json!(0), serde_json::json!(100)));
    assert_eq!(now["listener"][0]["ForwardConfig"]["TargetGroupStickinessConfig"]["Enabled"], true, "stickiness kept");
}

/// A metric the canary's checks watch, in a namespace of its own.
fn put_errors(namespace: &str, value: f64) {
    moto::runtime().block_on(async {
        let datum = aws_sdk_cloudwatch::types::MetricDatum::builder()
            .metric_name("HTTPCode_Target_5XX_Count")
            .dimensions(aws_sdk_cloudwatch::types::Dimension::builder().name("TargetGroup").value(namespace).build())
            .value(value)
            .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from(
                std::time::SystemTime::now() - std::time::Duration::from_secs(20),
            ))
            .build();
        moto::cloudwatch().await.put_metric_data().namespace(namespace).metric_data(datum).send().await.unwrap();
    });
}

fn canary(namespace: &str, bake: &str) -> String {
    format!(
        "  - id: canary
    canary:
      traffic: {{ alb_listener: \"${{{{ vars.listener }}}}\", stable: \"${{{{ vars.blue }}}}\", canary: \"${{{{ vars.green }}}}\" }}
      steps: [5, 25, 50, 100]
      bake: {bake}
      every: 200ms
      checks:
        - cloudwatch.metric:
            namespace: {namespace}
            metric: HTTPCode_Target_5XX_Count
            dimensions: {{ TargetGroup: {namespace} }}
            stat: Sum
            max: 5
            allow_no_data: true
"
    )
}

#[test]
fn a_canary_that_stays_healthy_reaches_one_hundred_percent_step_by_step() {
    let (a, ns) = (alb(), moto::unique("Canary"));
    put_errors(&ns, 1.0);
    let sb = Sandbox::new();
    sb.write("release.yaml", &runbook(&a, &canary(&ns, "1s"), "  - run: \"true\"\n"));
    let plan = run(&sb, &["plan", "release.yaml"]);
    for line in ["execute.0.0", "canary 5%: shift traffic", "canary 5%: bake", "execute.0.6", "canary 100%: shift traffic"] {
        assert!(plan.stdout.contains(line), "plan shows {line:?}:\n{}", plan.stdout);
    }
    run(&sb, &["run", "release.yaml", "--non-interactive", "--approve", "all"]).expect_code(0);
    assert_eq!(canary_weight(&a), Some(100));
    let shifts: Vec<String> = events(&sb.journal(), "step_finished")
        .iter()
        .filter_map(|e| e["message"].as_str().filter(|m| m.contains("% to ")).map(|m| m.split(':').next().unwrap().to_string()))
        .collect();
    assert_eq!(shifts.len(), 4, "{shifts:?}");
}

#[test]
fn a_canary_failing_at_twenty_five_percent_ends_with_the_listener_exactly_as_it_was() {
    let (a, ns) = (alb(), moto::unique("Canary"));
    let before = actions(&a);
    let sb = Sandbox::new();
    sb.write("release.yaml", &runbook(&a, &canary(&ns, "4s"), "  - run: \"true\"\n"));
    let child = sb.start(
        &["run", "release.yaml", "--non-interactive", "--approve", "all"],
        &moto::env().iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(),
    );
    wait_until("the canary at 25%", || canary_weight(&a) == Some(25));
    put_errors(&ns, 40.0);
    let r = finish(child);
    r.expect_code(3);
    assert!(r.stdout.contains("above max 5"), "{}", r.stdout);
    assert!(!r.stdout.contains("canary 50%: shift"), "it never went past 25%:\n{}", r.stdout);
    assert_eq!(actions(&a), before);
}

/// Waits until the canary is baking at 25%: the shift done and journaled.
fn baking_at_25(sb: &Sandbox, a: &Alb) {
    wait_until("the canary baking at 25%", || {
        canary_weight(a) == Some(25) && sb.journal_text().contains(r#""key":"execute.0.3""#)
    });
}

#[test]
fn a_canary_killed_during_a_bake_resumes_where_it_was_and_still_rolls_back_to_the_original() {
    let (a, ns) = (alb(), moto::unique("Canary"));
    let before = actions(&a);
    let sb = Sandbox::new();
    // Unhealthy until rolled back: after the resume, the release fails validation.
    sb.write("release.yaml", &runbook(&a, &canary(&ns, "2s"), "  - run: test -f rolled-back\n"));
    let env = moto::env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut child = sb.start(&["run", "release.yaml", "--non-interactive", "--approve", "all"], &pairs);
    baking_at_25(&sb, &a);
    child.kill().unwrap();
    child.wait().unwrap();
    let r = run(&sb, &["resume", "--non-interactive", "--approve", "all"]);
    r.expect_code(3);
    let started = |key: &str| events(&sb.journal(), "step_started").iter().filter(|e| e["key"] == key).count();
    assert_eq!(started("execute.0.0"), 1, "the 5% shift ran once");
    assert_eq!(started("execute.0.2"), 1, "the 25% shift ran once");
    assert_eq!(started("execute.0.6"), 1, "the 100% shift ran once");
    assert!(r.stdout.contains("not run again"), "{}", r.stdout);
    // The resumed run journaled no new original: the rollback restores the one from before the first shift.
    assert_eq!(actions(&a), before);
}

#[test]
fn a_canary_interrupted_during_a_bake_is_not_failed_and_resume_finishes_it() {
    let (a, ns) = (alb(), moto::unique("Canary"));
    let sb = Sandbox::new();
    sb.write("release.yaml", &runbook(&a, &canary(&ns, "2s"), "  - run: \"true\"\n"));
    let env = moto::env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let child = sb.start(&["run", "release.yaml", "--non-interactive", "--approve", "all"], &pairs);
    baking_at_25(&sb, &a);
    // SAFETY: signalling the relctl this test started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    finish(child).expect_code(130);
    let states: Vec<String> =
        events(&sb.journal(), "state_entered").iter().map(|e| e["state"].as_str().unwrap().to_string()).collect();
    assert!(!states.iter().any(|s| s.contains("rolling")), "an interruption is not a failure: {states:?}");
    let canary = events(&sb.journal(), "step_finished").into_iter().find(|e| e["key"] == "execute.0").cloned();
    assert!(canary.is_none(), "the canary has no end journaled: {canary:?}");
    run(&sb, &["resume", "--non-interactive", "--approve", "all"]).expect_code(0);
    assert_eq!(canary_weight(&a), Some(100));
}
