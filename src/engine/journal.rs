//! The append-only record of a run, one JSON event per line, each line
//! chained to the one before it.
//!
//! **Durability.** Each event is on disk before the engine takes the next
//! side effect, so a crash or SIGKILL loses at most the events since the last
//! one. Most events are flushed (`fdatasync`) as they are written. A step's
//! end ([`Durability::BeforeNextSideEffect`]) is written at once but flushed
//! with the next event: what follows a step's end is either the next step's
//! start, a state change or a decision, all flushed before they act, or the
//! end of the run, which is flushed too. Nothing outside relctl can see the
//! difference: a crash between the two leaves the same journal a crash just
//! before the step's end was written leaves (the step unfinished, asked
//! about on resume), a state that is already possible, and no side effect
//! ever depends on the unflushed line. It halves the fsyncs per step.
//!
//! **Torn tails.** A crash or a full disk can leave a last line cut off. It
//! is not part of the record: reading ignores it, and opening the journal to
//! append cuts it off first (the engine journals that it did), so the next
//! event never lands after half a line.
//!
//! **Tampering.** Every line carries `prev`, the SHA-256 of the line before
//! it (empty for the first). An edited, inserted or removed line breaks the
//! chain at the line after it; [`Journal::read`] reports every line that
//! cannot be trusted with its number and still reads the rest. The hash of
//! the last line is printed at the end of a run: kept elsewhere, it also
//! shows a change to the last lines.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::event::Event;

pub const FILE_NAME: &str = "journal.jsonl";

#[derive(Debug)]
pub struct Journal {
    state: Mutex<Writer>,
    path: PathBuf,
    /// Bytes of a torn last line cut off when the journal was opened.
    repaired: Option<u64>,
    mirror: Option<Box<dyn Mirror>>,
}

#[derive(Debug)]
struct Writer {
    file: File,
    /// Written lines not flushed yet.
    unflushed: bool,
    /// The hash of the last line written: the next line's `prev`.
    last_hash: String,
    /// Lines on disk that the mirror does not have yet.
    unpushed: Vec<u8>,
}

/// A copy of the journal kept elsewhere (shared state, docs/state.md). It
/// gets the lines written at every point the disk must have them, so before
/// the next side effect; one that cannot take them stops the run, like a
/// disk that cannot be written.
pub trait Mirror: Send + Sync + std::fmt::Debug {
    /// `lines`: complete journal lines, following those pushed before.
    fn push(&self, lines: &[u8]) -> Result<(), String>;
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

/// A line of the journal that cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// 1-based.
    pub line: usize,
    pub problem: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.problem)
    }
}

/// What reading a journal found.
#[derive(Debug, Default)]
pub struct Reading {
    /// Every event that could be read, in order.
    pub events: Vec<Event>,
    pub damage: Vec<Damage>,
    /// Complete lines.
    pub lines: usize,
    /// Bytes after the last complete line (a write a crash cut off).
    pub torn_tail: usize,
    /// The SHA-256 of the last complete line.
    pub last_hash: String,
    /// False for a journal written before lines were chained.
    pub chained: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot write the journal {path}: {source}; the run stops here so that nothing happens unrecorded")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot write the journal to the shared state: {detail}; the run stops here so that nothing happens unrecorded")]
    Mirror { detail: String },
    #[error("cannot read the journal {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the journal {path} has no run_started event")]
    Empty { path: PathBuf },
    #[error(
        "the journal {path} cannot be trusted:\n{}\ncheck it with `relctl verify`; `relctl resume --accept-damaged-journal` goes on from what could be read (and journals that it did)",
        damage.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n")
    )]
    Damaged { path: PathBuf, damage: Vec<Damage> },
}

fn hash(line: &[u8]) -> String {
    Sha256::digest(line).iter().map(|b| format!("{b:02x}")).collect()
}

