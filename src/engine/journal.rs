//! The append-only record of a run, one JSON event per line.
//!
//! Each event is on disk before the engine takes the next side effect, so a
//! crash or SIGKILL loses at most the events since the last one (a torn last
//! line is ignored on read). [`Replay`] rebuilds what a resumed run needs to
//! know from it.
//!
//! Most events are flushed (`fdatasync`) as they are written. A step's end
//! ([`Durability::BeforeNextSideEffect`]) is written at once but flushed with
//! the next event: what follows a step's end is either the next step's start,
//! a state change or a decision, all flushed before they act, or the end of
//! the run, which is flushed too. Nothing outside relctl can see the
//! difference: a crash between the two leaves the same journal a crash just
//! before the step's end was written leaves (the step unfinished, asked
//! about on resume), a state that is already possible, and no side effect
//! ever depends on the unflushed line. It halves the fsyncs per step.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::event::{Event, RunState, StepStatus};
use crate::question::Answer;
use crate::question::AnsweredBy;

pub const FILE_NAME: &str = "journal.jsonl";

#[derive(Debug)]
pub struct Journal {
    /// The file, and whether it holds writes not flushed yet.
    file: Mutex<(File, bool)>,
    path: PathBuf,
}

/// When the disk must have an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Before `append` returns.
    Now,
    /// With the next event flushed `Now` (or [`Journal::sync`]), which comes
    /// before any side effect.
    BeforeNextSideEffect,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot write the journal {path}: {source}; the run stops here so that nothing happens unrecorded")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot read the journal {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the journal {path} is damaged at line {line}: {message}")]
    Corrupt { path: PathBuf, line: usize, message: String },
    #[error("the journal {path} has no run_started event")]
    Empty { path: PathBuf },
}

impl Journal {
    /// Opens (creating if needed) the journal in `run_dir` for appending.
    pub fn open(run_dir: &Path) -> Result<Journal, JournalError> {
        let path = run_dir.join(FILE_NAME);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| JournalError::Write { path: path.clone(), source })?;
        Ok(Journal { file: Mutex::new((file, false)), path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one event; with [`Durability::Now`] waits until the disk has
    /// it and everything written before it.
    pub fn append(&self, event: &Event, durability: Durability) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(event).expect("events serialize");
        line.push(b'\n');
        let mut guard = self.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (file, unflushed) = &mut *guard;
        let written = file.write_all(&line).and_then(|()| match durability {
            Durability::Now => file.sync_data(),
            Durability::BeforeNextSideEffect => Ok(()),
        });
        // Only a write that reached the disk clears what waits to be flushed.
        if written.is_ok() {
            *unflushed = durability == Durability::BeforeNextSideEffect;
        }
        written.map_err(|source| JournalError::Write { path: self.path.clone(), source })
    }

    /// Flushes what was written with [`Durability::BeforeNextSideEffect`].
    pub fn sync(&self) -> Result<(), JournalError> {
        let mut guard = self.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (file, unflushed) = &mut *guard;
        if *unflushed {
            file.sync_data().map_err(|source| JournalError::Write { path: self.path.clone(), source })?;
            *unflushed = false;
        }
        Ok(())
    }

    /// Reads every complete event; a torn final line (a crash mid-write) is dropped.
    pub fn read(path: &Path) -> Result<Vec<Event>, JournalError> {
        let file = File::open(path).map_err(|source| JournalError::Read { path: path.to_path_buf(), source })?;
        let lines: Vec<String> = BufReader::new(file)
            .lines()
            .collect::<Result<_, _>>()
            .map_err(|source| JournalError::Read { path: path.to_path_buf(), source })?;
        let count = lines.len();
        let mut events = Vec::with_capacity(count);
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Event>(line) {
                Ok(e) => events.push(e),
                Err(_) if i + 1 == count => break,
                Err(e) => {
                    return Err(JournalError::Corrupt { path: path.to_path_buf(), line: i + 1, message: e.to_string() });
                }
            }
        }
        Ok(events)
    }
}

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
    pub integration_state: HashMap<(String, String), String>,
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
            integration_state: HashMap::new(),
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
                Event::Decision { key, approved, actor, by, comment, reason, .. } => {
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
                            },
                        );
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
                _ => {}
            }
        }
        Ok(r)
    }

    pub fn load(run_dir: &Path) -> Result<Replay, JournalError> {
        let path = run_dir.join(FILE_NAME);
        let events = Journal::read(&path)?;
        Replay::from_events(&path, &events)
    }

    pub fn is_resumable(&self) -> bool {
        self.finished.is_none() && !self.state.is_terminal()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_last_line_is_ignored_and_unfinished_steps_found() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        j.append(
            &Event::RunStarted {
                run_id: "r1".into(),
                runbook: "rb".into(),
                path: "rb.yaml".into(),
                actor: "alice".into(),
                vars: BTreeMap::new(),
                secret_vars: BTreeMap::new(),
                dry_run: false,
                at: "t".into(),
            },
            Durability::Now,
        )
        .unwrap();
        j.append(&Event::StateEntered { state: RunState::Execute, at: "t".into() }, Durability::Now).unwrap();
        j.append(
            &Event::StepStarted {
                key: "execute.0".into(),
                id: None,
                label: "deploy".into(),
                kind: "run".into(),
                attempt: 1,
                at: "t".into(),
            },
            Durability::Now,
        )
        .unwrap();
        drop(j);
        let path = dir.path().join(FILE_NAME);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"event\":\"step_fini").unwrap();
        let r = Replay::load(dir.path()).unwrap();
        assert_eq!(r.state, RunState::Execute);
        assert!(r.unfinished.contains("execute.0"));
        assert!(r.is_resumable());
    }
}
