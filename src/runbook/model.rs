//! The checked runbook: what validation guarantees to the planner and engine.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::diagnostic::Span;
use super::expr::Template;
use crate::adapter::Action;

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

#[derive(Debug, Clone)]
pub struct VarDef {
    pub name: String,
    pub default: Option<String>,
    pub required: bool,
    pub description: Option<String>,
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
        self.delay.mul_f64(factor)
    }
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: Option<String>,
    pub name: Option<String>,
    pub kind: &'static str,
    pub action: Arc<dyn Action>,
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
            let described = self.action.describe();
            let mut lines = described.lines().filter(|l| !l.trim().is_empty());
            let first = lines.next().unwrap_or_default().trim().to_string();
            if lines.next().is_some() { format!("{first} …") } else { first }
        })
    }
}

#[derive(Debug, Clone)]
pub struct Runbook {
    pub name: String,
    pub description: Option<String>,
    pub path: PathBuf,
    pub source: String,
    pub vars: Vec<VarDef>,
    pub approvers: BTreeMap<String, Vec<String>>,
    pub phases: BTreeMap<PhaseName, Vec<Step>>,
    /// Every `${{ secrets.X }}` name, read from the environment before the run.
    pub secrets: Vec<String>,
    pub integrations: BTreeMap<String, Arc<dyn crate::adapter::Integration>>,
}

impl Runbook {
    pub fn phase(&self, phase: PhaseName) -> &[Step] {
        self.phases.get(&phase).map_or(&[], Vec::as_slice)
    }
}
