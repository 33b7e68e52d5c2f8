//! `jenkins` steps against a fake Jenkins that speaks the remote access API:
//! the build is triggered once, followed through the queue, its console
//! streamed complete to the run directory, and its result decides the step.
//! Failures name Jenkins, the call and what to do; the token never shows.

use crate::support::jenkins::{Jenkins, Job, TOKEN, USER, basic};
use crate::support::slack::{Slack, TOKEN as SLACK_TOKEN};
use crate::support::*;

pub const JOB: &str = "deploy/checkout-prod";
const TRIGGER: &str = "/job/deploy/job/checkout-prod/buildWithParameters";

/// A runbook with the Jenkins integration pointed at `jenkins`, `execute`
/// steps as given (YAML list items), a validate check (so a rollback is
/// verified) and any further top-level sections in `rest`.
pub fn runbook(jenkins: &Jenkins, execute: &str, rest: &str) -> String {
    format!(
        "version: 1
name: checkout-release
integrations:
  jenkins:
    url: {}
    user: {USER}
    token: ${{{{ secrets.JENKINS_TOKEN }}}}
    poll: 50ms
execute:
{execute}validate:
  - run: \"true\"
{rest}",
        jenkins.url()
    )
}

pub const DEPLOY: &str = "  - id: deploy
    jenkins: { job: deploy/checkout-prod, params: { VERSION: 1.2.3 } }
";

pub fn run(sb: &Sandbox, text: &str) -> Run {
    run_with_token(sb, text, TOKEN)
}

fn run_with_token(sb: &Sandbox, text: &str, token: &str) -> Run {
    run_env(sb, text, &[("JENKINS_TOKEN", token)])
}

pub fn run_env(sb: &Sandbox, text: &str, env: &[(&str, &str)]) -> Run {
    sb.write("release.yaml", text);
    let r = sb.relctl_bounded(&["run", "release.yaml", "--non-interactive", "--approve", "all"], env);
    assert_no_token(sb, &r);
    r
}

/// Starts `relctl run` in the background, quiet (the test reads the journal).
pub fn spawn_run(sb: &Sandbox, env: &[(&str, &str)]) -> std::process::Child {
    sb.cmd(&["run", "release.yaml", "--non-interactive", "--approve", "all"])
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// The token, and the Basic header that carries it, appear nowhere relctl wrote.
fn assert_no_token(sb: &Sandbox, r: &Run) {
    let header = basic(USER, TOKEN);
    let encoded = header.trim_start_matches("Basic ");
    let written = format!("{}{}", r.all(), sb.journal_text());
    for leak in [TOKEN, encoded] {
        assert!(!written.contains(leak), "the Jenkins token leaked:\n{written}");
    }
}

/// The journal's `step_finished` event for `key`.
#[test]
fn a_successful_build_passes_and_its_outputs_reach_later_steps() {
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::ending("SUCCESS").queued(2, "Waiting for next available executor on ‘prod’"));
    let sb = Sandbox::new();
    let r = run(
        &sb,
        &runbook(
            &jenkins,
            &format!(
                "{DEPLOY}  - run: echo \"${{{{ steps.deploy.outputs.build_number }}}} ${{{{ steps.deploy.outputs.result }}}} \
                 ${{{{ steps.deploy.outputs.build_url }}}} ${{{{ steps.deploy.outputs.duration }}}}\" > outputs.txt
"
            ),
            "",
        ),
    );
    r.expect_code(0);
    let triggers = jenkins.triggers();
    assert_eq!(triggers.len(), 1, "triggered exactly once");
    assert_eq!(triggers[0].path, TRIGGER);
    assert_eq!(triggers[0].body, "VERSION=1.2.3");
    assert_eq!(triggers[0].header("authorization"), Some(basic(USER, TOKEN).as_str()), "Basic auth sent up front");
    assert_eq!(jenkins.builds(), vec![(JOB.to_string(), 42)]);
    let url = format!("{}/job/deploy/job/checkout-prod/42/", jenkins.url());
    let done = finished(&sb, "execute.0");
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["outputs"]["build_number"], "42");
    assert_eq!(done["outputs"]["build_url"], url.as_str());
    assert_eq!(done["outputs"]["result"], "SUCCESS");
    let duration = done["outputs"]["duration"].as_str().unwrap().to_string();
    assert!(!duration.is_empty());
    assert_eq!(sb.read("outputs.txt").trim(), format!("42 SUCCESS {url} {duration}"));
    // The queue's reason and the console were shown under the step.
    assert!(r.stdout.contains("Waiting for next available executor on ‘prod’"), "{}", r.stdout);
    assert!(
        r.stdout.lines().any(|l| l == "    │ Finished: SUCCESS"),
        "every console line is indented under the step:\n{}",
        r.stdout
    );
    // The build number was journaled as soon as it was known.
    let j = sb.journal();
    assert!(events(&j, "step_checkpoint").iter().any(|e| e["data"]["build_number"] == "42"), "build number checkpointed: {j:?}");
}

