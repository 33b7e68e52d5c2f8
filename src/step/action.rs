//! The action an adapter performs for a step, and what the engine lends it
//! while it runs. Timeouts, retries, `when` and the journal are applied by
//! the engine around [`Action::execute`], never by the action itself.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use std::time::Duration;

use super::{AdapterError, RollbackTarget, Step, TargetDecl};
use crate::event::RunState;
use crate::runbook::expr::Template;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a step produced when it succeeded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub outputs: BTreeMap<String, String>,
    /// One line for the progress display (`HTTP 200 in 12ms`).
    pub summary: Option<String>,
}

/// Why a step did not succeed, and what it produced before failing
/// (`outputs`), since a rollback often needs it (the previous version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFailure {
    pub error: AdapterError,
    pub outputs: BTreeMap<String, String>,
}

impl StepFailure {
    /// What the step checks does not hold (may hold on a later attempt).
    pub fn check(message: impl Into<String>) -> Self {
        AdapterError::Check(message.into()).into()
    }

    /// Trying again cannot help.
    pub fn refused(message: impl Into<String>) -> Self {
        AdapterError::refused(message).into()
    }

    pub fn retryable(&self) -> bool {
        self.error.retryable()
    }

    pub fn message(&self) -> String {
        self.error.to_string()
    }
}

impl From<AdapterError> for StepFailure {
    fn from(error: AdapterError) -> Self {
        StepFailure { error, outputs: BTreeMap::new() }
    }
}

pub type StepResult = Result<Outcome, StepFailure>;

/// A validated, ready-to-run step body performed by an adapter.
pub trait Action: Send + Sync + Debug {
    /// One line for `plan` and progress, with expressions as written.
    fn describe(&self) -> String;

    /// Whether a dry run may execute it for real: it changes nothing and
    /// takes no time (a GET check).
    fn dry_run_safe(&self) -> bool {
        false
    }

    /// Whether a run interrupted during this step can pick it up again from
    /// its checkpoint (re-attach to a Jenkins build) instead of starting over.
    fn resumes_from_checkpoint(&self) -> bool {
        false
    }

    /// How long the step may take when the runbook sets no `timeout`: every
    /// kind that waits on something (a build, a rollout, a pause) has one, so
    /// a stuck remote cannot hold a release forever. The plan shows it.
    fn default_timeout(&self) -> Option<Duration> {
        None
    }

    /// How long it takes when all is well, when that is known up front (a
    /// `wait`): progress shows the time left.
    fn expected_duration(&self) -> Option<Duration> {
        None
    }

    /// The resource this step records before changing it, or restores.
    fn rollback_target(&self) -> Option<TargetDecl> {
        None
    }

    fn execute<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, StepResult>;

    /// A value to measure before `execute` begins, for the step to compare
    /// against later (a metric's level before the release). The engine
    /// journals it once, so a resumed run compares against the same value;
    /// the step reads it back with [`baseline_of`].
    /// Each is named by [`baseline_key`] of the check's place in the
    /// runbook (a bake may watch several checks).
    fn baselines<'a>(&'a self, _run: &'a StepRun<'a>) -> Vec<(String, Baseline<'a>)> {
        Vec::new()
    }

    /// Called by the engine after the step timed out or the run was
    /// interrupted while it ran (stop the remote build it started).
    fn abort<'a>(&'a self, _run: &'a StepRun<'a>) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

/// A baseline's measurement: the value, or `None` for no data.
pub type Baseline<'a> = BoxFuture<'a, Result<Option<f64>, StepFailure>>;

/// Where a check's baseline is journaled: by the check's place in the
/// runbook (its kind key), so the check, its run again after a rollback,
/// and every bake that watches it share one.
pub fn baseline_key(span: crate::runbook::diagnostic::Span) -> String {
    format!("{}:{}", span.line, span.col)
}

/// The baseline the engine captured under `key`; `None` when there was no
/// data then (or none was captured).
pub fn baseline_of(env: &dyn StepEnv, key: &str) -> Option<f64> {
    env.recorded(BASELINE, key).and_then(|v| v.parse().ok())
}

/// The journal's name for baselines (`IntegrationState`).
pub const BASELINE: &str = "baseline";

/// What the engine lends a running step (and an integration's notices): a
/// narrow handle, not the engine.
pub trait StepEnv: Send + Sync {
    fn render(&self, template: &Template) -> Result<String, StepFailure>;
    /// A shell command: values become environment variables it refers to.
    fn render_shell(&self, template: &Template) -> Result<(String, Vec<(String, String)>), StepFailure>;
    /// Output to show under the step: a line, or several separated by `\n`
    /// (the engine redacts it).
    fn log(&self, key: &str, line: &str);
    /// Records progress that must survive a crash (a build number) in the
    /// journal before the step goes on; a resumed step reads it back.
    fn checkpoint(&self, key: &str, data: BTreeMap<String, String>) -> Result<(), StepFailure>;
    fn checkpoint_of(&self, key: &str) -> Option<BTreeMap<String, String>>;
    /// Journals the process group a step's command leads, as it starts.
    fn process_started(&self, key: &str, record: &super::ProcessRecord) -> Result<(), StepFailure>;
    /// Run-wide state of an integration (the Slack thread), journaled
    /// before the step goes on.
    fn record(&self, integration: &str, name: &str, value: &str) -> Result<(), StepFailure>;
    fn recorded(&self, integration: &str, name: &str) -> Option<String>;
    /// Journals what a rollback of `target` will restore, before it changes.
    fn save_target(&self, target: &RollbackTarget, state: &str) -> Result<(), StepFailure> {
        self.record(target.system, &target.record_name(), state)
    }
    /// What was saved for `target` in this run, if anything changed it.
    fn saved_target(&self, target: &RollbackTarget) -> Option<String> {
        self.recorded(target.system, &target.record_name())
            .or_else(|| target.legacy_record_name().and_then(|name| self.recorded(target.system, &name)))
    }
    fn warn(&self, message: &str);
    /// The text with every secret masked (for messages sent elsewhere).
    fn redact(&self, text: &str) -> String;
    /// The state the run is in (verifying a rollback is the second pass
    /// of the validate checks).
    fn state(&self) -> RunState;
    fn var(&self, name: &str) -> Option<String>;
    /// Which run this is, and where it keeps its files.
    fn info(&self) -> &RunInfo;
}

/// Which run a step belongs to; fixed for the whole run.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub run_id: String,
    /// Who runs the release.
    pub actor: String,
    /// The runbook's `name`.
    pub runbook: String,
    /// Where `run` steps start (the runbook's directory).
    pub workdir: PathBuf,
    /// The run's directory (journal, output.log, console logs); none in a dry run.
    pub run_dir: Option<PathBuf>,
}

/// The context of one execution of one step.
pub struct StepRun<'a> {
    pub key: &'a str,
    pub step: &'a Step,
    pub attempt: u32,
    pub env: &'a dyn StepEnv,
}

impl StepRun<'_> {
    pub fn log(&self, line: &str) {
        self.env.log(self.key, line);
    }
}
