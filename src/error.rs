//! Errors that stop relctl itself (as opposed to a step failing, which the
//! engine handles), grouped by layer, and the exit code each one means.

use crate::config::UsageError;
use crate::engine::driver::EngineError;
use crate::engine::journal::JournalError;
use crate::engine::lock::LockError;
use crate::exit::ExitCode;
use crate::plan::{ApproverError, PlanError};
use crate::runbook::LoadError;
use crate::state::lock::LockError as SharedLock;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Approvers(#[from] ApproverError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Shared(#[from] crate::state::lock::LockError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{0}")]
    NotFound(String),
    #[error("not now: the release is {}; {}. To release anyway, on the record: --override-window --reason TEXT", .0.why, .0.next_opening.as_ref().map_or_else(|| "no opening in the next 400 days".to_string(), |t| format!("the next opening is {t}")))]
    Closed(crate::runbook::schedule::Closed),
}

impl AppError {
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> AppError {
        let what = what.into();
        move |source| AppError::Io { what, source }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Usage(_) | AppError::Load(_) | AppError::Plan(_) => ExitCode::Usage.code(),
            // Refused before any change, like a checklist that fails.
            AppError::Approvers(_) | AppError::Closed(_) => ExitCode::Aborted.code(),
            AppError::Lock(LockError::Held { .. } | LockError::Unfinished { .. }) => ExitCode::Locked.code(),
            AppError::Shared(SharedLock::Held { .. } | SharedLock::Live(_)) => ExitCode::Locked.code(),
            AppError::Shared(SharedLock::Refused(_)) => ExitCode::Usage.code(),
            AppError::Shared(SharedLock::Lost { .. } | SharedLock::Store(_)) => ExitCode::Internal.code(),
            AppError::NotFound(_) => ExitCode::Usage.code(),
            AppError::Engine(
                EngineError::UnfinishedStep { .. } | EngineError::AwaitingApprover { .. } | EngineError::NobodyToAsk { .. },
            )
            | AppError::Journal(JournalError::Damaged { .. }) => ExitCode::NeedsDecision.code(),
            AppError::Engine(_) | AppError::Journal(_) | AppError::Io { .. } | AppError::Lock(LockError::Io { .. }) => {
                ExitCode::Internal.code()
            }
        }
    }
}
