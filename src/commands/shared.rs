//! Shared state at the edge: which location a command uses, the run's lock
//! around a session (taken, kept alive, released or kept when the run
//! stops), and `relctl lock` / `relctl unlock`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::{LockRequest, Shared};
use crate::engine::journal::Journal;
use crate::engine::replay::Replay;
use crate::engine::run_dir::{RUNBOOK_COPY, RunDir};
use crate::error::AppError;
use crate::exit::ExitCode;
use crate::runbook;
use crate::runbook::model::Runbook;
use crate::state::Location;
use crate::state::lock::{self, Held, LockKind, RunClaim, Who};
use crate::state::runs::{self, IndexEntry};
use crate::state::store::Store;

/// `--state`/RELCTL_STATE, else the runbook's `state:`.
pub fn location(shared: &Shared, runbook: &Runbook) -> Option<Location> {
    shared.location.clone().or_else(|| runbook.state.clone())
}

pub fn who(actor: &str, shared: &Shared) -> Who {
    Who {
        actor: actor.to_string(),
        host: crate::step::ProcessRecord::this_host(),
        pid: std::process::id(),
        ci_job_url: shared.ci_job_url.clone(),
    }
}

/// A run with shared state: the store, the lock it holds there, and its
/// entry in the run index.
pub struct SharedRun {
    pub store: Arc<Store>,
    pub held: Arc<Held>,
    run_id: String,
    index_etag: tokio::sync::Mutex<Option<String>>,
}

/// Takes the runbook's shared lock for run `run_id`, if the state is shared.
pub async fn lock_run(
    shared: &Shared,
    runbook: &Runbook,
    run_id: &str,
    actor: &str,
    resuming: bool,
) -> Result<Option<SharedRun>, AppError> {
    let Some(location) = location(shared, runbook) else { return Ok(None) };
    let store = Arc::new(connect(location).await?);
    let claim = RunClaim {
        runbook: runbook.name.clone(),
        run_id: run_id.to_string(),
        who: who(actor, shared),
        lease: shared.lease,
        wait: shared.wait,
        resuming,
    };
    let held = lock::acquire(Arc::clone(&store), &claim).await?;
    Ok(Some(SharedRun { store, held, run_id: run_id.to_string(), index_etag: tokio::sync::Mutex::new(None) }))
}

pub async fn connect(location: Location) -> Result<Store, AppError> {
    Ok(Store::connect(location).await.map_err(lock::LockError::from)?)
}

impl SharedRun {
    /// A new run: its runbook and its index entry go to the store before
    /// anything runs.
    pub async fn start(&self, runbook: &Runbook, actor: &str) -> Result<(), AppError> {
        runs::put_runbook(&self.store, &self.run_id, &runbook.source).await.map_err(shared_error)?;
        let entry = IndexEntry {
            run_id: self.run_id.clone(),
            runbook: runbook.name.clone(),
            actor: actor.to_string(),
            host: crate::step::ProcessRecord::this_host(),
            started: crate::event::now(),
            state: "running".into(),
            ..IndexEntry::default()
        };
        let etag = runs::put_index(&self.store, &entry, None).await.map_err(shared_error)?;
        *self.index_etag.lock().await = Some(etag);
        Ok(())
    }

    /// The journal, copied to the store at every point the disk must have
    /// it. On resume, `run_dir`'s lines the store lacks go first; lines the
    /// store has that the local copy lacks (the run went on elsewhere) are
    /// written locally before the journal is opened.
    pub async fn mirror(&self, run_dir: &Path) -> Result<Journal, AppError> {
        let path = run_dir.join(crate::engine::journal::FILE_NAME);
        let (stored, objects) = runs::get_journal(&self.store, &self.run_id).await.map_err(shared_error)?;
        let local = std::fs::read(&path).unwrap_or_default();
        let unpushed = if local.starts_with(&stored) {
            local[stored.len()..].to_vec()
        } else if stored.starts_with(&local) {
            // Caught up before the lock was taken (`catch_up`): it went on since.
            return Err(AppError::NotFound(format!(
                "run {} went on elsewhere while this resume started; run `relctl resume {}` again",
                self.run_id, self.run_id
            )));
        } else {
            return Err(AppError::NotFound(format!(
                "run {}: the journal in {} and {} differ; compare them (`relctl verify`) before going on",
                self.run_id,
                self.store.location,
                path.display()
            )));
        };
        let mirror = StoreMirror {
            store: Arc::clone(&self.store),
            run_id: self.run_id.clone(),
            next: AtomicU64::new(objects),
            runtime: tokio::runtime::Handle::current(),
        };
        Ok(Journal::open(run_dir)?.mirrored(Box::new(mirror), unpushed))
    }

