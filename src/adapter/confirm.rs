//! `confirm`: a yes/no question to a human ("Smoke test: user login works").
//! A refusal fails the step; who answered, when and how is in the journal.

use std::sync::Arc;

use super::{Action, BoxFuture, Outcome, ParseContext, StepFailure, StepKind, StepResult, StepRun, StepSpec};
use crate::engine::event::AnsweredBy;
use crate::engine::prompter::{Answer, Question, QuestionKind};
use crate::runbook::expr::Template;

pub struct ConfirmKind;

#[derive(Debug)]
pub struct ConfirmAction {
    pub text: Template,
    pub approvers: Option<Vec<String>>,
}

impl StepKind for ConfirmKind {
    fn name(&self) -> &'static str {
        "confirm"
    }

    fn sibling_keys(&self) -> &'static [&'static str] {
        &["approvers"]
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>> {
        let approvers = spec.sibling("approvers").and_then(|n| cx.approvers(n));
        let text = cx.template(spec.value, "`confirm`")?;
        Some(Arc::new(ConfirmAction { text, approvers }))
    }
}

/// Turns an answer into a step result; shared with `gate`.
pub fn answer_result(answer: &Answer, yes: &str, no: &str) -> StepResult {
    let who = match answer.by {
        AnsweredBy::Flag => format!("{} (--approve)", answer.actor),
        AnsweredBy::DryRun => "dry run".to_string(),
        _ => answer.actor.clone(),
    };
    let comment = answer.comment.as_deref().map(|c| format!(": {c}")).unwrap_or_default();
    if answer.yes {
        Ok(Outcome { summary: Some(format!("{yes} by {who}{comment}")), ..Outcome::default() })
    } else {
        let why = answer.reason.clone().unwrap_or_else(|| format!("{no} by {who}{comment}"));
        Err(StepFailure::final_(why))
    }
}

impl Action for ConfirmAction {
    fn describe(&self) -> String {
        format!("\"{}\"", self.text.display())
    }

    fn role(&self) -> super::Role {
        super::Role::Confirm
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
            let question =
                Question { kind: QuestionKind::Confirm, id: run.step.id.clone(), text, approvers: self.approvers.clone() };
            let answer = run.env.ask(run.key, question).await;
            answer_result(&answer, "confirmed", "refused")
        })
    }
}
