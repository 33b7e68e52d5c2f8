//! Exit codes: the one place they are defined (README "Exit codes" mirrors it).
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | released (finalize warnings included) |
//! | 1 | aborted before any change, or an internal error |
//! | 2 | invalid runbook or usage |
//! | 3 | rolled back, and the rollback verified |
//! | 4 | rollback failed or unverified: a human is needed |
//! | 5 | another run holds the runbook's lock |
//! | 130 | interrupted; `relctl resume` continues the run |

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Released,
    Aborted,
    Usage,
    RolledBack,
    RollbackFailed,
    Locked,
    Interrupted,
}

impl ExitCode {
    pub const INTERNAL_ERROR: i32 = 1;

    pub fn code(self) -> i32 {
        match self {
            ExitCode::Released => 0,
            ExitCode::Aborted => 1,
            ExitCode::Usage => 2,
            ExitCode::RolledBack => 3,
            ExitCode::RollbackFailed => 4,
            ExitCode::Locked => 5,
            ExitCode::Interrupted => 130,
        }
    }
}
