//! The engine's own step bodies: questions (confirm, gate) go through the
//! approval policy and the journal; `parallel` runs its steps at once, each
//! with the engine's timeouts, retries and journal entries.

use futures_util::future::join_all;

use super::{Engine, EngineError, StepEnd};
use crate::plan::PlannedStep;
use crate::question::{Answer, AnsweredBy, Question, QuestionKind};
use crate::step::{Ask, BoxFuture, Outcome, StepBody, StepFailure, StepResult, StepRun};

impl Engine {
    /// Runs a step's body once: an adapter's action, or a construct.
    pub(super) fn perform<'a>(&'a self, run: &'a StepRun<'a>, planned: &'a PlannedStep) -> BoxFuture<'a, StepResult> {
        match &run.step.body {
            StepBody::Action(action) => action.execute(run),
            StepBody::Confirm(ask) => Box::pin(self.question(run, ask, QuestionKind::Confirm, ("confirmed", "refused"))),
            StepBody::Gate(ask) => Box::pin(async move {
                let (failed_checks, passed_checks) = {
                    let m = self.memory();
                    (m.failed_checks.clone(), m.passed_checks)
                };
                let kind = QuestionKind::Gate { failed_checks, passed_checks, allow_override: ask.allow_override };
                self.question(run, ask, kind, ("go", "no-go")).await
            }),
            StepBody::Parallel(_) => Box::pin(async move {
                self.run_children(&planned.children).await?;
                Ok(Outcome { summary: Some(format!("{} steps succeeded", planned.children.len())), ..Outcome::default() })
            }),
            StepBody::Sequence(_) => Box::pin(async move {
                self.run_in_turn(&planned.children).await?;
                Ok(Outcome { summary: Some(format!("{} steps succeeded", planned.children.len())), ..Outcome::default() })
            }),
        }
    }

    async fn question(&self, run: &StepRun<'_>, ask: &Ask, kind: QuestionKind, words: (&str, &str)) -> StepResult {
        let mut text = self.render(&ask.text, crate::runbook::expr::Quoting::None)?.text;
        // Asked again while verifying the rollback: about the restored version now.
        if run.env.state() == crate::event::RunState::VerifyingRollback {
            text = format!("[verifying the rollback: the version restored] {text}");
        }
        // Four eyes: the person who started the run may not answer. Nobody
        // else can here, so the run stops, resumable, for another approver.
        let initiator = self.replay.as_ref().map_or(&self.cfg.actor, |r| &r.actor);
        let decided = self.replay.as_ref().is_some_and(|r| r.decisions.contains_key(run.key));
        let elsewhere = ask.via.iter().any(|v| *v != crate::question::Via::Terminal);
        if ask.not_initiator && !elsewhere && !self.cfg.policy.dry_run && !decided && self.cfg.actor == *initiator {
            let approvers = ask.approvers.as_ref().map(|a| format!(" ({})", a.join(", "))).unwrap_or_default();
            self.memory().halt.get_or_insert(EngineError::AwaitingApprover {
                what: if matches!(kind, QuestionKind::Gate { .. }) { "gate" } else { "confirm" },
                label: run.step.id.clone().unwrap_or_else(|| run.step.label()),
                initiator: initiator.clone(),
                approvers,
                run_id: self.cfg.run_id.clone(),
            });
            return Err(StepFailure::refused("waiting for another approver than the initiator"));
        }
        // A question's `timeout` is how long it waits for an answer: then it is no.
        let accounts = self.plan.runbook.people.iter().filter_map(|(n, p)| Some((n.clone(), p.slack.clone()?))).collect();
        let question = Question {
            approvers: ask.approvers.clone(),
            timeout: run.step.timeout,
            via: ask.via.clone(),
            require: ask.require,
            verified_only: ask.verified_only,
            // Asked elsewhere too, the initiator's answers are refused there.
            not_from: ask.not_initiator.then(|| initiator.clone()),
            accounts,
            ..Question::new(kind, run.step.id.clone(), text)
        };
        let answer = self.decide(run.key, question, true).await;
        answer_result(&answer, words.0, words.1)
    }

    /// Each step after the one before; the first that fails (and is not
    /// allowed to) ends the group as failed.
    async fn run_in_turn(&self, steps: &[PlannedStep]) -> Result<(), StepFailure> {
        for p in steps {
            match self.run_step(p, false).await {
                Ok(StepEnd::Failed { tolerated: false }) => {
                    return Err(StepFailure::refused(format!("{} failed", p.step.label())));
                }
                // The run is stopping: the group is interrupted, not failed
                // (the caller sees the cancel and journals no end for it).
                Ok(StepEnd::Interrupted) => return std::future::pending().await,
                Ok(_) => {}
                Err(e) => {
                    let message = format!("{} ({e})", p.step.label());
                    self.memory().halt.get_or_insert(e);
                    return Err(StepFailure::refused(message));
                }
            }
        }
        Ok(())
    }

    async fn run_children(&self, steps: &[PlannedStep]) -> Result<(), StepFailure> {
        let ends = join_all(steps.iter().map(|p| self.run_step(p, false))).await;
        let mut failed = Vec::new();
        for (end, step) in ends.into_iter().zip(steps.iter().map(|p| &p.step)) {
            match end {
                Ok(StepEnd::Failed { tolerated: false }) => failed.push(step.label()),
                Ok(StepEnd::Interrupted) => return std::future::pending().await,
                Ok(_) => {}
                Err(e) => {
                    // What stops the run (a journal failure, a step only a
                    // person can judge) is not a step failure: it must not
                    // send the run to rollback. The group's step returns it.
                    failed.push(format!("{} ({e})", step.label()));
                    self.memory().halt.get_or_insert(e);
                }
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(StepFailure::refused(format!("{} of {} parallel steps failed: {}", failed.len(), steps.len(), failed.join(", "))))
        }
    }
}

/// Turns an answer into a step result: who said yes, or why it is no.
fn answer_result(answer: &Answer, yes: &str, no: &str) -> StepResult {
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
        Err(StepFailure::refused(why))
    }
}
