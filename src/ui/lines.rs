//! The words for each event, shared by the terminal and plain outputs.

use console::style;

use crate::event::{Event, StepStatus};
use crate::runbook::duration::format_duration;

/// How a line is coloured when colour is on.
type Style = fn(console::StyledObject<String>) -> console::StyledObject<String>;

/// One event as a line of text, or `None` when the event is not shown by itself.
pub fn line(event: &Event, color: bool) -> Option<String> {
    let paint = |s: String, f: Style| {
        if color { f(style(s)).to_string() } else { s }
    };
    Some(match event {
        Event::RunStarted { run_id, runbook, actor, dry_run, .. } => {
            let dry = if *dry_run { " (dry run: nothing will be changed)" } else { "" };
            format!("relctl: {runbook} run {run_id} as {actor}{dry}")
        }
        Event::RunResumed { run_id, actor, state, .. } => {
            format!("relctl: resuming run {run_id} as {actor}, in {}", state.label())
        }
        Event::StateEntered { state, .. } => {
            if state.is_terminal() {
                return None;
            }
            paint(format!("== {} ==", state.label()), |s| s.bold().cyan())
        }
        Event::StepStarted { key, label, attempt, .. } => {
            let again = if *attempt > 1 { format!(" (attempt {attempt})") } else { String::new() };
            format!("  ▶ {label}{again}  [{key}]")
        }
        // A step may log several lines at once (a Jenkins console block): each is indented.
        Event::StepLog { line, .. } => {
            paint(line.split('\n').map(|l| format!("    │ {l}")).collect::<Vec<_>>().join("\n"), console::StyledObject::dim)
        }
        Event::StepRetrying { attempt, delay_ms, error, .. } => paint(
            format!(
                "    ↻ attempt {attempt} failed: {error}; retrying in {}",
                format_duration(std::time::Duration::from_millis(*delay_ms))
            ),
            console::StyledObject::yellow,
        ),
        Event::StepFinished { label, status, message, help, tolerated, duration_ms, .. } => {
            let took = format_duration(std::time::Duration::from_millis(*duration_ms));
            let mut msg = message.as_deref().map(|m| format!("  {m}")).unwrap_or_default();
            if let Some(h) = help {
                msg.push_str(&format!("\n      hint: {h}"));
            }
            match (status, tolerated) {
                (StepStatus::Succeeded, _) => paint(format!("  ✓ {label}  ({took}){msg}"), console::StyledObject::green),
                (StepStatus::Failed, true) => {
                    paint(format!("  ⚠ {label}  ({took}) failed, allowed:{msg}"), console::StyledObject::yellow)
                }
                (StepStatus::Failed, false) => paint(format!("  ✗ {label}  ({took}){msg}"), |s| s.red().bold()),
                (StepStatus::Skipped, _) => paint(format!("  - {label}{msg}"), console::StyledObject::dim),
            }
        }
        Event::StepReused { label, status, .. } => {
            let what = match status {
                StepStatus::Succeeded => "done",
                StepStatus::Failed => "failed",
                StepStatus::Skipped => "skipped",
            };
            paint(format!("  ✓ {label}  ({what} before the interruption; not run again)"), console::StyledObject::dim)
        }
        Event::Decision { .. } | Event::Answered { .. } => decision_line(event, &paint),
        Event::GateWaiting { question, approvers, .. } => {
            let who = approvers.as_ref().map(|a| format!(" ({})", a.join(", "))).unwrap_or_default();
            paint(format!("  ? waiting for an answer{who}: {question}"), console::StyledObject::cyan)
        }
        Event::StepCheckpoint { .. } | Event::StepProcess { .. } | Event::IntegrationState { .. } => return None,
        Event::LeftoverProcesses { .. } | Event::LeftoverGone { .. } => leftover_note(event, &paint),
        Event::Warning { message } => paint(format!("warning: {message}"), console::StyledObject::yellow),
        Event::WindowOverridden { actor, closed, reason, .. } => {
            paint(format!("WINDOW OVERRIDDEN by {actor}: {reason} (the release was {closed})"), |s| s.yellow().bold())
        }
        Event::JournalRepaired { .. } | Event::DamageAccepted { .. } => journal_note(event, &paint),
        Event::RunAbandoned { actor, reason, .. } => {
            paint(format!("== ABANDONED == by {actor}: {reason}"), |s| s.yellow().bold())
        }
        Event::Interrupted { state, .. } => paint(format!("Interrupted during {}.", state.label()), |s| s.yellow().bold()),
        Event::RunFinished { state, exit_code, dry_run: true, .. } => {
            paint(format!("== DRY RUN: nothing was changed == (a real run would end {}; exit {exit_code})", state.label()), |s| {
                s.cyan().bold()
            })
        }
        Event::RunFinished { state, exit_code, .. } => {
            let text = format!("== {} == (exit {exit_code})", state.label());
            match exit_code {
                0 => paint(text, |s| s.green().bold()),
                3 => paint(text, |s| s.yellow().bold()),
                _ => paint(text, |s| s.red().bold()),
            }
        }
    })
}

