//! Step kinds: the one trait every adapter implements, and the registry that
//! names them.
//!
//! A kind validates its own settings ([`StepKind::parse`]) and produces an
//! [`Action`]; the engine runs actions with a [`StepRun`] context and applies
//! `timeout`, `retry`, `when` and the journal around them, so no adapter does
//! that itself. Adding a kind is a new file and one line in
//! [`Registry::builtin`]; engine code does not change.

pub mod aws;
pub mod cloudwatch;
pub mod confirm;
pub mod ecs;
pub mod gate;
pub mod http;
pub mod jenkins;
pub mod parallel;
pub mod remote;
pub mod s3;
pub mod shell;
pub mod slack;
pub mod wait;

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use crate::engine::event::Event;
use crate::engine::prompter::{Answer, Question};
use crate::runbook::diagnostic::{Diagnostics, Span};
use crate::runbook::expr::Template;
use crate::runbook::model::{PhaseName, Step};
use crate::runbook::node::{Key, Node};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a step produced when it succeeded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub outputs: BTreeMap<String, String>,
    /// One line for the progress display (`HTTP 200 in 12ms`).
    pub summary: Option<String>,
}

/// Why a step did not succeed. `outputs` keeps what it produced before
/// failing, since a rollback often needs it (the previous version).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepFailure {
    pub message: String,
    pub outputs: BTreeMap<String, String>,
    /// False when trying again cannot help (a refused confirm, a no-go).
    pub retryable: bool,
}

impl StepFailure {
    pub fn new(message: impl Into<String>) -> Self {
        StepFailure { message: message.into(), outputs: BTreeMap::new(), retryable: true }
    }

    pub fn final_(message: impl Into<String>) -> Self {
        StepFailure { retryable: false, ..StepFailure::new(message) }
    }
}

pub type StepResult = Result<Outcome, StepFailure>;

/// How the engine treats a step within its phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Does work or checks something.
    Task,
    /// Asks a human a yes/no question.
    Confirm,
    /// The go/no-go decision; runs after every validate check.
    Gate,
}

/// A validated, ready-to-run step body.
pub trait Action: Send + Sync + Debug {
    /// One line for `plan` and progress, with expressions as written.
    fn describe(&self) -> String;

    fn role(&self) -> Role {
        Role::Task
    }

    /// Whether a dry run may execute it for real: it changes nothing and
    /// takes no time (a GET check, a question answered by the dry-run policy).
    fn dry_run_safe(&self) -> bool {
        false
    }

    /// Who may answer, for confirms and gates (`None`: anyone).
    fn approvers(&self) -> Option<&[String]> {
        None
    }

    /// Nested steps (`parallel`), for plans, ids and the journal.
    fn children(&self) -> &[Step] {
        &[]
    }

    /// Whether a run interrupted during this step can pick it up again from
    /// its checkpoint (re-attach to a Jenkins build) instead of starting over.
    fn resumes_from_checkpoint(&self) -> bool {
        false
    }

    fn execute<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, StepResult>;

    /// Called by the engine after the step timed out or the run was
    /// interrupted while it ran (stop the remote build it started).
    fn abort<'a>(&'a self, _run: &'a StepRun<'a>) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

/// Settings for a remote system under top-level `integrations:`, shared by
/// its steps, and a hook into the run for automatic notices.
pub trait Integration: Send + Sync + Debug {
    fn as_any(&self) -> &dyn Any;

    /// Lines `plan` shows about it (mode, what it will post).
    fn describe(&self) -> Vec<String> {
        Vec::new()
    }

    /// Sees the run's milestones (state changes, a gate waiting, decisions,
    /// the end). A failure is a warning: notices never change the outcome.
    fn on_event<'a>(&'a self, _event: &'a Event, _env: &'a dyn StepEnv) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

pub trait IntegrationKind: Send + Sync {
    fn name(&self) -> &'static str;
    fn parse(&self, node: &Node, cx: &mut dyn ParseContext) -> Option<Arc<dyn Integration>>;
}

/// What a kind's parser gets: the step's mapping, its kind key and value.
pub struct StepSpec<'a> {
    pub key: &'a Key,
    pub value: &'a Node,
    pub step: &'a Node,
    pub phase: PhaseName,
}

impl StepSpec<'_> {
    /// A sibling setting of the kind key (`env:` beside `run:`).
    pub fn sibling(&self, name: &str) -> Option<&Node> {
        self.step.get(name)
    }
}

/// Shared helpers for kinds while they parse, collecting every problem.
pub trait ParseContext {
    fn diagnostics(&mut self) -> &mut Diagnostics;
    /// Parses a string (or scalar) into a template and records its references.
    fn template(&mut self, node: &Node, what: &str) -> Option<Template>;
    /// Resolves `approvers:` (a group name or a list of names).
    fn approvers(&mut self, node: &Node) -> Option<Vec<String>>;
    /// Parses nested steps (for `parallel`).
    fn steps(&mut self, node: &Node, phase: PhaseName) -> Vec<Step>;
    /// The runbook's settings for an integration, if it has them.
    fn integration(&self, name: &str) -> Option<Arc<dyn Integration>>;
}

