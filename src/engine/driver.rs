//! The async driver: follows [`transition`] from state to state, running each
//! phase's steps with `when`, timeouts, retries and cancellation applied in
//! this one place, and writing every event to the journal before the next
//! side effect.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::approval::ApprovalPolicy;
use super::journal::{Durability, Journal, JournalError};
use super::replay::Replay;
use super::state::{InvalidTransition, PhaseResult, PhaseRun, phase_run, transition};
use crate::event::{Event, Observer, RunState, StepStatus, now};
use crate::plan::{Plan, PlannedStep};
use crate::question::Prompter;
use crate::redact::Redactor;
use crate::runbook::duration::format_duration;
use crate::runbook::expr::{self, Quoting};
use crate::step::{AdapterError, BoxFuture, Outcome, PhaseName, RunInfo, Step, StepBody, StepFailure, StepRun};

mod baselines;
mod constructs;
mod decide;
mod elsewhere;
mod resume;
mod step_env;
use step_env::Handle;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("internal error: {0}")]
    Transition(#[from] InvalidTransition),
    #[error(
        "step `{label}` ({key}) was started but not finished when the run stopped, and it is not marked `idempotent: true`; \
         check what it did, then resume with --rerun {key} to run it again or --assume-done {key} to skip it"
    )]
    UnfinishedStep { key: String, label: String },
    #[error(
        "{what} `{label}` may not be answered by {initiator}, who started this run (not_initiator): the run stops here, \
         resumable, for another approver{approvers}: `relctl resume {run_id} --as NAME`"
    )]
    AwaitingApprover { what: &'static str, label: String, initiator: String, approvers: String, run_id: String },
    #[error(
        "`{label}` could not be asked anywhere ({places}), so nothing was decided: the run stops here, resumable; \
         when {places} can be reached again: `relctl resume {run_id}`"
    )]
    NobodyToAsk { label: String, places: String, run_id: String },
}

/// How a run left the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    Finished(RunState),
    /// Stopped by Ctrl-C or SIGTERM in this state; `relctl resume` continues it.
    Interrupted(RunState),
}

pub struct EngineConfig {
    pub run_id: String,
    pub actor: String,
    /// Where `run` steps start (the runbook's directory).
    pub workdir: PathBuf,
    pub run_dir: Option<PathBuf>,
    pub policy: ApprovalPolicy,
    /// Resume: unfinished steps (key or id) to run again / to treat as done.
    pub rerun: Vec<String>,
    pub assume_done: Vec<String>,
    /// Resume: the journal's damage the person chose to go on past.
    pub accepted_damage: Vec<String>,
    /// Resume: end a killed step's leftover processes without asking.
    pub stop_leftovers: bool,
    /// Started outside the release windows on purpose: (why closed, reason).
    pub window_override: Option<(String, String)>,
    /// How `actor` was established, recorded with each of their decisions.
    pub identity: crate::question::Identity,
}

/// What the engine reports to and asks through; the session wires it.
pub struct Wiring {
    pub observers: Vec<Arc<dyn Observer>>,
    pub journal: Option<Journal>,
    /// A person to ask, when the run is interactive.
    pub prompter: Option<Arc<dyn Prompter>>,
    pub redactor: Arc<Redactor>,
    /// Set to true to stop the run (Ctrl-C, SIGTERM).
    pub cancel: watch::Sender<bool>,
}

pub struct Engine {
    plan: Plan,
    cfg: EngineConfig,
    observers: Vec<Arc<dyn Observer>>,
    journal: Option<Journal>,
    prompter: Option<Arc<dyn Prompter>>,
    redactor: Arc<Redactor>,
    cancel: watch::Sender<bool>,
    /// What the journal says of an interrupted run being resumed.
    replay: Option<Replay>,
    info: RunInfo,
    /// What the run has learnt so far, behind one lock.
    memory: Mutex<Memory>,
}

/// The run's state as it goes, shared by concurrent (parallel) steps.
#[derive(Default)]
struct Memory {
    state: Option<RunState>,
    /// Outputs by step id, for `${{ steps.ID.outputs.KEY }}`.
    outputs: BTreeMap<String, BTreeMap<String, String>>,
    /// Labels of the validate checks that failed in this pass.
    failed_checks: Vec<String>,
    passed_checks: usize,
    /// A journal write that failed where it could not be returned at once.
    fatal: Option<JournalError>,
    /// An engine error a nested step (in `parallel`) hit, for its group to return.
    halt: Option<EngineError>,
    checkpoints: HashMap<String, BTreeMap<String, String>>,
    integration_state: HashMap<(String, String), String>,
}

