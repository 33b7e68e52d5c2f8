//! `parallel`: steps run concurrently, each with its own timeout, retries and
//! journal entries; the group fails if any of them fails.

use std::sync::Arc;

use super::{Action, BoxFuture, Outcome, ParseContext, Role, StepKind, StepResult, StepRun, StepSpec};
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::model::Step;
use crate::runbook::node::NodeKind;

pub struct ParallelKind;

#[derive(Debug)]
struct ParallelAction {
    steps: Vec<Step>,
}

impl StepKind for ParallelKind {
    fn name(&self) -> &'static str {
        "parallel"
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>> {
        if !matches!(spec.value.kind, NodeKind::Seq(_)) {
            cx.diagnostics().push(
                Diagnostic::new(spec.value.span, format!("`parallel` takes a list of steps, found {}", spec.value.type_name()))
                    .hint("e.g. `parallel: [ { run: a.sh }, { run: b.sh } ]`"),
            );
            return None;
        }
        let steps = cx.steps(spec.value, spec.phase);
        for s in &steps {
            if s.action.role() == Role::Gate {
                cx.diagnostics().push(
                    Diagnostic::new(s.span, "a `gate` cannot run in parallel").hint("put the gate at the end of `validate`"),
                );
            }
        }
        Some(Arc::new(ParallelAction { steps }))
    }
}

impl Action for ParallelAction {
    fn describe(&self) -> String {
        format!("{} steps at once", self.steps.len())
    }

    fn dry_run_safe(&self) -> bool {
        true
    }

    fn children(&self) -> &[Step] {
        &self.steps
    }

    fn execute<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, StepResult> {
        Box::pin(async move {
            run.env.run_children(run.key, &self.steps).await?;
            Ok(Outcome { summary: Some(format!("{} steps succeeded", self.steps.len())), ..Outcome::default() })
        })
    }
}