#[test]
fn a_job_without_params_is_triggered_with_build() {
    let jenkins = Jenkins::start();
    jenkins.job("nightly", Job::ending("SUCCESS").with_params(&[]));
    let sb = Sandbox::new();
    run(&sb, &runbook(&jenkins, "  - jenkins: nightly\n", "")).expect_code(0);
    let triggers = jenkins.triggers();
    assert_eq!(triggers.len(), 1);
    assert_eq!(triggers[0].path, "/job/nightly/build");
}

#[test]
fn failed_unstable_aborted_and_not_built_results_fail_the_step() {
    for result in ["FAILURE", "UNSTABLE", "ABORTED", "NOT_BUILT"] {
        let jenkins = Jenkins::start();
        jenkins.job(JOB, Job::ending(result));
        let sb = Sandbox::new();
        let r = run(&sb, &runbook(&jenkins, DEPLOY, "rollback:\n  - run: touch rolled-back\n"));
        r.expect_code(3);
        assert!(sb.path().join("rolled-back").exists(), "{result} leads to rollback");
        let done = finished(&sb, "execute.0");
        assert_eq!(done["status"], "failed");
        assert_eq!(done["outputs"]["result"], result, "outputs are kept on failure");
        let m = step_message(&sb, "execute.0");
        assert!(m.starts_with(&format!("{JOB} #42: {result} in ")), "{m}");
        let h = step_hint(&sb, "execute.0");
        assert!(h.starts_with(&format!("see {}/job/deploy/job/checkout-prod/42/console", jenkins.url())), "{h}");
        assert_eq!(h.contains("allow_unstable: true"), result == "UNSTABLE", "{h}");
        assert_eq!(jenkins.triggers().len(), 1, "a failed build is not retried by triggering again");
    }
}

#[test]
fn unstable_passes_with_allow_unstable() {
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::ending("UNSTABLE"));
    let sb = Sandbox::new();
    let step = "  - id: deploy\n    jenkins: { job: deploy/checkout-prod, params: { VERSION: 1 }, allow_unstable: true }\n";
    run(&sb, &runbook(&jenkins, step, "")).expect_code(0);
    assert_eq!(finished(&sb, "execute.0")["outputs"]["result"], "UNSTABLE");
}

#[test]
fn a_cancelled_queue_item_fails_naming_why_it_waited() {
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::ending("SUCCESS").queued(1, "Waiting for next available executor on ‘prod’").cancelled());
    let sb = Sandbox::new();
    run(&sb, &runbook(&jenkins, DEPLOY, "")).expect_code(3);
    let m = step_message(&sb, "execute.0");
    assert!(m.starts_with("Jenkins:"), "{m}");
    assert!(m.contains("cancelled"), "{m}");
    assert!(m.contains("Waiting for next available executor on ‘prod’"), "{m}");
    assert!(jenkins.builds().is_empty());
}

#[test]
fn bad_credentials_get_401_and_a_message_naming_the_call_and_the_fix() {
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::ending("SUCCESS"));
    let sb = Sandbox::new();
    let r = run_with_token(&sb, &runbook(&jenkins, DEPLOY, ""), "not-the-token");
    r.expect_code(3);
    let m = step_message(&sb, "execute.0");
    // The first call reads the job's parameters; a wrong token is refused
    // there with 401 (BasicHeaderProcessor), before anything is triggered.
    assert!(m.contains("Jenkins: GET /job/deploy/job/checkout-prod/api/json"), "{m}");
    assert!(m.contains("401"), "{m}");
    assert!(step_hint(&sb, "execute.0").contains("check `user` and the API `token`"), "{}", step_hint(&sb, "execute.0"));
    assert!(!r.all().contains("not-the-token"), "a wrong token is still a secret:\n{}", r.all());
    assert!(jenkins.builds().is_empty());
}

