//! The lock's audit trail: one object per lock event under `audit/NAME/`,
//! keyed by time so that listing them reads them in order.

use serde::{Deserialize, Serialize};

use super::lock::{LockBody, LockError, Who, now_stamp};
use super::store::Store;

/// One line of the lock's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: String,
    /// acquired, released, kept, taken_over, unlocked, manual_acquired, manual_released, locked_after_rollback
    pub action: String,
    pub lock_id: String,
    pub runbook: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub who: String,
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

pub(super) async fn audit(store: &Store, body: &LockBody, action: &str, who: &Who, why: Option<&str>) -> Result<(), LockError> {
    let entry = AuditEntry {
        at: now_stamp(),
        action: action.to_string(),
        lock_id: body.lock_id.clone(),
        runbook: body.runbook.clone(),
        run_id: body.run_id.clone(),
        who: who.actor.clone(),
        host: who.host.clone(),
        why: why.map(str::to_string),
    };
    let compact: String = entry.at.chars().filter(char::is_ascii_digit).collect();
    let key = store.location.key(&format!("audit/{}/{compact}-{}-{action}.json", body.runbook, body.lock_id));
    let json = serde_json::to_vec_pretty(&entry).expect("an audit entry serializes");
    // Unique by time, lock and action; a clash means this entry is already there.
    store.create(&key, &json).await?;
    Ok(())
}

/// The audit trail of `runbook`, oldest first.
pub async fn trail(store: &Store, runbook: &str) -> Result<Vec<AuditEntry>, LockError> {
    let mut out = Vec::new();
    for key in store.list(&store.location.key(&format!("audit/{runbook}/"))).await? {
        if let Some((bytes, _)) = store.get(&key).await?
            && let Ok(entry) = serde_json::from_slice(&bytes)
        {
            out.push(entry);
        }
    }
    Ok(out)
}
