//! Rollback targets, checked with this run's values: every rollback step
//! that restores what a deploy recorded must name something an execute step
//! changes. (Validation checks the names that are literal; this catches the
//! ones built from vars.)

use std::collections::BTreeMap;

use super::{PlannedStep, Stage};
use crate::event::RunState;
use crate::runbook::expr::{Quoting, Reference, Scope, Value};
use crate::step::{RollbackTarget, TargetDecl, TargetUse, unmatched};

/// Resolves the vars and environment in a target; `None` when it names
/// something only known while running (a step's output, the run id).
pub(super) fn resolve(decl: &TargetDecl, vars: &BTreeMap<String, String>) -> Option<RollbackTarget> {
    struct Known<'a>(&'a BTreeMap<String, String>);
    impl Scope for Known<'_> {
        fn lookup(&self, reference: &Reference) -> Result<Value, String> {
            let text = match reference {
                Reference::Var(name) => self.0.get(name).cloned().ok_or_else(|| format!("vars.{name} is not set"))?,
                Reference::Env(name) => std::env::var(name).unwrap_or_default(),
                other => return Err(format!("{other} is known only while running")),
            };
            Ok(Value { text, secret: false })
        }
    }
    decl.resolve(|t| t.render(&Known(vars), Quoting::None).map(|r| r.text)).ok()
}

/// One problem per rollback step whose target no execute step changes.
pub(super) fn check(stages: &[Stage]) -> Vec<String> {
    let steps = |state: RunState| -> Vec<&PlannedStep> {
        stages.iter().filter(|s| s.state == state).flat_map(|s| s.steps.iter().flat_map(PlannedStep::walk)).collect()
    };
    let saved: Vec<(RollbackTarget, String)> = steps(RunState::Execute)
        .into_iter()
        .filter_map(|p| match &p.target {
            Some((TargetUse::Saves, Some(t))) => Some((t.clone(), p.key.clone())),
            _ => None,
        })
        .collect();
    // A deploy whose target is only known while running could match anything.
    let unknown_saves = steps(RunState::Execute).iter().any(|p| matches!(p.target, Some((TargetUse::Saves, None))));
    let mut problems = Vec::new();
    for p in steps(RunState::RollingBack) {
        if let (Some((TargetUse::Restores, Some(t))), false) = (&p.target, unknown_saves)
            && let Some((problem, hint)) = unmatched(t, &saved)
        {
            problems.push(format!("{} (`{}`) {problem} ({hint})", p.key, p.step.kind));
        }
    }
    problems
}
