//! `slack` steps and automatic notices against a fake Slack: in Web API mode
//! one parent message per run, kept up to date, with everything else in its
//! thread; `ok:false` fails a checklist or execute step naming the error but
//! only warns in rollback, finalize and notices; 429 is waited out; webhook
//! mode posts plain messages. The token and the webhook URL never show.

use crate::support::slack::{CHANNEL_ID, HOOK_PATH, Slack, TOKEN};
use crate::support::*;

/// A runbook with the Slack integration in Web API mode (plus `settings`,
/// indented under `slack:`) and the given sections.
pub fn runbook(slack: &Slack, settings: &str, sections: &str) -> String {
    format!(
        "version: 1
name: checkout
vars:
  version: 1.2.3
integrations:
  slack:
    channel: \"#releases\"
    token: ${{{{ secrets.SLACK_BOT_TOKEN }}}}
    api_url: {}
{settings}{sections}",
        slack.api_url()
    )
}

pub fn run(sb: &Sandbox, text: &str) -> Run {
    sb.write("release.yaml", text);
    let r = sb.relctl_bounded(&["run", "release.yaml", "--non-interactive", "--approve", "all"], &[("SLACK_BOT_TOKEN", TOKEN)]);
    assert_nothing_leaked(sb, &r);
    r
}

fn assert_nothing_leaked(sb: &Sandbox, r: &Run) {
    let written = format!("{}{}", r.all(), sb.journal_text());
    assert!(!written.contains(TOKEN), "the Slack token leaked:\n{written}");
    assert!(!written.contains(HOOK_PATH), "the webhook URL leaked:\n{written}");
}

fn texts(messages: &[crate::support::slack::Message]) -> Vec<&str> {
    messages.iter().map(|m| m.text.as_str()).collect()
}

fn warnings(sb: &Sandbox) -> Vec<String> {
    events(&sb.journal(), "warning").iter().map(|e| e["message"].as_str().unwrap().to_string()).collect()
}

