//! What a journal says about a run: the state it was in, what finished, what
//! was cut off, the decisions, checkpoints and integration state a resumed
//! run needs, and any damage the journal showed when it was read.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use super::journal::{Damage, FILE_NAME, Journal, JournalError};
use crate::event::{Event, RunState, StepStatus};
use crate::question::{Answer, AnsweredBy};
use crate::step::ProcessRecord;

/// A step as the journal last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    pub id: Option<String>,
    pub status: StepStatus,
    pub outputs: BTreeMap<String, String>,
    pub message: Option<String>,
    pub tolerated: bool,
}

/// What a journal says about a run.
#[derive(Debug, Clone)]
pub struct Replay {
    pub run_id: String,
    pub runbook: String,
    pub path: String,
    pub actor: String,
    pub vars: BTreeMap<String, String>,
    /// Vars that held a secret: the secret's name ("" when unknown).
    pub secret_vars: BTreeMap<String, String>,
    pub started_at: String,
    /// The state the run was in when the journal ends.
    pub state: RunState,
    pub finished: Option<(RunState, String)>,
    pub interrupted: bool,
    pub steps: HashMap<String, StepRecord>,
    /// Started but never finished: the run stopped during them.
    pub unfinished: HashSet<String>,
    pub unfinished_labels: HashMap<String, String>,
    pub decisions: HashMap<String, Answer>,
    pub decision_log: Vec<Event>,
    pub checkpoints: HashMap<String, BTreeMap<String, String>>,
    /// The process group each step's command last started.
    pub processes: HashMap<String, ProcessRecord>,
    pub integration_state: HashMap<(String, String), String>,
    /// Who gave the run up, why and when (`relctl abandon`).
    pub abandoned: Option<(String, String, String)>,
    /// Lines of the journal that could not be trusted, in order.
    pub damage: Vec<Damage>,
    /// The hash of the journal's last line.
    pub last_hash: String,
}

impl Replay {
    pub fn from_events(path: &Path, events: &[Event]) -> Result<Replay, JournalError> {
        let Some(Event::RunStarted { run_id, runbook, path: rb_path, actor, vars, secret_vars, at, .. }) = events.first() else {
            return Err(JournalError::Empty { path: path.to_path_buf() });
        };
        let mut r = Replay {
            run_id: run_id.clone(),
            runbook: runbook.clone(),
            path: rb_path.clone(),
            actor: actor.clone(),
            vars: vars.clone(),
            secret_vars: secret_vars.clone(),
            started_at: at.clone(),
            state: RunState::Checklist,
            finished: None,
            interrupted: false,
            steps: HashMap::new(),
            unfinished: HashSet::new(),
            unfinished_labels: HashMap::new(),
            decisions: HashMap::new(),
            decision_log: Vec::new(),
            checkpoints: HashMap::new(),
            processes: HashMap::new(),
            integration_state: HashMap::new(),
            abandoned: None,
            damage: Vec::new(),
            last_hash: String::new(),
        };
        for e in events {
            match e {
                Event::StateEntered { state, .. } => {
                    r.state = *state;
                    r.interrupted = false;
                }
                Event::RunResumed { .. } => r.interrupted = false,
                Event::StepStarted { key, label, .. } => {
                    r.unfinished.insert(key.clone());
                    r.unfinished_labels.insert(key.clone(), label.clone());
                }
                Event::StepFinished { key, id, status, outputs, message, tolerated, .. } => {
                    r.unfinished.remove(key);
                    r.steps.insert(
                        key.clone(),
                        StepRecord {
                            id: id.clone(),
                            status: *status,
                            outputs: outputs.clone(),
                            message: message.clone(),
                            tolerated: *tolerated,
                        },
                    );
                }
                Event::Decision { key, approved, actor, by, comment, reason, identity, approvals, .. } => {
                    r.decision_log.push(e.clone());
                    // A policy refusal is not a human decision; a resumed run may ask again.
                    if *by != AnsweredBy::Policy {
                        r.decisions.insert(
                            key.clone(),
                            Answer {
                                yes: *approved,
                                actor: actor.clone(),
                                by: *by,
                                comment: comment.clone(),
                                reason: reason.clone(),
                                identity: *identity,
                                approvals: approvals.clone(),
                            },
                        );
                    }
                }
                Event::StepProcess { .. } => {
                    if let Some((key, record)) = ProcessRecord::from_event(e) {
                        r.processes.insert(key, record);
                    }
                }
                Event::StepCheckpoint { key, data } => {
                    r.checkpoints.entry(key.clone()).or_default().extend(data.clone());
                }
                Event::IntegrationState { integration, name, value } => {
                    r.integration_state.insert((integration.clone(), name.clone()), value.clone());
                }
                Event::Interrupted { .. } => r.interrupted = true,
                Event::RunFinished { state, at, .. } => r.finished = Some((*state, at.clone())),
                Event::RunAbandoned { actor, reason, at } => r.abandoned = Some((actor.clone(), reason.clone(), at.clone())),
                _ => {}
            }
        }
        Ok(r)
    }

    /// The run's journal, read and replayed; lines that could not be read
    /// or do not chain are in [`Replay::damage`].
    pub fn load(run_dir: &Path) -> Result<Replay, JournalError> {
        let path = run_dir.join(FILE_NAME);
        let reading = Journal::read(&path)?;
        let mut replay = Replay::from_events(&path, &reading.events)?;
        replay.damage = reading.damage;
        replay.last_hash = reading.last_hash;
        Ok(replay)
    }

    pub fn is_resumable(&self) -> bool {
        self.finished.is_none() && self.abandoned.is_none() && !self.state.is_terminal()
    }
}