    /// The journal for a resume; when it cannot be opened the lock stays,
    /// marked stopped, for the next try.
    pub async fn resume_journal(&self, run_dir: &Path) -> Result<Journal, AppError> {
        match self.mirror(run_dir).await {
            Ok(j) => Ok(j),
            Err(e) => {
                let _ = self.held.keep_stopped("a resume could not start").await;
                Err(e)
            }
        }
    }

    /// The index entry after the run: how it ended, its vars, how long.
    pub async fn finish(&self, run_dir: &Path) {
        let Ok(replay) = Replay::load(run_dir) else { return };
        let mut etag = self.index_etag.lock().await;
        let base = match etag.as_ref() {
            Some(_) => None,
            None => runs::index_entry(&self.store, &self.run_id).await.ok().flatten(),
        };
        let host = base.as_ref().map_or_else(crate::step::ProcessRecord::this_host, |(e, _)| e.host.clone());
        let (state, finished) = match (&replay.finished, &replay.abandoned) {
            (_, Some((actor, _, at))) => (format!("abandoned by {actor}"), Some(at.clone())),
            (Some((s, at)), None) => (s.label().to_string(), Some(at.clone())),
            (None, None) => (format!("unfinished ({})", replay.state.label()), None),
        };
        let duration_ms = finished.as_deref().and_then(|f| span_ms(&replay.started_at, f));
        let entry = IndexEntry {
            run_id: replay.run_id.clone(),
            runbook: replay.runbook.clone(),
            actor: replay.actor.clone(),
            host,
            started: replay.started_at.clone(),
            state,
            finished,
            duration_ms,
            vars: replay.vars.clone(),
        };
        let current = etag.clone().or(base.map(|(_, e)| e));
        match runs::put_index(&self.store, &entry, current.as_deref()).await {
            Ok(e) => *etag = Some(e),
            Err(e) => eprintln!("warning: the run index in {}: {e}", self.store.location),
        }
    }
}

fn span_ms(from: &str, to: &str) -> Option<u64> {
    let (a, b) = (humantime::parse_rfc3339(from).ok()?, humantime::parse_rfc3339(to).ok()?);
    b.duration_since(a).ok().map(|d| d.as_millis() as u64)
}

fn shared_error(e: runs::RunsError) -> AppError {
    match e {
        runs::RunsError::Store(s) => lock::LockError::from(s).into(),
        runs::RunsError::Conflict(m) => lock::LockError::Refused(m).into(),
    }
}

/// The journal's copy in the store: numbered objects, each created once.
#[derive(Debug)]
struct StoreMirror {
    store: Arc<Store>,
    run_id: String,
    next: AtomicU64,
    runtime: tokio::runtime::Handle,
}

impl crate::engine::journal::Mirror for StoreMirror {
    fn push(&self, lines: &[u8]) -> Result<(), String> {
        let seq = self.next.load(Ordering::SeqCst);
        // The journal is written from the engine's synchronous path; the
        // write must be done before it returns, so it waits here.
        tokio::task::block_in_place(|| self.runtime.block_on(runs::push_journal(&self.store, &self.run_id, seq, lines)))
            .map_err(|e| e.to_string())?;
        self.next.store(seq + 1, Ordering::SeqCst);
        Ok(())
    }
}

/// `--state`/RELCTL_STATE, else the `state:` of the runbook given with `-f`.
pub fn location_for(shared: &Shared, runbook_file: Option<&Path>) -> Option<Location> {
    resume_location(shared, runbook_file, None)
}

