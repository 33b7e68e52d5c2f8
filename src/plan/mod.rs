//! Runbook + this run's inputs → the plan: vars resolved, secrets present,
//! and every state's steps in the order they run, each with its journal key
//! and deadline — the verification pass after a rollback included — plus
//! the rollback targets and who must answer each gate.
//!
//! This is the one place keys, order and deadlines are worked out: the
//! engine walks [`Plan::stage`] and `relctl plan` prints the same value
//! ([`render`]), so what a release manager reviews is what runs.

mod approvers;
mod json;
mod render;
mod targets;

pub use approvers::ApproverError;
pub use json::SCHEMA_VERSION;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::event::RunState;
use crate::runbook::diagnostic::suggest;
use crate::runbook::model::Runbook;
use crate::step::{PhaseName, RollbackTarget, Step, StepBody, TargetUse};

#[derive(Debug, Clone)]
pub struct Plan {
    pub runbook: Arc<Runbook>,
    pub vars: BTreeMap<String, String>,
    /// Secret values by name; never printed.
    pub secrets: BTreeMap<String, String>,
    /// What each state that runs steps runs, in run order.
    pub stages: Vec<Stage>,
}

/// The steps one state of the run executes.
#[derive(Debug, Clone)]
pub struct Stage {
    pub state: RunState,
    /// In run order; in validation and its verification pass, the checks.
    pub steps: Vec<PlannedStep>,
    /// Validation only: the go/no-go gates, asked after every check ran.
    pub gates: Vec<PlannedStep>,
}

/// A step as it will run.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    /// Its name in the journal: `execute.1`, `validate.1.0`, `verify.0`.
    pub key: String,
    pub step: Step,
    /// `timeout:`, else its kind's default; `None`: it ends by itself.
    pub deadline: Option<Deadline>,
    /// `parallel`: the steps it runs at once, each with its own key.
    pub children: Vec<PlannedStep>,
    /// What it records for a rollback, or restores; the resource is `None`
    /// when it is only known while running (it names a step's output).
    pub target: Option<(TargetUse, Option<RollbackTarget>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub limit: Duration,
    /// False when it is the step kind's default.
    pub from_runbook: bool,
}

impl PlannedStep {
    fn new(key: String, step: &Step, resolve: &dyn Fn(&crate::step::TargetDecl) -> Option<RollbackTarget>) -> PlannedStep {
        let default = match &step.body {
            StepBody::Action(a) => a.default_timeout(),
            _ => None,
        };
        let deadline = match step.timeout {
            Some(limit) => Some(Deadline { limit, from_runbook: true }),
            None => default.map(|limit| Deadline { limit, from_runbook: false }),
        };
        let children =
            step.body.children().iter().enumerate().map(|(i, c)| PlannedStep::new(format!("{key}.{i}"), c, resolve)).collect();
        let target = match &step.body {
            StepBody::Action(a) => a.rollback_target().map(|d| (d.uses, resolve(&d))),
            _ => None,
        };
        PlannedStep { key, step: step.clone(), deadline, children, target }
    }

    /// This step and every step nested in it, in order.
    pub fn walk(&self) -> Vec<&PlannedStep> {
        let mut all = vec![self];
        for c in &self.children {
            all.extend(c.walk());
        }
        all
    }
}

/// The journal key prefix of each state's steps.
fn prefix(state: RunState) -> &'static str {
    match state {
        RunState::Checklist => "checklist",
        RunState::Execute => "execute",
        RunState::Validate => "validate",
        RunState::RollingBack => "rollback",
        RunState::VerifyingRollback => "verify",
        RunState::Finalize => "finalize",
        _ => "",
    }
}

fn stages(rb: &Runbook, resolve: &dyn Fn(&crate::step::TargetDecl) -> Option<RollbackTarget>) -> Vec<Stage> {
    let planned = |state: RunState, phase: PhaseName, gates: Option<bool>| -> Vec<PlannedStep> {
        rb.phase(phase)
            .iter()
            .enumerate()
            .filter(|(_, s)| gates.is_none_or(|g| s.body.is_gate() == g))
            .map(|(i, s)| PlannedStep::new(format!("{}.{i}", prefix(state)), s, resolve))
            .collect()
    };
    let all = |state: RunState, phase: PhaseName| Stage { state, steps: planned(state, phase, None), gates: Vec::new() };
    vec![
        all(RunState::Checklist, PhaseName::Checklist),
        all(RunState::Execute, PhaseName::Execute),
        Stage {
            state: RunState::Validate,
            steps: planned(RunState::Validate, PhaseName::Validate, Some(false)),
            gates: planned(RunState::Validate, PhaseName::Validate, Some(true)),
        },
        all(RunState::RollingBack, PhaseName::Rollback),
        // The rollback is verified by the validate checks again, under their own keys, without the gate.
        Stage {
            state: RunState::VerifyingRollback,
            steps: planned(RunState::VerifyingRollback, PhaseName::Validate, Some(false)),
            gates: Vec::new(),
        },
        all(RunState::Finalize, PhaseName::Finalize),
    ]
}

#[derive(Debug, thiserror::Error)]
#[error("cannot plan {runbook}:\n{}", problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct PlanError {
    pub runbook: String,
    pub problems: Vec<String>,
}