#[test]
fn web_api_keeps_one_parent_per_run_with_steps_and_notices_in_its_thread() {
    let slack = Slack::start();
    let sb = Sandbox::new();
    let r = run(
        &sb,
        &runbook(
            &slack,
            "    notify: true\n",
            "execute:
  - slack: \"Deployment window started for checkout ${{ vars.version }}\"
validate:
  - run: \"true\"
  - gate: Go / no-go for checkout
finalize:
  - slack: { text: \"checkout ${{ vars.version }} is live\", broadcast: true }
",
        ),
    );
    r.expect_code(0);
    let parents = slack.parents();
    assert_eq!(parents.len(), 1, "one parent message per run: {:?}", slack.messages());
    let parent = &parents[0];
    assert_eq!(parent.channel, CHANNEL_ID);
    assert!(parent.text.contains("checkout 1.2.3"), "{}", parent.text);
    let replies = slack.replies(&parent.ts);
    assert_eq!(slack.messages().len(), 1 + replies.len(), "everything else is in the thread");
    assert_eq!(
        texts(&replies),
        [
            "Release of checkout 1.2.3 started by tester",
            "Deployment window started for checkout 1.2.3",
            "GO by tester",
            "checkout 1.2.3 is live",
            ":white_check_mark: checkout 1.2.3 released",
        ],
    );
    let broadcast: Vec<bool> = replies.iter().map(|m| m.reply_broadcast).collect();
    assert_eq!(broadcast, [false, false, false, true, true]);
    // The parent follows the run and ends with the outcome and who decided.
    let last = parent.updates.last().expect("the parent was updated");
    assert!(last.contains("RELEASED"), "{last}");
    assert!(last.contains("GO by tester"), "{last}");
    assert!(parent.updates.iter().any(|u| u.contains("EXECUTING")), "{:?}", parent.updates);
    for request in slack.requests() {
        assert_eq!(request.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    }
    // The thread is journaled, so a resumed run finds it.
    let j = sb.journal();
    assert!(events(&j, "integration_state").iter().any(|e| e["name"] == "thread_ts" && e["value"] == parent.ts.as_str()));

    let plan = sb.relctl_env(&["plan", "release.yaml"], &[("SLACK_BOT_TOKEN", TOKEN)]);
    assert!(plan.stdout.contains("slack: Web API"), "{}", plan.stdout);
}

#[test]
fn ok_false_fails_an_execute_step_naming_the_error() {
    let slack = Slack::start();
    slack.fail_when("Deployment window", "not_in_channel");
    let sb = Sandbox::new();
    let r = run(
        &sb,
        &runbook(
            &slack,
            "",
            "execute:
  - slack: Deployment window started
  - run: touch deployed
validate:
  - run: \"true\"
rollback:
  - run: touch rolled-back
",
        ),
    );
    r.expect_code(3);
    assert!(!sb.path().join("deployed").exists());
    assert!(sb.path().join("rolled-back").exists());
    let m = step_message(&sb, "execute.0");
    assert!(m.contains("Slack: chat.postMessage"), "{m}");
    assert!(m.contains("not_in_channel"), "{m}");
    assert!(step_hint(&sb, "execute.0").contains("invite the bot"), "{}", step_hint(&sb, "execute.0"));
}

#[test]
fn a_slack_failure_in_the_checklist_aborts_before_any_change() {
    let slack = Slack::start();
    let sb = Sandbox::new();
    let text = runbook(&slack, "", "checklist:\n  - slack: Release starting\nexecute:\n  - run: touch deployed\n")
        .replace("\"#releases\"", "\"#no-such-channel\"");
    run(&sb, &text).expect_code(1);
    assert!(!sb.path().join("deployed").exists());
    let m = step_message(&sb, "checklist.0");
    assert!(m.contains("channel_not_found"), "{m}");
    assert!(step_hint(&sb, "checklist.0").contains("check `channel`"), "{}", step_hint(&sb, "checklist.0"));
}

#[test]
fn slack_failures_in_finalize_and_notices_only_warn() {
    let slack = Slack::start();
    let sb = Sandbox::new();
    let text = runbook(
        &slack,
        "    notify: true\n",
        "execute:
  - run: touch deployed
validate:
  - run: \"true\"
finalize:
  - slack: Maintenance window closed
",
    )
    .replace("\"#releases\"", "\"#no-such-channel\"");
    let r = run(&sb, &text);
    r.expect_code(0);
    let j = sb.journal();
    assert_eq!(final_state(&j), "released", "a chat outage never turns a release into a rollback");
    assert!(!events(&j, "state_entered").iter().any(|e| e["state"] == "rolling_back"));
    let warnings = warnings(&sb);
    assert!(warnings.iter().any(|w| w.contains("slack notice not sent") && w.contains("channel_not_found")), "{warnings:?}");
    let not_posted = warnings.iter().filter(|w| w.contains("message not posted") && w.contains("channel_not_found")).count();
    assert_eq!(not_posted, 1, "the finalize step warned: {warnings:?}");
    assert!(r.all().contains("channel_not_found"), "the warning is shown: {}", r.all());
    assert!(slack.messages().is_empty());
}

#[test]
fn a_slack_failure_in_rollback_does_not_fail_the_rollback() {
    let slack = Slack::start();
    slack.fail_when("ROLLBACK", "msg_too_long");
    let sb = Sandbox::new();
    let r = run(
        &sb,
        &runbook(
            &slack,
            "",
            "execute:
  - slack: Deploying
  - run: exit 1
validate:
  - run: \"true\"
rollback:
  - slack: { text: ROLLBACK INITIATED, broadcast: true }
  - run: touch rolled-back
",
        ),
    );
    r.expect_code(3);
    assert!(sb.path().join("rolled-back").exists());
    assert_eq!(final_state(&sb.journal()), "rolled_back");
    assert!(warnings(&sb).iter().any(|w| w.contains("msg_too_long")), "{:?}", warnings(&sb));
}

#[test]
fn rate_limited_429_is_waited_out_per_retry_after() {
    let slack = Slack::start();
    slack.rate_limit(1, 1);
    let sb = Sandbox::new();
    run(&sb, &runbook(&slack, "", "execute:\n  - slack: Deployment window started\n")).expect_code(0);
    let posts: Vec<_> = slack.requests().into_iter().filter(|q| q.route() == "/api/chat.postMessage").collect();
    assert_eq!(posts.len(), 3, "the parent (429, then again) and the reply: {posts:?}");
    assert_eq!(posts[0].body, posts[1].body, "the refused post was sent again");
    let waited = posts[1].at.duration_since(posts[0].at);
    assert!(waited >= std::time::Duration::from_millis(950), "retried after {waited:?}, before Retry-After: 1");
    assert_eq!(slack.parents().len(), 1, "the rate-limited post was not duplicated");
    assert_eq!(texts(&slack.replies(&slack.parents()[0].ts)), ["Deployment window started"]);
}

#[test]
fn a_429_that_never_ends_gives_up_after_the_retry_budget() {
    // Regression: a Retry-After used to extend the retries past the last
    // attempt, so a server answering 429 forever kept relctl posting forever.
    let slack = Slack::start();
    slack.rate_limit(usize::MAX, 0);
    let sb = Sandbox::new();
    let r = run(&sb, &runbook(&slack, "", "execute:\n  - slack: hello\nvalidate:\n  - run: \"true\"\n"));
    r.expect_code(3);
    let m = step_message(&sb, "execute.0");
    assert!(m.contains("Slack: chat.postMessage: HTTP 429"), "{m}");
    assert_eq!(slack.requests().len(), 5, "the default policy's five attempts, then it gives up");
}

#[test]
fn parallel_slack_steps_share_one_thread() {
    let slack = Slack::start();
    let sb = Sandbox::new();
    let r = run(&sb, &runbook(&slack, "", "execute:\n  - parallel:\n      - slack: one\n      - slack: two\n"));
    r.expect_code(0);
    let parents = slack.parents();
    assert_eq!(parents.len(), 1, "{:?}", slack.messages());
    let mut replies: Vec<String> = slack.replies(&parents[0].ts).iter().map(|m| m.text.clone()).collect();
    replies.sort();
    assert_eq!(replies, ["one", "two"]);
}

#[test]
fn webhook_mode_posts_plain_messages() {
    let slack = Slack::start();
    let sb = Sandbox::new();
    let text = "version: 1
name: checkout
vars:
  version: 1.2.3
integrations:
  slack:
    webhook: ${{ secrets.SLACK_WEBHOOK_URL }}
    notify: true
execute:
  - slack: { text: Deployment window started, broadcast: true }
validate:
  - run: \"true\"
";
    sb.write("release.yaml", text);
    let env = [("SLACK_WEBHOOK_URL", slack.webhook_url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = sb.relctl_bounded(&["run", "release.yaml", "--non-interactive", "--approve", "all"], &env);
    assert_nothing_leaked(&sb, &r);
    r.expect_code(0);
    assert_eq!(
        slack.webhook_texts(),
        [
            "Release of checkout 1.2.3 started by tester",
            "Deployment window started",
            ":white_check_mark: checkout 1.2.3 released"
        ]
    );
    assert!(slack.requests().iter().all(|q| q.route() == HOOK_PATH), "no Web API calls, no updates");
    assert!(slack.requests().iter().all(|q| !q.body.contains("thread_ts")));
    let plan = sb.relctl_env(&["plan", "release.yaml"], &env);
    assert!(plan.stdout.contains("webhook mode: plain messages only"), "{}", plan.stdout);
    assert!(!plan.all().contains(HOOK_PATH));
}

#[test]
fn a_revoked_webhook_fails_the_step_naming_slacks_answer() {
    let slack = Slack::start();
    let sb = Sandbox::new();
    let text = "version: 1\nname: checkout\nintegrations:\n  slack:\n    webhook: ${{ secrets.SLACK_WEBHOOK_URL }}\n\
                execute:\n  - slack: hello\nvalidate:\n  - run: \"true\"\n";
    sb.write("release.yaml", text);
    let url = slack.webhook_url().replace("h00ks3cr3tXYZ", "revoked");
    let r = sb.relctl_bounded(&["run", "release.yaml", "--non-interactive"], &[("SLACK_WEBHOOK_URL", &url)]);
    r.expect_code(3);
    let m = step_message(&sb, "execute.0");
    assert!(m.contains("Slack: POST webhook"), "{m}");
    assert!(m.contains("no_service"), "{m}");
    assert!(!r.all().contains("revoked"), "the webhook URL is a secret:\n{}", r.all());
}
