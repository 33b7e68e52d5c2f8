//! The release manager decides from Slack (`via: slack`): the question is
//! asked in the run's thread, answered with ✅ / ❌ or a reply, read back
//! through the Web API from the fake Slack (tests/support/slack_reads.rs),
//! judged (who may, how many, with a reason over failed checks), confirmed
//! in the thread, and journaled with a verified identity.

use crate::support::slack::{Member, Slack, TOKEN};
use crate::support::*;

const ALICE: &str = "U0ALICE";
const BOB: &str = "U0BOB";
const CAROL: &str = "U0CAROL";
const STRANGER: &str = "U0STRANGER";

/// A release whose gate is asked at the terminal and in Slack; `gate`
/// holds the gate's extra settings, indented under it.
fn runbook(slack: &Slack, gate: &str) -> String {
    format!(
        "version: 1
name: checkout
vars:
  version: 1.2.3
people:
  alice: {{ slack: {ALICE} }}
  bob: {{ slack: {BOB} }}
  carol: {{ slack: {CAROL} }}
approvers:
  release_managers: [alice, bob]
integrations:
  slack:
    channel: \"#releases\"
    token: ${{{{ secrets.SLACK_BOT_TOKEN }}}}
    api_url: {}
    poll: 200ms
execute:
  - run: echo deployed >> marks.txt
validate:
  - id: health
    run: test ! -f unhealthy
  - id: go
    gate: \"Go / no-go for checkout ${{{{ vars.version }}}}\"
    approvers: release_managers
    via: [terminal, slack]
    not_initiator: true
{gate}rollback:
  - run: echo rolled-back >> marks.txt
finalize:
  - run: echo finalized >> marks.txt
",
        slack.api_url()
    )
}

fn slack_with_members() -> Slack {
    let slack = Slack::start();
    for id in [ALICE, BOB, CAROL, STRANGER] {
        slack.add_member(id, Member::default());
    }
    slack
}

/// Starts the release in CI as `initiator`; returns once the question is in Slack, with its ts.
fn start(sb: &Sandbox, slack: &Slack, gate: &str, initiator: &str) -> (std::process::Child, String) {
    sb.write("release.yaml", &runbook(slack, gate));
    let child = sb.start(&["run", "release.yaml", "--non-interactive", "--as", initiator], &[("SLACK_BOT_TOKEN", TOKEN)]);
    let question = slack.wait_for_message("Go / no-go for checkout 1.2.3");
    (child, question.ts)
}

fn gate_decision(sb: &Sandbox) -> serde_json::Value {
    events(&sb.journal(), "decision").into_iter().find(|d| d["gate"] == true).expect("a gate decision").clone()
}

fn thread_texts(slack: &Slack) -> Vec<String> {
    slack.messages().into_iter().filter(|m| m.thread_ts.is_some()).map(|m| m.text).collect()
}

fn said(slack: &Slack, needle: &str) -> bool {
    thread_texts(slack).iter().any(|t| t.contains(needle))
}

const TIMEOUT_5M: &str = "    timeout: 5m\n";

