//! Leaf contract: what a step is, as the runbook, the plan, the engine and
//! the adapters all see it.
//!
//! A step's body is either an [`Action`] an adapter performs (`run`, `http`,
//! `jenkins`, …) or an engine construct: a question for a person
//! ([`StepBody::Confirm`], [`StepBody::Gate`]) or a group run at once
//! ([`StepBody::Parallel`]). Questions and groups belong to the engine — it
//! journals decisions and applies approver rules — so no adapter pretends to
//! be one.

mod action;
mod asker;
mod checkpoint;
mod error;
mod kind;
mod process;
pub mod schema;
mod settings;
mod target;

use std::sync::Arc;
use std::time::Duration;

pub use action::{
    Action, BASELINE, Baseline, BoxFuture, Outcome, RunInfo, StepEnv, StepFailure, StepResult, StepRun, baseline_key, baseline_of,
};
pub use asker::Asker;
pub use checkpoint::{checkpoint_data, read_checkpoint};
pub use error::{AdapterError, RemoteKind};
pub use kind::{Integration, IntegrationKind, ParseContext, Registry, StepKind, StepSpec};
pub use process::{ProcessRecord, STOP_GRACE, group_alive, signal_group};
use serde::{Deserialize, Serialize};
pub use settings::{Settings, duration_setting, template_map};
pub use target::{RollbackTarget, TargetDecl, TargetUse, joined, unmatched};

use crate::runbook::diagnostic::Span;
use crate::runbook::expr::Template;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhaseName {
    Checklist,
    Execute,
    Validate,
    Rollback,
    Finalize,
}

impl PhaseName {
    pub const ALL: [PhaseName; 5] =
        [PhaseName::Checklist, PhaseName::Execute, PhaseName::Validate, PhaseName::Rollback, PhaseName::Finalize];

    pub fn as_str(self) -> &'static str {
        match self {
            PhaseName::Checklist => "checklist",
            PhaseName::Execute => "execute",
            PhaseName::Validate => "validate",
            PhaseName::Rollback => "rollback",
            PhaseName::Finalize => "finalize",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Retry {
    /// Total tries, at least 1.
    pub attempts: u32,
    pub delay: Duration,
    pub backoff: f64,
}

impl Retry {
    pub fn once() -> Self {
        Retry { attempts: 1, delay: Duration::ZERO, backoff: 1.0 }
    }

    /// The pause before try number `next` (2-based).
    pub fn delay_before(&self, next: u32) -> Duration {
        let factor = self.backoff.max(1.0).powi(next.saturating_sub(2) as i32);
        // Validation keeps it within a week; never panic on what slipped through.
        Duration::try_from_secs_f64(self.delay.as_secs_f64() * factor).unwrap_or(Duration::MAX)
    }
}

/// A question for a person: its text and who may answer it.
#[derive(Debug, Clone)]
pub struct Ask {
    pub text: Template,
    /// `None`: anyone may answer.
    pub approvers: Option<Vec<String>>,
    /// Gates: whether CI may go ahead over failed checks, with the gate's own
    /// id and a reason (`--approve ID --reason TEXT`).
    pub allow_override: bool,
    /// Four eyes: whoever started the run may not answer it.
    pub not_initiator: bool,
    /// Where it is asked (`via:`): the terminal, the run's Slack thread.
    pub via: Vec<crate::question::Via>,
    /// Distinct people whose yes it takes (`require:`).
    pub require: usize,
    /// `identity: verified`: answers from a typed name do not count.
    pub verified_only: bool,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum StepBody {
    /// Work or a check, performed by an adapter.
    Action(Arc<dyn Action>),
    /// A person's yes/no ("Smoke test: user login works"); no fails the step.
    Confirm(Ask),
    /// The go/no-go decision; runs after every validate check.
    Gate(Ask),
    /// Steps run at once, each with its own timeout, retries and journal entries.
    Parallel(Vec<Step>),
    /// Steps run one after another, each journaled on its own, stopping at
    /// the first failure (a `canary`'s shifts and bakes).
    Sequence(Vec<Step>),
}

impl StepBody {
    /// One line for `plan` and progress, with expressions as written.
    pub fn describe(&self) -> String {
        match self {
            StepBody::Action(a) => a.describe(),
            StepBody::Confirm(ask) | StepBody::Gate(ask) => format!("\"{}\"", ask.text.display()),
            StepBody::Parallel(steps) => format!("{} steps at once", steps.len()),
            StepBody::Sequence(steps) => format!("{} steps in turn", steps.len()),
        }
    }

    /// The question, for confirms and gates.
    pub fn ask(&self) -> Option<&Ask> {
        match self {
            StepBody::Confirm(ask) | StepBody::Gate(ask) => Some(ask),
            _ => None,
        }
    }

    pub fn is_gate(&self) -> bool {
        matches!(self, StepBody::Gate(_))
    }

    /// Nested steps (`parallel`).
    pub fn children(&self) -> &[Step] {
        match self {
            StepBody::Parallel(steps) | StepBody::Sequence(steps) => steps,
            _ => &[],
        }
    }

    /// Whether a dry run may execute it for real: it changes nothing and
    /// takes no time (a GET check, a question answered by the dry-run policy).
    pub fn dry_run_safe(&self) -> bool {
        match self {
            StepBody::Action(a) => a.dry_run_safe(),
            _ => true,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: Option<String>,
    pub name: Option<String>,
    pub kind: &'static str,
    pub body: StepBody,
    pub timeout: Option<Duration>,
    pub retry: Retry,
    pub when: Option<Template>,
    pub continue_on_failure: bool,
    pub idempotent: bool,
    pub span: Span,
}

impl Step {
    /// How people see the step: its name, else its id, else what it does.
    pub fn label(&self) -> String {
        self.name.clone().or_else(|| self.id.clone()).unwrap_or_else(|| {
            let described = self.body.describe();
            let mut lines = described.lines().filter(|l| !l.trim().is_empty());
            let first = lines.next().unwrap_or_default().trim().to_string();
            if lines.next().is_some() { format!("{first} …") } else { first }
        })
    }
}
