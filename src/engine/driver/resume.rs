//! Resuming from the journal: a step that finished is not run again; one cut
//! off mid-way runs again only when that is safe (idempotent, or re-attaching
//! to what it started), or when a person says so; a question is asked again.

use std::collections::BTreeMap;

use super::{Engine, EngineError, StepEnd};
use crate::event::{Event, RunState, StepStatus, now};
use crate::question::{Question, QuestionKind};
use crate::step::{Step, StepBody};

impl Engine {
    /// A resumed run does not repeat what the journal says finished; a step
    /// that started but did not finish runs again only when that is safe.
    pub(super) async fn reuse_from_journal(&self, key: &str, step: &Step, label: &str) -> Result<Option<StepEnd>, EngineError> {
        let Some(replay) = &self.replay else { return Ok(None) };
        let named = |list: &[String]| list.iter().any(|x| x == key || Some(x) == step.id.as_ref());
        if let Some(rec) = replay.steps.get(key) {
            self.emit(Event::StepReused { key: key.to_string(), label: label.to_string(), status: rec.status })?;
            return Ok(Some(match rec.status {
                StepStatus::Succeeded => StepEnd::Succeeded,
                StepStatus::Skipped => StepEnd::Skipped,
                StepStatus::Failed => {
                    if replay.state == RunState::Validate || replay.state == RunState::VerifyingRollback {
                        self.memory().failed_checks.push(label.to_string());
                    }
                    StepEnd::Failed { tolerated: rec.tolerated }
                }
            }));
        }
        // A question has nothing to assume done: cut off before its answer,
        // it is asked again under the same approver rules (a decision that
        // was journaled stands). A parallel group re-enters; its steps decide.
        let StepBody::Action(action) = &step.body else { return Ok(None) };
        let reattach = action.resumes_from_checkpoint() && replay.checkpoints.contains_key(key);
        if !replay.unfinished.contains(key) || step.idempotent || reattach || named(&self.cfg.rerun) {
            return Ok(None);
        }
        if named(&self.cfg.assume_done) {
            self.emit(Event::StepFinished {
                key: key.to_string(),
                id: step.id.clone(),
                label: label.to_string(),
                status: StepStatus::Succeeded,
                outputs: BTreeMap::new(),
                message: Some(format!("assumed done by {} (--assume-done)", self.cfg.actor)),
                help: None,
                tolerated: false,
                duration_ms: 0,
                at: now(),
            })?;
            return Ok(Some(StepEnd::Succeeded));
        }
        let question = Question {
            kind: QuestionKind::RerunUnfinished,
            id: step.id.clone(),
            text: format!(
                "Step `{label}` was started but did not finish when the run stopped; it may have done part of its work. Run it again?"
            ),
            approvers: None,
        };
        let answer = self.decide(key, question, false).await;
        if answer.yes { Ok(None) } else { Err(EngineError::UnfinishedStep { key: key.to_string(), label: label.to_string() }) }
    }
}