/// `relctl history` with shared state: every run in the store's index, from
/// every machine (only `-f`'s runbook when one is given).
pub async fn history(location: Location, runbook_file: Option<&Path>, json: bool) -> Result<i32, AppError> {
    let name = runbook_file.map(load).transpose()?.map(|rb| rb.name);
    let store = connect(location).await?;
    let mut entries = runs::index(&store).await.map_err(shared_error)?;
    entries.retain(|e| name.as_ref().is_none_or(|n| &e.runbook == n));
    // Newest first; two runs started in the same second have ids in either order.
    entries.sort_by(|a, b| (&b.started, &b.run_id).cmp(&(&a.started, &a.run_id)));
    // Who locked, unlocked or took over a runbook, and why, beside its runs.
    let mut runbooks: Vec<&str> = entries.iter().map(|e| e.runbook.as_str()).collect();
    runbooks.sort_unstable();
    runbooks.dedup();
    let mut events = Vec::new();
    for rb in runbooks {
        events.extend(lock::trail(&store, rb).await?);
    }
    events.sort_by(|a, b| b.at.cmp(&a.at));
    if json {
        let runs: Vec<serde_json::Value> =
            entries.iter().map(|e| serde_json::to_value(e).expect("an index entry serializes")).collect();
        let lock_events: Vec<serde_json::Value> =
            events.iter().map(|e| serde_json::to_value(e).expect("an audit entry serializes")).collect();
        println!(
            "{}",
            serde_json::json!({"schema_version": crate::plan::SCHEMA_VERSION, "state": store.location.to_string(), "runs": runs, "lock_events": lock_events})
        );
        return Ok(ExitCode::Released.code());
    }
    if entries.is_empty() {
        println!("no runs in {}", store.location);
        return Ok(ExitCode::Released.code());
    }
    println!("runs in {}:", store.location);
    println!(
        "{:<22} {:<20} {:<10} {:<14} {:<25} {:>9}  {:<20} result",
        "run", "runbook", "actor", "host", "started", "took", "vars"
    );
    for e in &entries {
        let took = e.duration_ms.map_or_else(
            || "-".to_string(),
            |ms| crate::runbook::duration::format_duration(std::time::Duration::from_millis(ms)),
        );
        let vars: Vec<String> = e.vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "{:<22} {:<20} {:<10} {:<14} {:<25} {:>9}  {:<20} {}",
            e.run_id,
            e.runbook,
            e.actor,
            e.host,
            e.started,
            took,
            vars.join(" "),
            e.state
        );
    }
    // Routine acquire/release pairs are in `relctl lock status`; here, what people did.
    let by_hand: Vec<_> = events.iter().filter(|e| !matches!(e.action.as_str(), "acquired" | "released")).take(10).collect();
    if !by_hand.is_empty() {
        println!("\nlock events (latest first):");
    }
    for e in by_hand {
        let run = e.run_id.as_deref().map(|r| format!(" run {r}")).unwrap_or_default();
        let why = e.why.as_deref().map(|w| format!(": {w}")).unwrap_or_default();
        println!("  {}  {:<12} {:<21} {}{run} by {} on {}{why}", e.at, e.runbook, e.action, e.lock_id, e.who, e.host);
    }
    Ok(ExitCode::Released.code())
}

/// The shared location a resume uses: `--state`/RELCTL_STATE, else the
/// `state:` of the runbook given with `-f`, else that of the run's own copy.
fn resume_location(shared: &Shared, runbook_file: Option<&Path>, run_dir: Option<&Path>) -> Option<Location> {
    let state_of = |path: &Path| load(path).ok().and_then(|rb| rb.state);
    shared
        .location
        .clone()
        .or_else(|| runbook_file.and_then(state_of))
        .or_else(|| run_dir.and_then(|d| state_of(&d.join(RUNBOOK_COPY))))
}

/// Run `run_id` in `state_dir`, or, on a machine that never saw it, brought
/// from the shared store.
pub async fn find_run(shared: &Shared, runbook_file: Option<&Path>, state_dir: &Path, run_id: &str) -> Result<RunDir, AppError> {
    if let Some(dir) = RunDir::open(state_dir, run_id) {
        return Ok(dir);
    }
    let not_here = format!("no run `{run_id}` in {}", state_dir.display());
    let Some(location) = resume_location(shared, runbook_file, None) else {
        return Err(AppError::NotFound(format!(
            "{not_here}; `relctl history` lists runs (a run from another machine: give --state s3://…)"
        )));
    };
    let store = connect(location).await?;
    fetch_run(&store, run_id, state_dir).await?.ok_or_else(|| {
        AppError::NotFound(format!(
            "{not_here}, nor in {}; `relctl history --state {}` lists runs",
            store.location, store.location
        ))
    })
}

