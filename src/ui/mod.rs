//! Everything people see: progress (terminal, plain lines, JSON lines),
//! prompts, and the text of events. Observers of the engine; it knows none of them.

mod ask;
pub mod diagnostics;
pub mod json;
pub mod lines;
pub mod output_log;
pub mod plain;
pub mod prompt;
pub mod terminal;
pub mod tty;
