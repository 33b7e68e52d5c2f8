//! The run's state machine, as data and one pure function.
//!
//! checklist → execute → validate (checks, then the go/no-go gate) → finalize,
//! with every failure after the checklist leading to rollback and its
//! verification. [`transition`] has no side effects and is tested for every
//! state and every phase result; the driver only follows it.

use serde::{Deserialize, Serialize};

use crate::event::RunState;
use crate::step::PhaseName;

/// How a phase ended, as the state machine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseResult {
    /// Every step succeeded (or was allowed to fail).
    Passed,
    /// A step failed, or a confirm was refused.
    Failed,
    /// Validation: every check ran and the gate said go.
    Go,
    /// Validation: the gate said no-go, or checks failed without a human override.
    NoGo,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no transition from {from:?} on {result:?}")]
pub struct InvalidTransition {
    pub from: RunState,
    pub result: PhaseResult,
}

/// Which steps a state runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseRun {
    /// All steps of the phase, in order; stop at the first failure.
    Sequential(PhaseName),
    /// Every validate check, then the gate.
    Validation,
    /// The validate checks again (not the gate), to verify a rollback.
    Verification,
    /// Every step, each failure a warning (rollback and finalize try everything).
    BestEffort(PhaseName),
}

/// Which steps a state runs (`None`: the run has ended).
pub fn phase_run(state: RunState) -> Option<PhaseRun> {
    Some(match state {
        RunState::Checklist => PhaseRun::Sequential(PhaseName::Checklist),
        RunState::Execute => PhaseRun::Sequential(PhaseName::Execute),
        RunState::Validate => PhaseRun::Validation,
        RunState::RollingBack => PhaseRun::BestEffort(PhaseName::Rollback),
        RunState::VerifyingRollback => PhaseRun::Verification,
        RunState::Finalize => PhaseRun::BestEffort(PhaseName::Finalize),
        _ => return None,
    })
}

/// The next state after a phase ends.
pub fn transition(from: RunState, result: PhaseResult) -> Result<RunState, InvalidTransition> {
    use PhaseResult as R;
    use RunState as S;
    let next = match (from, result) {
        (S::Checklist, R::Passed) => S::Execute,
        (S::Checklist, R::Failed) => S::Aborted,
        (S::Execute, R::Passed) => S::Validate,
        (S::Execute, R::Failed) => S::RollingBack,
        (S::Validate, R::Go) => S::Finalize,
        (S::Validate, R::NoGo) => S::RollingBack,
        (S::RollingBack, R::Passed) => S::VerifyingRollback,
        (S::RollingBack, R::Failed) => S::RollbackFailed,
        (S::VerifyingRollback, R::Passed) => S::RolledBack,
        (S::VerifyingRollback, R::Failed) => S::RollbackFailed,
        (S::Finalize, R::Passed) => S::Released,
        (S::Finalize, R::Failed) => S::ReleasedWithWarnings,
        _ => return Err(InvalidTransition { from, result }),
    };
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::ExitCode;
    use PhaseResult as R;
    use RunState as S;

    const RESULTS: [PhaseResult; 4] = [R::Passed, R::Failed, R::Go, R::NoGo];

    /// Every (state, result) pair, written out so a change to the machine is a
    /// change to this table.
    fn expected(from: RunState, result: PhaseResult) -> Option<RunState> {
        let table: &[(RunState, PhaseResult, RunState)] = &[
            (S::Checklist, R::Passed, S::Execute),
            (S::Checklist, R::Failed, S::Aborted),
            (S::Execute, R::Passed, S::Validate),
            (S::Execute, R::Failed, S::RollingBack),
            (S::Validate, R::Go, S::Finalize),
            (S::Validate, R::NoGo, S::RollingBack),
            (S::RollingBack, R::Passed, S::VerifyingRollback),
            (S::RollingBack, R::Failed, S::RollbackFailed),
            (S::VerifyingRollback, R::Passed, S::RolledBack),
            (S::VerifyingRollback, R::Failed, S::RollbackFailed),
            (S::Finalize, R::Passed, S::Released),
            (S::Finalize, R::Failed, S::ReleasedWithWarnings),
        ];
        table.iter().find(|(f, r, _)| *f == from && *r == result).map(|(_, _, to)| *to)
    }

    #[test]
    fn every_transition_matches_the_table() {
        for from in S::ALL {
            for result in RESULTS {
                match (transition(from, result), expected(from, result)) {
                    (Ok(to), Some(want)) => assert_eq!(to, want, "{from:?} on {result:?}"),
                    (Err(e), None) => assert_eq!(e, InvalidTransition { from, result }),
                    (got, want) => panic!("{from:?} on {result:?}: got {got:?}, want {want:?}"),
                }
            }
        }
    }

    #[test]
    fn a_state_runs_a_phase_exactly_when_it_is_not_terminal() {
        for s in S::ALL {
            assert_eq!(phase_run(s).is_none(), s.is_terminal(), "{s:?}");
        }
    }

    #[test]
    fn terminal_states_accept_nothing_and_run_nothing() {
        for s in S::ALL.into_iter().filter(|s| s.is_terminal()) {
            assert!(RESULTS.iter().all(|r| transition(s, *r).is_err()), "{s:?}");
            assert_ne!(s.exit_code(), ExitCode::Interrupted, "{s:?}");
        }
    }

    #[test]
    fn no_go_and_execute_failure_always_roll_back() {
        assert_eq!(transition(S::Execute, R::Failed), Ok(S::RollingBack));
        assert_eq!(transition(S::Validate, R::NoGo), Ok(S::RollingBack));
        // A finalize failure never rolls back.
        assert_eq!(transition(S::Finalize, R::Failed), Ok(S::ReleasedWithWarnings));
    }

    #[test]
    fn every_path_from_checklist_ends_in_a_terminal_state() {
        // Walk every path: each must end in a terminal state within as many
        // steps as there are states (no cycle), no non-terminal state may be
        // a dead end, and every outcome must be reachable.
        let mut ends = std::collections::BTreeSet::new();
        let mut stack = vec![vec![S::Checklist]];
        while let Some(path) = stack.pop() {
            let here = *path.last().unwrap();
            assert!(path.len() <= S::ALL.len(), "a cycle: {path:?}");
            let next: Vec<RunState> = RESULTS.iter().filter_map(|r| transition(here, *r).ok()).collect();
            if here.is_terminal() {
                assert!(next.is_empty(), "{here:?} is terminal yet leads on");
                ends.insert(format!("{here:?}"));
                continue;
            }
            assert!(!next.is_empty(), "{here:?} is a dead end: {path:?}");
            for n in next {
                let mut longer = path.clone();
                longer.push(n);
                stack.push(longer);
            }
        }
        let every_end: std::collections::BTreeSet<String> =
            S::ALL.iter().filter(|s| s.is_terminal()).map(|s| format!("{s:?}")).collect();
        assert_eq!(ends, every_end, "every outcome is reachable from the checklist");
    }

    #[test]
    fn exit_codes_follow_the_documented_table() {
        assert_eq!(S::Released.exit_code().code(), 0);
        assert_eq!(S::ReleasedWithWarnings.exit_code().code(), 0);
        assert_eq!(S::Aborted.exit_code().code(), 1);
        assert_eq!(S::RolledBack.exit_code().code(), 3);
        assert_eq!(S::RollbackFailed.exit_code().code(), 4);
        assert_eq!(S::Execute.exit_code().code(), 130);
    }
}
