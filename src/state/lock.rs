//! A runbook's lock in the shared store: one object, `locks/NAME.json`.
//!
//! - Taken by creating it (`If-None-Match: *`): of two machines, one wins.
//!   The winner rewrites it at once on the ETag it got (`If-Match`): on a
//!   store whose conditional writes are not atomic under a race (moto's
//!   are not), a second writer that slipped in is caught there.
//! - A run's lock has a lease, renewed while the run lives (`If-Match` on
//!   the ETag it holds). A process that loses it learns so at its next
//!   renewal and stops the run; it can never write or remove someone
//!   else's lock, because every write names the ETag it holds.
//! - Released with a conditional delete. A run that stops unfinished keeps
//!   its lock, marked stopped, so no new run starts while the release is
//!   half done; `relctl resume` of that run takes it over.
//! - A lease that ran out because its holder vanished is stale: only
//!   `relctl unlock LOCK_ID --reason` (conditional on the stale ETag: one
//!   taker wins) or a resume of that same run take it.
//! - Manual locks (`relctl lock acquire -m`) have no lease and block runs
//!   until released.
//!
//! Every acquisition, release, takeover and unlock is recorded under
//! `audit/NAME/` with who, when and why (audit.rs); manual locks, `unlock`
//! and an abandoned run's lock are in by_hand.rs.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::audit::audit;
pub use super::audit::trail;
pub use super::by_hand::{acquire_manual, check_abandonable, release_abandoned, release_manual, unlock};
use super::store::{Store, StoreError, Written};

/// How long a run's lock lasts without renewal.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockKind {
    Run,
    Manual,
}

/// The lock object's body: who holds the runbook, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockBody {
    pub lock_id: String,
    pub kind: LockKind,
    pub runbook: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub actor: String,
    pub host: String,
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_job_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub created: String,
    pub renewed: String,
    /// A run's lease end (RFC 3339); none for a manual lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_expires: Option<String>,
    /// Set when the run stopped unfinished: why. Only a resume of the run,
    /// or `relctl unlock`, takes the lock then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

impl LockBody {
    /// A run lock whose lease ran out: its holder is gone without a word.
    pub fn stale(&self, now: jiff::Timestamp) -> bool {
        self.kind == LockKind::Run
            && self.stopped.is_none()
            && self.lease_expires.as_deref().and_then(|t| t.parse::<jiff::Timestamp>().ok()).is_some_and(|t| t < now)
    }

    /// Held by a live run (not manual, not stopped, not stale): worth waiting for.
    pub fn live(&self, now: jiff::Timestamp) -> bool {
        self.kind == LockKind::Run && self.stopped.is_none() && !self.stale(now)
    }

    /// One line: whose it is and in what state.
    pub fn describe(&self, now: jiff::Timestamp) -> String {
        let mut s = match (&self.kind, &self.run_id) {
            (LockKind::Manual, _) => format!("a manual lock ({}) by {}", self.lock_id, self.actor),
            (LockKind::Run, Some(run)) => format!("run {run} ({}) by {}", self.lock_id, self.actor),
            (LockKind::Run, None) => format!("a run ({}) by {}", self.lock_id, self.actor),
        };
        s += &format!(" on {} since {}", self.host, self.created);
        if let Some(url) = &self.ci_job_url {
            s += &format!(", CI job {url}");
        }
        if let Some(m) = &self.message {
            s += &format!(": \"{m}\"");
        }
        if let Some(why) = &self.stopped {
            s += &format!(" [stopped unfinished: {why}]");
        } else if self.stale(now) {
            s += &format!(" [STALE: its lease ran out at {}]", self.lease_expires.as_deref().unwrap_or("?"));
        } else if let Some(until) = &self.lease_expires {
            s += &format!(" [lease until {until}]");
        }
        s
    }
}

