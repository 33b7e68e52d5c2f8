//! `jenkins` steps against the places where the real Jenkins is awkward
//! (each behaviour of the fake cites its source in tests/support/jenkins_routes.rs):
//! parameterized jobs and `build` vs `buildWithParameters`, parameter names
//! Jenkins would silently ignore, a cancel racing the queue, stops that only
//! ask, queue items Jenkins forgot, and a console sent with CRLF and notes.

use crate::jenkins::{DEPLOY, JOB, run, runbook, spawn_run};
use crate::support::jenkins::{Jenkins, Job, TOKEN};
use crate::support::*;

#[test]
fn a_parameterized_job_without_params_is_triggered_with_build_with_parameters_not_refused_with_400() {
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::ending("SUCCESS"));
    let sb = Sandbox::new();
    run(&sb, &runbook(&jenkins, "  - jenkins: deploy/checkout-prod\n", "")).expect_code(0);
    let triggers = jenkins.triggers();
    assert_eq!(triggers.len(), 1);
    assert_eq!(triggers[0].route(), "/job/deploy/job/checkout-prod/buildWithParameters", "`/build` answers 400 here");
}

#[test]
fn params_for_a_job_without_parameters_fail_before_anything_is_triggered() {
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::ending("SUCCESS").with_params(&[]));
    let sb = Sandbox::new();
    run(&sb, &runbook(&jenkins, DEPLOY, "")).expect_code(3);
    assert!(step_message(&sb, "execute.0").contains("takes no parameters"), "{}", step_message(&sb, "execute.0"));
    assert!(jenkins.triggers().is_empty());
}

#[test]
fn a_misspelt_param_fails_before_triggering_instead_of_deploying_the_default() {
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::ending("SUCCESS").with_params(&["VERSION", "REGION"]));
    let sb = Sandbox::new();
    let step = "  - jenkins: { job: deploy/checkout-prod, params: { VERSON: 1.2.3, REGION: eu } }\n";
    run(&sb, &runbook(&jenkins, step, "")).expect_code(3);
    let m = step_message(&sb, "execute.0");
    assert!(m.contains("no parameter `VERSON` (did you mean `VERSION`?)"), "{m}");
    assert!(step_hint(&sb, "execute.0").contains("VERSION, REGION"), "{}", step_hint(&sb, "execute.0"));
    assert!(jenkins.triggers().is_empty(), "Jenkins would have ignored VERSON and deployed the default");
}

#[test]
fn a_cancel_that_races_the_build_start_stops_the_build_instead_of_leaving_it_running() {
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::never_ending().queued(usize::MAX, "Waiting for next available executor"));
    jenkins.start_before_cancel();
    let sb = Sandbox::new();
    run(&sb, &runbook(&jenkins, &format!("{DEPLOY}    timeout: 1s\n"), "")).expect_code(3);
    // Jenkins answered the cancel 500 (the item had just left the queue);
    // relctl found the build it became and stopped it.
    assert_eq!(jenkins.count(|q| q.route() == "/queue/cancelItem"), 1);
    assert_eq!(jenkins.stop_calls(), ["stop"]);
    assert_eq!(jenkins.result_of(JOB, 42).as_deref(), Some("ABORTED"), "the build kept running beside the rollback");
}

fn with_stop_wait(text: &str) -> String {
    text.replace("    poll: 50ms\n", "    poll: 50ms\n    stop_wait: 300ms\n")
}

#[test]
fn a_pipeline_that_ignores_stop_is_ended_with_term_then_kill_and_the_step_says_so() {
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::never_ending().pipeline(2));
    let sb = Sandbox::new();
    let r = run(&sb, &with_stop_wait(&runbook(&jenkins, &format!("{DEPLOY}    timeout: 2s\n"), "")));
    r.expect_code(3);
    assert_eq!(jenkins.stop_calls(), ["stop", "term", "kill"]);
    assert_eq!(jenkins.result_of(JOB, 42).as_deref(), Some("ABORTED"));
    assert!(r.stdout.contains("#42 stopped (ABORTED after /kill)"), "{}", r.stdout);
}

#[test]
fn a_build_that_survives_stop_term_and_kill_is_reported_as_still_running_not_stopped() {
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::never_ending().pipeline(3));
    let sb = Sandbox::new();
    let r = run(&sb, &with_stop_wait(&runbook(&jenkins, &format!("{DEPLOY}    timeout: 2s\n"), "")));
    r.expect_code(3);
    assert_eq!(jenkins.result_of(JOB, 42), None);
    assert!(r.stdout.contains("stopping it failed: Jenkins: GET"), "{}", r.stdout);
    assert!(r.stdout.contains("the build is still running, or not seen to stop, after /stop, /term, /kill"), "{}", r.stdout);
    assert!(!r.stdout.contains("#42 stopped"), "{}", r.stdout);
}