#[test]
fn a_release_manager_approves_from_slack_with_a_reaction() {
    let (slack, sb) = (slack_with_members(), Sandbox::new());
    let (child, question) = start(&sb, &slack, TIMEOUT_5M, "carol");
    let asked = slack.wait_for_message("Go / no-go for checkout 1.2.3");
    assert!(asked.text.contains("All 1 validation check(s) passed"), "{}", asked.text);
    assert!(asked.text.contains("React :white_check_mark: for GO or :x: for NO-GO"), "{}", asked.text);
    assert!(asked.text.contains("not carol, who started the run"), "{}", asked.text);
    assert!(asked.reply_broadcast, "the question is shown in the channel too");
    slack.react(ALICE, &question, "white_check_mark");
    let r = finish(child);
    r.expect_code(0);
    assert_eq!(sb.read("marks.txt"), "deployed\nfinalized\n");
    let d = gate_decision(&sb);
    assert_eq!(
        (d["actor"].as_str(), d["by"].as_str(), d["identity"].as_str()),
        (Some("alice"), Some("slack"), Some("slack")),
        "{d}"
    );
    assert_eq!(d["approvals"][0]["account"], ALICE);
    // Confirmed in the thread at once, naming the person and the decision.
    assert!(said(&slack, &format!("<@{ALICE}> alice: GO recorded")), "{:#?}", thread_texts(&slack));
    let closed = slack.messages().into_iter().find(|m| m.ts == question).unwrap();
    assert!(closed.updates.last().unwrap().contains("Closed: approved by alice (slack)"), "{:?}", closed.updates);
    assert!(r.all().contains("by alice in Slack (slack)"), "{}", r.all());
    let status = sb.relctl(&["status"]);
    assert!(status.stdout.contains("alice in Slack (slack)"), "{}", status.stdout);
    // Reads are GETs with a query string: Slack's read methods ignore a JSON body.
    let reads: Vec<_> = slack.requests().into_iter().filter(|q| q.route().ends_with("conversations.replies")).collect();
    assert!(!reads.is_empty() && reads.iter().all(|q| q.method == "GET" && q.body.is_empty()), "{reads:?}");
    assert!(slack.requests().iter().any(|q| q.route().ends_with("reactions.get") && q.path.contains("full=true")));
}

#[test]
fn two_approvers_required_and_only_one_given_times_out_as_no_go() {
    let (slack, sb) = (slack_with_members(), Sandbox::new());
    let (child, question) = start(&sb, &slack, "    require: 2\n    timeout: 3s\n", "carol");
    slack.react(ALICE, &question, "white_check_mark");
    let r = finish(child);
    r.expect_code(3);
    assert_eq!(sb.read("marks.txt"), "deployed\nrolled-back\n");
    let d = gate_decision(&sb);
    assert_eq!(d["approved"], false);
    assert!(d["reason"].as_str().unwrap().contains("unanswered for 3s: 1 of 2 approvals (alice)"), "{d}");
    assert!(said(&slack, "alice: GO recorded (1 of 2 approvals so far)"), "{:#?}", thread_texts(&slack));
}

#[test]
fn the_initiators_own_approval_in_slack_is_refused() {
    let (slack, sb) = (slack_with_members(), Sandbox::new());
    let (child, question) = start(&sb, &slack, TIMEOUT_5M, "alice");
    slack.react(ALICE, &question, "white_check_mark");
    wait_until("the refusal in the thread", || said(&slack, "not counted: alice started this run"));
    slack.react(BOB, &question, "white_check_mark");
    finish(child).expect_code(0);
    assert_eq!(gate_decision(&sb)["actor"], "bob");
    let refused: Vec<_> = events(&sb.journal(), "answered").into_iter().filter(|a| a["refused"].is_string()).cloned().collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["ballot"]["person"], "alice");
}

#[test]
fn a_strangers_check_mark_is_ignored_and_answered_in_the_thread() {
    let (slack, sb) = (slack_with_members(), Sandbox::new());
    let (child, question) = start(&sb, &slack, "    timeout: 3s\n", "carol");
    slack.react(STRANGER, &question, "white_check_mark");
    // Carol is a person, but not a release manager.
    slack.react(CAROL, &question, "white_check_mark");
    let r = finish(child);
    r.expect_code(3);
    assert!(
        said(&slack, &format!("<@{STRANGER}> not counted: Slack user {STRANGER} is nobody under `people:`")),
        "{:#?}",
        thread_texts(&slack)
    );
    assert!(said(&slack, "not counted: carol"), "{:#?}", thread_texts(&slack));
    assert!(gate_decision(&sb)["reason"].as_str().unwrap().starts_with("unanswered for 3s"));
}