impl Plan {
    /// `overrides` are `--var` values; `env` reads the environment (injectable for tests).
    pub fn build(
        runbook: Arc<Runbook>,
        overrides: &[(String, String)],
        env: &dyn Fn(&str) -> Option<String>,
        require_secrets: bool,
    ) -> Result<Plan, PlanError> {
        let mut problems = Vec::new();
        let mut vars = BTreeMap::new();
        for def in &runbook.vars {
            if let Some(d) = &def.default {
                vars.insert(def.name.clone(), d.clone());
            }
        }
        for (k, v) in overrides {
            if runbook.vars.iter().any(|d| &d.name == k) {
                vars.insert(k.clone(), v.clone());
            } else {
                let hint =
                    suggest(k, runbook.vars.iter().map(|d| d.name.as_str())).map(|h| format!(" ({h})")).unwrap_or_default();
                problems.push(format!("--var {k}: the runbook declares no var `{k}`{hint}"));
            }
        }
        for def in &runbook.vars {
            if def.required && !vars.contains_key(&def.name) {
                let what = def.description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
                problems.push(format!("var `{}`{what} is required: pass --var {}=VALUE", def.name, def.name));
            }
        }
        let mut secrets = BTreeMap::new();
        for name in &runbook.secrets {
            match env(name) {
                Some(v) if !v.is_empty() => {
                    secrets.insert(name.clone(), v);
                }
                _ if require_secrets => {
                    problems.push(format!("secret `{name}` is not set: export the environment variable {name}"));
                }
                _ => {}
            }
        }
        let resolve = |d: &crate::step::TargetDecl| targets::resolve(d, &vars);
        let stages = stages(&runbook, &resolve);
        problems.extend(targets::check(&stages));
        if problems.is_empty() {
            Ok(Plan { runbook, vars, secrets, stages })
        } else {
            Err(PlanError { runbook: runbook.path.display().to_string(), problems })
        }
    }

    /// The steps `state` runs (none for a terminal state).
    pub fn stage(&self, state: RunState) -> Option<&Stage> {
        self.stages.iter().find(|s| s.state == state)
    }

    /// `--rerun` and `--assume-done` are for steps that act and were cut off
    /// mid-way. A gate or confirm is a question: it is asked again on
    /// resume, never skipped or assumed answered.
    pub fn check_resume_flags(&self, rerun: &[String], assume_done: &[String]) -> Result<(), PlanError> {
        let mut problems = Vec::new();
        for (flag, names) in [("--rerun", rerun), ("--assume-done", assume_done)] {
            for name in names {
                let question = self
                    .stages
                    .iter()
                    .flat_map(|s| s.steps.iter().chain(&s.gates).flat_map(PlannedStep::walk))
                    .find(|p| (p.key == *name || p.step.id.as_deref() == Some(name)) && p.step.body.ask().is_some());
                if let Some(p) = question {
                    let what = if p.step.body.is_gate() { "a gate" } else { "a confirm" };
                    let approve =
                        p.step.id.as_deref().map_or_else(|| "--approve all".to_string(), |id| format!("--approve {id}"));
                    problems.push(format!(
                        "{flag} {name}: `{name}` is {what}, a question, not a step that acts: it is asked again on resume \
                         (at the terminal, or in CI answered by {approve} under the same approver rules), never {}",
                        if flag == "--rerun" { "re-run blindly" } else { "assumed answered" }
                    ));
                }
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(PlanError { runbook: self.runbook.path.display().to_string(), problems }) }
    }

    /// `--reason` is the why of an override: it needs `--approve ID` naming
    /// a gate that allows one (`--approve all` never overrides).
    pub fn check_override(&self, approve: &[String], reason: Option<&str>) -> Result<(), PlanError> {
        if reason.is_none() {
            return Ok(());
        }
        let overridable: Vec<&str> = self
            .stages
            .iter()
            .flat_map(|s| &s.gates)
            .filter(|p| p.step.body.ask().is_some_and(|a| a.allow_override))
            .filter_map(|p| p.step.id.as_deref())
            .collect();
        if approve.iter().any(|a| overridable.contains(&a.as_str())) {
            return Ok(());
        }
        let hint = if overridable.is_empty() {
            "no gate in this runbook has `allow_override: true`".to_string()
        } else {
            format!("gates that allow one: {}", overridable.join(", "))
        };
        Err(PlanError {
            runbook: self.runbook.path.display().to_string(),
            problems: vec![format!("--reason goes with --approve ID naming a gate that allows an override ({hint})")],
        })
    }

    /// `--approve` values must name a confirm or gate (or be `all`): a typo
    /// would otherwise fail closed with no hint why.
    pub fn check_approvals(&self, approve: &[String]) -> Result<(), PlanError> {
        fn questions<'a>(steps: &'a [Step], out: &mut Vec<&'a str>) {
            for s in steps {
                if s.body.ask().is_some() {
                    out.extend(s.id.as_deref());
                }
                questions(s.body.children(), out);
            }
        }
        let mut ids = Vec::new();
        for phase in PhaseName::ALL {
            questions(self.runbook.phase(phase), &mut ids);
        }
        let problems: Vec<String> = approve
            .iter()
            .filter(|a| a.as_str() != "all" && !ids.contains(&a.as_str()))
            .map(|a| {
                let hint = suggest(a, ids.iter().copied()).unwrap_or_else(|| {
                    format!("ids of confirms and gates: {}", if ids.is_empty() { "none".into() } else { ids.join(", ") })
                });
                format!("--approve {a}: no confirm or gate has id `{a}` ({hint})")
            })
            .collect();
        if problems.is_empty() { Ok(()) } else { Err(PlanError { runbook: self.runbook.path.display().to_string(), problems }) }
    }
}
