//! What the engine lends a running step ([`StepEnv`]) and how expressions
//! find their values ([`Scope`]): rendering with redaction, output lines,
//! checkpoints and integration state, and how a step's text is shown.

use std::collections::BTreeMap;

use super::Engine;
use crate::event::{Event, RunState};
use crate::runbook::expr::{Quoting, Reference, Scope, Template, Value};
use crate::step::{AdapterError, ProcessRecord, RunInfo, Step, StepEnv, StepFailure};

/// For showing what a step would do: values not known yet (outputs of steps
/// a dry run did not run) stay visible as `<steps.ID.outputs.KEY>`.
pub(super) struct Unresolved<'a>(pub(super) &'a Engine);

impl Scope for Unresolved<'_> {
    fn lookup(&self, reference: &Reference) -> Result<Value, String> {
        Ok(self.0.lookup(reference).unwrap_or_else(|_| Value { text: format!("<{reference}>"), secret: false }))
    }
}

impl Scope for Engine {
    fn lookup(&self, reference: &Reference) -> Result<Value, String> {
        let plain = |text: String| Ok(Value { text, secret: false });
        match reference {
            Reference::Var(name) => match self.plan.vars.get(name) {
                Some(v) => plain(v.clone()),
                None => Err(format!("var `{name}` has no value: pass --var {name}=VALUE")),
            },
            Reference::Env(name) => plain(std::env::var(name).unwrap_or_default()),
            Reference::Secret(name) => match self.plan.secrets.get(name) {
                Some(v) => Ok(Value { text: v.clone(), secret: true }),
                None => Err(format!("secret `{name}` is not set: export {name}")),
            },
            Reference::StepOutput { step, key } => {
                let memory = self.memory();
                let outputs = &memory.outputs;
                match outputs.get(step).and_then(|o| o.get(key)) {
                    Some(v) => plain(v.clone()),
                    None if outputs.contains_key(step) => Err(format!(
                        "step `{step}` has no output `{key}` (a run step sets it by writing {key}=VALUE to $RELCTL_OUTPUT)"
                    )),
                    None => Err(format!("step `{step}` has not run in this run, so `steps.{step}.outputs.{key}` has no value")),
                }
            }
            Reference::RunId => plain(self.cfg.run_id.clone()),
            Reference::RunActor => plain(self.cfg.actor.clone()),
        }
    }
}

/// The narrow handle a running step (or an integration's notice) gets: it
/// renders, logs, records and reads what this run knows, and nothing else
/// of the engine.
pub(super) struct Handle<'a>(pub(super) &'a Engine);

impl StepEnv for Handle<'_> {
    fn render(&self, template: &Template) -> Result<String, StepFailure> {
        self.0.render(template, Quoting::None).map(|r| r.text)
    }

    fn render_shell(&self, template: &Template) -> Result<(String, Vec<(String, String)>), StepFailure> {
        self.0.render(template, Quoting::Shell).map(|r| (r.text, r.env))
    }

    fn log(&self, key: &str, line: &str) {
        // Output lines are not journaled: showing them cannot fail the run.
        let _ = self.0.emit(Event::StepLog { key: key.to_string(), line: line.to_string() });
    }

    fn checkpoint(&self, key: &str, data: BTreeMap<String, String>) -> Result<(), StepFailure> {
        self.0.memory().checkpoints.entry(key.to_string()).or_default().extend(data.clone());
        self.0.emit(Event::StepCheckpoint { key: key.to_string(), data }).map_err(|e| AdapterError::Journal(e.to_string()).into())
    }

    fn checkpoint_of(&self, key: &str) -> Option<BTreeMap<String, String>> {
        self.0.memory().checkpoints.get(key).cloned()
    }

    fn process_started(&self, key: &str, record: &ProcessRecord) -> Result<(), StepFailure> {
        self.0.emit(record.event(key)).map_err(|e| AdapterError::Journal(e.to_string()).into())
    }

    fn record(&self, integration: &str, name: &str, value: &str) -> Result<(), StepFailure> {
        self.0.memory().integration_state.insert((integration.to_string(), name.to_string()), value.to_string());
        self.0
            .emit(Event::IntegrationState { integration: integration.into(), name: name.into(), value: value.into() })
            .map_err(|e| AdapterError::Journal(e.to_string()).into())
    }

    fn recorded(&self, integration: &str, name: &str) -> Option<String> {
        self.0.memory().integration_state.get(&(integration.to_string(), name.to_string())).cloned()
    }

    fn redact(&self, text: &str) -> String {
        self.0.redactor.text(text)
    }

    fn warn(&self, message: &str) {
        let _ = self.0.emit(Event::Warning { message: message.to_string() });
    }

    fn state(&self) -> RunState {
        self.0.memory().state.unwrap_or(RunState::Checklist)
    }

    fn var(&self, name: &str) -> Option<String> {
        self.0.plan.vars.get(name).cloned()
    }

    fn info(&self) -> &RunInfo {
        &self.0.info
    }
}

/// How a step's text is shown and rendered with this run's values.
impl Engine {
    /// How progress names a step: its name or id, else what it does with
    /// this run's values (first line of a script).
    pub(super) fn label(&self, step: &Step) -> String {
        if step.name.is_some() || step.id.is_some() {
            return step.label();
        }
        let described = self.describe_resolved(step);
        let mut lines = described.lines().filter(|l| !l.trim().is_empty());
        let first = lines.next().unwrap_or_default().trim().to_string();
        if lines.next().is_some() { format!("{first} …") } else { first }
    }

    pub(super) fn describe_resolved(&self, step: &Step) -> String {
        let raw = step.body.describe();
        Template::parse(&raw, crate::runbook::diagnostic::Span::default(), 1)
            .ok()
            .and_then(|t| t.render(&Unresolved(self), Quoting::None).ok())
            .map_or(raw, |r| self.redactor.text(&r.text))
    }

    pub(super) fn render(&self, t: &Template, quoting: Quoting) -> Result<crate::runbook::expr::Rendered, StepFailure> {
        let rendered = t.render(self, quoting).map_err(StepFailure::refused)?;
        for s in &rendered.secrets {
            self.redactor.add(s);
        }
        Ok(rendered)
    }
}
