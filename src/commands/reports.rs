//! Reports of a run, from its journal: Markdown for people (GitHub renders
//! it in step summaries, the Mermaid gantt included), JUnit XML for CI test
//! views (Jenkins' junit plugin, GitHub reporters), JSON for tools.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::SystemTime;

use crate::event::{Event, RunState, SCHEMA_VERSION, StepStatus};
use crate::runbook::duration::format_duration;

/// Step key → (file, line) in the runbook.
pub type Places = BTreeMap<String, (String, u32)>;

/// What a report says about one run.
pub struct RunFacts<'a> {
    pub events: &'a [Event],
    /// Where each step is, where known.
    pub places: Places,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Junit,
    Json,
    Markdown,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "junit" => Some(Format::Junit),
            "json" => Some(Format::Json),
            "markdown" | "md" => Some(Format::Markdown),
            _ => None,
        }
    }
}

struct StepRow<'a> {
    key: &'a str,
    label: &'a str,
    status: StepStatus,
    message: Option<&'a str>,
    failure: Option<&'a str>,
    tolerated: bool,
    duration_ms: u64,
    started: Option<&'a str>,
    ended: &'a str,
}

impl RunFacts<'_> {
    fn started(&self) -> Option<(&str, &str, &str, &str)> {
        self.events.iter().find_map(|e| match e {
            Event::RunStarted { run_id, runbook, actor, at, .. } => {
                Some((run_id.as_str(), runbook.as_str(), actor.as_str(), at.as_str()))
            }
            _ => None,
        })
    }

    fn outcome(&self) -> (String, Option<i32>, Option<&str>) {
        self.events
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::RunFinished { state, exit_code, dry_run, at } => {
                    let label = if *dry_run { format!("DRY RUN ({})", state.label()) } else { state.label().to_string() };
                    Some((label, Some(*exit_code), Some(at.as_str())))
                }
                Event::Interrupted { at, .. } => Some(("INTERRUPTED".to_string(), Some(130), Some(at.as_str()))),
                _ => None,
            })
            .unwrap_or_else(|| ("NOT FINISHED".to_string(), None, None))
    }

    fn steps(&self) -> Vec<StepRow<'_>> {
        let mut started: BTreeMap<&str, &str> = BTreeMap::new();
        let mut rows = Vec::new();
        for e in self.events {
            match e {
                Event::StepStarted { key, at, .. } => {
                    started.insert(key.as_str(), at.as_str());
                }
                Event::StepFinished { key, label, status, message, failure, tolerated, duration_ms, at, .. } => {
                    rows.push(StepRow {
                        key,
                        label,
                        status: *status,
                        message: message.as_deref(),
                        failure: failure.as_deref(),
                        tolerated: *tolerated,
                        duration_ms: *duration_ms,
                        started: started.get(key.as_str()).copied(),
                        ended: at,
                    });
                }
                _ => {}
            }
        }
        rows
    }

    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Junit => self.junit(),
            Format::Json => self.json(),
            Format::Markdown => self.markdown(),
        }
    }

    fn json(&self) -> String {
        let (run_id, runbook, actor, started_at) = self.started().unwrap_or_default();
        let (outcome, exit_code, finished_at) = self.outcome();
        let steps: Vec<serde_json::Value> = self
            .steps()
            .iter()
            .map(|s| {
                serde_json::json!({
                    "key": s.key, "label": s.label, "status": s.status, "message": s.message, "failure": s.failure,
                    "tolerated": s.tolerated, "duration_ms": s.duration_ms, "started_at": s.started, "finished_at": s.ended,
                })
            })
            .collect();
        let decisions: Vec<&Event> = self.events.iter().filter(|e| matches!(e, Event::Decision { .. })).collect();
        serde_json::json!({
            "schema_version": SCHEMA_VERSION,
            "run_id": run_id, "runbook": runbook, "actor": actor,
            "outcome": outcome, "exit_code": exit_code,
            "started_at": started_at, "finished_at": finished_at,
            "duration_ms": finished_at.and_then(|f| span_ms(started_at, f)),
            "steps": steps, "decisions": decisions,
        })
        .to_string()
            + "\n"
    }

    fn junit(&self) -> String {
        let (run_id, runbook, _, started_at) = self.started().unwrap_or_default();
        let steps = self.steps();
        let count = |f: &dyn Fn(&StepRow<'_>) -> bool| steps.iter().filter(|s| f(s)).count();
        let failed = |s: &StepRow<'_>| s.status == StepStatus::Failed && !s.tolerated;
        let is_error = |s: &StepRow<'_>| matches!(s.failure, Some("remote" | "journal"));
        let failures = count(&|s| failed(s) && !is_error(s));
        let errors = count(&|s| failed(s) && is_error(s));
        let skipped = count(&|s| s.status == StepStatus::Skipped);
        let total: u64 = steps.iter().map(|s| s.duration_ms).sum();
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            x,
            "<testsuites name=\"relctl\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{}\">",
            steps.len(),
            secs(total)
        );
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{}\" timestamp=\"{}\">",
            esc(runbook),
            steps.len(),
            secs(total),
            esc(started_at.trim_end_matches('Z'))
        );
        let _ = writeln!(x, "    <properties><property name=\"run_id\" value=\"{}\"/></properties>", esc(run_id));
        for s in &steps {
            let phase = s.key.split('.').next().unwrap_or_default();
            let place =
                self.places.get(s.key).map(|(file, line)| format!(" file=\"{}\" line=\"{line}\"", esc(file))).unwrap_or_default();
            let _ = write!(
                x,
                "    <testcase classname=\"{}.{phase}\" name=\"{} [{}]\" time=\"{}\"{place}",
                esc(runbook),
                esc(s.label),
                esc(s.key),
                secs(s.duration_ms)
            );
            let message = esc(s.message.unwrap_or_default());
            match (s.status, s.tolerated) {
                (StepStatus::Failed, false) if is_error(s) => {
                    let _ = writeln!(
                        x,
                        ">\n      <error message=\"{message}\" type=\"{}\">{message}</error>\n    </testcase>",
                        s.failure.unwrap_or_default()
                    );
                }
                (StepStatus::Failed, false) => {
                    let kind = s.failure.unwrap_or("failed");
                    let _ = writeln!(
                        x,
                        ">\n      <failure message=\"{message}\" type=\"{kind}\">{message}</failure>\n    </testcase>"
                    );
                }
                (StepStatus::Failed, true) => {
                    let _ = writeln!(x, ">\n      <system-out>failed, allowed: {message}</system-out>\n    </testcase>");
                }
                (StepStatus::Skipped, _) => {
                    let _ = writeln!(x, ">\n      <skipped message=\"{message}\"/>\n    </testcase>");
                }
                (StepStatus::Succeeded, _) => {
                    let _ = writeln!(x, "/>");
                }
            }
        }
        x.push_str("  </testsuite>\n</testsuites>\n");
        x
    }

    fn markdown(&self) -> String {
        let (run_id, runbook, actor, started_at) = self.started().unwrap_or_default();
        let (outcome, exit_code, finished_at) = self.outcome();
        let icon = match outcome.as_str() {
            o if o == RunState::Released.label() => "✅",
            o if o == RunState::ReleasedWithWarnings.label() => "⚠️",
            o if o == RunState::RolledBack.label() => "↩️",
            o if o == RunState::Aborted.label() => "⛔",
            _ => "🚨",
        };
        let version = self
            .events
            .iter()
            .find_map(|e| match e {
                Event::RunStarted { vars, .. } => vars.get("version").map(|v| format!(" {v}")),
                _ => None,
            })
            .unwrap_or_default();
        let took = finished_at
            .and_then(|f| span_ms(started_at, f))
            .map(|ms| format!(" · {}", format_duration(std::time::Duration::from_millis(ms))))
            .unwrap_or_default();
        let code = exit_code.map(|c| format!(" · exit {c}")).unwrap_or_default();
        let mut md = format!("## {icon} {outcome} — {runbook}{version}\n\nRun `{run_id}` by {actor}{took}{code}\n\n");
        let steps = self.steps();
        if !steps.is_empty() {
            md.push_str("```mermaid\ngantt\n  dateFormat x\n  axisFormat %H:%M:%S\n");
            let mut section = "";
            for s in &steps {
                let phase = s.key.split('.').next().unwrap_or_default();
                if phase != section {
                    let _ = writeln!(md, "  section {phase}");
                    section = phase;
                }
                let end = epoch_ms(s.ended).unwrap_or_default();
                let start = s.started.and_then(epoch_ms).unwrap_or(end.saturating_sub(s.duration_ms)).min(end);
                let tag = match (s.status, s.tolerated) {
                    (StepStatus::Failed, false) => "crit, ",
                    (StepStatus::Skipped, _) => "",
                    _ => "done, ",
                };
                let name: String = s.label.chars().filter(|c| !matches!(c, ':' | '#' | ';' | '\n')).take(60).collect();
                let _ = writeln!(md, "  {name} :{tag}{start}, {}", end.max(start + 1));
            }
            md.push_str("```\n\n");
        }
        for e in self.events {
            if let Event::WindowOverridden { actor, closed, reason, .. } = e {
                let _ = writeln!(
                    md,
                    "> **Release window overridden** by {actor}: {} (the release was {})\n",
                    cell(reason),
                    cell(closed)
                );
            }
        }
        let decisions: Vec<&Event> = self.events.iter().filter(|e| matches!(e, Event::Decision { .. })).collect();
        if !decisions.is_empty() {
            md.push_str(
                "### Decisions\n\n| question | answer | by | identity | why | when |\n| --- | --- | --- | --- | --- | --- |\n",
            );
            for d in decisions {
                if let Event::Decision { question, gate, approved, actor, comment, reason, overridden, identity, at, .. } = d {
                    let verdict = crate::event::verdict(*gate, *approved, !overridden.is_empty());
                    let answer = if overridden.is_empty() {
                        verdict.to_string()
                    } else {
                        format!("**{verdict}** over {}", overridden.join(", "))
                    };
                    let why = comment.as_deref().or(reason.as_deref()).unwrap_or_default();
                    let identity = identity.map_or("policy", crate::question::Identity::as_str);
                    let _ = writeln!(md, "| {} | {answer} | {actor} | {identity} | {} | {at} |", cell(question), cell(why));
                }
            }
            md.push('\n');
        }
        let failed: Vec<&StepRow<'_>> = steps.iter().filter(|s| s.status == StepStatus::Failed).collect();
        if !failed.is_empty() {
            md.push_str("### Failed steps\n\n");
            for s in failed {
                let allowed = if s.tolerated { " (allowed)" } else { "" };
                let _ = writeln!(md, "- `{}` {}{allowed}: {}", s.key, cell(s.label), cell(s.message.unwrap_or_default()));
            }
            md.push('\n');
        }
        md
    }
}