/// How long an integration notice may hold the run up (a slow chat must not
/// delay a rollback) before the engine goes on with a warning.
const NOTICE_LIMIT: Duration = Duration::from_secs(5);
/// At the end of the run there is nothing left to hold up: notices still
/// queued (Slack asked to wait) get this long to go out.
const FINAL_NOTICE_LIMIT: Duration = Duration::from_secs(60);
/// How long a step's abort (stopping a remote build) may take.
const ABORT_LIMIT: Duration = Duration::from_secs(30);

enum Execution {
    Done(Result<Outcome, StepFailure>),
    TimedOut(Duration),
    Cancelled,
}

enum StepEnd {
    Succeeded,
    Failed { tolerated: bool },
    Skipped,
    Interrupted,
}

enum PhaseEnd {
    Done(PhaseResult),
    Interrupted,
}

impl Engine {
    pub fn new(plan: Plan, cfg: EngineConfig, wiring: Wiring, replay: Option<Replay>) -> Engine {
        for secret in plan.secrets.values() {
            wiring.redactor.add(secret);
        }
        let mut memory = Memory { state: Some(RunState::Checklist), ..Memory::default() };
        if let Some(r) = &replay {
            for rec in r.steps.values() {
                if let Some(id) = &rec.id {
                    memory.outputs.insert(id.clone(), rec.outputs.clone());
                }
            }
            memory.checkpoints.clone_from(&r.checkpoints);
            memory.integration_state.clone_from(&r.integration_state);
            memory.state = Some(r.state);
        }
        let Wiring { observers, journal, prompter, redactor, cancel } = wiring;
        let info = RunInfo {
            run_id: cfg.run_id.clone(),
            actor: cfg.actor.clone(),
            runbook: plan.runbook.name.clone(),
            workdir: cfg.workdir.clone(),
            run_dir: cfg.run_dir.clone(),
        };
        Engine { plan, cfg, observers, journal, prompter, redactor, cancel, replay, info, memory: Mutex::new(memory) }
    }

    /// The run's memory; never held across an await.
    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Journals an event, then lets each integration react to it (Slack
    /// notices). An integration's failure is a warning, never a step failure.
    async fn milestone(&self, event: Event) -> Result<(), JournalError> {
        self.emit(event.clone())?;
        let limit = if matches!(event, Event::RunFinished { .. }) { FINAL_NOTICE_LIMIT } else { NOTICE_LIMIT };
        for (name, integration) in &self.plan.runbook.integrations {
            let warning = match tokio::time::timeout(limit, integration.on_event(&event, &Handle(self))).await {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => format!("{name} notice not sent: {e}"),
                Err(_) => format!("{name} notice not sent within {} (it may be kept for later)", format_duration(limit)),
            };
            self.emit(Event::Warning { message: warning })?;
        }
        Ok(())
    }

    async fn abort(&self, run: &StepRun<'_>) {
        let StepBody::Action(action) = &run.step.body else { return };
        let warning = match tokio::time::timeout(ABORT_LIMIT, action.abort(run)).await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => format!("{}: stopping it failed: {e}", run.step.label()),
            Err(_) => format!("{}: stopping it took longer than {}", run.step.label(), format_duration(ABORT_LIMIT)),
        };
        let _ = self.emit(Event::Warning { message: warning });
    }

    /// Journals (for all but step output lines) and then tells every observer.
    #[allow(clippy::needless_pass_by_value)] // callers build the event in the call
    fn emit(&self, event: Event) -> Result<(), JournalError> {
        let event = self.redactor.event(&event);
        if !matches!(event, Event::StepLog { .. }) {
            tracing::debug!(?event, "event");
        }
        if let Some(j) = &self.journal
            && !matches!(event, Event::StepLog { .. })
            && let Err(e) = j.append(&event, durability(&event))
        {
            let message = e.to_string();
            self.memory().fatal = Some(e);
            return Err(JournalError::Write { path: j.path().to_path_buf(), source: std::io::Error::other(message) });
        }
        for o in &self.observers {
            o.on_event(&event);
        }
        Ok(())
    }

    pub async fn run(&self) -> Result<RunEnd, EngineError> {
        let end = self.walk().await;
        // Every path that emits ends with a flushed event; this covers the others.
        if let Some(j) = &self.journal {
            j.sync()?;
        }
        end
    }

