//! Runs a plan: the state machine, its thin async driver, approvals, the
//! journal, the lock and redaction. Reports through events; never prints or
//! prompts.

pub mod approval;
pub mod ballots;
pub mod driver;
pub mod journal;
pub mod lock;
pub mod replay;
pub mod run_dir;
pub mod state;

#[cfg(test)]
mod tests;
