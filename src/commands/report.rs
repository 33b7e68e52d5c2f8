//! `status`, `history` and `verify`: what the journals say, for people, and
//! whether what they say can be trusted.

use std::path::Path;

use crate::engine::journal::{self, Journal, Reading};
use crate::engine::lock::live_holder;
use crate::engine::replay::Replay;
use crate::engine::run_dir::{RunDir, RunIndex};
use crate::error::AppError;
use crate::event::{Event, StepStatus};
use crate::exit::ExitCode;

/// The run named, or the latest one.
fn find(state_dir: &Path, run_id: Option<&str>) -> Result<RunDir, AppError> {
    match run_id {
        Some(id) => {
            RunDir::open(state_dir, id).ok_or_else(|| AppError::NotFound(format!("no run `{id}` in {}", state_dir.display())))
        }
        None => RunDir::list(state_dir).pop().ok_or_else(|| AppError::NotFound(format!("no runs in {}", state_dir.display()))),
    }
}

/// Says loudly which lines of the journal cannot be trusted, before anything it says.
fn warn_damage(reading: &Reading, path: &Path) {
    if reading.damage.is_empty() {
        return;
    }
    eprintln!("JOURNAL DAMAGED: {} cannot be fully trusted:", path.display());
    for d in &reading.damage {
        eprintln!("  {d}");
    }
    eprintln!("what follows is what the readable lines say; `relctl verify` checks the whole journal\n");
}

pub fn status(state_dir: &Path, run_id: Option<&str>, lock_dir: &Path, json: bool) -> Result<i32, AppError> {
    let dir = find(state_dir, run_id)?;
    let path = dir.path.join(journal::FILE_NAME);
    let reading = Journal::read(&path)?;
    let events = &reading.events;
    let replay = Replay::from_events(&dir.path, events)?;
    let code = if reading.damage.is_empty() { 0 } else { ExitCode::NeedsDecision.code() };
    // A run that has not finished may be going on right now, not stopped.
    let running_now = if replay.finished.is_none() && replay.abandoned.is_none() {
        live_holder(lock_dir, &replay.runbook).filter(|h| h.run_id == replay.run_id)
    } else {
        None
    };
    if json {
        let mut doc = status_json(&replay, &reading, state_dir);
        doc["live"] =
            serde_json::json!(running_now.as_ref().map(|h| serde_json::json!({"pid": h.pid, "host": h.host, "since": h.since})));
        println!("{doc}");
        return Ok(code);
    }
    warn_damage(&reading, &path);
    println!("run {} of `{}` ({})", replay.run_id, replay.runbook, replay.path);
    println!("started {} by {}", replay.started_at, replay.actor);
    if !replay.vars.is_empty() {
        let vars: Vec<String> = replay.vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("vars: {}", vars.join(" "));
    }
    match (&replay.finished, &replay.abandoned) {
        (_, Some((actor, reason, at))) => println!("result: ABANDONED at {at} by {actor}: {reason}"),
        (Some((state, at)), None) => println!("result: {} at {at} (exit {})", state.label(), state.exit_code().code()),
        (None, None) if running_now.is_some() => println!(
            "result: in progress, in {} — {} is running it now (pid {} on {}); `relctl status` again follows it",
            replay.state.label(),
            replay.actor,
            running_now.as_ref().map_or(0, |h| h.pid),
            running_now.as_ref().map_or("", |h| h.host.as_str())
        ),
        (None, None) => println!(
            "result: not finished — stopped in {}{}; continue with: relctl resume {} --state-dir {}",
            replay.state.label(),
            if replay.interrupted { " (interrupted)" } else { "" },
            replay.run_id,
            state_dir.display()
        ),
    }
    for e in events {
        if let Event::WindowOverridden { actor, closed, reason, at } = e {
            println!("WINDOW OVERRIDDEN at {at} by {actor}: {reason} (the release was {closed})");
        }
    }
    println!("\nsteps:");
    for e in events {
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
            if let Event::Decision {
                key, question, gate, approved, actor, by, comment, reason, overridden, identity, at, ..
            } = d
            {
                let verdict = crate::event::verdict(*gate, *approved, !overridden.is_empty());
                let who = by.who_as(actor, *identity);
                let mut line = format!("  {at}  {key:<12} {verdict:<5} {who}  \"{question}\"");
                if let Some(c) = comment {
                    line.push_str(&format!(" — comment: {c}"));
                }
                if let Some(r) = reason {
                    line.push_str(&format!(" — {r}"));
                }
                if !overridden.is_empty() {
                    line.push_str(&format!(" — over failed checks: {}", overridden.join(", ")));
                }
                println!("{line}");
            }
        }
    }
    Ok(code)
}

/// `status --output json`: the run as its journal tells it.
fn status_json(replay: &Replay, reading: &Reading, state_dir: &Path) -> serde_json::Value {
    let steps: Vec<serde_json::Value> = reading
        .events
        .iter()
        .filter_map(|e| match e {
            Event::StepFinished { key, id, label, status, message, tolerated, duration_ms, at, .. } => Some(serde_json::json!({
                "key": key, "id": id, "label": label, "status": status, "message": message,
                "tolerated": tolerated, "duration_ms": duration_ms, "at": at,
            })),
            _ => None,
        })
        .collect();
    let mut unfinished: Vec<(&String, Option<&String>)> =
        replay.unfinished.iter().map(|k| (k, replay.unfinished_labels.get(k))).collect();
    unfinished.sort();
    serde_json::json!({
        "schema_version": crate::plan::SCHEMA_VERSION,
        "run_id": replay.run_id,
        "runbook": replay.runbook,
        "path": replay.path,
        "state_dir": state_dir.display().to_string(),
        "actor": replay.actor,
        "started_at": replay.started_at,
        "vars": replay.vars,
        "state": replay.state,
        "finished": replay.finished.as_ref().map(|(s, at)| serde_json::json!({"state": s, "at": at, "exit_code": s.exit_code().code()})),
        "abandoned": replay.abandoned.as_ref().map(|(actor, reason, at)| serde_json::json!({"actor": actor, "reason": reason, "at": at})),
        "interrupted": replay.interrupted,
        "damage": reading.damage.iter().map(|d| serde_json::json!({"line": d.line, "problem": d.problem})).collect::<Vec<_>>(),
        "last_hash": reading.last_hash,
        "steps": steps,
        "unfinished": unfinished.into_iter().map(|(k, l)| serde_json::json!({"key": k, "label": l})).collect::<Vec<_>>(),
        "decisions": replay.decision_log,
    })
}

