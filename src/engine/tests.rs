//! The engine in-process: a fake step kind whose outcome each attempt is
//! scripted, a scripted prompter, and an observer that records every event.
//! These pin the engine's own logic (order, retries, timeouts, gates,
//! rollback and its verification) without processes, terminals or servers.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::approval::ApprovalPolicy;
use super::driver::{Engine, EngineConfig, RunEnd, Wiring};
use crate::event::{Event, Observer, RunState, StepStatus};
use crate::plan::Plan;
use crate::question::{AnsweredBy, Prompter, Question, QuestionKind, Reply};
use crate::redact::Redactor;
use crate::step::{Action, AdapterError, BoxFuture, Outcome, ParseContext, Registry, StepKind, StepResult, StepRun, StepSpec};

/// `fake: ok`, `fake: fail`, `fake: "fail, ok"` (one outcome per attempt,
/// the last repeating), `fake: hang` (never ends), `fake: refuse`.
struct FakeKind;

#[derive(Debug)]
struct FakeAction {
    script: Vec<String>,
}

impl StepKind for FakeKind {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn schema(&self) -> serde_json::Value {
        crate::step::schema::text("outcomes, one per try: ok, fail, ...")
    }

    fn parse(&self, spec: &StepSpec<'_>, _cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>> {
        let text = spec.value.as_str()?;
        Some(Arc::new(FakeAction { script: text.split(',').map(|s| s.trim().to_string()).collect() }))
    }
}

impl Action for FakeAction {
    fn describe(&self) -> String {
        format!("fake {}", self.script.join(", "))
    }

    fn execute<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, StepResult> {
        let i = (run.attempt as usize - 1).min(self.script.len() - 1);
        let what = self.script[i].clone();
        Box::pin(async move {
            match what.as_str() {
                "ok" => Ok(Outcome { summary: Some("done".into()), ..Outcome::default() }),
                "hang" => std::future::pending().await,
                "refuse" => Err(AdapterError::refused("refused").into()),
                _ => Err(AdapterError::Check(format!("{what} on attempt {}", run.attempt)).into()),
            }
        })
    }
}

static FAKE: FakeKind = FakeKind;

/// Every event, in order.
#[derive(Default)]
struct Recorder(Mutex<Vec<Event>>);

impl Observer for Recorder {
    fn on_event(&self, event: &Event) {
        self.0.lock().unwrap().push(event.clone());
    }
}

/// Answers from a script, and remembers what it was asked.
#[derive(Default)]
struct Scripted {
    answers: Mutex<VecDeque<bool>>,
    asked: Mutex<Vec<Question>>,
}

impl Prompter for Scripted {
    fn ask(&self, question: &Question, _actor: &str, _stop: &std::sync::atomic::AtomicBool) -> std::io::Result<Reply> {
        self.asked.lock().unwrap().push(question.clone());
        let yes = self.answers.lock().unwrap().pop_front().expect("a question nobody scripted an answer for");
        Ok(Reply { yes, comment: Some("scripted".into()) })
    }
}

struct Outcomes {
    end: RunEnd,
    events: Vec<Event>,
    asked: Vec<Question>,
}

