//! How a step kind reads its settings from the runbook, and the registry
//! that names the kinds. Validation knows kinds only through this file.

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

use super::{Action, BoxFuture, PhaseName, Step, StepEnv};
use crate::event::Event;
use crate::runbook::diagnostic::Diagnostics;
use crate::runbook::expr::Template;
use crate::runbook::node::{Key, Node};

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

    /// Asks people where this system reaches them (`via:` names it); `None`
    /// when it cannot (a Slack webhook cannot read answers).
    fn asker(&self) -> Option<&dyn super::Asker> {
        None
    }
}

impl dyn Integration {
    /// The settings as the kind that parsed them knows them.
    ///
    /// # Panics
    /// When `T` is not the type this integration's kind produced: a step
    /// kind asking for another system's settings is a bug.
    pub fn settings<T: 'static>(&self) -> &T {
        self.as_any().downcast_ref().unwrap_or_else(|| panic!("integration settings are not a {}", std::any::type_name::<T>()))
    }
}

pub trait IntegrationKind: Send + Sync {
    fn name(&self) -> &'static str;
    fn parse(&self, node: &Node, cx: &mut dyn ParseContext) -> Option<Arc<dyn Integration>>;

    /// JSON Schema of the settings `parse` accepts (see [`super::schema`]).
    fn schema(&self) -> serde_json::Value;
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
    /// `people:` (name → Slack member id, if given); `None` without it.
    fn people(&self) -> Option<&std::collections::BTreeMap<String, Option<String>>>;
}

pub trait StepKind: Send + Sync {
    fn name(&self) -> &'static str;

    /// Keys allowed beside the kind key, besides the common ones.
    fn sibling_keys(&self) -> &'static [&'static str] {
        &[]
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>>;

    /// JSON Schema of the kind key's value as `parse` accepts it (see [`super::schema`]).
    fn schema(&self) -> serde_json::Value;

    /// JSON Schema of each of [`Self::sibling_keys`], in that order.
    fn sibling_schema(&self) -> Vec<(&'static str, serde_json::Value)> {
        Vec::new()
    }
}

/// The step kinds and integrations a runbook may use, by name.
pub struct Registry {
    kinds: Vec<&'static dyn StepKind>,
    integrations: Vec<&'static dyn IntegrationKind>,
}

impl Registry {
    pub fn new(kinds: Vec<&'static dyn StepKind>, integrations: Vec<&'static dyn IntegrationKind>) -> Self {
        Registry { kinds, integrations }
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

    pub fn kinds(&self) -> &[&'static dyn StepKind] {
        &self.kinds
    }

    pub fn integrations(&self) -> &[&'static dyn IntegrationKind] {
        &self.integrations
    }
}