/// Checks a run's journal line by line: intact (exit 0, with the hash of its
/// last line), or the first line that cannot be trusted (exit 6).
pub fn verify(state_dir: &Path, run_id: Option<&str>) -> Result<i32, AppError> {
    let dir = find(state_dir, run_id)?;
    let path = dir.path.join(journal::FILE_NAME);
    let reading = Journal::read(&path)?;
    if reading.torn_tail > 0 {
        println!("note: the last {} bytes are a line a crash cut off; they are not part of the record", reading.torn_tail);
    }
    if let Some(first) = reading.damage.first() {
        println!("run {}: the journal {} cannot be trusted from {first}", dir.id, path.display());
        for d in &reading.damage[1..] {
            println!("  also {d}");
        }
        return Ok(ExitCode::NeedsDecision.code());
    }
    if !reading.chained && reading.lines > 0 {
        println!("run {}: the journal {} was written before lines were chained: it cannot be verified", dir.id, path.display());
        return Ok(ExitCode::NeedsDecision.code());
    }
    println!("run {}: journal intact, {} events, last hash {}", dir.id, reading.lines, reading.last_hash);
    Ok(0)
}

/// The runs in `state_dir`; when it has none and none was named, every run
/// this user's index knows, wherever it was started.
pub fn history(state_dir: &Path, explicit: bool, index: Option<&RunIndex>, json: bool) -> i32 {
    let runs = RunDir::list(state_dir);
    if json {
        let mut all: Vec<(RunDir, std::path::PathBuf)> = runs.into_iter().map(|r| (r, state_dir.to_path_buf())).collect();
        if all.is_empty() && !explicit {
            for (id, dir) in index.map(RunIndex::runs).unwrap_or_default() {
                if let Some(r) = RunDir::open(&dir, &id) {
                    all.push((r, dir));
                }
            }
        }
        let runs: Vec<serde_json::Value> = all.iter().rev().map(|(r, dir)| history_json(r, dir)).collect();
        println!("{}", serde_json::json!({"schema_version": crate::plan::SCHEMA_VERSION, "runs": runs}));
        return 0;
    }
    if runs.is_empty() {
        let elsewhere: Vec<(String, std::path::PathBuf)> =
            if explicit { Vec::new() } else { index.map(RunIndex::runs).unwrap_or_default() };
        if elsewhere.is_empty() {
            println!("no runs in {} (-f RUNBOOK or --state-dir DIR reads another)", state_dir.display());
            return 0;
        }
        println!("no runs in {}; this user's runs elsewhere:", state_dir.display());
        let mut dirs: Vec<std::path::PathBuf> = Vec::new();
        for (_, dir) in elsewhere.into_iter().rev() {
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        for dir in dirs {
            println!("\n{}:", dir.display());
            table(&RunDir::list(&dir));
        }
        return 0;
    }
    table(&runs);
    0
}

fn table(runs: &[RunDir]) {
    println!("{:<22} {:<24} {:<12} {:<26} result", "run", "runbook", "actor", "started");
    for dir in runs.iter().rev() {
        match Replay::load(&dir.path) {
            Ok(r) => {
                let mut result = match (&r.finished, &r.abandoned) {
                    (_, Some((actor, _, _))) => format!("ABANDONED by {actor}"),
                    (Some((s, _)), None) => s.label().to_string(),
                    (None, None) => format!("unfinished ({})", r.state.label()),
                };
                if !r.damage.is_empty() {
                    result.push_str(&format!("  [JOURNAL DAMAGED at line {}]", r.damage[0].line));
                }
                println!("{:<22} {:<24} {:<12} {:<26} {result}", r.run_id, r.runbook, r.actor, r.started_at);
            }
            Err(e) => println!("{:<22} unreadable: {e}", dir.id),
        }
    }
}

fn history_json(dir: &RunDir, state_dir: &Path) -> serde_json::Value {
    match Replay::load(&dir.path) {
        Ok(r) => serde_json::json!({
            "run_id": r.run_id, "runbook": r.runbook, "actor": r.actor, "started_at": r.started_at,
            "state": r.state,
            "finished": r.finished.as_ref().map(|(s, at)| serde_json::json!({"state": s, "at": at})),
            "abandoned": r.abandoned.is_some(),
            "damaged": !r.damage.is_empty(),
            "state_dir": state_dir.display().to_string(),
        }),
        Err(e) => serde_json::json!({"run_id": dir.id, "error": e.to_string(), "state_dir": state_dir.display().to_string()}),
    }
}

/// `relctl report`: a run's report on stdout.
pub fn report(state_dir: &Path, run_id: Option<&str>, format: &str) -> Result<i32, AppError> {
    let dir = find(state_dir, run_id)?;
    let (events, places) = super::reports::facts(&dir.path)?;
    let format = super::reports::Format::parse(format).unwrap_or(super::reports::Format::Markdown);
    print!("{}", super::reports::RunFacts { events: &events, places }.render(format));
    Ok(0)
}