impl Outcomes {
    fn states(&self) -> Vec<RunState> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::StateEntered { state, .. } => Some(*state),
                _ => None,
            })
            .collect()
    }

    /// `key attempt` for every step start, in order.
    fn started(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::StepStarted { key, attempt, .. } => Some(format!("{key} {attempt}")),
                _ => None,
            })
            .collect()
    }

    fn finished(&self, wanted: &str) -> (StepStatus, Option<String>) {
        self.events
            .iter()
            .find_map(|e| match e {
                Event::StepFinished { key, status, message, .. } if key == wanted => Some((*status, message.clone())),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{wanted} did not finish"))
    }
}

async fn run(yaml: &str, answers: &[bool], policy: ApprovalPolicy) -> Outcomes {
    let (end, events, asked) = run_resumed(yaml, answers, policy, None).await;
    Outcomes { end: end.unwrap(), events, asked }
}

/// Runs (or, with `journal`, resumes) the runbook; the engine's own result.
async fn run_resumed(
    yaml: &str,
    answers: &[bool],
    policy: ApprovalPolicy,
    journal: Option<Vec<Event>>,
) -> (Result<RunEnd, super::driver::EngineError>, Vec<Event>, Vec<Question>) {
    let registry = Registry::new(vec![&FAKE], vec![]);
    let rb = crate::runbook::load_str(Path::new("release.yaml"), yaml, &registry).unwrap_or_else(|e| panic!("{e}"));
    let plan = Plan::build(Arc::new(rb), &[], &|_| None, false).unwrap();
    let recorder = Arc::new(Recorder::default());
    let prompter = Arc::new(Scripted { answers: Mutex::new(answers.iter().copied().collect()), ..Scripted::default() });
    let (cancel, _) = watch::channel(false);
    let cfg = EngineConfig {
        run_id: "test".into(),
        actor: "alice".into(),
        workdir: ".".into(),
        run_dir: None,
        policy,
        rerun: Vec::new(),
        assume_done: Vec::new(),
        accepted_damage: Vec::new(),
        stop_leftovers: false,
        window_override: None,
        identity: crate::question::Identity::Asserted,
    };
    let wiring = Wiring {
        observers: vec![recorder.clone()],
        journal: None,
        prompter: Some(prompter.clone()),
        redactor: Arc::new(Redactor::default()),
        cancel,
    };
    let replay = journal.map(|events| super::replay::Replay::from_events(Path::new("journal.jsonl"), &events).unwrap());
    let end = Engine::new(plan, cfg, wiring, replay).run().await;
    let events = recorder.0.lock().unwrap().clone();
    let asked = prompter.asked.lock().unwrap().clone();
    (end, events, asked)
}

fn interactive() -> ApprovalPolicy {
    ApprovalPolicy { interactive: true, approve: Vec::new(), reason: None, dry_run: false }
}

#[tokio::test]
async fn a_clean_run_walks_every_phase_in_order_and_releases() {
    let o = run(
        "version: 1\nname: t\nchecklist:\n  - fake: ok\nexecute:\n  - fake: ok\n  - fake: ok\nvalidate:\n  - fake: ok\n  - id: go\n    gate: go?\nfinalize:\n  - fake: ok\n",
        &[true],
        interactive(),
    )
    .await;
    assert_eq!(o.end, RunEnd::Finished(RunState::Released));
    assert_eq!(o.states(), [RunState::Checklist, RunState::Execute, RunState::Validate, RunState::Finalize, RunState::Released]);
    assert_eq!(o.started(), ["checklist.0 1", "execute.0 1", "execute.1 1", "validate.0 1", "validate.1 1", "finalize.0 1"]);
    assert_eq!(o.asked.len(), 1);
    assert_eq!(o.asked[0].kind, QuestionKind::Gate { failed_checks: Vec::new(), passed_checks: 1, allow_override: false });
}

#[tokio::test]
async fn an_execute_failure_stops_execute_rolls_back_and_verifies_with_the_checks_not_the_gate() {
    let o = run(
        "version: 1\nname: t\nexecute:\n  - fake: ok\n  - fake: fail\n  - fake: ok\nvalidate:\n  - fake: ok\n  - gate: go?\nrollback:\n  - fake: ok\n",
        &[],
        interactive(),
    )
    .await;
    assert_eq!(o.end, RunEnd::Finished(RunState::RolledBack));
    assert_eq!(o.started(), ["execute.0 1", "execute.1 1", "rollback.0 1", "verify.0 1"]);
    assert!(o.asked.is_empty(), "the gate is not asked while verifying a rollback");
}

#[tokio::test]
async fn the_gate_sees_every_failed_check_and_a_go_over_them_releases() {
    let o = run(
        "version: 1\nname: t\nvalidate:\n  - name: health\n    fake: fail\n  - name: smoke\n    fake: ok\n  - name: errors\n    fake: fail\n  - gate: go?\n",
        &[true],
        interactive(),
    )
    .await;
    assert_eq!(
        o.asked[0].kind,
        QuestionKind::Gate { failed_checks: vec!["health".into(), "errors".into()], passed_checks: 1, allow_override: false }
    );
    assert_eq!(o.end, RunEnd::Finished(RunState::Released));
}

#[tokio::test]
async fn no_go_rolls_back_and_records_who_decided() {
    let o = run(
        "version: 1\nname: t\nvalidate:\n  - fake: ok\n  - id: go\n    gate: go?\nrollback:\n  - fake: ok\n",
        &[false],
        interactive(),
    )
    .await;
    assert_eq!(o.end, RunEnd::Finished(RunState::RolledBack));
    let decision = o.events.iter().find_map(|e| match e {
        Event::Decision { key, approved, actor, by, comment, .. } => {
            Some((key.clone(), *approved, actor.clone(), *by, comment.clone()))
        }
        _ => None,
    });
    assert_eq!(decision, Some(("validate.1".into(), false, "alice".into(), AnsweredBy::Terminal, Some("scripted".into()))));
}

#[tokio::test]
async fn in_ci_an_approved_gate_over_a_failed_check_is_still_no_go() {
    let ci = ApprovalPolicy { interactive: false, approve: vec!["all".into()], reason: None, dry_run: false };
    let o = run("version: 1\nname: t\nvalidate:\n  - fake: fail\n  - gate: go?\nrollback:\n  - fake: ok\n", &[], ci).await;
    assert_eq!(o.end, RunEnd::Finished(RunState::RollbackFailed), "the verification fails the same check");
    assert!(o.states().contains(&RunState::RollingBack));
    assert!(o.asked.is_empty());
}

#[tokio::test]
async fn retries_repeat_a_failing_step_until_it_passes_and_no_further() {
    let o = run(
        "version: 1\nname: t\nexecute:\n  - fake: fail, fail, ok\n    retry: { attempts: 3, delay: 1ms }\n  - fake: fail\n    retry: { attempts: 2, delay: 1ms }\n",
        &[],
        interactive(),
    )
    .await;
    assert_eq!(o.started(), ["execute.0 1", "execute.0 2", "execute.0 3", "execute.1 1", "execute.1 2"]);
    let retries = o.events.iter().filter(|e| matches!(e, Event::StepRetrying { .. })).count();
    assert_eq!(retries, 3);
    assert_eq!(o.finished("execute.1"), (StepStatus::Failed, Some("fail on attempt 2".into())));
}

#[tokio::test]
async fn a_refusal_is_not_retried() {
    let o = run("version: 1\nname: t\nexecute:\n  - fake: refuse\n    retry: { attempts: 3, delay: 1ms }\n", &[], interactive())
        .await;
    assert_eq!(o.started(), ["execute.0 1"]);
}

#[tokio::test]
async fn a_step_past_its_deadline_fails_and_the_rollback_runs() {
    let o = run(
        "version: 1\nname: t\nexecute:\n  - fake: hang\n    timeout: 20ms\nvalidate:\n  - fake: ok\nrollback:\n  - fake: ok\n",
        &[],
        interactive(),
    )
    .await;
    assert_eq!(o.finished("execute.0"), (StepStatus::Failed, Some("timed out after 20ms".into())));
    assert_eq!(o.end, RunEnd::Finished(RunState::RolledBack));
}

#[tokio::test]
async fn parallel_steps_each_get_their_own_key_and_one_failure_fails_the_group() {
    let o = run(
        "version: 1\nname: t\nexecute:\n  - parallel:\n      - fake: ok\n      - fake: fail\n      - fake: ok\nrollback:\n  - fake: ok\nvalidate:\n  - fake: ok\n",
        &[],
        interactive(),
    )
    .await;
    let mut started = o.started();
    started.sort();
    assert_eq!(started, ["execute.0 1", "execute.0.0 1", "execute.0.1 1", "execute.0.2 1", "rollback.0 1", "verify.0 1"]);
    let (status, message) = o.finished("execute.0");
    assert_eq!(status, StepStatus::Failed);
    assert_eq!(message.as_deref(), Some("1 of 3 parallel steps failed: fake fail"));
}

#[tokio::test]
async fn a_refused_checklist_confirm_aborts_before_execute() {
    let o = run("version: 1\nname: t\nchecklist:\n  - confirm: ready?\nexecute:\n  - fake: ok\n", &[false], interactive()).await;
    assert_eq!(o.end, RunEnd::Finished(RunState::Aborted));
    assert!(!o.started().iter().any(|s| s.starts_with("execute")));
}

#[tokio::test]
async fn a_rollback_that_no_check_verifies_needs_a_human() {
    let o = run("version: 1\nname: t\nexecute:\n  - fake: fail\nrollback:\n  - fake: ok\n", &[], interactive()).await;
    assert_eq!(o.end, RunEnd::Finished(RunState::RollbackFailed));
}

#[tokio::test]
async fn an_unfinished_step_inside_parallel_stops_the_resume_instead_of_rolling_back() {
    // Before: the group turned the child's "a person must decide" into an
    // ordinary failure, so execute failed and the release rolled back.
    let at = || "2026-12-01T00:00:00.000Z".to_string();
    let started = |key: &str| Event::StepStarted {
        key: key.into(),
        id: None,
        label: key.into(),
        kind: "fake".into(),
        attempt: 1,
        expected_ms: None,
        timeout_ms: None,
        at: at(),
    };
    let journal = vec![
        Event::RunStarted {
            run_id: "test".into(),
            runbook: "t".into(),
            path: "release.yaml".into(),
            actor: "alice".into(),
            vars: std::collections::BTreeMap::new(),
            secret_vars: std::collections::BTreeMap::new(),
            dry_run: false,
            at: at(),
        },
        Event::StateEntered { state: RunState::Execute, at: at() },
        started("execute.0"),
        started("execute.0.0"),
    ];
    let ci = ApprovalPolicy { interactive: false, approve: Vec::new(), reason: None, dry_run: false };
    let yaml = "version: 1\nname: t\nexecute:\n  - parallel:\n      - fake: ok\n      - fake: ok\nvalidate:\n  - fake: ok\nrollback:\n  - fake: ok\n";
    let (end, events, _) = run_resumed(yaml, &[], ci, Some(journal)).await;
    assert!(matches!(end, Err(super::driver::EngineError::UnfinishedStep { ref key, .. }) if key == "execute.0.0"), "{end:?}");
    assert!(!events.iter().any(|e| matches!(e, Event::StateEntered { state: RunState::RollingBack, .. })), "no rollback");
}

#[tokio::test]
async fn a_confirm_asked_again_while_verifying_the_rollback_says_it_is_about_the_restored_version() {
    let o = run(
        "version: 1\nname: t\nexecute:\n  - fake: ok\nvalidate:\n  - confirm: Smoke test passed?\nrollback:\n  - fake: ok\n",
        &[false, true],
        interactive(),
    )
    .await;
    assert_eq!(o.asked.len(), 2);
    assert_eq!(o.asked[0].text, "Smoke test passed?");
    assert_eq!(o.asked[1].text, "[verifying the rollback: the version restored] Smoke test passed?");
    assert_eq!(o.end, RunEnd::Finished(RunState::RolledBack));
}