impl Journal {
    /// Opens (creating if needed) the journal in `run_dir` for appending,
    /// first cutting off a torn last line.
    pub fn open(run_dir: &Path) -> Result<Journal, JournalError> {
        let path = run_dir.join(FILE_NAME);
        let write_error = |source| JournalError::Write { path: path.clone(), source };
        let mut file = OpenOptions::new().create(true).read(true).append(true).open(&path).map_err(write_error)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|source| JournalError::Read { path: path.clone(), source })?;
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let repaired = (complete < bytes.len()).then(|| (bytes.len() - complete) as u64);
        if repaired.is_some() {
            file.set_len(complete as u64).and_then(|()| file.sync_data()).map_err(write_error)?;
        }
        let last_hash = bytes[..complete].split(|b| *b == b'\n').rev().nth(1).map(hash).unwrap_or_default();
        Ok(Journal {
            state: Mutex::new(Writer { file, unflushed: false, last_hash, unpushed: Vec::new() }),
            path,
            repaired,
            mirror: None,
        })
    }

    /// Copies every line written from now on to `mirror`, after `unpushed`:
    /// lines already on disk that the mirror does not have.
    #[must_use]
    pub fn mirrored(mut self, mirror: Box<dyn Mirror>, unpushed: Vec<u8>) -> Journal {
        self.state.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner).unpushed = unpushed;
        self.mirror = Some(mirror);
        self
    }

    fn push(&self, w: &mut Writer) -> Result<(), JournalError> {
        if let Some(m) = &self.mirror
            && !w.unpushed.is_empty()
        {
            m.push(&w.unpushed).map_err(|detail| JournalError::Mirror { detail })?;
            w.unpushed.clear();
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many bytes of a torn last line [`Journal::open`] cut off.
    pub fn repaired(&self) -> Option<u64> {
        self.repaired
    }

    /// Writes one event, chained to the last; with [`Durability::Now`] waits
    /// until the disk has it and everything written before it.
    pub fn append(&self, event: &Event, durability: Durability) -> Result<(), JournalError> {
        let mut w = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut value = serde_json::to_value(event).expect("events serialize");
        if let serde_json::Value::Object(map) = &mut value {
            map.insert("prev".into(), serde_json::Value::String(w.last_hash.clone()));
        }
        let line = serde_json::to_vec(&value).expect("events serialize");
        let mut bytes = line.clone();
        bytes.push(b'\n');
        let written = w.file.write_all(&bytes).and_then(|()| match durability {
            Durability::Now => w.file.sync_data(),
            Durability::BeforeNextSideEffect => Ok(()),
        });
        // Only a write that reached the file moves the chain on, and only one
        // that reached the disk clears what waits to be flushed.
        if written.is_ok() {
            w.last_hash = hash(&line);
            w.unflushed = durability == Durability::BeforeNextSideEffect;
            if self.mirror.is_some() {
                w.unpushed.extend_from_slice(&bytes);
            }
        }
        written.map_err(|source| JournalError::Write { path: self.path.clone(), source })?;
        if durability == Durability::Now {
            self.push(&mut w)?;
        }
        Ok(())
    }

    /// Flushes what was written with [`Durability::BeforeNextSideEffect`].
    pub fn sync(&self) -> Result<(), JournalError> {
        let mut w = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if w.unflushed {
            w.file.sync_data().map_err(|source| JournalError::Write { path: self.path.clone(), source })?;
            w.unflushed = false;
        }
        self.push(&mut w)
    }

    /// Reads every line that can be trusted. A torn last line is left out; a
    /// line that is not JSON, is not an event relctl knows or does not chain
    /// to the one before is reported as [`Damage`], and the rest is still
    /// read. Only failing to read the file at all is an error.
    pub fn read(path: &Path) -> Result<Reading, JournalError> {
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|source| JournalError::Read { path: path.to_path_buf(), source })?;
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let mut reading = Reading { torn_tail: bytes.len() - complete, ..Reading::default() };
        let mut expected = String::new();
        let mut chained_lines = 0;
        for (i, line) in bytes[..complete].split(|b| *b == b'\n').enumerate() {
            let number = i + 1;
            if line.is_empty() {
                // The split after the final newline (or a blank line).
                continue;
            }
            reading.lines = number;
            let this_hash = hash(line);
            let damage = |problem: String| Damage { line: number, problem };
            match serde_json::from_slice::<serde_json::Value>(line) {
                Err(e) => reading.damage.push(damage(format!("not a complete JSON event ({e})"))),
                Ok(mut value) => {
                    let prev = value.as_object_mut().and_then(|m| m.remove("prev"));
                    match prev {
                        Some(serde_json::Value::String(p)) => {
                            chained_lines += 1;
                            if p != expected {
                                reading.damage.push(damage(
                                    "the chain breaks here: this line does not follow the line before it (a line was edited, inserted or removed)".into(),
                                ));
                            }
                        }
                        _ if chained_lines > 0 => {
                            reading.damage.push(damage("this line has no hash of the line before it".into()));
                        }
                        _ => {}
                    }
                    match serde_json::from_value::<Event>(value) {
                        Ok(event) => reading.events.push(event),
                        Err(e) => reading.damage.push(damage(format!("not an event relctl knows ({e})"))),
                    }
                }
            }
            expected = this_hash;
        }
        reading.chained = chained_lines > 0;
        reading.last_hash = expected;
        Ok(reading)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::event::RunState;

    fn started() -> Event {
        Event::RunStarted {
            run_id: "r1".into(),
            runbook: "rb".into(),
            path: "rb.yaml".into(),
            actor: "alice".into(),
            vars: BTreeMap::new(),
            secret_vars: BTreeMap::new(),
            dry_run: false,
            at: "t".into(),
        }
    }

    fn step(key: &str) -> Event {
        Event::StepStarted {
            key: key.into(),
            id: None,
            label: key.into(),
            kind: "run".into(),
            attempt: 1,
            expected_ms: None,
            timeout_ms: None,
            at: "t".into(),
        }
    }

    /// A journal of three events in a temp dir.
    fn journal() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        for e in [started(), Event::StateEntered { state: RunState::Execute, at: "t".into() }, step("execute.0")] {
            j.append(&e, Durability::Now).unwrap();
        }
        let path = dir.path().join(FILE_NAME);
        (dir, path)
    }

    #[test]
    fn an_intact_journal_reads_whole_and_chained() {
        let (_dir, path) = journal();
        let r = Journal::read(&path).unwrap();
        assert_eq!((r.events.len(), r.lines, r.torn_tail, r.chained), (3, 3, 0, true));
        assert!(r.damage.is_empty(), "{:?}", r.damage);
        assert_eq!(r.last_hash.len(), 64);
    }

    #[test]
    fn a_torn_tail_is_left_out_then_cut_off_before_the_next_append() {
        // Before: resume appended after the torn line and the journal became
        // unreadable from then on ("damaged at line N").
        let (dir, path) = journal();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all("{\"event\":\"step_fini\u{e9}".as_bytes()[..18].as_ref()).unwrap();
        let r = Journal::read(&path).unwrap();
        assert_eq!((r.events.len(), r.torn_tail), (3, 18));
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.repaired(), Some(18));
        j.append(&step("execute.1"), Durability::Now).unwrap();
        let r = Journal::read(&path).unwrap();
        assert_eq!((r.events.len(), r.torn_tail), (4, 0));
        assert!(r.damage.is_empty(), "{:?}", r.damage);
    }

    #[test]
    fn one_bad_line_is_reported_by_number_and_the_rest_still_reads() {
        let (_dir, path) = journal();
        let text = std::fs::read(&path).unwrap();
        let mut lines: Vec<Vec<u8>> = text.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
        // A torn multibyte character in the middle, and an event type relctl does not know.
        lines[1] = b"{\"event\":\"state_entered\",\"state\":\"caf\xc3".to_vec();
        lines.insert(3, br#"{"event":"from_the_future","prev":"x"}"#.to_vec());
        std::fs::write(&path, lines.join(&b'\n')).unwrap();
        let r = Journal::read(&path).unwrap();
        assert_eq!(r.events.len(), 2, "the readable events are kept");
        let mut lines: Vec<usize> = r.damage.iter().map(|d| d.line).collect();
        lines.dedup();
        assert_eq!(lines, [2, 3, 4], "{:?}", r.damage);
        assert!(r.damage[0].problem.contains("not a complete JSON event"));
        assert!(r.damage.iter().any(|d| d.line == 4 && d.problem.contains("not an event relctl knows")));
    }

    #[test]
    fn an_edited_or_removed_line_breaks_the_chain_after_it() {
        for edit in ["alice", "drop"] {
            let (_dir, path) = journal();
            let text = std::fs::read_to_string(&path).unwrap();
            let edited = if edit == "drop" {
                let mut lines: Vec<&str> = text.lines().collect();
                lines.remove(1);
                lines.join("\n") + "\n"
            } else {
                text.replace("alice", "mallory")
            };
            std::fs::write(&path, edited).unwrap();
            let r = Journal::read(&path).unwrap();
            assert_eq!(r.damage.len(), 1, "{edit}: {:?}", r.damage);
            assert_eq!(r.damage[0].line, 2, "{edit}");
            assert!(r.damage[0].problem.contains("the chain breaks here"), "{edit}");
        }
    }

    /// Records what it was given; refuses once `fail` is set.
    #[derive(Debug, Default)]
    struct Recorder {
        pushed: std::sync::Mutex<Vec<Vec<u8>>>,
        fail: std::sync::atomic::AtomicBool,
    }

    impl Mirror for std::sync::Arc<Recorder> {
        fn push(&self, lines: &[u8]) -> Result<(), String> {
            if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
                return Err("the store is gone".into());
            }
            self.pushed.lock().unwrap().push(lines.to_vec());
            Ok(())
        }
    }

    #[test]
    fn the_mirror_gets_every_line_before_the_next_side_effect_and_a_failing_one_stops_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let rec = std::sync::Arc::new(Recorder::default());
        let j = Journal::open(dir.path()).unwrap().mirrored(Box::new(rec.clone()), b"{\"earlier\":1}\n".to_vec());
        j.append(&started(), Durability::Now).unwrap();
        let finished = Event::StepFinished {
            key: "execute.0".into(),
            id: None,
            label: "x".into(),
            status: crate::event::StepStatus::Succeeded,
            outputs: BTreeMap::new(),
            message: None,
            help: None,
            failure: None,
            tolerated: false,
            duration_ms: 1,
            at: "t".into(),
        };
        j.append(&finished, Durability::BeforeNextSideEffect).unwrap();
        assert_eq!(rec.pushed.lock().unwrap().len(), 1, "a step's end waits for the next flushed event");
        j.append(&step("execute.1"), Durability::Now).unwrap();
        let pushed = rec.pushed.lock().unwrap().clone();
        assert_eq!(pushed.len(), 2, "the step's end and the next start share one push");
        let mut all: Vec<u8> = b"{\"earlier\":1}\n".to_vec();
        all.extend(std::fs::read(dir.path().join(FILE_NAME)).unwrap());
        assert_eq!(pushed.concat(), all, "the mirror has the local bytes, after what it lacked");
        rec.fail.store(true, std::sync::atomic::Ordering::SeqCst);
        let before = std::fs::read(dir.path().join(FILE_NAME)).unwrap().len();
        let err = j.append(&step("execute.2"), Durability::Now).unwrap_err();
        assert!(matches!(err, JournalError::Mirror { .. }), "{err}");
        rec.fail.store(false, std::sync::atomic::Ordering::SeqCst);
        j.sync().unwrap();
        let file = std::fs::read(dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(rec.pushed.lock().unwrap().last().unwrap(), &file[before..], "what the mirror missed is sent again");
    }

    #[test]
    fn a_line_appended_without_the_chain_is_damage() {
        let (_dir, path) = journal();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"event\":\"run_finished\",\"state\":\"released\",\"exit_code\":0,\"at\":\"t\"}\n").unwrap();
        let r = Journal::read(&path).unwrap();
        assert_eq!(r.damage.len(), 1);
        assert_eq!(r.damage[0].line, 4);
    }
}
