//! Who answers: every decision says how the answering person's name was
//! established, `not_initiator` keeps four eyes on a gate, and `people:`
//! catches an approver nobody is.

use crate::support::*;

const GATED: &str = "version: 1
name: four-eyes
people:
  alice: { slack: U0ALICE }
  bob: { slack: U0BOB }
approvers:
  release_managers: [alice, bob]
execute:
  - run: echo deployed >> marks.txt
validate:
  - run: \"true\"
  - id: go
    gate: Go / no-go
    approvers: release_managers
    not_initiator: true
rollback:
  - run: echo rolled-back >> marks.txt
finalize:
  - run: echo finalized >> marks.txt
";

const PLAIN_GATE: &str = "version: 1
name: identity
validate:
  - id: go
    gate: Go?
";

fn decision(sb: &Sandbox) -> serde_json::Value {
    events(&sb.journal(), "decision").into_iter().next().expect("a decision").clone()
}

#[test]
fn every_decision_says_how_the_answerers_name_was_established() {
    // (flags, environment, the actor, how the name was established)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: [Case<'_>; 3] = [
        (&["--as", "alice"], &[], "alice", "asserted"),
        (&[], &[("GITHUB_ACTOR", "octo-bob")], "octo-bob", "ci"),
        (&[], &[("GITLAB_USER_LOGIN", "gl-carol")], "gl-carol", "ci"),
    ];
    for (flags, env, actor, identity) in cases {
        let sb = Sandbox::new();
        sb.write("release.yaml", PLAIN_GATE);
        let mut args = vec!["run", "release.yaml", "--non-interactive", "--approve", "go", "--report", "markdown=report.md"];
        args.extend_from_slice(flags);
        let r = sb.relctl_env(&args, env);
        r.expect_code(0);
        let d = decision(&sb);
        assert_eq!((d["actor"].as_str(), d["identity"].as_str()), (Some(actor), Some(identity)), "{d}");
        assert!(r.all().contains(&format!("{actor} via --approve ({identity})")), "{}", r.all());
        assert!(sb.read("report.md").contains(&format!("| {actor} | {identity} |")), "{}", sb.read("report.md"));
        let status = sb.relctl(&["status"]);
        assert!(status.stdout.contains(&format!("({identity})")), "{}", status.stdout);
    }
    // Nobody named: the OS user, at the terminal.
    let sb = Sandbox::new();
    sb.write("release.yaml", PLAIN_GATE);
    sb.relctl(&["run", "release.yaml", "--non-interactive", "--approve", "go"]).expect_code(0);
    assert_eq!(decision(&sb)["identity"], "terminal");
}

#[test]
fn a_not_initiator_gate_stops_for_another_approver_instead_of_taking_the_initiators_go() {
    let sb = Sandbox::new();
    sb.write("release.yaml", GATED);
    let r = sb.relctl(&["run", "release.yaml", "--non-interactive", "--approve", "all", "--as", "alice"]);
    r.expect_code(6);
    assert!(r.stderr.contains("may not be answered by alice, who started this run"), "{}", r.stderr);
    assert!(r.stderr.contains("relctl resume") && r.stderr.contains("--as NAME"), "{}", r.stderr);
    assert_eq!(sb.read("marks.txt"), "deployed\n", "neither finalized nor rolled back: waiting");
    assert!(events(&sb.journal(), "decision").is_empty(), "the initiator's go was not taken");
    // Still the initiator: still waiting.
    sb.relctl(&["resume", "--non-interactive", "--approve", "go", "--as", "alice"]).expect_code(6);
    let r = sb.relctl(&["resume", "--non-interactive", "--approve", "go", "--as", "bob"]);
    r.expect_code(0);
    assert_eq!(sb.read("marks.txt"), "deployed\nfinalized\n");
    let d = decision(&sb);
    assert_eq!((d["actor"].as_str(), d["approved"].as_bool()), (Some("bob"), Some(true)), "{d}");
    let plan = sb.relctl(&["plan", "release.yaml"]);
    assert!(plan.stdout.contains("not whoever started the run"), "{}", plan.stdout);
    assert!(plan.stdout.contains("person alice: Slack U0ALICE"), "{}", plan.stdout);
}

#[test]
fn people_catch_an_approver_nobody_is_and_a_slack_id_that_is_not_one() {
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        &GATED.replace("release_managers: [alice, bob]", "release_managers: [alice, bbo]").replace("U0BOB", "bob@example.com"),
    );
    let r = sb.relctl(&["validate", "release.yaml"]);
    r.expect_code(2);
    assert!(r.stderr.contains("`bbo` is not in `people`") && r.stderr.contains("bob"), "{}", r.stderr);
    assert!(r.stderr.contains("must be a Slack user id"), "{}", r.stderr);
}

/// Every way a question asked in Slack could never be answered there is
/// reported before anything runs, all at once.
#[test]
fn a_question_nobody_could_answer_in_slack_is_refused_before_the_run() {
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1
name: slack-asks
people:
  alice: { slack: U0ALICE }
  dave:
integrations:
  slack: { webhook: https://hooks.slack.com/services/T0/B0/x }
checklist:
  - confirm: Two people at one terminal?
    require: 2
validate:
  - id: go
    gate: Go?
    approvers: [alice, dave]
    via: [terminal, slack]
    require: 3
",
    );
    let r = sb.relctl(&["validate", "release.yaml"]);
    r.expect_code(2);
    for problem in [
        "`require: 2` needs `via: slack`: a terminal has one person at it",
        "`require: 3` but only 2 approver(s) may answer",
        "`via: slack` needs the Slack Web API",
        "a question asked in Slack needs a `timeout`",
        "asked in Slack, but dave cannot answer there",
    ] {
        assert!(r.stderr.contains(problem), "missing {problem:?} in:\n{}", r.stderr);
    }
    assert!(r.stderr.contains("release.yaml:15:10"), "{}", r.stderr);
}
