//! The end of a run, said once more in a few lines a person reads: how it
//! ended and how long it took, the key vars, every decision (overrides
//! marked), why a rollback happened, and where the record and the output
//! are. Built from the journal, so it says what the record says.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::event::{Event, RunState, StepStatus};
use crate::runbook::duration::format_duration;

/// The recap of a finished or stopped run, from its journal's events.
pub fn recap(events: &[Event], journal: &Path, output_log: &Path, last_hash: &str, run_id: &str) -> String {
    let mut out = String::new();
    let started = events.iter().find_map(|e| match e {
        Event::RunStarted { at, .. } => Some(at.clone()),
        _ => None,
    });
    let ended = events.iter().rev().find_map(|e| match e {
        Event::RunFinished { state, at, .. } => Some((Some(*state), at.clone())),
        Event::Interrupted { at, .. } => Some((None, at.clone())),
        _ => None,
    });
    let took = match (&started, &ended) {
        (Some(a), Some((_, b))) => span(a, b).map(|d| format!(" in {}", format_duration(d))).unwrap_or_default(),
        _ => String::new(),
    };
    let outcome = match &ended {
        Some((Some(state), _)) => state.label().to_string(),
        Some((None, _)) => "INTERRUPTED".to_string(),
        None => "NOT FINISHED".to_string(),
    };
    let _ = writeln!(out, "Summary: {outcome}{took}");
    if let Some(Event::RunStarted { runbook, actor, vars, .. }) = events.iter().find(|e| matches!(e, Event::RunStarted { .. })) {
        let shown: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let vars = if shown.is_empty() { String::new() } else { format!(" ({})", shown.join(", ")) };
        let _ = writeln!(out, "  run:       {runbook}{vars}, started by {actor}");
    }
    for e in events {
        if let Event::Decision { id, key, gate, approved, actor, by, comment, reason, overridden, identity, .. } = e {
            let what = if *gate { "gate" } else { "confirm" };
            let verdict = crate::event::verdict(*gate, *approved, !overridden.is_empty());
            let who = by.who_as(actor, *identity);
            let why = comment.as_deref().or(reason.as_deref()).map(|w| format!(": {w}")).unwrap_or_default();
            let over = if overridden.is_empty() { String::new() } else { format!(" over {}", overridden.join(", ")) };
            let name = id.as_deref().unwrap_or(key);
            let _ = writeln!(out, "  decision:  {what} `{name}` {verdict}{over} {who}{why}");
        }
    }
    for e in events {
        if let Event::WindowOverridden { actor, closed, reason, .. } = e {
            let _ = writeln!(out, "  window:    OVERRIDDEN by {actor}: {reason} (the release was {closed})");
        }
    }
    if let Some(why) = rollback_reason(events) {
        let _ = writeln!(out, "  rolled back because: {why}");
    }
    let _ = writeln!(out, "  output:    {}", output_log.display());
    let _ = write!(out, "  journal:   {} (last hash {last_hash}; `relctl verify {run_id}` checks it)", journal.display());
    out
}

/// Why the run in `run_dir` rolled back, from its journal.
pub fn rollback_reason_of(run_dir: &std::path::Path) -> Option<String> {
    let journal = crate::engine::journal::Journal::read(&run_dir.join(crate::engine::journal::FILE_NAME)).ok()?;
    rollback_reason(&journal.events)
}

/// What made the run roll back: the failed steps before ROLLING BACK, or a
/// no-go.
fn rollback_reason(events: &[Event]) -> Option<String> {
    let at = events.iter().position(|e| matches!(e, Event::StateEntered { state: RunState::RollingBack, .. }))?;
    let before = &events[..at];
    let mut why: Vec<String> = before
        .iter()
        .filter_map(|e| match e {
            Event::StepFinished { label, status: StepStatus::Failed, tolerated: false, message, .. } => {
                Some(format!("`{label}` failed{}", message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()))
            }
            _ => None,
        })
        .collect();
    if let Some(Event::Decision { approved: false, gate: true, actor, by, .. }) =
        before.iter().rev().find(|e| matches!(e, Event::Decision { gate: true, .. }))
    {
        // A no-go nobody gave (unanswered, not allowed to answer) is not "by" anyone.
        if *by != crate::question::AnsweredBy::Policy {
            why.push(format!("no-go by {actor}"));
        }
    }
    (!why.is_empty()).then(|| why.join("; "))
}

fn span(from: &str, to: &str) -> Option<Duration> {
    let (a, b): (SystemTime, SystemTime) = (humantime::parse_rfc3339(from).ok()?, humantime::parse_rfc3339(to).ok()?);
    b.duration_since(a).ok()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn the_recap_says_the_outcome_the_time_the_decisions_and_why_it_rolled_back() {
        let events = vec![
            Event::RunStarted {
                run_id: "r1".into(),
                runbook: "checkout".into(),
                path: "release.yaml".into(),
                actor: "alice".into(),
                vars: BTreeMap::from([("version".to_string(), "1.2.3".to_string())]),
                secret_vars: BTreeMap::new(),
                dry_run: false,
                at: "2026-12-01T10:00:00.000Z".into(),
            },
            Event::StepFinished {
                key: "validate.0".into(),
                id: Some("health".into()),
                label: "health".into(),
                status: StepStatus::Failed,
                outputs: BTreeMap::new(),
                message: Some("exited with code 1".into()),
                help: None,
                failure: Some("command".into()),
                tolerated: false,
                duration_ms: 5,
                at: "2026-12-01T10:01:00.000Z".into(),
            },
            Event::StateEntered { state: RunState::RollingBack, at: "2026-12-01T10:01:01.000Z".into() },
            Event::RunFinished {
                state: RunState::RolledBack,
                exit_code: 3,
                dry_run: false,
                at: "2026-12-01T10:02:30.000Z".into(),
            },
        ];
        let text = recap(&events, Path::new("j.jsonl"), Path::new("output.log"), "abc", "r1");
        assert!(text.starts_with("Summary: ROLLED BACK in 2m30s"), "{text}");
        assert!(text.contains("checkout (version=1.2.3), started by alice"), "{text}");
        assert!(text.contains("rolled back because: `health` failed (exited with code 1)"), "{text}");
        assert!(text.contains("journal:   j.jsonl (last hash abc; `relctl verify r1` checks it)"), "{text}");
    }
}
