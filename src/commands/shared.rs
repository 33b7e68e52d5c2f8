//! Shared state at the edge: which location a command uses, the run's lock
//! around a session (taken, kept alive, released or kept when the run
//! stops), and `relctl lock` / `relctl unlock`.

use std::path::Path;
use std::sync::Arc;

use crate::config::{LockRequest, Shared};
use crate::error::AppError;
use crate::exit::ExitCode;
use crate::runbook;
use crate::runbook::model::Runbook;
use crate::state::Location;
use crate::state::lock::{self, Held, LockKind, RunClaim, Who};
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

/// Takes the runbook's shared lock for run `run_id`, if the state is shared.
pub async fn lock_run(
    shared: &Shared,
    runbook: &Runbook,
    run_id: &str,
    actor: &str,
    resuming: bool,
) -> Result<Option<Arc<Held>>, AppError> {
    let Some(location) = location(shared, runbook) else { return Ok(None) };
    let store = Arc::new(Store::connect(location).await.map_err(crate::state::lock::LockError::from)?);
    let claim = RunClaim {
        runbook: runbook.name.clone(),
        run_id: run_id.to_string(),
        who: who(actor, shared),
        lease: shared.lease,
        wait: shared.wait,
        resuming,
    };
    Ok(Some(lock::acquire(store, &claim).await?))
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
pub async fn command(req: LockRequest, shared: &Shared) -> Result<i32, AppError> {
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
            let locks = match &name {
                Some(n) => lock::read(&store, n).await?.into_iter().collect(),
                None => lock::all(&store).await?,
            };
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
