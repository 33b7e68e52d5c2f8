//! `status` and `history`: what the journals say, for people.

use std::path::Path;

use crate::engine::journal::{self, Journal, Replay};
use crate::engine::run_dir::RunDir;
use crate::error::AppError;
use crate::event::{Event, StepStatus};

pub fn status(state_dir: &Path, run_id: Option<&str>) -> Result<i32, AppError> {
    let dir = match run_id {
        Some(id) => {
            RunDir::open(state_dir, id).ok_or_else(|| AppError::NotFound(format!("no run `{id}` in {}", state_dir.display())))?
        }
        None => RunDir::list(state_dir).pop().ok_or_else(|| AppError::NotFound(format!("no runs in {}", state_dir.display())))?,
    };
    let events = Journal::read(&dir.path.join(journal::FILE_NAME))?;
    let replay = Replay::from_events(&dir.path, &events)?;
    println!("run {} of `{}` ({})", replay.run_id, replay.runbook, replay.path);
    println!("started {} by {}", replay.started_at, replay.actor);
    if !replay.vars.is_empty() {
        let vars: Vec<String> = replay.vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("vars: {}", vars.join(" "));
    }
    match &replay.finished {
        Some((state, at)) => println!("result: {} at {at} (exit {})", state.label(), state.exit_code().code()),
        None => println!(
            "result: not finished — stopped in {}{}; continue with: relctl resume {} --state-dir {}",
            replay.state.label(),
            if replay.interrupted { " (interrupted)" } else { "" },
            replay.run_id,
            state_dir.display()
        ),
    }
    println!("\nsteps:");
    for e in &events {
        match e {
            Event::StateEntered { state, .. } if !state.is_terminal() => println!("  {}", state.label()),
            Event::StepFinished { key, label, status, message, tolerated, .. } => {
                let mark = match (status, tolerated) {
                    (StepStatus::Succeeded, _) => "✓",
                    (StepStatus::Failed, true) => "⚠",
                    (StepStatus::Failed, false) => "✗",
                    (StepStatus::Skipped, _) => "-",
                };
                let msg = message.as_deref().map(|m| format!("  {m}")).unwrap_or_default();
                println!("    {mark} {key:<14} {label}{msg}");
            }
            _ => {}
        }
    }
    for key in &replay.unfinished {
        let label = replay.unfinished_labels.get(key).cloned().unwrap_or_default();
        println!("    … {key:<14} {label}  (started, not finished)");
    }
    if !replay.decision_log.is_empty() {
        println!("\ndecisions:");
        for d in &replay.decision_log {
            if let Event::Decision { key, question, gate, approved, actor, by, comment, reason, at, .. } = d {
                let verdict = match (gate, approved) {
                    (true, true) => "GO",
                    (true, false) => "NO-GO",
                    (false, true) => "yes",
                    (false, false) => "no",
                };
                let mut line = format!("  {at}  {key:<12} {verdict:<5} {actor} ({by:?})  \"{question}\"");
                if let Some(c) = comment {
                    line.push_str(&format!(" — comment: {c}"));
                }
                if let Some(r) = reason {
                    line.push_str(&format!(" — {r}"));
                }
                println!("{line}");
            }
        }
    }
    Ok(0)
}

pub fn history(state_dir: &Path) -> i32 {
    let runs = RunDir::list(state_dir);
    if runs.is_empty() {
        println!("no runs in {}", state_dir.display());
        return 0;
    }
    println!("{:<22} {:<24} {:<12} {:<26} result", "run", "runbook", "actor", "started");
    for dir in runs.iter().rev() {
        match Replay::load(&dir.path) {
            Ok(r) => {
                let result = match &r.finished {
                    Some((s, _)) => s.label().to_string(),
                    None => format!("unfinished ({})", r.state.label()),
                };
                println!("{:<22} {:<24} {:<12} {:<26} {result}", r.run_id, r.runbook, r.actor, r.started_at);
            }
            Err(e) => println!("{:<22} unreadable: {e}", dir.id),
        }
    }
    0
}