pub trait StepKind: Send + Sync {
    fn name(&self) -> &'static str;

    /// Keys allowed beside the kind key, besides the common ones.
    fn sibling_keys(&self) -> &'static [&'static str] {
        &[]
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>>;
}

/// What the engine lends a running step.
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
    /// Run-wide state of an integration (the Slack thread), journaled.
    fn record(&self, integration: &str, name: &str, value: &str);
    fn recorded(&self, integration: &str, name: &str) -> Option<String>;
    fn warn(&self, message: &str);
    /// The text with every secret masked (for messages sent elsewhere).
    fn redact(&self, text: &str) -> String;
    /// The run's current state, for notices.
    fn state_label(&self) -> String;
    /// Whether this is the second validation pass, verifying a rollback.
    fn verifying_rollback(&self) -> bool;
    fn runbook_name(&self) -> &str;
    fn var(&self, name: &str) -> Option<String>;
    /// Asks a human (or the CI policy) and records the decision.
    fn ask<'a>(&'a self, key: &'a str, question: Question) -> BoxFuture<'a, Answer>;
    /// Runs nested steps with the engine's timeouts, retries and journal.
    fn run_children<'a>(&'a self, parent: &'a str, steps: &'a [Step]) -> BoxFuture<'a, Result<(), StepFailure>>;
    fn workdir(&self) -> &Path;
    fn run_dir(&self) -> Option<&Path>;
    fn run_id(&self) -> &str;
    fn actor(&self) -> &str;
    /// Names of validate checks that failed so far (for the gate).
    fn failed_checks(&self) -> Vec<String>;
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

pub struct Registry {
    kinds: Vec<&'static dyn StepKind>,
    integrations: Vec<&'static dyn IntegrationKind>,
}

impl Registry {
    pub fn builtin() -> Self {
        Registry {
            kinds: vec![
                &shell::RunKind,
                &http::HttpKind,
                &confirm::ConfirmKind,
                &gate::GateKind,
                &wait::WaitKind,
                &parallel::ParallelKind,
                &jenkins::JenkinsKind,
                &slack::SlackKind,
                &s3::PromoteKind,
                &s3::RollbackKind,
                &s3::CheckKind,
                &cloudwatch::AlarmsKind,
                &ecs::DeployKind,
                &ecs::CheckKind,
                &ecs::RollbackKind,
            ],
            integrations: vec![&jenkins::JenkinsIntegrationKind, &slack::SlackIntegrationKind, &aws::AwsIntegrationKind],
        }
    }

    pub fn integration(&self, name: &str) -> Option<&'static dyn IntegrationKind> {
        self.integrations.iter().copied().find(|k| k.name() == name)
    }

    pub fn integration_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.integrations.iter().map(|k| k.name())
    }

    pub fn get(&self, name: &str) -> Option<&'static dyn StepKind> {
        self.kinds.iter().copied().find(|k| k.name() == name)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.iter().map(|k| k.name())
    }
}

/// Reads an optional duration setting, reporting a bad one.
pub fn duration_setting(node: Option<&Node>, cx: &mut dyn ParseContext) -> Option<std::time::Duration> {
    let node = node?;
    let Some(text) = node.as_str() else {
        let hint = node.scalar_text().map(|t| format!("write `{t}s` or `{t}m`"));
        let mut d =
            crate::runbook::diagnostic::Diagnostic::new(node.span, format!("expected a duration, found {}", node.type_name()));
        if let Some(h) = hint {
            d = d.hint(h);
        }
        cx.diagnostics().push(d);
        return None;
    };
    match crate::runbook::duration::parse_duration(text) {
        Ok(d) => Some(d),
        Err(e) => {
            cx.diagnostics().push(
                crate::runbook::diagnostic::Diagnostic::new(
                    Span { len: text.chars().count() as u32, ..node.span },
                    format!("bad duration: {e}"),
                )
                .hint("durations look like 500ms, 5s, 10m, 1h30m"),
            );
            None
        }
    }
}

/// Reports keys of a settings mapping that the kind does not know.
pub fn check_keys(node: &Node, known: &[&str], what: &str, cx: &mut dyn ParseContext) {
    if let Some(map) = node.as_map() {
        for (k, _) in map {
            if !known.contains(&k.name.as_str()) {
                let mut d = crate::runbook::diagnostic::Diagnostic::new(k.span, format!("unknown key `{}` in {what}", k.name));
                d.hint = crate::runbook::diagnostic::suggest(&k.name, known.iter().copied())
                    .or_else(|| Some(format!("known keys: {}", known.join(", "))));
                cx.diagnostics().push(d);
            }
        }
    }
}