#[test]
fn a_wrong_job_path_is_404_naming_the_job() {
    let jenkins = Jenkins::start();
    let sb = Sandbox::new();
    let r = run(&sb, &runbook(&jenkins, DEPLOY, ""));
    r.expect_code(3);
    assert!(
        r.stdout.contains(&format!("hint: no job `{JOB}` at this Jenkins")),
        "the advice is shown under the failure:\n{}",
        r.stdout
    );
    let m = step_message(&sb, "execute.0");
    assert!(m.contains("Jenkins: GET /job/deploy/job/checkout-prod/api/json"), "{m}");
    assert!(m.contains("404"), "{m}");
    let h = step_hint(&sb, "execute.0");
    assert!(h.contains(&format!("no job `{JOB}`")), "{h}");
    assert!(h.contains("check the job path"), "{h}");
    assert!(jenkins.triggers().is_empty());
    assert_eq!(jenkins.count(|q| q.route().ends_with("/api/json")), 1, "a 404 is not retried");
}

#[test]
fn a_disabled_job_is_409_and_says_to_enable_it() {
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::ending("SUCCESS").disabled());
    let sb = Sandbox::new();
    run(&sb, &runbook(&jenkins, DEPLOY, "")).expect_code(3);
    let m = step_message(&sb, "execute.0");
    assert!(m.contains(&format!("Jenkins: POST {TRIGGER}")), "{m}");
    assert!(m.contains("409"), "{m}");
    assert!(step_hint(&sb, "execute.0").contains("enable it in Jenkins"), "{}", step_hint(&sb, "execute.0"));
}

#[test]
fn jenkins_restarting_503_is_retried_and_the_build_runs_once() {
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::ending("SUCCESS"));
    jenkins.restarting_at_trigger(1);
    let sb = Sandbox::new();
    run(&sb, &runbook(&jenkins, DEPLOY, "")).expect_code(0);
    // The 503 said the trigger was not taken, so sending it again is safe.
    assert_eq!(jenkins.triggers().len(), 2);
    assert_eq!(jenkins.builds().len(), 1);
}

#[test]
fn an_identical_queued_item_303_is_followed_without_a_second_trigger() {
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::ending("SUCCESS").queued(2, "In the quiet period"));
    let existing = jenkins.enqueue(JOB, "VERSION=1.2.3");
    let sb = Sandbox::new();
    let r = run(&sb, &runbook(&jenkins, DEPLOY, ""));
    r.expect_code(0);
    assert_eq!(jenkins.triggers().len(), 1, "the 303 is followed, not answered with another trigger");
    assert_eq!(jenkins.builds(), vec![(JOB.to_string(), 42)], "one build, from the item already queued");
    let item = format!("/queue/item/{existing}/api/json");
    assert!(jenkins.count(|q| q.route() == item) >= 1, "polled the existing item");
    assert_eq!(finished(&sb, "execute.0")["outputs"]["build_number"], "42");
}

#[test]
fn a_crumb_is_fetched_when_jenkins_demands_one() {
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::ending("SUCCESS"));
    jenkins.require_crumbs();
    let sb = Sandbox::new();
    run(&sb, &runbook(&jenkins, DEPLOY, "")).expect_code(0);
    assert_eq!(jenkins.count(|q| q.route() == "/crumbIssuer/api/json"), 1);
    assert_eq!(jenkins.builds().len(), 1);
}

#[test]
fn a_build_that_never_ends_is_stopped_when_the_step_times_out() {
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::never_ending());
    let sb = Sandbox::new();
    // The build never ends, so the timeout always fires; 2s leaves the trigger
    // and the first poll ample time to land first, on any machine.
    let step = format!("{DEPLOY}    timeout: 2s\n");
    run(&sb, &runbook(&jenkins, &step, "")).expect_code(3);
    let stops = jenkins.stops();
    assert_eq!(stops.len(), 1, "stop called once");
    assert_eq!(stops[0].route(), "/job/deploy/job/checkout-prod/42/stop");
    assert_eq!(jenkins.result_of(JOB, 42).as_deref(), Some("ABORTED"));
    assert!(step_message(&sb, "execute.0").contains("timed out after 2s"), "{}", step_message(&sb, "execute.0"));
}

