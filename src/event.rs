//! Leaf contract: what the engine reports and the run states it reports.
//! Observers (terminal, plain text, JSON lines), the journal and integrations
//! (Slack notices) all consume the same events; the engine never prints.
//! The transitions between states live in `engine::state`; this file only
//! names them, so everyone can read a state without reaching into the engine.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::exit::ExitCode;
use crate::question::AnsweredBy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Checklist,
    Execute,
    Validate,
    RollingBack,
    VerifyingRollback,
    Finalize,
    Released,
    ReleasedWithWarnings,
    Aborted,
    RolledBack,
    RollbackFailed,
}

impl RunState {
    #[cfg(test)]
    pub const ALL: [RunState; 11] = [
        RunState::Checklist,
        RunState::Execute,
        RunState::Validate,
        RunState::RollingBack,
        RunState::VerifyingRollback,
        RunState::Finalize,
        RunState::Released,
        RunState::ReleasedWithWarnings,
        RunState::Aborted,
        RunState::RolledBack,
        RunState::RollbackFailed,
    ];

    /// A run in this state has ended: nothing more runs, nothing to resume.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunState::Released
                | RunState::ReleasedWithWarnings
                | RunState::Aborted
                | RunState::RolledBack
                | RunState::RollbackFailed
        )
    }

    pub fn label(self) -> &'static str {
        match self {
            RunState::Checklist => "CHECKLIST",
            RunState::Execute => "EXECUTING",
            RunState::Validate => "VALIDATING",
            RunState::RollingBack => "ROLLING BACK",
            RunState::VerifyingRollback => "VERIFYING ROLLBACK",
            RunState::Finalize => "FINALIZING",
            RunState::Released => "RELEASED",
            RunState::ReleasedWithWarnings => "RELEASED (with warnings)",
            RunState::Aborted => "ABORTED",
            RunState::RolledBack => "ROLLED BACK",
            RunState::RollbackFailed => "ROLLBACK FAILED",
        }
    }

    /// The process exit code for a run that ended in this state.
    pub fn exit_code(self) -> ExitCode {
        match self {
            RunState::Released | RunState::ReleasedWithWarnings => ExitCode::Released,
            RunState::Aborted => ExitCode::Aborted,
            RunState::RolledBack => ExitCode::RolledBack,
            RunState::RollbackFailed => ExitCode::RollbackFailed,
            // A run stopped in a non-terminal state can be resumed.
            _ => ExitCode::Interrupted,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Succeeded,
    Failed,
    /// `when:` was false, or a dry run skipped it.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        runbook: String,
        path: String,
        actor: String,
        /// `--var` values as given, except those holding a secret (masked).
        vars: BTreeMap<String, String>,
        /// Vars whose value is a secret: the secret's name (read from the
        /// environment again on resume), or "" when the value only contained
        /// one and cannot be restored.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        secret_vars: BTreeMap<String, String>,
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
    /// Opening the journal to resume cut off a torn last line (a crash or a
    /// full disk mid-write); it was never part of the record.
    JournalRepaired {
        dropped_bytes: u64,
        at: String,
    },
    /// The journal had lines that could not be trusted, and the person
    /// resuming chose to go on from what could be read.
    DamageAccepted {
        actor: String,
        damage: Vec<String>,
        at: String,
    },
    StepStarted {
        key: String,
        id: Option<String>,
        label: String,
        kind: String,
        attempt: u32,
        /// How long it should take (a `wait`), when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expected_ms: Option<u64>,
        /// When it is stopped (`timeout:` or its kind's default).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
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
    /// Resuming: a step cut off when relctl was killed still has processes
    /// running on this machine; the run waits for them, or ends them
    /// (`ending`), before it decides about the step.
    LeftoverProcesses {
        key: String,
        label: String,
        pgid: i32,
        started_at: String,
        ending: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        why: Option<String>,
        at: String,
    },
    /// Those processes are gone: they ended by themselves, or were ended.
    LeftoverGone {
        key: String,
        label: String,
        pgid: i32,
        ended: bool,
        waited_ms: u64,
        at: String,
    },
    /// The process group a step's command leads, as it started: what a
    /// resume needs to find it still running after relctl was killed (see
    /// step::ProcessRecord). Written at once, flushed with the next flush:
    /// only a machine crash could lose it, and that ends the processes too.
    StepProcess {
        key: String,
        pgid: i32,
        start_ticks: u64,
        boot_id: String,
        host: String,
        started_at: String,
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
        /// What to do about a failure (the error's advice), kept apart from
        /// the message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        help: Option<String>,
        /// The kind of failure (`check`, `command`, `refused`, `timed_out`,
        /// `remote`, `journal`): reports tell a failed check from an error.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failure: Option<String>,
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
        /// A go over these failed checks: an override, its reason in `comment`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        overridden: Vec<String>,
        /// How the answering person's name was established (a person's answer only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity: Option<crate::question::Identity>,
        /// Each answer that decided a question asked in several places.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        approvals: Vec<crate::question::Ballot>,
        at: String,
    },
    /// A person answered a question asked in several places; `refused`
    /// says why the answer does not count.
    Answered {
        key: String,
        ballot: crate::question::Ballot,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refused: Option<String>,
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
        /// A dry run: nothing was changed; `state` is where a real run would end.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        dry_run: bool,
        at: String,
    },
    /// The run started outside the runbook's release windows, or in a
    /// freeze, because a person said so (`--override-window --reason`).
    WindowOverridden {
        actor: String,
        /// Why it was closed.
        closed: String,
        reason: String,
        at: String,
    },
    /// A person gave up an unfinished run (`relctl abandon`): it will not be
    /// resumed, and its runbook may run again.
    RunAbandoned {
        actor: String,
        reason: String,
        at: String,
    },
}

/// Anything that wants to see the run as it happens.
pub trait Observer: Send + Sync {
    fn on_event(&self, event: &Event);
}

/// A decision as people read it: `GO (OVERRIDE)`, `GO`, `NO-GO` for a
/// gate, `yes`/`no` for a confirm.
pub fn verdict(gate: bool, approved: bool, overridden: bool) -> &'static str {
    match (gate, approved) {
        (true, true) if overridden => "GO (OVERRIDE)",
        (true, true) => "GO",
        (true, false) => "NO-GO",
        (false, true) => "yes",
        (false, false) => "no",
    }
}

/// The version of relctl's JSON documents and event lines (`--output json`):
/// bumped when a field changes meaning or goes away; new fields may appear.
pub const SCHEMA_VERSION: u32 = 1;

/// The current time as the journal writes it (RFC 3339, UTC, milliseconds).
pub fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