#[test]
fn a_freestyle_build_is_asked_to_stop_and_confirmed_stopped() {
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::never_ending());
    let sb = Sandbox::new();
    let r = run(&sb, &with_stop_wait(&runbook(&jenkins, &format!("{DEPLOY}    timeout: 2s\n"), "")));
    r.expect_code(3);
    // /stop takes effect a look later; there is no /term or /kill to try.
    assert_eq!(jenkins.stop_calls(), ["stop"]);
    assert!(r.stdout.contains("#42 stopped (ABORTED after /stop)"), "{}", r.stdout);
}

#[test]
fn a_resumed_run_finds_its_build_by_queue_id_after_jenkins_forgot_the_queue_item() {
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::ending("SUCCESS").queued(usize::MAX, "Waiting for next available executor"));
    let sb = Sandbox::new();
    sb.write("release.yaml", &runbook(&jenkins, DEPLOY, ""));
    let mut child = spawn_run(&sb, &[("JENKINS_TOKEN", TOKEN)]);
    wait_until("the queue item to be journaled", || sb.journal_text().contains("\"queue_url\""));
    child.kill().unwrap();
    child.wait().unwrap();
    // The build starts while nobody watches, and five minutes pass.
    jenkins.start_waiting_items();
    jenkins.forget_left_items();
    let r = sb.relctl_bounded(&["resume", "--non-interactive", "--approve", "all"], &[("JENKINS_TOKEN", TOKEN)]);
    r.expect_code(0);
    assert!(r.stdout.contains("queue item 101 is forgotten; it became deploy/checkout-prod #42"), "{}", r.stdout);
    assert_eq!(jenkins.triggers().len(), 1, "not triggered a second time");
    assert_eq!(finished(&sb, "execute.0")["outputs"]["build_number"], "42");
}

#[test]
fn a_console_with_crlf_and_console_notes_reads_as_jenkins_shows_it_even_after_drops() {
    // Pipeline logs carry hidden console notes before lines (raw in plain
    // progressiveText since Jenkins 2.509); every LF is sent as CRLF.
    let mut raw = String::new();
    let mut shown = String::new();
    for i in 0..40_000 {
        let line = format!("[{i:06}] step output — ✓\n");
        if i % 7 == 0 {
            raw.push_str(
                "\u{1b}[8mha:////4AAAAFB+LCAAAAAAAAP9b85aBtbiIQTGjNKU4P08vOT+vOD8nVc8DzHWtSMgsyszPAwAFbF8UHAAAAA==\u{1b}[0m",
            );
        }
        raw.push_str(&line);
        shown.push_str(&line);
    }
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::ending("SUCCESS").console(raw.clone(), 100_003));
    jenkins.drop_console(4);
    let sb = Sandbox::new();
    run(&sb, &runbook(&jenkins, DEPLOY, "")).expect_code(0);
    let file = std::fs::read_to_string(sb.run_dir().join("execute.0-deploy_checkout-prod-42.console.log")).unwrap();
    assert!(file == shown, "nothing lost, nothing twice, no notes, no CR: {} of {} bytes", file.len(), shown.len());
    let log = std::fs::read_to_string(sb.run_dir().join("output.log")).unwrap();
    let lines: Vec<&str> = log.lines().filter_map(|l| l.strip_prefix("[execute.0] ")).filter(|l| l.starts_with("[0")).collect();
    assert_eq!(lines.len(), 40_000);
    assert!(!log.contains('\r') && !log.contains("ha:////"), "the step's output shows what Jenkins' page shows");
}

#[test]
fn connections_dropping_now_and_then_over_a_long_build_do_not_fail_it() {
    // Ten breaks in all, one every third answer: more than the five in a
    // row the step tolerates, but never more than one in a row.
    let console: String = (0..30_000).map(|i| format!("[{i:06}] deploying\n")).collect();
    let jenkins = Jenkins::start();
    jenkins.job(JOB, Job::ending("SUCCESS").console(console.clone(), 20_000));
    jenkins.drop_console_every(3);
    let sb = Sandbox::new();
    run(&sb, &runbook(&jenkins, DEPLOY, "")).expect_code(0);
    let file = std::fs::read_to_string(sb.run_dir().join("execute.0-deploy_checkout-prod-42.console.log")).unwrap();
    assert!(file == console, "{} of {} bytes", file.len(), console.len());
    assert!(jenkins.stops().is_empty(), "a build that was fine was stopped");
}
