//! What the engine reports. Observers (terminal, plain text, JSON lines) and
//! the journal all consume the same events; the engine itself never prints.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::state::RunState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Succeeded,
    Failed,
    /// `when:` was false, or a dry run skipped it.
    Skipped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnsweredBy {
    /// A person at the terminal.
    Terminal,
    /// `--approve`.
    Flag,
    /// Nobody could answer (non-interactive without `--approve`, or not an approver).
    Policy,
    DryRun,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        runbook: String,
        path: String,
        actor: String,
        vars: BTreeMap<String, String>,
        dry_run: bool,
        at: String,
    },
    RunResumed {
        run_id: String,
        actor: String,
        state: RunState,
        at: String,
    },
    StateEntered {
        state: RunState,
        at: String,
    },
    StepStarted {
        key: String,
        id: Option<String>,
        label: String,
        kind: String,
        attempt: u32,
        at: String,
    },
    StepLog {
        key: String,
        line: String,
    },
    /// Progress a step must not lose (a build number), journaled before it goes on.
    StepCheckpoint {
        key: String,
        data: BTreeMap<String, String>,
    },
    /// Run-wide state of an integration (the Slack thread's `ts`).
    IntegrationState {
        integration: String,
        name: String,
        value: String,
    },
    /// A person is being asked (a gate or confirm); notices go out now.
    GateWaiting {
        key: String,
        question: String,
        gate: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        approvers: Option<Vec<String>>,
    },
    StepRetrying {
        key: String,
        attempt: u32,
        delay_ms: u64,
        error: String,
    },
    StepFinished {
        key: String,
        id: Option<String>,
        label: String,
        status: StepStatus,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        outputs: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// The failure was allowed (`continue_on_failure`, finalize, rollback best effort).
        #[serde(default)]
        tolerated: bool,
        duration_ms: u64,
        at: String,
    },
    /// A step finished in an earlier session of this run; it is not run again.
    StepReused {
        key: String,
        label: String,
        status: StepStatus,
    },
    Decision {
        key: String,
        id: Option<String>,
        question: String,
        gate: bool,
        approved: bool,
        actor: String,
        by: AnsweredBy,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        at: String,
    },
    Warning {
        message: String,
    },
    Interrupted {
        state: RunState,
        at: String,
    },
    RunFinished {
        state: RunState,
        exit_code: i32,
        at: String,
    },
}

/// Anything that wants to see the run as it happens.
pub trait Observer: Send + Sync {
    fn on_event(&self, event: &Event);
}

/// The current time as the journal writes it (RFC 3339, UTC, milliseconds).
pub fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
