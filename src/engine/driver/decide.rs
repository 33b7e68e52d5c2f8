//! Questions for a person: the approval policy first, then (when it defers
//! and the run is interactive) the [`crate::question::Prompter`]; every
//! decision on a confirm or gate is journaled with who, how and why.

use super::Engine;
use crate::engine::approval::Ruling;
use crate::event::{Event, now};
use crate::question::{Answer, AnsweredBy, Question, QuestionKind};

impl Engine {
    /// Asks the policy, then (if it defers) a person; records the decision.
    pub(super) async fn decide(&self, key: &str, mut question: Question, record: bool) -> Answer {
        question.text = self.redactor.text(&question.text);
        if let Some(previous) = self.replay.as_ref().and_then(|r| r.decisions.get(key)) {
            return previous.clone();
        }
        let actor = self.cfg.actor.clone();
        let answer = match self.cfg.policy.rule(&question, &actor) {
            Ruling::Decided(a) => a,
            Ruling::AskPerson if self.prompter.is_some() && record => {
                self.waiting(key, &question).await;
                self.ask_person(&question, actor).await
            }
            Ruling::AskPerson => self.ask_person(&question, actor).await,
            Ruling::AskAround { flag } => {
                self.waiting(key, &question).await;
                if let Err(e) = self.sync() {
                    self.memory().fatal = Some(e);
                    return Answer::refused(actor, "the journal cannot be written: failing closed");
                }
                match self.ask_around(key, &question, actor.clone(), flag).await {
                    Some(a) => a,
                    // Stopping, resumable: nothing to record.
                    None => return Answer::refused(actor, "could not be asked anywhere"),
                }
            }
        };
        if record {
            let _ = self
                .milestone(Event::Decision {
                    key: key.to_string(),
                    id: question.id.clone(),
                    question: question.text.clone(),
                    gate: matches!(question.kind, QuestionKind::Gate { .. }),
                    approved: answer.yes,
                    actor: answer.actor.clone(),
                    by: answer.by,
                    comment: answer.comment.clone(),
                    reason: answer.reason.clone(),
                    overridden: match &question.kind {
                        QuestionKind::Gate { failed_checks, .. } if answer.yes => failed_checks.clone(),
                        _ => Vec::new(),
                    },
                    identity: answer
                        .identity
                        .or_else(|| matches!(answer.by, AnsweredBy::Terminal | AnsweredBy::Flag).then_some(self.cfg.identity)),
                    approvals: answer.approvals.clone(),
                    at: now(),
                })
                .await;
        }
        answer
    }

    /// Says (and journals) that the run waits for a person's answer.
    async fn waiting(&self, key: &str, question: &Question) {
        let _ = self
            .milestone(Event::GateWaiting {
                key: key.to_string(),
                question: question.text.clone(),
                gate: matches!(question.kind, QuestionKind::Gate { .. }),
                approvers: question.approvers.clone(),
            })
            .await;
    }

    async fn ask_person(&self, question: &Question, actor: String) -> Answer {
        if let Err(e) = self.sync() {
            self.memory().fatal = Some(e);
            return Answer::refused(actor, "the journal cannot be written: failing closed");
        }
        match &self.prompter {
            None => Answer::refused(actor.clone(), "no terminal to ask in"),
            Some(p) => {
                let p = p.clone();
                let q = question.clone();
                let who = actor.clone();
                let stop = std::sync::atomic::AtomicBool::new(false);
                match tokio::task::spawn_blocking(move || p.ask(&q, &who, &stop)).await {
                    Ok(Ok(reply)) => {
                        Answer { yes: reply.yes, actor, by: AnsweredBy::Terminal, comment: reply.comment, ..Answer::default() }
                    }
                    // Nobody answered in time: no, on the record.
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::TimedOut => Answer::refused(actor, e.to_string()),
                    Ok(Err(e)) if terminal_gone(&e) => {
                        // Ctrl-C at a prompt (raw mode: no SIGINT), or the
                        // terminal closed under it: the run stops,
                        // resumable; it is not a "no".
                        let _ = self.cancel.send(true);
                        std::future::pending::<Answer>().await
                    }
                    Ok(Err(e)) => Answer::refused(actor, format!("the prompt failed ({e}): failing closed")),
                    Err(e) => Answer::refused(actor, e.to_string()),
                }
            }
        }
    }
}

/// A prompt that ended because the person or their terminal went away.
pub(super) fn terminal_gone(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::UnexpectedEof | ErrorKind::BrokenPipe)
        || matches!(e.raw_os_error(), Some(libc::EIO | libc::ENXIO | libc::ENOTTY))
}