#[test]
fn stop_on_cancel_false_leaves_the_build_running() {
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::never_ending());
    let sb = Sandbox::new();
    let step = "  - jenkins: { job: deploy/checkout-prod, stop_on_cancel: false }\n    timeout: 1s\n";
    run(&sb, &runbook(&jenkins, step, "")).expect_code(3);
    assert!(jenkins.stops().is_empty());
    assert_eq!(jenkins.result_of(JOB, 42), None);
}

#[test]
fn a_timeout_while_still_queued_cancels_the_queue_item_and_a_retry_queues_anew() {
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::ending("SUCCESS").queued(usize::MAX, "Waiting for next available executor"));
    let sb = Sandbox::new();
    let step = format!("{DEPLOY}    timeout: 2s\n    retry: {{ attempts: 2, delay: 100ms }}\n");
    let r = run(&sb, &runbook(&jenkins, &step, ""));
    r.expect_code(3);
    let cancels: Vec<_> = jenkins.requests().into_iter().filter(|q| q.route() == "/queue/cancelItem").collect();
    let ids: Vec<_> = cancels.iter().map(|q| (q.method.as_str(), q.query("id").unwrap())).collect();
    // Each attempt's item is cancelled so that no build starts unwatched; the
    // retry queued a new one rather than following the cancelled one.
    assert_eq!(ids, [("POST", "101"), ("POST", "102")]);
    assert_eq!(jenkins.triggers().len(), 2);
    assert!(r.stdout.contains("taken out of the queue when the step was cancelled; triggering it again"), "{}", r.stdout);
    assert!(jenkins.builds().is_empty());
}

#[test]
fn a_retry_after_a_timeout_triggers_a_new_build_instead_of_reattaching_to_the_stopped_one() {
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::never_ending());
    let sb = Sandbox::new();
    let step = format!("{DEPLOY}    timeout: 2s\n    retry: {{ attempts: 2, delay: 100ms }}\n");
    run(&sb, &runbook(&jenkins, &step, "")).expect_code(3);
    assert_eq!(jenkins.triggers().len(), 2);
    assert_eq!(jenkins.builds(), vec![(JOB.to_string(), 42), (JOB.to_string(), 43)]);
    let stopped: Vec<String> = jenkins.stops().iter().map(|q| q.route().to_string()).collect();
    assert_eq!(stopped, ["/job/deploy/job/checkout-prod/42/stop", "/job/deploy/job/checkout-prod/43/stop"]);
}

#[test]
fn ctrl_c_during_a_build_stops_it_and_resume_starts_a_new_one() {
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::ending("SUCCESS"));
    jenkins.hold(true);
    let slack = Slack::start();
    let sb = Sandbox::new();
    sb.write("release.yaml", &with_slack(&runbook(&jenkins, DEPLOY, ""), &slack));
    let env = [("JENKINS_TOKEN", TOKEN), ("SLACK_BOT_TOKEN", SLACK_TOKEN)];
    let mut child = spawn_run(&sb, &env);
    wait_for_build(&sb, &jenkins);
    // SAFETY: signalling a process this test started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert_eq!(jenkins.stops().len(), 1, "stop_on_cancel (the default) stops the build");
    assert_eq!(jenkins.result_of(JOB, 42).as_deref(), Some("ABORTED"));
    let parent = slack.parents()[0].clone();
    assert!(
        parent.updates.last().unwrap().contains("EXECUTING (interrupted: `relctl resume` continues it)"),
        "the parent says the run is waiting for a resume: {:?}",
        parent.updates
    );

    jenkins.hold(false);
    let r = sb.relctl_bounded(&["resume", "--non-interactive", "--approve", "all"], &env);
    both_tokens(&sb, &r);
    r.expect_code(0);
    assert!(slack.parents()[0].updates.last().unwrap().contains("RELEASED"));
    assert_eq!(slack.parents().len(), 1);
    assert!(r.stdout.contains("#42 was stopped when the step was cancelled; triggering a new build"), "{}", r.stdout);
    assert_eq!(jenkins.builds(), vec![(JOB.to_string(), 42), (JOB.to_string(), 43)]);
    assert_eq!(finished(&sb, "execute.0")["outputs"]["build_number"], "43");
}