/// Who takes a lock: the person, and the process and CI job acting for them.
#[derive(Debug, Clone)]
pub struct Who {
    pub actor: String,
    pub host: String,
    pub pid: u32,
    pub ci_job_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("runbook `{name}` is locked in {location} by {holder}\n  hint: {hint}")]
    Held { name: String, location: String, holder: String, hint: String },
    /// Refused because a live run holds the lock.
    #[error("{0}")]
    Live(String),
    #[error("{0}")]
    Refused(String),
    #[error("runbook `{name}`: the lock in {location} was lost: {detail}")]
    Lost { name: String, location: String, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A lock as found: its body and the ETag a conditional write must name.
#[derive(Debug, Clone)]
pub struct Found {
    pub key: String,
    pub body: LockBody,
    pub etag: String,
}

pub(super) fn lock_key(store: &Store, runbook: &str) -> String {
    store.location.key(&format!("locks/{runbook}.json"))
}

pub(super) fn new_lock_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mix = (nanos as u64 ^ (u64::from(std::process::id()) << 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("lk-{:08x}", (mix >> 32) as u32)
}

/// RFC 3339 in UTC to the millisecond, always the same width, so that keys
/// built from it sort by time.
fn stamp_at(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

pub(super) fn now_stamp() -> String {
    stamp_at(std::time::SystemTime::now())
}

fn lease_end(lease: Duration) -> String {
    let now = std::time::SystemTime::now();
    stamp_at(now.checked_add(lease).unwrap_or(now))
}

pub(super) fn to_json(body: &LockBody) -> Vec<u8> {
    serde_json::to_vec_pretty(body).expect("a lock body serializes")
}

/// The lock of `runbook`, if any.
pub async fn read(store: &Store, runbook: &str) -> Result<Option<Found>, LockError> {
    let key = lock_key(store, runbook);
    let Some((bytes, etag)) = store.get(&key).await? else { return Ok(None) };
    let body: LockBody = serde_json::from_slice(&bytes).map_err(|e| {
        LockError::Refused(format!(
            "{}: the lock object is not one relctl wrote ({e}); look at it, and delete it by hand if it is junk",
            store.location
        ))
    })?;
    Ok(Some(Found { key, body, etag }))
}

/// Every lock under the location, by runbook name.
pub async fn all(store: &Store) -> Result<Vec<Found>, LockError> {
    let mut out = Vec::new();
    for key in store.list(&store.location.key("locks/")).await? {
        if let Some(name) = key.rsplit('/').next().and_then(|f| f.strip_suffix(".json"))
            && let Some(found) = read(store, name).await?
        {
            out.push(found);
        }
    }
    Ok(out)
}

/// What a run asks of the lock.
#[derive(Debug, Clone)]
pub struct RunClaim {
    pub runbook: String,
    pub run_id: String,
    pub who: Who,
    pub lease: Duration,
    /// `--lock-wait`: how long to wait for a live run to finish.
    pub wait: Option<Duration>,
    /// A resume: a stopped or stale lock of this same run may be taken over.
    pub resuming: bool,
}

/// A lock this process holds. Every change names the ETag it last wrote.
pub struct Held {
    store: Arc<Store>,
    key: String,
    who: Who,
    lease: Duration,
    state: tokio::sync::Mutex<(LockBody, String)>,
    /// Set when a renewal found the lock gone or someone else's.
    lost: std::sync::atomic::AtomicBool,
}

/// Takes `claim.runbook`'s lock for a run, waiting for a live holder up to
/// `claim.wait`; never waits for a manual, stopped or stale lock.
pub async fn acquire(store: Arc<Store>, claim: &RunClaim) -> Result<Arc<Held>, LockError> {
    let key = lock_key(&store, &claim.runbook);
    let deadline = claim.wait.map(|w| tokio::time::Instant::now() + w);
    let mut pause = Duration::from_millis(500);
    loop {
        let now = jiff::Timestamp::now();
        let body = LockBody {
            lock_id: new_lock_id(),
            kind: LockKind::Run,
            runbook: claim.runbook.clone(),
            run_id: Some(claim.run_id.clone()),
            actor: claim.who.actor.clone(),
            host: claim.who.host.clone(),
            pid: claim.who.pid,
            ci_job_url: claim.who.ci_job_url.clone(),
            message: None,
            created: now_stamp(),
            renewed: now_stamp(),
            lease_expires: Some(lease_end(claim.lease)),
            stopped: None,
        };
        let (written, action) = match read(&store, &claim.runbook).await? {
            None => (store.create(&key, &to_json(&body)).await?, "acquired"),
            Some(found)
                if claim.resuming
                    && found.body.run_id.as_deref() == Some(&claim.run_id)
                    && (!found.body.live(now) || holder_gone(&found.body, &claim.who)) =>
            {
                // This run's own lock, left by a stop or a vanished process.
                let body = LockBody { lock_id: found.body.lock_id.clone(), created: found.body.created.clone(), ..body.clone() };
                let w = store.replace(&key, &to_json(&body), &found.etag).await?;
                if let Written::Done(etag) = w {
                    return confirm(store, key, body, etag, "taken_over", claim).await;
                }
                continue;
            }
            Some(found) => {
                let waiting = found.body.live(now) && deadline.is_some_and(|d| tokio::time::Instant::now() + pause < d);
                if waiting {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(15));
                    continue;
                }
                return Err(held(&store, &claim.runbook, &found.body, claim.wait.is_some()));
            }
        };
        match written {
            Written::Done(etag) => return confirm(store, key, body, etag, action, claim).await,
            // Taken between our look and our write: look again.
            Written::Refused => {}
        }
    }
}

/// Rewrites a lock just taken on its ETag: the check that no second writer
/// slipped in on a store whose conditional create is not atomic.
async fn confirm(
    store: Arc<Store>,
    key: String,
    body: LockBody,
    etag: String,
    action: &str,
    claim: &RunClaim,
) -> Result<Arc<Held>, LockError> {
    let (who, lease) = (&claim.who, claim.lease);
    let Written::Done(etag) = store.replace(&key, &to_json(&body), &etag).await? else {
        let holder =
            read(&store, &body.runbook).await?.map_or_else(|| "someone".to_string(), |f| f.body.describe(jiff::Timestamp::now()));
        return Err(LockError::Held {
            name: body.runbook.clone(),
            location: store.location.to_string(),
            holder,
            hint: "another machine took the lock at the same moment; try again when it is free".into(),
        });
    };
    audit(&store, &body, action, who, None).await?;
    Ok(Arc::new(Held {
        store,
        key,
        who: who.clone(),
        lease,
        state: tokio::sync::Mutex::new((body, etag)),
        lost: std::sync::atomic::AtomicBool::new(false),
    }))
}

/// A holder on this very host whose process is gone (it stopped without
/// being able to mark its lock, e.g. with the store unreachable): known at
/// once, without waiting for its lease to run out.
fn holder_gone(body: &LockBody, here: &Who) -> bool {
    if body.host != here.host || body.pid == 0 {
        return false;
    }
    let Ok(pid) = i32::try_from(body.pid) else { return false };
    // SAFETY: signal 0 only asks whether the process exists.
    let alive = unsafe { libc::kill(pid, 0) == 0 };
    let relctl = std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.windows(6).any(|w| w == b"relctl"));
    !(alive && relctl)
}

pub(super) fn held(store: &Store, runbook: &str, body: &LockBody, waited: bool) -> LockError {
    let now = jiff::Timestamp::now();
    let location = store.location.to_string();
    let hint = match (&body.kind, &body.stopped, body.stale(now), &body.run_id) {
        (LockKind::Manual, ..) => format!(
            "a person locked it on purpose; when the reason is gone: relctl lock release -f RUNBOOK --state {location} (or relctl unlock {} --reason TEXT)",
            body.lock_id
        ),
        (_, Some(_), _, Some(run)) | (_, None, true, Some(run)) => format!(
            "a release half done holds it: finish it with `relctl resume {run} --state {location}`, or, if it was dealt with by hand, `relctl unlock {} --reason TEXT --state {location}`",
            body.lock_id
        ),
        _ if waited => "it was still held when --lock-wait ran out".into(),
        _ => "wait for it to finish, or pass --lock-wait DURATION to wait".into(),
    };
    LockError::Held { name: runbook.to_string(), location, holder: body.describe(now), hint }
}

impl Held {
    pub fn lock_id(&self) -> String {
        self.state.try_lock().map(|s| s.0.lock_id.clone()).unwrap_or_default()
    }

    /// Whether a renewal found the lock gone or someone else's.
    pub fn is_lost(&self) -> bool {
        self.lost.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Extends the lease. `Err(Lost)` when the lock is no longer ours.
    pub async fn renew(&self) -> Result<(), LockError> {
        let mut state = self.state.lock().await;
        let mut body = state.0.clone();
        body.renewed = now_stamp();
        body.lease_expires = Some(lease_end(self.lease));
        match self.store.replace(&self.key, &to_json(&body), &state.1).await? {
            Written::Done(etag) => {
                *state = (body, etag);
                Ok(())
            }
            Written::Refused => Err(self.lost(&body).await),
        }
    }

    async fn lost(&self, body: &LockBody) -> LockError {
        let now_holder = read(&self.store, &body.runbook).await.ok().flatten();
        LockError::Lost {
            name: body.runbook.clone(),
            location: self.store.location.to_string(),
            detail: now_holder.map_or_else(
                || "it was removed (relctl unlock?)".to_string(),
                |f| format!("it is now held by {}", f.body.describe(jiff::Timestamp::now())),
            ),
        }
    }

    /// Renews the lease every third of it until [`Keeper::stop`]. When the
    /// lock is lost, or cannot be renewed before the lease runs out, calls
    /// `stop` once: the run must not go on unprotected.
    pub fn keep_alive(self: &Arc<Self>, stop: impl Fn(String) + Send + 'static) -> Keeper {
        let held = Arc::clone(self);
        let (done, mut finish) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let every = held.lease / 3;
            let mut last_ok = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    _ = &mut finish => return,
                }
                // Never cut off mid-call: a renewal S3 applied but we did not
                // record would leave us naming an old ETag on release.
                match held.renew().await {
                    Ok(()) => last_ok = tokio::time::Instant::now(),
                    Err(e @ LockError::Lost { .. }) => {
                        held.lost.store(true, std::sync::atomic::Ordering::SeqCst);
                        stop(e.to_string());
                        return;
                    }
                    Err(e) if last_ok.elapsed() + every >= held.lease => {
                        stop(format!("cannot renew the lock before its lease runs out: {e}"));
                        return;
                    }
                    Err(e) => tracing::warn!("renewing the lock failed, trying again: {e}"),
                }
            }
        });
        Keeper { done, task }
    }

    /// The run ended: the lock goes (a conditional delete: never someone else's).
    pub async fn release(&self) -> Result<(), LockError> {
        let state = self.state.lock().await;
        match self.store.delete(&self.key, &state.1).await? {
            Written::Done(_) => audit(&self.store, &state.0, "released", &self.who, None).await,
            Written::Refused => Err(self.lost(&state.0).await),
        }
    }

    /// The run stopped unfinished: the lock stays, marked so, until the run
    /// is resumed (which takes it over at once) or abandoned.
    pub async fn keep_stopped(&self, why: &str) -> Result<(), LockError> {
        self.rewrite("kept", Some(why), |b| {
            b.stopped = Some(why.to_string());
            b.lease_expires = Some(now_stamp());
        })
        .await
    }

    /// `lock_after_rollback: true`: the runbook stays locked, as a manual
    /// lock naming the rollback's reason, until a person releases it.
    pub async fn keep_after_rollback(&self, why: &str) -> Result<(), LockError> {
        self.rewrite("locked_after_rollback", Some(why), |b| {
            b.kind = LockKind::Manual;
            b.message = Some(format!("rolled back: {why}"));
            b.lease_expires = None;
            b.stopped = None;
        })
        .await
    }

    async fn rewrite(&self, action: &str, why: Option<&str>, change: impl FnOnce(&mut LockBody)) -> Result<(), LockError> {
        let mut state = self.state.lock().await;
        let mut body = state.0.clone();
        change(&mut body);
        body.renewed = now_stamp();
        match self.store.replace(&self.key, &to_json(&body), &state.1).await? {
            Written::Done(etag) => {
                audit(&self.store, &body, action, &self.who, why).await?;
                *state = (body, etag);
                Ok(())
            }
            Written::Refused => Err(self.lost(&body).await),
        }
    }
}

