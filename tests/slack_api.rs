//! `slack` against the places where the real Slack is awkward (each
//! behaviour of the fake cites its source in tests/support/slack.rs): a rate
//! limit answered with HTTP 200, private channels found by ID only, and an
//! incoming webhook's final error codes.

use crate::slack::{run, runbook};
use crate::support::slack::{PRIVATE_ID, PRIVATE_NAME, Slack};
use crate::support::*;

const POST: &str = "execute:\n  - slack: Deployment window started\nvalidate:\n  - run: \"true\"\n";

#[test]
fn a_rate_limit_answered_with_http_200_is_waited_out_instead_of_failing_the_post() {
    let slack = Slack::start();
    slack.rate_limit_ok(1);
    let sb = Sandbox::new();
    run(&sb, &runbook(&slack, "", POST)).expect_code(0);
    let posts: Vec<_> = slack.requests().into_iter().filter(|q| q.route() == "/api/chat.postMessage").collect();
    assert_eq!(posts.len(), 3, "the refused parent, sent again, and the reply");
    assert!(posts[1].at.duration_since(posts[0].at) >= std::time::Duration::from_millis(950), "waited before sending again");
    assert_eq!(slack.parents().len(), 1, "nothing posted twice");
}

#[test]
fn a_private_channel_given_by_name_fails_saying_to_give_its_id() {
    let slack = Slack::start();
    let sb = Sandbox::new();
    run(&sb, &runbook(&slack, "", POST).replace("\"#releases\"", &format!("\"{PRIVATE_NAME}\""))).expect_code(3);
    assert!(step_message(&sb, "execute.0").contains("channel_not_found"), "{}", step_message(&sb, "execute.0"));
    let h = step_hint(&sb, "execute.0");
    assert!(h.contains("a private channel must be given by its ID"), "{h}");
}

#[test]
fn a_private_channel_given_by_id_gets_the_thread() {
    let slack = Slack::start();
    let sb = Sandbox::new();
    run(&sb, &runbook(&slack, "", POST).replace("\"#releases\"", &format!("\"{PRIVATE_ID}\""))).expect_code(0);
    let parents = slack.parents();
    assert_eq!(parents.len(), 1);
    assert_eq!(parents[0].channel, PRIVATE_ID);
    assert_eq!(slack.replies(&parents[0].ts).len(), 1);
}

#[test]
fn webhook_errors_are_final_sent_once_and_explained() {
    for (status, error, advice) in [
        (400, "invalid_payload", "could not read the message"),
        (404, "no_service", "the webhook no longer exists"),
        (403, "action_prohibited", "admin restricted posting"),
        (404, "channel_not_found", "channel was deleted"),
        (410, "channel_is_archived", "channel is archived"),
    ] {
        let slack = Slack::start();
        slack.webhook_fails(status, error);
        let sb = Sandbox::new();
        let text = "version: 1\nname: checkout\nintegrations:\n  slack:\n    webhook: ${{ secrets.SLACK_WEBHOOK_URL }}\n\
                    execute:\n  - slack: hello\nvalidate:\n  - run: \"true\"\n";
        sb.write("release.yaml", text);
        let r = sb.relctl_bounded(&["run", "release.yaml", "--non-interactive"], &[("SLACK_WEBHOOK_URL", &slack.webhook_url())]);
        r.expect_code(3);
        assert_eq!(slack.requests().len(), 1, "{status} {error} is final: not sent again");
        let m = step_message(&sb, "execute.0");
        assert!(m.contains(&format!("HTTP {status}")) && m.contains(error), "{m}");
        let h = step_hint(&sb, "execute.0");
        assert!(h.contains(advice), "{error}: {h}");
    }
}

#[test]
fn a_notice_behind_a_retry_after_longer_than_its_budget_is_kept_and_sent_in_order() {
    let slack = Slack::start();
    // The first request (the run's parent, for the "started" notice) is told
    // to wait 7 s: longer than the 5 s a notice may hold the release up.
    slack.rate_limit(1, 7);
    let sb = Sandbox::new();
    let r = run(&sb, &runbook(&slack, "    notify: true\n", POST));
    r.expect_code(0);
    assert!(r.stdout.contains("slack notice not sent within 5s"), "{}", r.stdout);
    let parents = slack.parents();
    assert_eq!(parents.len(), 1, "one thread");
    let replies: Vec<String> = slack.replies(&parents[0].ts).into_iter().map(|m| m.text).collect();
    assert_eq!(
        replies,
        [
            "Release of checkout 1.2.3 started by tester",
            "Deployment window started",
            ":white_check_mark: checkout 1.2.3 released"
        ],
        "the delayed notice went out, before what came after it"
    );
}
