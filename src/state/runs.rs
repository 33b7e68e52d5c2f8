//! Runs in the shared store: each run's journal as numbered objects, the
//! runbook as it was run, and the run index `history` reads.
//!
//! ```text
//! runs/RUN_ID/runbook.yaml             the runbook as it was run (resume runs the same steps)
//! runs/RUN_ID/journal/00000000.jsonl   journal lines, in order; each object created with
//! runs/RUN_ID/journal/00000001.jsonl   If-None-Match: *, so two writers can never
//!                                      interleave or overwrite; the hash chain runs across them
//! index/RUN_ID.json                    who, what, when, outcome: what `history` lists
//! ```
//!
//! The local state dir is a cache of these: a machine that never saw a run
//! rebuilds its directory from them.

use serde::{Deserialize, Serialize};

use super::store::{Store, StoreError, Written};

pub const RUNBOOK_COPY: &str = "runbook.yaml";

/// What could not be done with a run's objects.
#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Conflict(String),
}

fn run_key(store: &Store, run_id: &str, path: &str) -> String {
    store.location.key(&format!("runs/{run_id}/{path}"))
}

fn journal_key(store: &Store, run_id: &str, seq: u64) -> String {
    run_key(store, run_id, &format!("journal/{seq:08}.jsonl"))
}

/// Stores the runbook a run runs; a run id is used once.
pub async fn put_runbook(store: &Store, run_id: &str, source: &str) -> Result<(), RunsError> {
    match store.create(&run_key(store, run_id, RUNBOOK_COPY), source.as_bytes()).await? {
        Written::Done(_) => Ok(()),
        Written::Refused => Err(RunsError::Conflict(format!("run {run_id} already exists in {}", store.location))),
    }
}

pub async fn get_runbook(store: &Store, run_id: &str) -> Result<Option<String>, RunsError> {
    Ok(store.get(&run_key(store, run_id, RUNBOOK_COPY)).await?.map(|(b, _)| String::from_utf8_lossy(&b).into_owned()))
}

/// Appends journal object number `seq`. Refused when it exists: another
/// process is writing this run's journal, and the caller must stop.
pub async fn push_journal(store: &Store, run_id: &str, seq: u64, lines: &[u8]) -> Result<(), RunsError> {
    match store.create(&journal_key(store, run_id, seq), lines).await? {
        Written::Done(_) => Ok(()),
        Written::Refused => Err(RunsError::Conflict(format!(
            "journal object {seq} of run {run_id} already exists in {}: another process is writing this run's journal",
            store.location
        ))),
    }
}

/// The run's journal as stored: every object, in order, joined; and how many.
pub async fn get_journal(store: &Store, run_id: &str) -> Result<(Vec<u8>, u64), RunsError> {
    let prefix = run_key(store, run_id, "journal/");
    let mut keys = store.list(&prefix).await?;
    keys.sort();
    let mut bytes = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let expected = journal_key(store, run_id, i as u64);
        if *key != expected {
            return Err(RunsError::Conflict(format!(
                "run {run_id}'s journal in {} has a gap: {expected} is missing (found {key})",
                store.location
            )));
        }
        if let Some((b, _)) = store.get(key).await? {
            bytes.extend_from_slice(&b);
        }
    }
    Ok((bytes, keys.len() as u64))
}

/// A run as `history` lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub run_id: String,
    pub runbook: String,
    pub actor: String,
    pub host: String,
    pub started: String,
    /// `running`, or how it ended (`released`, `rolled back`, …).
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The run's vars (secrets masked), e.g. the version released.
    #[serde(default)]
    pub vars: std::collections::BTreeMap<String, String>,
}

fn index_key(store: &Store, run_id: &str) -> String {
    store.location.key(&format!("index/{run_id}.json"))
}

/// Writes a run's index entry: created at the start, then replaced (on the
/// ETag last written) as the run changes. Returns the new ETag.
pub async fn put_index(store: &Store, entry: &IndexEntry, etag: Option<&str>) -> Result<String, RunsError> {
    let key = index_key(store, &entry.run_id);
    let body = serde_json::to_vec_pretty(entry).expect("an index entry serializes");
    let written = match etag {
        None => store.create(&key, &body).await?,
        Some(e) => store.replace(&key, &body, e).await?,
    };
    match written {
        Written::Done(etag) => Ok(etag),
        Written::Refused => {
            // Another process wrote it since (a resume elsewhere): take its
            // version as the base and write ours over it.
            match store.get(&key).await? {
                Some((_, current)) => match store.replace(&key, &body, &current).await? {
                    Written::Done(etag) => Ok(etag),
                    Written::Refused => Err(RunsError::Conflict(format!("run {}'s index entry keeps changing", entry.run_id))),
                },
                None => match store.create(&key, &body).await? {
                    Written::Done(etag) => Ok(etag),
                    Written::Refused => Err(RunsError::Conflict(format!("run {}'s index entry keeps changing", entry.run_id))),
                },
            }
        }
    }
}

/// Every run in the index, oldest first (ids sort by start time).
pub async fn index(store: &Store) -> Result<Vec<IndexEntry>, RunsError> {
    let mut keys = store.list(&store.location.key("index/")).await?;
    keys.sort();
    let mut out = Vec::new();
    for key in keys {
        if let Some((bytes, _)) = store.get(&key).await?
            && let Ok(entry) = serde_json::from_slice(&bytes)
        {
            out.push(entry);
        }
    }
    Ok(out)
}

/// The index entry of `run_id` and its ETag.
pub async fn index_entry(store: &Store, run_id: &str) -> Result<Option<(IndexEntry, String)>, RunsError> {
    Ok(match store.get(&index_key(store, run_id)).await? {
        Some((bytes, etag)) => serde_json::from_slice(&bytes).ok().map(|e| (e, etag)),
        None => None,
    })
}
