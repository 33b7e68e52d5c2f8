//! Resuming from the journal: a step that finished is not run again; one cut
//! off mid-way runs again only when that is safe (idempotent, or re-attaching
//! to what it started), or when a person says so; a question is asked again.
//! Before any of that, processes the step left running when relctl was
//! killed are waited for or ended: a step never runs twice at once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{Engine, EngineError, StepEnd};
use crate::event::{Event, RunState, StepStatus, now};
use crate::question::{Question, QuestionKind};
use crate::step::{ProcessRecord, STOP_GRACE, Step, StepBody};

impl Engine {
    /// A resumed run does not repeat what the journal says finished; a step
    /// that started but did not finish runs again only when that is safe.
    pub(super) async fn reuse_from_journal(
        &self,
        key: &str,
        step: &Step,
        label: &str,
        deadline: Option<Duration>,
    ) -> Result<Option<StepEnd>, EngineError> {
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
        if replay.unfinished.contains(key)
            && let Some(record) = replay.processes.get(key)
            && !self.settle_leftover(key, label, record, deadline).await?
        {
            return Ok(Some(StepEnd::Interrupted));
        }
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
                failure: None,
                tolerated: false,
                duration_ms: 0,
                at: now(),
            })?;
            return Ok(Some(StepEnd::Succeeded));
        }
        let question = Question::new(
            QuestionKind::RerunUnfinished,
            step.id.clone(),
            format!(
                "Step `{label}` was started but did not finish when the run stopped; it may have done part of its work. Run it again?"
            ),
        );
        let answer = self.decide(key, question, false).await;
        if answer.yes { Ok(None) } else { Err(EngineError::UnfinishedStep { key: key.to_string(), label: label.to_string() }) }
    }

    /// Waits until the processes a killed run's step left running are gone:
    /// ended at once when the person (or `--stop-leftovers`) says so, or
    /// when the step's deadline, counted from its start, has passed.
    /// False when the run was interrupted while waiting.
    async fn settle_leftover(
        &self,
        key: &str,
        label: &str,
        record: &ProcessRecord,
        deadline: Option<Duration>,
    ) -> Result<bool, EngineError> {
        if !record.on_this_host() {
            self.emit(Event::Warning {
                message: format!(
                    "{label}: its processes were started on {}, not here: if relctl was killed there, they may still be running there",
                    record.host
                ),
            })?;
            return Ok(true);
        }
        if !record.still_running() {
            return Ok(true);
        }
        let overdue = deadline.filter(|d| record.age().is_some_and(|age| age >= *d));
        let (mut ending, mut why) = match overdue {
            Some(d) => (true, Some(format!("past the step's {} timeout", crate::runbook::duration::format_duration(d)))),
            None if self.cfg.stop_leftovers => (true, Some(format!("--stop-leftovers, by {}", self.cfg.actor))),
            None => (false, None),
        };
        if !ending && self.cfg.policy.interactive {
            let question = Question::new(
                QuestionKind::EndLeftover,
                None,
                format!(
                    "Step `{label}` is still running from the stopped run (process group {}, started {}). End it now? (no: wait for it to finish)",
                    record.pgid, record.started_at
                ),
            );
            let answer = self.decide(key, question, false).await;
            if answer.yes {
                (ending, why) = (true, Some(format!("ended by {}", answer.actor)));
            }
        }
        let waiting = Instant::now();
        self.emit(Event::LeftoverProcesses {
            key: key.to_string(),
            label: label.to_string(),
            pgid: record.pgid,
            started_at: record.started_at.clone(),
            ending,
            why,
            at: now(),
        })?;
        self.sync()?;
        let stop =
            |r: ProcessRecord| async move { tokio::task::spawn_blocking(move || r.stop(STOP_GRACE)).await.unwrap_or(false) };
        // Whether they were ended (rather than finishing by themselves), and whether they are gone.
        let gone = async {
            if ending {
                return (true, stop(record.clone()).await);
            }
            let wait = async {
                while record.still_running() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            };
            // The step's deadline still applies, counted from when it started.
            let left = deadline.map_or(Duration::MAX, |d| d.saturating_sub(record.age().unwrap_or_default()));
            if tokio::time::timeout(left, wait).await.is_err() {
                return (true, stop(record.clone()).await);
            }
            (false, true)
        };
        let (ended, is_gone) = tokio::select! {
            outcome = gone => outcome,
            () = self.cancelled() => return Ok(false),
        };
        if !is_gone {
            // Not even SIGKILL ended them (a process stuck in the kernel):
            // running the step again beside them is what this prevents.
            self.emit(Event::Warning {
                message: format!("{label}: process group {} survived SIGKILL; end it by hand, then resume", record.pgid),
            })?;
            return Err(EngineError::UnfinishedStep { key: key.to_string(), label: label.to_string() });
        }
        self.emit(Event::LeftoverGone {
            key: key.to_string(),
            label: label.to_string(),
            pgid: record.pgid,
            ended,
            waited_ms: waiting.elapsed().as_millis() as u64,
            at: now(),
        })?;
        Ok(true)
    }
}
