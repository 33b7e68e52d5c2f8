//! Plain lines for logs and pipes (not a terminal, TERM=dumb, --output plain).
//! In GitHub Actions, also the workflow commands its log understands: a
//! collapsible group per step, and an error annotation on a failed step,
//! pointing at it in the runbook. In GitLab CI, a collapsible section per
//! step (docs.gitlab.com, "Custom collapsible sections").

use std::collections::BTreeMap;
use std::io::Write;

use super::lines::line;
use crate::event::{Event, Observer, StepStatus};

pub struct PlainOutput {
    pub verbosity: i8,
    /// GitHub Actions workflow commands: step key → (file, line) of each step.
    pub github: Option<BTreeMap<String, (String, u32)>>,
    /// GitLab CI collapsible sections.
    pub gitlab: bool,
}

impl Observer for PlainOutput {
    fn on_event(&self, event: &Event) {
        let show = match event {
            Event::StepLog { .. } => self.verbosity >= 0,
            Event::StepStarted { .. } | Event::StepReused { .. } => self.verbosity >= 0,
            Event::StepFinished { status, .. } => self.verbosity >= 0 || *status == StepStatus::Failed,
            _ => true,
        };
        let mut out = std::io::stdout().lock();
        // A group per top-level step (Actions does not nest groups).
        let top = |key: &str| key.matches('.').count() == 1;
        if let (Some(_), Event::StepStarted { key, label, .. }) = (&self.github, event)
            && top(key)
        {
            let _ = writeln!(out, "::group::{}", data(&format!("{label} [{key}]")));
        }
        if let (Some(_), Event::StepFinished { key, .. }) = (&self.github, event)
            && top(key)
        {
            let _ = writeln!(out, "::endgroup::");
        }
        if self.gitlab
            && let Event::StepStarted { key, label, .. } | Event::StepFinished { key, label, .. } = event
            && top(key)
        {
            let name = format!("relctl_{}", key.replace('.', "_"));
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            if matches!(event, Event::StepStarted { .. }) {
                let _ = writeln!(out, "\u{1b}[0Ksection_start:{now}:{name}\r\u{1b}[0K{label} [{key}]");
            } else {
                let _ = writeln!(out, "\u{1b}[0Ksection_end:{now}:{name}\r\u{1b}[0K");
            }
        }
        if show && let Some(text) = line(event, false) {
            let _ = writeln!(out, "{text}");
        }
        if let (Some(places), Event::StepFinished { key, label, status: StepStatus::Failed, tolerated: false, message, .. }) =
            (&self.github, event)
        {
            let place = places.get(key).map(|(f, l)| format!("file={},line={l},", property(f))).unwrap_or_default();
            let title = property(&format!("relctl: {label} failed"));
            let _ = writeln!(out, "::error {place}title={title}::{}", data(message.as_deref().unwrap_or("failed")));
        }
        let _ = out.flush();
    }
}

/// A workflow command's message, escaped as the Actions toolkit does
/// (toolkit/packages/core/src/command.ts `escapeData`).
pub fn data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// A workflow command's property value (`escapeProperty`).
pub fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_command_values_are_escaped_as_the_toolkit_does() {
        assert_eq!(data("50% done\nnext"), "50%25 done%0Anext");
        assert_eq!(property("a:b,c%"), "a%3Ab%2Cc%25");
    }
}
