//! One run per runbook name at a time.
//!
//! The lock is an OS file lock (`File::try_lock`) in one directory for the
//! whole machine (`/tmp/relctl-locks`, or RELCTL_LOCK_DIR), held by the
//! process for the whole run, gates included, and released by the OS even if
//! relctl is killed. The lock file holds who took it, so a refused run can
//! name the holder. A killed run's release is still half done, though: the
//! session also refuses a runbook whose earlier run in the state dir neither
//! finished nor was abandoned.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub run_id: String,
    pub actor: String,
    pub pid: u32,
    pub host: String,
    pub since: String,
    #[serde(default)]
    pub runbook: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "run {} by {} (pid {} on {}, since {}, {})",
            self.run_id, self.actor, self.pid, self.host, self.since, self.runbook
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("runbook `{name}` is locked by {}; wait for it to finish, or if that process is gone, run again (the OS frees the lock)", holder.as_ref().map_or_else(|| "another run".to_string(), ToString::to_string))]
    Held { name: String, holder: Option<Box<Holder>>, path: PathBuf },
    #[error(
        "runbook `{name}` has an unfinished run, {run_id} (stopped in {state}): a release half done holds its runbook; \
         finish it with `relctl resume {run_id}`, or give it up with `relctl abandon {run_id} --reason TEXT`"
    )]
    Unfinished { name: String, run_id: String, state: String },
    #[error("cannot open lock file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Held while it lives; the OS releases it when the file closes.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    pub fn acquire(lock_dir: &Path, name: &str, holder: &Holder) -> Result<RunLock, LockError> {
        let dir = lock_dir.to_path_buf();
        let path = dir.join(format!("{name}.lock"));
        let io = |source| LockError::Io { path: path.clone(), source };
        std::fs::create_dir_all(&dir).map_err(io)?;
        shared(&dir, 0o1777);
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        shared(&path, 0o666);
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder = serde_json::from_str(&text).ok().map(Box::new);
                return Err(LockError::Held { name: name.to_string(), holder, path });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let body = serde_json::to_vec_pretty(holder).expect("holder serializes");
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(&body))
            .and_then(|()| file.sync_data())
            .map_err(io)?;
        Ok(RunLock { _file: file })
    }
}

/// The process that holds (or last held) `name`'s lock, if it is still
/// running on this machine: a run that is live right now. Read without
/// taking the lock, so looking never gets in a starting run's way.
pub fn live_holder(lock_dir: &Path, name: &str) -> Option<Holder> {
    let text = std::fs::read_to_string(lock_dir.join(format!("{name}.lock"))).ok()?;
    let holder: Holder = serde_json::from_str(&text).ok()?;
    let here = crate::step::ProcessRecord::this_host();
    // SAFETY: signal 0 only asks whether the process exists.
    let alive = holder.pid > 0 && unsafe { libc::kill(holder.pid as i32, 0) == 0 };
    let relctl = std::fs::read(format!("/proc/{}/cmdline", holder.pid)).is_ok_and(|c| c.windows(6).any(|w| w == b"relctl"));
    (holder.host == here && alive && relctl).then_some(holder)
}

/// Lets every user of the machine take (and read) the locks, like /tmp.
/// Best effort: a directory or file someone else created keeps its mode.
fn shared(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(id: &str) -> Holder {
        Holder {
            run_id: id.into(),
            actor: "alice".into(),
            pid: 1,
            host: "h".into(),
            since: "t".into(),
            runbook: "rb.yaml".into(),
        }
    }

    #[test]
    fn second_acquire_names_the_holder_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path(), "rb", &holder("run-1")).unwrap();
        match RunLock::acquire(dir.path(), "rb", &holder("run-2")) {
            Err(LockError::Held { holder: Some(h), .. }) => assert_eq!(h.run_id, "run-1"),
            other => panic!("expected Held, got {other:?}"),
        }
        drop(first);
        RunLock::acquire(dir.path(), "rb", &holder("run-3")).unwrap();
    }
}