/// What the engine says about the journal itself when a run resumes.
fn journal_note(event: &Event, paint: &dyn Fn(String, Style) -> String) -> String {
    match event {
        Event::JournalRepaired { dropped_bytes, .. } => paint(
            format!(
                "warning: the journal ended in a line cut off by a crash ({dropped_bytes} bytes); it was never part of the record and was removed"
            ),
            console::StyledObject::yellow,
        ),
        Event::DamageAccepted { actor, damage, .. } => paint(
            format!("warning: {actor} resumes from a damaged journal ({} line(s) could not be trusted)", damage.len()),
            |s| s.yellow().bold(),
        ),
        _ => String::new(),
    }
}

/// What resume says about a killed step's processes still running.
fn leftover_note(event: &Event, paint: &dyn Fn(String, Style) -> String) -> String {
    match event {
        Event::LeftoverProcesses { label, pgid, started_at, ending, why, .. } => {
            let found =
                format!("  ⧗ {label}: its processes from the stopped run are still running (group {pgid}, started {started_at})");
            if *ending {
                let why = why.as_deref().map(|w| format!(" ({w})")).unwrap_or_default();
                paint(format!("{found}; ending them{why}: SIGTERM, SIGKILL after 5s"), console::StyledObject::yellow)
            } else {
                paint(
                    format!("{found}; waiting for them to end (Ctrl-C stops waiting; resume --stop-leftovers ends them)"),
                    console::StyledObject::yellow,
                )
            }
        }
        Event::LeftoverGone { label, ended, waited_ms, .. } => {
            let how = if *ended { "ended" } else { "finished by themselves" };
            let took = format_duration(std::time::Duration::from_millis(*waited_ms));
            paint(format!("  ⧗ {label}: the stopped run's processes {how} after {took}"), console::StyledObject::dim)
        }
        _ => String::new(),
    }
}

/// A decision on a confirm or gate: the verdict, who gave it and how, and why.
fn decision_line(event: &Event, paint: &dyn Fn(String, Style) -> String) -> String {
    match event {
        Event::Decision { question, gate, approved, actor, by, comment, reason, overridden, identity, .. } => {
            let verdict = crate::event::verdict(*gate, *approved, !overridden.is_empty());
            let who = by.who_as(actor, *identity);
            let mut text = format!("  » {question}: {verdict} {who}");
            if let Some(c) = comment {
                text.push_str(&format!(" — \"{c}\""));
            }
            if let Some(r) = reason {
                text.push_str(&format!(" ({r})"));
            }
            if !overridden.is_empty() {
                text.push_str(&format!(" over failed checks: {}", overridden.join(", ")));
            }
            paint(text, if *approved { |s| s.green().bold() } else { |s| s.red().bold() })
        }
        Event::Answered { ballot, refused, .. } => {
            let word = if ballot.yes { "yes" } else { "no" };
            let who = ballot.person.clone().unwrap_or_else(|| ballot.account.clone());
            let comment = ballot.comment.as_deref().map(|c| format!(" — \"{c}\"")).unwrap_or_default();
            let place = if ballot.by == crate::question::AnsweredBy::Slack { " in Slack" } else { "" };
            match refused {
                None => format!("    ✎ {who} ({}) answered {word}{place}{comment}", ballot.identity.as_str()),
                Some(why) => {
                    paint(format!("    ✎ {who} answered {word}{place}: not counted ({why})"), console::StyledObject::yellow)
                }
            }
        }
        _ => String::new(),
    }
}
