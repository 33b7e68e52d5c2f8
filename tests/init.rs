//! `relctl init`: every template writes a runbook that validates and plans,
//! and nothing is ever overwritten.

use crate::support::*;

#[test]
fn every_template_writes_a_runbook_that_validates_and_plans() {
    for template in ["shell", "kubernetes", "aws"] {
        let sb = Sandbox::new();
        let r = sb.relctl(&["init", template, "release.yaml"]);
        r.expect_code(0);
        assert!(r.stdout.contains("relctl validate release.yaml"), "{}", r.stdout);
        sb.relctl(&["validate", "release.yaml"]).expect_code(0);
        let plan = sb
            .relctl_env(&["plan", "release.yaml", "--var", "version=1.2.3"], &[("JENKINS_TOKEN", "t"), ("SLACK_BOT_TOKEN", "t")]);
        plan.expect_code(0);
        assert!(sb.read("release.yaml").starts_with("# "), "{template}: the runbook is commented");
    }
}

#[test]
fn init_never_overwrites_and_names_its_templates() {
    let sb = Sandbox::new();
    sb.relctl(&["init"]).expect_code(0);
    sb.write("release.yaml", "mine\n");
    let r = sb.relctl(&["init", "aws"]);
    r.expect_code(2);
    assert!(r.stderr.contains("release.yaml already exists"), "{}", r.stderr);
    assert_eq!(sb.read("release.yaml"), "mine\n", "untouched");
    let r = sb.relctl(&["init", "nomad", "x.yaml"]);
    r.expect_code(2);
    assert!(r.stderr.contains("kubernetes") && r.stderr.contains("aws"), "{}", r.stderr);
}