/// For `status` of a run this machine does not have: brings it from the
/// shared store, when there is one, into the local state dir (a cache).
pub async fn bring(shared: &Shared, runbook_file: Option<&Path>, state_dir: &Path, run_id: &str) -> Result<(), AppError> {
    if RunDir::open(state_dir, run_id).is_some() || location_for(shared, runbook_file).is_none() {
        return Ok(());
    }
    let state_dir = std::path::absolute(state_dir).map_err(AppError::io("cannot resolve the state dir"))?;
    find_run(shared, runbook_file, &state_dir, run_id).await.map(|_| ())
}

/// Brings a run's local journal up to date with the store's copy before a
/// resume reads it: the run may have gone on from another machine.
pub async fn catch_up(shared: &Shared, runbook_file: Option<&Path>, run_dir: &RunDir) -> Result<(), AppError> {
    let Some(location) = resume_location(shared, runbook_file, Some(&run_dir.path)) else { return Ok(()) };
    let store = connect(location).await?;
    let (stored, _) = runs::get_journal(&store, &run_dir.id).await.map_err(shared_error)?;
    let path = run_dir.path.join(crate::engine::journal::FILE_NAME);
    let local = std::fs::read(&path).unwrap_or_default();
    if stored.len() > local.len() && stored.starts_with(&local) {
        std::fs::write(&path, &stored).map_err(AppError::io(format!("cannot write {}", path.display())))?;
        eprintln!("run {}: brought up to date from {} (it went on from another machine)", run_dir.id, store.location);
    }
    Ok(())
}

/// Brings run `run_id` from the store into `state_dir` (a machine that
/// never saw it): its runbook and its journal. `None` when the store has
/// no such run.
pub async fn fetch_run(store: &Store, run_id: &str, state_dir: &Path) -> Result<Option<RunDir>, AppError> {
    let Some(source) = runs::get_runbook(store, run_id).await.map_err(shared_error)? else { return Ok(None) };
    let (journal, _) = runs::get_journal(store, run_id).await.map_err(shared_error)?;
    let dir = state_dir.join("runs").join(run_id);
    let io = |what: &Path| AppError::io(format!("cannot write {}", what.display()));
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    std::fs::write(dir.join(RUNBOOK_COPY), source).map_err(io(&dir))?;
    std::fs::write(dir.join(crate::engine::journal::FILE_NAME), journal).map_err(io(&dir))?;
    Ok(RunDir::open(state_dir, run_id))
}

/// After the session: a finished run releases the lock (or, rolled back
/// with `lock_after_rollback`, leaves it as a manual lock naming why); a run
/// that stopped unfinished keeps it, marked stopped, for its resume.
/// A lock that was lost is left alone: it is someone else's now.
pub async fn unlock_after(held: &Held, code: Option<i32>, runbook: &Runbook, run_dir: &Path) {
    if held.is_lost() {
        return;
    }
    let finished = [ExitCode::Released, ExitCode::Aborted, ExitCode::RolledBack, ExitCode::RollbackFailed].map(ExitCode::code);
    let rolled_back = [ExitCode::RolledBack, ExitCode::RollbackFailed].map(ExitCode::code);
    let outcome = match code {
        Some(c) if rolled_back.contains(&c) && runbook.lock_after_rollback => {
            let why = super::summary::rollback_reason_of(run_dir).unwrap_or_else(|| "the release was rolled back".into());
            held.keep_after_rollback(&why).await.map(|()| {
                eprintln!(
                    "The runbook stays locked after the rollback (lock_after_rollback): {why}\n  release it when the cause is dealt with: relctl lock release --name {} --reason TEXT",
                    runbook.name
                );
            })
        }
        Some(c) if finished.contains(&c) => held.release().await,
        Some(c) if c == ExitCode::Interrupted.code() => held.keep_stopped("interrupted").await,
        Some(c) if c == ExitCode::NeedsDecision.code() => held.keep_stopped("a person must decide how to go on").await,
        _ => held.keep_stopped("stopped by an error").await,
    };
    if let Err(e) = outcome {
        eprintln!(
            "warning: the shared lock: {e}\n  `relctl lock status --name {}` shows it; `relctl unlock {} --reason TEXT` frees it",
            runbook.name,
            held.lock_id()
        );
    }
}

