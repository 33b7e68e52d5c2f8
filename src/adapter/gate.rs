//! `gate`: the release manager's go/no-go, after every validate check ran.
//! The question shows which checks failed; the engine turns no-go into rollback.

use std::sync::Arc;

use super::confirm::answer_result;
use super::{Action, BoxFuture, ParseContext, Role, StepKind, StepResult, StepRun, StepSpec};
use crate::engine::prompter::{Question, QuestionKind};
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::expr::Template;
use crate::runbook::model::PhaseName;

pub struct GateKind;

#[derive(Debug)]
struct GateAction {
    text: Template,
    approvers: Option<Vec<String>>,
}

impl StepKind for GateKind {
    fn name(&self) -> &'static str {
        "gate"
    }

    fn sibling_keys(&self) -> &'static [&'static str] {
        &["approvers"]
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>> {
        if spec.phase != PhaseName::Validate {
            cx.diagnostics().push(
                Diagnostic::new(spec.key.span, format!("a `gate` belongs in `validate`, not `{}`", spec.phase.as_str()))
                    .hint("use `confirm` for a yes/no question elsewhere"),
            );
        }
        let approvers = spec.sibling("approvers").and_then(|n| cx.approvers(n));
        let text = cx.template(spec.value, "`gate`")?;
        Some(Arc::new(GateAction { text, approvers }))
    }
}

impl Action for GateAction {
    fn describe(&self) -> String {
        format!("\"{}\"", self.text.display())
    }

    fn role(&self) -> Role {
        Role::Gate
    }

    fn dry_run_safe(&self) -> bool {
        true
    }

    fn approvers(&self) -> Option<&[String]> {
        self.approvers.as_deref()
    }

    fn execute<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, StepResult> {
        Box::pin(async move {
            let text = run.env.render(&self.text)?;
            let question = Question {
                kind: QuestionKind::Gate { failed_checks: run.env.failed_checks() },
                id: run.step.id.clone(),
                text,
                approvers: self.approvers.clone(),
            };
            let answer = run.env.ask(run.key, question).await;
            answer_result(&answer, "go", "no-go")
        })
    }
}