    /// The vars as the journal keeps them: a value that is a secret is
    /// masked and remembered by the secret's name (resume reads it from the
    /// environment again); one that merely contains a secret is masked.
    fn journaled_vars(&self) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
        let mut vars = BTreeMap::new();
        let mut secret_vars = BTreeMap::new();
        for (name, value) in &self.plan.vars {
            if let Some((secret, _)) = self.plan.secrets.iter().find(|(_, v)| *v == value) {
                secret_vars.insert(name.clone(), secret.clone());
            } else if self.redactor.text(value) != *value {
                secret_vars.insert(name.clone(), String::new());
            } else {
                vars.insert(name.clone(), value.clone());
                continue;
            }
            vars.insert(name.clone(), crate::redact::MASK.to_string());
        }
        (vars, secret_vars)
    }

    /// Flushes the journal before a side effect that no event precedes.
    fn sync(&self) -> Result<(), JournalError> {
        self.journal.as_ref().map_or(Ok(()), Journal::sync)
    }

    async fn walk(&self) -> Result<RunEnd, EngineError> {
        let mut state = match &self.replay {
            Some(r) => {
                self.milestone(Event::RunResumed {
                    run_id: self.cfg.run_id.clone(),
                    actor: self.cfg.actor.clone(),
                    state: r.state,
                    at: now(),
                })
                .await?;
                if let Some(dropped_bytes) = self.journal.as_ref().and_then(Journal::repaired) {
                    self.emit(Event::JournalRepaired { dropped_bytes, at: now() })?;
                }
                if !self.cfg.accepted_damage.is_empty() {
                    self.emit(Event::DamageAccepted {
                        actor: self.cfg.actor.clone(),
                        damage: self.cfg.accepted_damage.clone(),
                        at: now(),
                    })?;
                }
                r.state
            }
            None => {
                let (vars, secret_vars) = self.journaled_vars();
                self.milestone(Event::RunStarted {
                    run_id: self.cfg.run_id.clone(),
                    runbook: self.plan.runbook.name.clone(),
                    path: self.plan.runbook.path.display().to_string(),
                    actor: self.cfg.actor.clone(),
                    vars,
                    secret_vars,
                    dry_run: self.cfg.policy.dry_run,
                    at: now(),
                })
                .await?;
                if let Some((closed, reason)) = &self.cfg.window_override {
                    self.milestone(Event::WindowOverridden {
                        actor: self.cfg.actor.clone(),
                        closed: closed.clone(),
                        reason: reason.clone(),
                        at: now(),
                    })
                    .await?;
                }
                self.milestone(Event::StateEntered { state: RunState::Checklist, at: now() }).await?;
                RunState::Checklist
            }
        };
        while let Some(phase) = phase_run(state) {
            if state == RunState::Execute {
                self.capture_baselines().await?;
            }
            let result = match self.run_phase(state, phase).await? {
                PhaseEnd::Done(r) => r,
                PhaseEnd::Interrupted => {
                    if let Some(e) = self.memory().fatal.take() {
                        return Err(e.into());
                    }
                    self.milestone(Event::Interrupted { state, at: now() }).await?;
                    return Ok(RunEnd::Interrupted(state));
                }
            };
            if let Some(e) = self.memory().fatal.take() {
                return Err(e.into());
            }
            state = transition(state, result)?;
            self.memory().state = Some(state);
            self.milestone(Event::StateEntered { state, at: now() }).await?;
        }
        let dry_run = self.cfg.policy.dry_run;
        self.milestone(Event::RunFinished { state, exit_code: state.exit_code().code(), dry_run, at: now() }).await?;
        Ok(RunEnd::Finished(state))
    }

    async fn run_phase(&self, state: RunState, phase: PhaseRun) -> Result<PhaseEnd, EngineError> {
        let plan = self.plan.clone();
        let Some(to_run) = plan.stage(state) else { return Ok(PhaseEnd::Done(PhaseResult::Passed)) };
        match phase {
            PhaseRun::Sequential(_) => {
                for planned in &to_run.steps {
                    match self.run_step(planned, false).await? {
                        StepEnd::Interrupted => return Ok(PhaseEnd::Interrupted),
                        StepEnd::Failed { tolerated: false } => return Ok(PhaseEnd::Done(PhaseResult::Failed)),
                        _ => {}
                    }
                }
                Ok(PhaseEnd::Done(PhaseResult::Passed))
            }
            PhaseRun::BestEffort(name) => {
                let mut failed = false;
                for planned in &to_run.steps {
                    // Finalize failures are warnings; rollback goes on with the
                    // remaining steps (restore S3 even if ECS failed) but the
                    // rollback as a whole has failed.
                    let tolerate = name == PhaseName::Finalize;
                    match self.run_step(planned, tolerate).await? {
                        StepEnd::Interrupted => return Ok(PhaseEnd::Interrupted),
                        StepEnd::Failed { tolerated } if !tolerated || tolerate => {
                            failed = failed || !planned.step.continue_on_failure;
                        }
                        _ => {}
                    }
                }
                Ok(PhaseEnd::Done(if failed { PhaseResult::Failed } else { PhaseResult::Passed }))
            }
            PhaseRun::Validation | PhaseRun::Verification => {
                self.memory().failed_checks.clear();
                self.memory().passed_checks = 0;
                let mut checked = 0;
                for planned in &to_run.steps {
                    match self.run_step(planned, false).await? {
                        StepEnd::Interrupted => return Ok(PhaseEnd::Interrupted),
                        StepEnd::Failed { tolerated: false } => {
                            self.memory().failed_checks.push(planned.step.label());
                        }
                        StepEnd::Succeeded => {
                            checked += 1;
                            if planned.step.kind != "wait" {
                                self.memory().passed_checks += 1;
                            }
                        }
                        _ => {}
                    }
                }
                let failed = !self.memory().failed_checks.is_empty();
                if phase == PhaseRun::Verification {
                    if checked == 0 && !failed && !self.cfg.policy.dry_run {
                        // Nothing looked at the rolled-back system: that is not verified.
                        self.emit(Event::Warning {
                            message: "no validate check ran after the rollback, so nothing verified it; add checks to `validate`"
                                .into(),
                        })?;
                        return Ok(PhaseEnd::Done(PhaseResult::Failed));
                    }
                    return Ok(PhaseEnd::Done(if failed { PhaseResult::Failed } else { PhaseResult::Passed }));
                }
                if to_run.gates.is_empty() {
                    return Ok(PhaseEnd::Done(if failed { PhaseResult::NoGo } else { PhaseResult::Go }));
                }
                for planned in &to_run.gates {
                    match self.run_step(planned, false).await? {
                        StepEnd::Interrupted => return Ok(PhaseEnd::Interrupted),
                        StepEnd::Succeeded | StepEnd::Skipped | StepEnd::Failed { tolerated: true } => {}
                        StepEnd::Failed { tolerated: false } => return Ok(PhaseEnd::Done(PhaseResult::NoGo)),
                    }
                }
                Ok(PhaseEnd::Done(PhaseResult::Go))
            }
        }
    }

    fn run_step<'a>(&'a self, planned: &'a PlannedStep, tolerate: bool) -> BoxFuture<'a, Result<StepEnd, EngineError>> {
        Box::pin(async move {
            // A journal write that failed anywhere (a decision, a warning)
            // stops the run before the next step can act unrecorded.
            if let Some(e) = self.memory().fatal.take() {
                return Err(e.into());
            }
            let (key, step) = (&planned.key, &planned.step);
            let label = self.label(step);
            if let Some(end) = self.reuse_from_journal(key, step, &label, planned.deadline.map(|d| d.limit)).await? {
                return Ok(end);
            }
            if let Some(when) = &step.when {
                let run_it = match self.render(when, Quoting::None) {
                    Ok(r) => expr::is_truthy(&r.text),
                    Err(f) => return self.finish(key, step, &label, Err(f), Duration::ZERO, tolerate),
                };
                if !run_it {
                    self.emit(skipped(key, step, &label, format!("skipped: `when: {}` is false", when.display())))?;
                    return Ok(StepEnd::Skipped);
                }
            }
            let dry_run = self.cfg.policy.dry_run;
            if dry_run && !step.body.dry_run_safe() {
                self.emit(skipped(key, step, &label, format!("dry run: would {}", self.describe_resolved(step))))?;
                return Ok(StepEnd::Skipped);
            }
            // A dry run walks the happy path: read-only checks run once, for information.
            let tolerate = tolerate || dry_run;
            let attempts = if dry_run { 1 } else { step.retry.attempts.max(1) };
            let mut attempt = 1;
            loop {
                let expected = match &step.body {
                    StepBody::Action(action) => action.expected_duration(),
                    _ => None,
                };
                self.emit(Event::StepStarted {
                    key: key.clone(),
                    id: step.id.clone(),
                    label: label.clone(),
                    kind: step.kind.to_string(),
                    attempt,
                    expected_ms: expected.map(|d| d.as_millis() as u64),
                    timeout_ms: planned.deadline.map(|d| d.limit.as_millis() as u64),
                    at: now(),
                })?;
                let started = Instant::now();
                let handle = Handle(self);
                let run = StepRun { key, step, attempt, env: &handle };
                // A question keeps its own time (`timeout` is how long it
                // waits for an answer), so that the no is recorded.
                let deadline = if step.body.ask().is_some() { None } else { planned.deadline };
                let execution = async {
                    match deadline {
                        Some(d) => tokio::time::timeout(d.limit, self.perform(&run, planned))
                            .await
                            .map_or(Execution::TimedOut(d.limit), Execution::Done),
                        None => Execution::Done(self.perform(&run, planned).await),
                    }
                };
                // An interruption wins over a result that came with it: a
                // group whose step was interrupted must not be journaled as
                // failed (a resume would roll the release back).
                let execution = tokio::select! {
                    biased;
                    () = self.cancelled() => Execution::Cancelled,
                    e = execution => e,
                };
                let result = match execution {
                    Execution::Done(r) => r,
                    Execution::TimedOut(limit) => {
                        self.abort(&run).await;
                        Err(AdapterError::TimedOut(limit).into())
                    }
                    Execution::Cancelled => {
                        self.abort(&run).await;
                        return Ok(StepEnd::Interrupted);
                    }
                };
                if let Err(f) = &result
                    && attempt < attempts
                    && f.retryable()
                {
                    let delay = step.retry.delay_before(attempt + 1);
                    self.emit(Event::StepRetrying {
                        key: key.clone(),
                        attempt,
                        delay_ms: delay.as_millis() as u64,
                        error: f.message(),
                    })?;
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = self.cancelled() => return Ok(StepEnd::Interrupted),
                    }
                    attempt += 1;
                    continue;
                }
                if let Some(e) = self.memory().halt.take() {
                    return Err(e);
                }
                return self.finish(key, step, &label, result, started.elapsed(), tolerate);
            }
        })
    }

    fn finish(
        &self,
        key: &str,
        step: &Step,
        label: &str,
        result: Result<Outcome, StepFailure>,
        elapsed: Duration,
        tolerate: bool,
    ) -> Result<StepEnd, EngineError> {
        let (status, outputs, message, help, failure, end) = match result {
            Ok(o) => (StepStatus::Succeeded, o.outputs, o.summary, None, None, StepEnd::Succeeded),
            Err(f) => {
                let tolerated = tolerate || step.continue_on_failure;
                let kind = Some(f.error.kind_name().to_string());
                (StepStatus::Failed, f.outputs, Some(f.error.to_string()), f.error.help(), kind, StepEnd::Failed { tolerated })
            }
        };
        if let Some(id) = &step.id {
            self.memory().outputs.insert(id.clone(), outputs.clone());
        }
        self.emit(Event::StepFinished {
            key: key.to_string(),
            id: step.id.clone(),
            label: label.to_string(),
            status,
            outputs,
            message,
            help,
            failure,
            tolerated: matches!(end, StepEnd::Failed { tolerated: true }),
            duration_ms: elapsed.as_millis() as u64,
            at: now(),
        })?;
        Ok(end)
    }

    async fn cancelled(&self) {
        let mut rx = self.cancel.subscribe();
        if rx.wait_for(|c| *c).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// A step's end is flushed with whatever comes next (see `journal`): nothing
/// happens between the two that the disk must know of first.
fn durability(event: &Event) -> Durability {
    match event {
        Event::StepFinished { .. } | Event::StepProcess { .. } => Durability::BeforeNextSideEffect,
        _ => Durability::Now,
    }
}

fn skipped(key: &str, step: &Step, label: &str, message: String) -> Event {
    Event::StepFinished {
        key: key.to_string(),
        id: step.id.clone(),
        label: label.to_string(),
        status: StepStatus::Skipped,
        outputs: BTreeMap::new(),
        message: Some(message),
        help: None,
        failure: None,
        tolerated: false,
        duration_ms: 0,
        at: now(),
    }
}