/// `relctl lock status|acquire|release` and `relctl unlock`.
pub async fn command(req: LockRequest, shared: &Shared, json: bool) -> Result<i32, AppError> {
    let (file, name) = match &req {
        LockRequest::Status { runbook, name }
        | LockRequest::Acquire { runbook, name, .. }
        | LockRequest::Release { runbook, name, .. } => (runbook.clone(), name.clone()),
        LockRequest::Unlock { .. } => (None, None),
    };
    let rb = file.as_deref().map(load).transpose()?;
    let location = shared.location.clone().or_else(|| rb.as_ref().and_then(|r| r.state.clone())).ok_or_else(|| {
        crate::config::UsageError(
            "no shared state: pass --state s3://BUCKET/PREFIX (or set RELCTL_STATE, or `state:` in the runbook given with -f); \
             with local state a run's lock is an OS lock held by the running process"
                .into(),
        )
    })?;
    let name = name.or_else(|| rb.map(|r| r.name));
    let store = Store::connect(location).await.map_err(lock::LockError::from)?;
    let now = jiff::Timestamp::now();
    match req {
        LockRequest::Status { .. } => {
            let locks: Vec<lock::Found> = match &name {
                Some(n) => lock::read(&store, n).await?.into_iter().collect(),
                None => lock::all(&store).await?,
            };
            if json {
                let trail = match &name {
                    Some(n) => lock::trail(&store, n).await?,
                    None => Vec::new(),
                };
                let locks: Vec<serde_json::Value> = locks
                    .iter()
                    .map(|f| {
                        let mut v = serde_json::to_value(&f.body).expect("a lock body serializes");
                        v["stale"] = serde_json::Value::Bool(f.body.stale(now));
                        v
                    })
                    .collect();
                let doc = serde_json::json!({
                    "schema_version": crate::plan::SCHEMA_VERSION,
                    "state": store.location.to_string(),
                    "locks": locks,
                    "events": trail,
                });
                println!("{doc}");
                return Ok(ExitCode::Released.code());
            }
            match (&name, locks.is_empty()) {
                (Some(n), true) => println!("`{n}` is not locked in {}", store.location),
                (None, true) => println!("no locks in {}", store.location),
                _ => {}
            }
            for f in &locks {
                println!("{}: locked by {}", f.body.runbook, f.body.describe(now));
            }
            if let Some(n) = &name {
                let trail = lock::trail(&store, n).await?;
                if !trail.is_empty() {
                    println!("recent:");
                }
                for e in trail.iter().rev().take(10).rev() {
                    let run = e.run_id.as_deref().map(|r| format!(" run {r}")).unwrap_or_default();
                    let why = e.why.as_deref().map(|w| format!(": {w}")).unwrap_or_default();
                    println!("  {}  {:<21} {}{run} by {} on {}{why}", e.at, e.action, e.lock_id, e.who, e.host);
                }
            }
            Ok(ExitCode::Released.code())
        }
        LockRequest::Acquire { message, actor, .. } => {
            let name = need_name(name)?;
            let body = lock::acquire_manual(&store, &name, &who(&actor, shared), &message).await?;
            println!(
                "`{name}` locked in {} ({}): no run starts until `relctl lock release --name {name} --state {}`",
                store.location, body.lock_id, store.location
            );
            Ok(ExitCode::Released.code())
        }
        LockRequest::Release { reason, actor, .. } => {
            let name = need_name(name)?;
            let body = lock::release_manual(&store, &name, &who(&actor, shared), reason.as_deref()).await?;
            println!("`{name}` released ({}, locked by {} since {})", body.lock_id, body.actor, body.created);
            Ok(ExitCode::Released.code())
        }
        LockRequest::Unlock { lock_id, reason, actor } => {
            let body = lock::unlock(&store, &lock_id, &who(&actor, shared), &reason).await?;
            let what = match (body.kind, &body.run_id) {
                (LockKind::Run, Some(run)) => format!(
                    "run {run}'s lock; that run is not finished: `relctl resume {run}` or `relctl abandon {run} --reason TEXT` settles its record"
                ),
                _ => "a manual lock".into(),
            };
            println!("unlocked `{}` ({lock_id}, {what})", body.runbook);
            Ok(ExitCode::Released.code())
        }
    }
}

fn load(path: &Path) -> Result<Runbook, AppError> {
    Ok(runbook::load(path, &crate::adapter::registry())?)
}

fn need_name(name: Option<String>) -> Result<String, AppError> {
    name.ok_or_else(|| crate::config::UsageError("which runbook? give -f RUNBOOK or --name NAME".into()).into())
}