#[test]
fn a_deactivated_account_or_a_bot_cannot_approve() {
    let slack = Slack::start();
    slack.add_member(ALICE, Member { deleted: true, ..Member::default() });
    slack.add_member(BOB, Member { is_bot: true, ..Member::default() });
    let sb = Sandbox::new();
    let (child, question) = start(&sb, &slack, "    timeout: 3s\n", "carol");
    slack.react(ALICE, &question, "white_check_mark");
    slack.react(BOB, &question, "white_check_mark");
    finish(child).expect_code(3);
    assert!(said(&slack, &format!("not counted: {ALICE} is a deactivated Slack account")), "{:#?}", thread_texts(&slack));
    assert!(said(&slack, &format!("not counted: {BOB} is a bot")), "{:#?}", thread_texts(&slack));
    let looked_up = slack.requests().iter().filter(|q| q.route().ends_with("users.info")).count();
    assert_eq!(looked_up, 2, "each account is looked up once");
}

#[test]
fn a_no_go_reply_with_its_reason_rolls_back() {
    let (slack, sb) = (slack_with_members(), Sandbox::new());
    let (child, _) = start(&sb, &slack, TIMEOUT_5M, "carol");
    let parent = slack.parents()[0].ts.clone();
    slack.reply(BOB, &parent, "looking at the dashboards");
    slack.reply(BOB, &parent, "no-go: p95 latency doubled &gt; 2s");
    finish(child).expect_code(3);
    assert_eq!(sb.read("marks.txt"), "deployed\nrolled-back\n");
    let d = gate_decision(&sb);
    assert_eq!((d["approved"].as_bool(), d["actor"].as_str()), (Some(false), Some("bob")));
    assert_eq!(d["comment"], "p95 latency doubled > 2s");
    assert!(said(&slack, "bob: NO-GO recorded: p95 latency doubled &gt; 2s"), "{:#?}", thread_texts(&slack));
    assert!(slack.parents()[0].updates.last().unwrap().contains("NO-GO by bob"), "{:?}", slack.parents()[0].updates);
}

#[test]
fn go_over_a_failed_check_from_slack_takes_a_reply_with_a_reason() {
    let (slack, sb) = (slack_with_members(), Sandbox::new());
    sb.write("unhealthy", "");
    let (child, question) = start(&sb, &slack, TIMEOUT_5M, "carol");
    let asked = slack.wait_for_message("Go / no-go for checkout 1.2.3");
    assert!(asked.text.contains(":x: 1 validation check(s) FAILED: health"), "{}", asked.text);
    slack.react(ALICE, &question, "white_check_mark");
    wait_until("the refusal", || said(&slack, "not counted: go over 1 failed check(s) needs a reason"));
    let parent = slack.parents()[0].ts.clone();
    slack.reply(ALICE, &parent, "go: known flaky probe, INC-7");
    finish(child).expect_code(0);
    let d = gate_decision(&sb);
    assert_eq!((d["actor"].as_str(), d["comment"].as_str()), (Some("alice"), Some("known flaky probe, INC-7")));
    assert_eq!(d["overridden"], serde_json::json!(["health"]));
}