fn secs(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

fn epoch_ms(at: &str) -> Option<u64> {
    let t: SystemTime = humantime::parse_rfc3339(at).ok()?;
    Some(t.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_millis() as u64)
}

fn span_ms(from: &str, to: &str) -> Option<u64> {
    Some(epoch_ms(to)?.saturating_sub(epoch_ms(from)?))
}

/// XML attribute and text escaping.
fn esc(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            '\n' => "&#10;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// A Markdown table cell: one line, no pipes.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// A run's facts for a report: its journal's events, and where each step
/// is in the runbook (from the copy kept with the run).
pub fn facts(run_dir: &std::path::Path) -> Result<(Vec<Event>, Places), crate::error::AppError> {
    use crate::engine::journal::{FILE_NAME, Journal};
    use crate::step::PhaseName;
    let reading = Journal::read(&run_dir.join(FILE_NAME))?;
    let file = reading
        .events
        .iter()
        .find_map(|e| match e {
            Event::RunStarted { path, .. } => Some(path.clone()),
            _ => None,
        })
        .unwrap_or_default();
    // Relative to where relctl runs (a CI workspace), as test reporters expect.
    let file = std::env::current_dir()
        .ok()
        .and_then(|cwd| std::path::Path::new(&file).strip_prefix(cwd).ok().map(|p| p.display().to_string()))
        .unwrap_or(file);
    let mut places = BTreeMap::new();
    let copy = run_dir.join(crate::engine::run_dir::RUNBOOK_COPY);
    if let Ok(rb) = crate::runbook::load(&copy, &crate::adapter::registry()) {
        for phase in PhaseName::ALL {
            for (i, step) in rb.phase(phase).iter().enumerate() {
                let key = format!("{}.{i}", phase.as_str());
                places.insert(key.clone(), (file.clone(), step.span.line));
                if phase == PhaseName::Validate {
                    places.insert(format!("verify.{i}"), (file.clone(), step.span.line));
                }
                for (j, child) in step.body.children().iter().enumerate() {
                    places.insert(format!("{key}.{j}"), (file.clone(), child.span.line));
                }
            }
        }
    }
    Ok((reading.events, places))
}