/// The task renewing a run's lease.
pub struct Keeper {
    done: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Keeper {
    /// Stops renewing, after a renewal in flight has finished.
    pub async fn stop(self) {
        let _ = self.done.send(());
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(kind: LockKind, lease: Option<&str>, stopped: Option<&str>) -> LockBody {
        LockBody {
            lock_id: "lk-1".into(),
            kind,
            runbook: "rb".into(),
            run_id: Some("r1".into()),
            actor: "alice".into(),
            host: "h".into(),
            pid: 1,
            ci_job_url: None,
            message: None,
            created: "2026-12-01T10:00:00Z".into(),
            renewed: "2026-12-01T10:00:00Z".into(),
            lease_expires: lease.map(str::to_string),
            stopped: stopped.map(str::to_string),
        }
    }

    #[test]
    fn a_run_lock_is_live_until_its_lease_runs_out_or_it_stops() {
        let now: jiff::Timestamp = "2026-12-01T10:05:00Z".parse().unwrap();
        let live = body(LockKind::Run, Some("2026-12-01T10:06:00Z"), None);
        assert!(live.live(now) && !live.stale(now));
        let expired = body(LockKind::Run, Some("2026-12-01T10:04:00Z"), None);
        assert!(expired.stale(now) && !expired.live(now));
        assert!(expired.describe(now).contains("STALE"));
        let stopped = body(LockKind::Run, Some("2026-12-01T10:04:00Z"), Some("interrupted"));
        assert!(!stopped.live(now) && !stopped.stale(now));
        let manual = body(LockKind::Manual, None, None);
        assert!(!manual.live(now) && !manual.stale(now));
    }
}
