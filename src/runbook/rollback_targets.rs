//! Every rollback step that restores what a deploy recorded (`ecs.rollback`,
//! `s3.rollback`) must name something an `execute` step changes; otherwise it
//! would find nothing recorded and "succeed" at restoring nothing. Names
//! written out in full are checked here, with their position; names built
//! from vars are checked by the plan once the vars are known.

use std::collections::BTreeMap;

use super::diagnostic::{Diagnostic, Diagnostics};
use crate::step::{PhaseName, RollbackTarget, Step, StepBody, TargetDecl, TargetUse, unmatched};

fn decls<'a>(steps: &'a [Step], out: &mut Vec<(&'a Step, TargetDecl)>) {
    for s in steps {
        if let StepBody::Action(a) = &s.body
            && let Some(d) = a.rollback_target()
        {
            out.push((s, d));
        }
        decls(s.body.children(), out);
    }
}

pub fn check(phases: &BTreeMap<PhaseName, Vec<Step>>, diagnostics: &mut Diagnostics) {
    let phase = |p: PhaseName| phases.get(&p).map_or(&[][..], Vec::as_slice);
    let mut changed = Vec::new();
    decls(phase(PhaseName::Execute), &mut changed);
    let changed: Vec<_> = changed.into_iter().filter(|(_, d)| d.uses == TargetUse::Saves).collect();
    // A deploy named from vars could be the one: leave it to the plan.
    if changed.iter().any(|(_, d)| d.literal().is_none()) {
        return;
    }
    let saved: Vec<(RollbackTarget, String)> =
        changed.iter().filter_map(|(s, d)| d.literal().map(|t| (t, format!("line {}", s.span.line)))).collect();
    let mut restores = Vec::new();
    decls(phase(PhaseName::Rollback), &mut restores);
    for (step, decl) in restores.into_iter().filter(|(_, d)| d.uses == TargetUse::Restores) {
        if let Some(target) = decl.literal()
            && let Some((problem, hint)) = unmatched(&target, &saved)
        {
            diagnostics.push(Diagnostic::new(step.span, format!("`{}` {problem}", step.kind)).hint(hint));
        }
    }
}
