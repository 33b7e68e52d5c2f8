//! What people do to locks by hand: manual locks, `relctl unlock`, and the
//! lock of an abandoned run. Each is conditional on the version read, and
//! recorded in the audit trail with who and why.

use super::audit::audit;
use super::lock::{Found, LockBody, LockError, LockKind, Who, all, held, lock_key, new_lock_id, now_stamp, read, to_json};
use super::store::{Store, Written};

/// `relctl lock acquire -m MESSAGE`: blocks runs of `runbook` until released.
pub async fn acquire_manual(store: &Store, runbook: &str, who: &Who, message: &str) -> Result<LockBody, LockError> {
    let now = now_stamp();
    let body = LockBody {
        lock_id: new_lock_id(),
        kind: LockKind::Manual,
        runbook: runbook.to_string(),
        run_id: None,
        actor: who.actor.clone(),
        host: who.host.clone(),
        pid: who.pid,
        ci_job_url: who.ci_job_url.clone(),
        message: Some(message.to_string()),
        created: now.clone(),
        renewed: now,
        lease_expires: None,
        stopped: None,
    };
    match store.create(&lock_key(store, runbook), &to_json(&body)).await? {
        Written::Done(_) => {
            audit(store, &body, "manual_acquired", who, Some(message)).await?;
            Ok(body)
        }
        Written::Refused => {
            let found = read(store, runbook).await?;
            Err(found.map_or_else(
                || LockError::Refused(format!("runbook `{runbook}` was locked and unlocked just now: try again")),
                |f| held(store, runbook, &f.body, false),
            ))
        }
    }
}

/// `relctl lock release`: ends a manual lock (a run's lock ends with its run).
pub async fn release_manual(store: &Store, runbook: &str, who: &Who, reason: Option<&str>) -> Result<LockBody, LockError> {
    let Some(found) = read(store, runbook).await? else {
        return Err(LockError::Refused(format!("runbook `{runbook}` is not locked in {}", store.location)));
    };
    if found.body.kind != LockKind::Manual {
        let now = jiff::Timestamp::now();
        return Err(LockError::Refused(format!(
            "runbook `{runbook}` is held by {}, not by a manual lock: a run's lock goes when the run ends{}",
            found.body.describe(now),
            if found.body.live(now) {
                String::new()
            } else {
                format!("; to take it away: relctl unlock {} --reason TEXT", found.body.lock_id)
            }
        )));
    }
    remove(store, &found, "manual_released", who, reason).await
}

/// `relctl unlock LOCK_ID --reason`: takes away a lock nobody is keeping
/// alive (stale or stopped) or a manual one. A live run's lock is refused.
pub async fn unlock(store: &Store, lock_id: &str, who: &Who, reason: &str) -> Result<LockBody, LockError> {
    let found = all(store).await?.into_iter().find(|f| f.body.lock_id == lock_id);
    let Some(found) = found else {
        return Err(LockError::Refused(format!("no lock `{lock_id}` in {}; `relctl lock status` lists them", store.location)));
    };
    let now = jiff::Timestamp::now();
    if found.body.live(now) {
        return Err(LockError::Live(format!(
            "lock {lock_id} belongs to a live run: {}. Its lease is being renewed; stop that run instead (it releases the lock)",
            found.body.describe(now)
        )));
    }
    remove(store, &found, "unlocked", who, Some(reason)).await
}

/// `relctl abandon` of run `run_id`: its lock goes with it, unless the run
/// is live somewhere (then nothing is abandoned).
pub async fn check_abandonable(store: &Store, runbook: &str, run_id: &str) -> Result<Option<Found>, LockError> {
    let now = jiff::Timestamp::now();
    match read(store, runbook).await? {
        Some(f) if f.body.run_id.as_deref() == Some(run_id) && f.body.live(now) => {
            Err(LockError::Live(format!("run {run_id} is live: {}. Stop it there first", f.body.describe(now))))
        }
        Some(f) if f.body.run_id.as_deref() == Some(run_id) => Ok(Some(f)),
        _ => Ok(None),
    }
}

/// Removes the lock of an abandoned run, on the record.
pub async fn release_abandoned(store: &Store, found: &Found, who: &Who, reason: &str) -> Result<(), LockError> {
    remove(store, found, "abandoned", who, Some(reason)).await.map(|_| ())
}

async fn remove(store: &Store, found: &Found, action: &str, who: &Who, why: Option<&str>) -> Result<LockBody, LockError> {
    match store.delete(&found.key, &found.etag).await? {
        Written::Done(_) => {
            audit(store, &found.body, action, who, why).await?;
            Ok(found.body.clone())
        }
        Written::Refused => Err(LockError::Refused(format!(
            "the lock of `{}` changed while it was being removed (someone else took or removed it): look again with `relctl lock status`",
            found.body.runbook
        ))),
    }
}
