//! Plain lines for logs and pipes (not a terminal, TERM=dumb, --output plain).

use std::io::Write;

use super::lines::line;
use crate::event::{Event, Observer};

pub struct PlainOutput {
    pub verbosity: i8,
}

impl Observer for PlainOutput {
    fn on_event(&self, event: &Event) {
        let show = match event {
            Event::StepLog { .. } => self.verbosity >= 0,
            Event::StepStarted { .. } | Event::StepReused { .. } => self.verbosity >= 0,
            Event::StepFinished { status, .. } => self.verbosity >= 0 || *status == crate::event::StepStatus::Failed,
            _ => true,
        };
        if show && let Some(text) = line(event, false) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
    }
}
