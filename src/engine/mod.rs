//! Runs a plan: the state machine, its thin async driver, gates, the journal,
//! the lock and redaction. Reports through events; never prints or prompts.

pub mod driver;
pub mod event;
pub mod journal;
pub mod lock;
pub mod prompter;
pub mod redact;
pub mod run_dir;
pub mod state;
