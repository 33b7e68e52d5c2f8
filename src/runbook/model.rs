//! The checked runbook: what validation guarantees to the planner and engine.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::step::{Integration, PhaseName, Step};

#[derive(Debug, Clone)]
pub struct VarDef {
    pub name: String,
    pub default: Option<String>,
    pub required: bool,
    pub description: Option<String>,
}

/// Someone who may answer questions, and how relctl can reach and verify them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Person {
    /// Their Slack user id (`U0ALICE`): an answer in Slack from this id is theirs.
    pub slack: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Runbook {
    pub name: String,
    pub description: Option<String>,
    pub path: PathBuf,
    pub source: String,
    pub vars: Vec<VarDef>,
    pub approvers: BTreeMap<String, Vec<String>>,
    /// `people:`; when given, every approver named must be one of them.
    pub people: BTreeMap<String, Person>,
    pub phases: BTreeMap<PhaseName, Vec<Step>>,
    /// Every `${{ secrets.X }}` name, read from the environment before the run.
    pub secrets: Vec<String>,
    pub integrations: BTreeMap<String, Arc<dyn Integration>>,
    /// `windows:` and `freezes:`: when a release may start.
    pub schedule: super::schedule::Schedule,
    /// `state: s3://bucket/prefix`: the lock (and, later, the journal and
    /// index) shared between machines; `--state` and RELCTL_STATE win over it.
    pub state: Option<crate::state::Location>,
    /// After a rollback the runbook stays locked until a person releases it.
    pub lock_after_rollback: bool,
}

impl Runbook {
    pub fn phase(&self, phase: PhaseName) -> &[Step] {
        self.phases.get(&phase).map_or(&[], Vec::as_slice)
    }
}