#[test]
fn secrets_in_the_console_are_masked_in_the_file_and_the_output() {
    const KEY: &str = "dk-7f3a9c1e5b2d";
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::ending("SUCCESS").console(format!("Deploying with key {KEY}\nFinished: SUCCESS\n"), 1 << 20));
    let sb = Sandbox::new();
    let step = "  - jenkins: { job: deploy/checkout-prod, params: { KEY: \"${{ secrets.DEPLOY_KEY }}\" } }\n";
    let r = run_env(&sb, &runbook(&jenkins, step, ""), &[("JENKINS_TOKEN", TOKEN), ("DEPLOY_KEY", KEY)]);
    r.expect_code(0);
    assert_eq!(jenkins.triggers()[0].body, format!("KEY={KEY}"), "Jenkins got the real value");
    let file = sb.run_dir().join("execute.0-deploy_checkout-prod-42.console.log");
    assert_eq!(std::fs::read_to_string(file).unwrap(), "Deploying with key ***\nFinished: SUCCESS\n");
    assert!(!format!("{}{}", r.all(), sb.journal_text()).contains(KEY));
    assert!(r.stdout.contains("Deploying with key ***"), "{}", r.stdout);
}

/// Several MiB of console with multi-byte characters, cut into pieces that
/// split lines (and characters) at arbitrary points.
fn big_console() -> Vec<u8> {
    let mut text = String::new();
    let mut i = 0u64;
    while text.len() < 5 * 1024 * 1024 + 12345 {
        i += 1;
        text.push_str(&format!("[{i:08}] deploying shard {} — état ✓ {}\n", i % 97, "x".repeat((i % 61) as usize)));
    }
    text.push_str("Finished: SUCCESS\n");
    text.into_bytes()
}

#[test]
fn a_console_of_several_mib_arrives_complete_in_the_run_directory() {
    let console = big_console();
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::ending("SUCCESS").console(console.clone(), 700_001));
    let sb = Sandbox::new();
    let r = run(&sb, &runbook(&jenkins, DEPLOY, ""));
    r.expect_code(0);
    assert!(jenkins.console_requests() >= 8, "streamed in pieces with X-More-Data: {}", jenkins.console_requests());
    let file = sb.run_dir().join("execute.0-deploy_checkout-prod-42.console.log");
    let got = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert_eq!(got.len(), console.len());
    assert!(got == console, "the console log is byte-identical");
    // Every line reached the step's output too, whole and in order, though
    // the pieces cut lines (and characters) apart.
    let log = std::fs::read_to_string(sb.run_dir().join("output.log")).unwrap();
    let text = String::from_utf8(console).unwrap();
    let sent = text.lines().filter(|l| l.starts_with("[0"));
    let shown = log.lines().filter_map(|l| l.strip_prefix("[execute.0] ")).filter(|l| l.starts_with("[0"));
    assert!(sent.eq(shown), "the step's output has the console lines as sent");
}

/// Waits until the journal holds build #42 and Jenkins has been asked for
/// its console (the build is being followed).
pub fn wait_for_build(sb: &Sandbox, jenkins: &Jenkins) {
    wait_until("the build to be followed", || {
        let runs = sb.path().join(".relctl/runs");
        let journal = std::fs::read_dir(&runs)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| std::fs::read_to_string(e.path().join("journal.jsonl")).unwrap_or_default())
            .collect::<String>();
        journal.contains("\"build_number\":\"42\"") && jenkins.console_requests() > 0
    });
}

#[test]
fn plan_shows_the_jenkins_integration_and_the_build() {
    let jenkins = Jenkins::start();
    let sb = Sandbox::new();
    sb.write("release.yaml", &runbook(&jenkins, DEPLOY, ""));
    let r = sb.relctl_env(&["plan", "release.yaml"], &[("JENKINS_TOKEN", TOKEN)]);
    r.expect_code(0);
    assert!(r.stdout.contains(&format!("jenkins: {} (polls every 50ms)", jenkins.url())), "{}", r.stdout);
    assert!(r.stdout.contains("build deploy/checkout-prod with VERSION=1.2.3"), "{}", r.stdout);
    assert!(!r.all().contains(TOKEN));
    assert!(jenkins.requests().is_empty(), "plan calls nothing");
}