#[test]
fn a_person_may_take_back_their_answer_until_the_gate_closes() {
    let (slack, sb) = (slack_with_members(), Sandbox::new());
    let (child, question) = start(&sb, &slack, "    require: 2\n    timeout: 4s\n", "carol");
    slack.react(ALICE, &question, "white_check_mark");
    wait_until("alice's go to be recorded", || said(&slack, "alice: GO recorded"));
    slack.unreact(ALICE, &question, "white_check_mark");
    std::thread::sleep(std::time::Duration::from_millis(600));
    slack.react(BOB, &question, "white_check_mark");
    finish(child).expect_code(3);
    let reason = gate_decision(&sb)["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("1 of 2 approvals (bob)"), "alice took hers back: {reason}");
}

#[test]
fn a_typed_approval_does_not_count_where_the_gate_wants_verified_identities() {
    let (slack, sb) = (slack_with_members(), Sandbox::new());
    sb.write(
        "release.yaml",
        &runbook(&slack, "    identity: verified\n    timeout: 5m\n").replace("    not_initiator: true\n", ""),
    );
    let args = ["run", "release.yaml", "--non-interactive", "--approve", "go", "--as", "alice"];
    let child = sb.start(&args, &[("SLACK_BOT_TOKEN", TOKEN)]);
    let question = slack.wait_for_message("Go / no-go for checkout 1.2.3").ts;
    slack.react(BOB, &question, "white_check_mark");
    finish(child).expect_code(0);
    let answered = events(&sb.journal(), "answered").into_iter().cloned().collect::<Vec<_>>();
    let typed = answered.iter().find(|a| a["ballot"]["by"] == "flag").expect("the --approve answer");
    assert!(typed["refused"].as_str().unwrap().contains("verified"), "{typed}");
    assert_eq!(gate_decision(&sb)["actor"], "bob");
}

#[test]
fn replies_are_read_across_pages_and_through_rate_limits() {
    let (slack, sb) = (slack_with_members(), Sandbox::new());
    slack.page_size(2);
    let (child, _) = start(&sb, &slack, TIMEOUT_5M, "carol");
    let parent = slack.parents()[0].ts.clone();
    for i in 0..5 {
        slack.reply(BOB, &parent, &format!("checking graph {i}"));
    }
    slack.rate_limit_method("conversations.replies", 1, 1);
    slack.reply(ALICE, &parent, "go");
    finish(child).expect_code(0);
    assert_eq!(gate_decision(&sb)["actor"], "alice");
    // Six replies, two a page: the go was on the third page.
    let third_page =
        slack.requests().iter().any(|q| q.route().ends_with("conversations.replies") && q.path.contains("cursor=bmV4dF90czo4"));
    assert!(third_page, "{:#?}", slack.requests().iter().map(|q| q.path.clone()).collect::<Vec<_>>());
    // The 429 was waited out by the call itself, not swallowed as a failed read.
    let warnings: Vec<String> = events(&sb.journal(), "warning").iter().map(|w| w["message"].to_string()).collect();
    assert!(warnings.iter().all(|w| !w.contains("reading the answers")), "{warnings:?}");
}

#[test]
fn an_answer_given_while_relctl_was_down_counts_after_resume() {
    let (slack, sb) = (slack_with_members(), Sandbox::new());
    let (mut child, _) = start(&sb, &slack, TIMEOUT_5M, "carol");
    asked_on_the_record(&sb);
    child.kill().unwrap();
    child.wait().unwrap();
    let parent = slack.parents()[0].ts.clone();
    slack.reply(ALICE, &parent, "go: dashboards are green");
    let r = sb.relctl_bounded(&["resume", "--non-interactive", "--as", "carol"], &[("SLACK_BOT_TOKEN", TOKEN)]);
    r.expect_code(0);
    assert!(
        slack.messages().iter().any(|m| m.text.contains("Asked again (relctl resumed)")),
        "the open question is posted again"
    );
    let d = gate_decision(&sb);
    assert_eq!((d["actor"].as_str(), d["comment"].as_str()), (Some("alice"), Some("dashboards are green")));
    assert_eq!(sb.read("marks.txt"), "deployed\nfinalized\n");
}

/// Waits until the run has journaled where it asked (a kill before that
/// is a crash between posting and journaling, another test).
fn asked_on_the_record(sb: &Sandbox) {
    wait_until("the question's message in the journal", || sb.journal_text().contains(r#""name":"question validate.1""#));
}

#[test]
fn a_check_mark_and_a_no_go_from_one_person_seen_together_count_as_no_go() {
    let (slack, sb) = (slack_with_members(), Sandbox::new());
    let (mut child, question) = start(&sb, &slack, TIMEOUT_5M, "carol");
    asked_on_the_record(&sb);
    child.kill().unwrap();
    child.wait().unwrap();
    // While relctl was down alice said no-go, then (by mistake, or earlier:
    // a reaction carries no time) her check mark is there too.
    let parent = slack.parents()[0].ts.clone();
    slack.reply(ALICE, &parent, "no-go: the error budget is spent");
    slack.react(ALICE, &question, "white_check_mark");
    sb.relctl_bounded(&["resume", "--non-interactive", "--as", "carol"], &[("SLACK_BOT_TOKEN", TOKEN)]).expect_code(3);
    let d = gate_decision(&sb);
    assert_eq!((d["approved"].as_bool(), d["actor"].as_str()), (Some(false), Some("alice")), "{d}");
}

#[test]
fn a_question_slack_cannot_take_stops_the_run_resumable_instead_of_deciding_no_go() {
    let (slack, sb) = (slack_with_members(), Sandbox::new());
    slack.fail_when("Go / no-go for checkout", "service_unavailable");
    sb.write("release.yaml", &runbook(&slack, TIMEOUT_5M));
    let r = sb.relctl_bounded(&["run", "release.yaml", "--non-interactive", "--as", "carol"], &[("SLACK_BOT_TOKEN", TOKEN)]);
    r.expect_code(6);
    assert!(r.stderr.contains("could not be asked anywhere") && r.stderr.contains("relctl resume"), "{}", r.stderr);
    assert!(events(&sb.journal(), "decision").is_empty(), "nothing was decided");
    assert_eq!(sb.read("marks.txt"), "deployed\n", "neither rolled back nor finalized");
}

#[test]
fn a_not_initiator_question_in_slack_refuses_a_run_by_someone_not_under_people() {
    let (slack, sb) = (slack_with_members(), Sandbox::new());
    sb.write("release.yaml", &runbook(&slack, TIMEOUT_5M));
    let r = sb.relctl_bounded(&["run", "release.yaml", "--non-interactive", "--as", "asmith"], &[("SLACK_BOT_TOKEN", TOKEN)]);
    r.expect_code(1);
    assert!(r.stderr.contains("asmith is nobody under `people:`"), "{}", r.stderr);
    assert!(!sb.path().join("marks.txt").exists(), "nothing was started");
}

/// The gate asked at alice's terminal and in Slack at once.
fn race(sb: &Sandbox, slack: &Slack) -> rexpect::session::PtySession {
    sb.write("release.yaml", &runbook(slack, TIMEOUT_5M).replace("    not_initiator: true\n", ""));
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["run", "release.yaml", "--as", "alice"]).env("SLACK_BOT_TOKEN", TOKEN);
    let mut p = rexpect::session::spawn_command(crate::pty::person_at_a_terminal(cmd, sb), Some(30_000)).unwrap();
    p.exp_string("Also asked in slack").unwrap();
    p.exp_string("Go / no-go for checkout 1.2.3").unwrap();
    p
}

#[test]
fn slack_answers_first_and_the_terminal_prompt_closes() {
    let (slack, sb) = (slack_with_members(), Sandbox::new());
    let mut p = race(&sb, &slack);
    let question = slack.wait_for_message("Go / no-go for checkout 1.2.3").ts;
    slack.react(BOB, &question, "white_check_mark");
    p.exp_string("(answered elsewhere)").unwrap();
    crate::pty::ends(&mut p, "RELEASED", 0);
    let d = gate_decision(&sb);
    assert_eq!((d["actor"].as_str(), d["identity"].as_str()), (Some("bob"), Some("slack")));
}

#[test]
fn the_terminal_answers_first_and_the_slack_question_closes() {
    let (slack, sb) = (slack_with_members(), Sandbox::new());
    let mut p = race(&sb, &slack);
    let question = slack.wait_for_message("Go / no-go for checkout 1.2.3").ts;
    crate::pty::press(&mut p, "");
    p.exp_string("Comment for the record").unwrap();
    crate::pty::press(&mut p, "dashboards green");
    crate::pty::ends(&mut p, "RELEASED", 0);
    let d = gate_decision(&sb);
    assert_eq!(
        (d["actor"].as_str(), d["by"].as_str(), d["identity"].as_str()),
        (Some("alice"), Some("terminal"), Some("asserted"))
    );
    let closed = slack.messages().into_iter().find(|m| m.ts == question).unwrap();
    assert!(
        closed.updates.last().unwrap().contains("Closed: approved by alice (asserted): dashboards green"),
        "{:?}",
        closed.updates
    );
}
