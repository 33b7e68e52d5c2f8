//! Exit codes: the one place they are defined (README "Exit codes" mirrors it).
//!
//! Every code means one thing, so CI can act on it without reading output:
//! an outcome of the release (0, 1, 3, 4), a problem with the input (2), a
//! run that cannot start or go on until a person acts (5, 6), relctl itself
//! failing (70), or an interruption (130).
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | released (finalize warnings included) |
//! | 1 | aborted before any change (a checklist step failed or a confirm was refused) |
//! | 2 | invalid runbook or usage |
//! | 3 | rolled back, and the rollback verified |
//! | 4 | rollback failed or unverified: a human is needed |
//! | 5 | another run holds the runbook's lock |
//! | 6 | stopped: a person must decide before the run can go on (`relctl resume` says how) |
//! | 70 | internal error: relctl could not do its own work (journal, state dir, runtime) |
//! | 130 | interrupted; `relctl resume` continues the run |

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Released,
    Aborted,
    Usage,
    RolledBack,
    RollbackFailed,
    Locked,
    /// Resume stopped at a step cut off mid-way that only a person can judge.
    NeedsDecision,
    /// relctl itself failed (sysexits' EX_SOFTWARE), never an outcome.
    Internal,
    Interrupted,
}

impl ExitCode {
    #[cfg(test)]
    pub const ALL: [ExitCode; 9] = [
        ExitCode::Released,
        ExitCode::Aborted,
        ExitCode::Usage,
        ExitCode::RolledBack,
        ExitCode::RollbackFailed,
        ExitCode::Locked,
        ExitCode::NeedsDecision,
        ExitCode::Internal,
        ExitCode::Interrupted,
    ];

    pub fn code(self) -> i32 {
        match self {
            ExitCode::Released => 0,
            ExitCode::Aborted => 1,
            ExitCode::Usage => 2,
            ExitCode::RolledBack => 3,
            ExitCode::RollbackFailed => 4,
            ExitCode::Locked => 5,
            ExitCode::NeedsDecision => 6,
            ExitCode::Internal => 70,
            ExitCode::Interrupted => 130,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ExitCode;

    #[test]
    fn no_two_meanings_share_an_exit_code() {
        let mut codes: Vec<i32> = ExitCode::ALL.iter().map(|c| c.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ExitCode::ALL.len());
    }

    #[test]
    fn the_module_table_lists_every_code() {
        let doc = include_str!("exit.rs");
        for c in ExitCode::ALL {
            assert!(doc.contains(&format!("//! | {} |", c.code())), "exit code {} is not in the table", c.code());
        }
        let readme = include_str!("../README.md");
        for c in ExitCode::ALL {
            assert!(readme.contains(&format!("| {} |", c.code())), "exit code {} is not in README", c.code());
        }
    }
}