// End to end: whole runbooks with Jenkins and Slack together.

/// The Slack integration, as settings lines under `integrations:`.
fn slack_settings(slack: &Slack) -> String {
    format!(
        "  slack:
    channel: \"#releases\"
    token: ${{{{ secrets.SLACK_BOT_TOKEN }}}}
    api_url: {}
    notify: true
",
        slack.api_url()
    )
}

fn with_slack(text: &str, slack: &Slack) -> String {
    text.replace("execute:\n", &format!("{}execute:\n", slack_settings(slack))).replacen(
        "name: checkout-release\n",
        "name: checkout-release\nvars:\n  version: 1.2.3\n",
        1,
    )
}

fn both_tokens(sb: &Sandbox, r: &Run) {
    assert_no_token(sb, r);
    let written = format!("{}{}", r.all(), sb.journal_text());
    assert!(!written.contains(SLACK_TOKEN), "the Slack token leaked:\n{written}");
}

#[test]
fn a_jenkins_failure_rolls_back_with_the_right_slack_messages_in_the_thread() {
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::ending("FAILURE"));
    jenkins.job("deploy/checkout-rollback", Job::ending("SUCCESS"));
    let slack = Slack::start();
    let sb = Sandbox::new();
    let execute = "  - slack: \"Deployment window started for checkout ${{ vars.version }}\"
  - id: deploy
    jenkins: { job: deploy/checkout-prod, params: { VERSION: \"${{ vars.version }}\" } }
";
    let rollback = "rollback:
  - slack: { text: \"Rolling back checkout after build #${{ steps.deploy.outputs.build_number }}: ${{ steps.deploy.outputs.result }}\", broadcast: true }
  - jenkins: { job: deploy/checkout-rollback, params: { VERSION: 1.2.2 } }
";
    sb.write("release.yaml", &with_slack(&runbook(&jenkins, execute, rollback), &slack));
    let r = sb.relctl_bounded(
        &["run", "release.yaml", "--non-interactive", "--approve", "all"],
        &[("JENKINS_TOKEN", TOKEN), ("SLACK_BOT_TOKEN", SLACK_TOKEN)],
    );
    both_tokens(&sb, &r);
    r.expect_code(3);
    assert_eq!(final_state(&sb.journal()), "rolled_back");

    let triggers: Vec<String> = jenkins.triggers().iter().map(|t| format!("{} {}", t.path, t.body)).collect();
    assert_eq!(
        triggers,
        [format!("{TRIGGER} VERSION=1.2.3"), "/job/deploy/job/checkout-rollback/buildWithParameters VERSION=1.2.2".to_string()]
    );

    let parents = slack.parents();
    assert_eq!(parents.len(), 1, "{:?}", slack.messages());
    let replies = slack.replies(&parents[0].ts);
    assert_eq!(slack.messages().len(), 1 + replies.len(), "every message is in the run's thread");
    let said: Vec<(&str, bool)> = replies.iter().map(|m| (m.text.as_str(), m.reply_broadcast)).collect();
    assert_eq!(
        said,
        [
            ("Release of checkout-release 1.2.3 started by tester", false),
            ("Deployment window started for checkout 1.2.3", false),
            (":warning: ROLLBACK INITIATED for checkout-release 1.2.3", true),
            ("Rolling back checkout after build #42: FAILURE", true),
            ("Rollback complete and verified for checkout-release 1.2.3", true),
        ]
    );
    let last = parents[0].updates.last().expect("parent updated");
    assert!(last.contains("ROLLED BACK"), "{last}");
}

#[test]
fn resume_after_sigkill_during_a_build_reattaches_and_continues_the_slack_thread() {
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::ending("SUCCESS"));
    jenkins.hold(true);
    let slack = Slack::start();
    let sb = Sandbox::new();
    let execute = format!("{DEPLOY}  - run: echo ${{{{ steps.deploy.outputs.build_number }}}} > after.txt\n");
    sb.write("release.yaml", &with_slack(&runbook(&jenkins, &execute, ""), &slack));
    let env = [("JENKINS_TOKEN", TOKEN), ("SLACK_BOT_TOKEN", SLACK_TOKEN)];
    let mut child = spawn_run(&sb, &env);
    wait_for_build(&sb, &jenkins);
    child.kill().unwrap(); // SIGKILL: no chance to stop the build or record anything
    child.wait().unwrap();
    assert!(jenkins.stops().is_empty());
    let polls_before = jenkins.console_requests();

    jenkins.hold(false);
    let r = sb.relctl_bounded(&["resume", "--non-interactive", "--approve", "all"], &env);
    both_tokens(&sb, &r);
    r.expect_code(0);
    assert!(r.stdout.contains("re-attaching to deploy/checkout-prod #42"), "{}", r.stdout);
    assert_eq!(jenkins.triggers().len(), 1, "resume triggered nothing new");
    assert_eq!(jenkins.builds(), vec![(JOB.to_string(), 42)]);
    assert!(jenkins.console_requests() > polls_before, "the resumed run followed the same build");
    assert_eq!(finished(&sb, "execute.0")["outputs"]["build_number"], "42");
    assert_eq!(sb.read("after.txt").trim(), "42");
    let file = sb.run_dir().join("execute.0-deploy_checkout-prod-42.console.log");
    assert_eq!(std::fs::read(file).unwrap(), Job::ending("SUCCESS").console, "the console is whole after the re-attach");
    assert_eq!(final_state(&sb.journal()), "released");

    // The resumed run went on in the same thread.
    let parents = slack.parents();
    assert_eq!(parents.len(), 1, "{:?}", slack.messages());
    let replies = slack.replies(&parents[0].ts);
    assert_eq!(slack.messages().len(), 1 + replies.len());
    assert_eq!(
        texts(&replies),
        [
            "Release of checkout-release 1.2.3 started by tester",
            "Run resumed by tester in EXECUTING",
            ":white_check_mark: checkout-release 1.2.3 released",
        ]
    );
    assert!(parents[0].updates.last().unwrap().contains("RELEASED"), "{:?}", parents[0].updates);
}

fn texts(messages: &[crate::support::slack::Message]) -> Vec<&str> {
    messages.iter().map(|m| m.text.as_str()).collect()
}

#[test]
fn the_stop_after_a_timeout_sends_the_crumb_jenkins_asked_for() {
    let jenkins = Jenkins::start();
    jenkins.require_crumbs();
    jenkins.job(JOB, Job::never_ending());
    let sb = Sandbox::new();
    let step = format!("{DEPLOY}    timeout: 2s\n");
    run(&sb, &runbook(&jenkins, &step, "")).expect_code(3);
    assert_eq!(jenkins.stops().len(), 1, "stop called once, and accepted");
    assert_eq!(jenkins.result_of(JOB, 42).as_deref(), Some("ABORTED"), "the build really was stopped");
}

#[test]
fn a_console_stream_that_breaks_off_is_picked_up_where_it_stopped() {
    let console = big_console();
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::ending("SUCCESS").console(console.clone(), 700_001));
    jenkins.drop_console(3);
    let sb = Sandbox::new();
    run(&sb, &runbook(&jenkins, DEPLOY, "")).expect_code(0);
    // Three answers broke off; each was asked for again from where it stopped.
    let starts: Vec<usize> = jenkins
        .requests()
        .iter()
        .filter(|r| r.route().ends_with("/logText/progressiveText"))
        .filter_map(|r| r.query("start").and_then(|s| s.parse().ok()))
        .collect();
    // Each was asked again from the last offset Jenkins gave (X-Text-Size),
    // never from a count of the bytes received (CRLF makes those differ).
    assert!(starts.iter().all(|s| s % 700_001 == 0), "only offsets Jenkins gave: {starts:?}");
    assert!(starts.windows(2).filter(|w| w[0] == w[1]).count() >= 3, "each broken answer was asked for again: {starts:?}");
    let got = std::fs::read(sb.run_dir().join("execute.0-deploy_checkout-prod-42.console.log")).unwrap();
    assert!(got == console, "nothing lost and nothing twice: {} of {} bytes", got.len(), console.len());
    assert!(jenkins.stops().is_empty());
}
