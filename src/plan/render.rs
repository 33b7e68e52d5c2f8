//! The plan as `relctl plan` prints it: every state's steps with their
//! journal keys, deadlines and rollback targets, the verification pass, and
//! who answers each question. It reads the same [`Plan`] the engine walks.

use std::fmt::Write as _;

use super::{Plan, PlannedStep, Stage};
use crate::event::RunState;
use crate::redact::MASK;
use crate::runbook::diagnostic::Span;
use crate::runbook::duration::format_duration;
use crate::runbook::expr::{Quoting, Reference, Scope, Template, Value};
use crate::step::{StepBody, TargetUse};

/// Each state's heading and the rule it follows.
fn heading(state: RunState) -> (&'static str, &'static str) {
    match state {
        RunState::Checklist => ("CHECKLIST", "before any change; a failure or a refused confirm aborts"),
        RunState::Execute => ("EXECUTE", "a failure rolls back"),
        RunState::Validate => ("VALIDATE", "every check runs, then the go/no-go gate; no-go rolls back"),
        RunState::RollingBack => ("ROLLBACK", "on an execute failure or no-go; every step runs"),
        RunState::VerifyingRollback => {
            ("VERIFY ROLLBACK", "the validate checks again, no gate; a failure, or no check, needs a human")
        }
        RunState::Finalize => ("FINALIZE", "after go; a failure is a warning, never a rollback"),
        _ => ("", ""),
    }
}

impl Plan {
    /// The plan as `relctl plan` shows it.
    pub fn render(&self) -> String {
        let rb = &self.runbook;
        let mut out = String::new();
        let _ = writeln!(out, "Plan for `{}` ({})", rb.name, rb.path.display());
        if let Some(d) = &rb.description {
            let _ = writeln!(out, "  {d}");
        }
        if !self.vars.is_empty() {
            let vars: Vec<String> = self.vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = writeln!(out, "vars: {}", vars.join(" "));
        }
        if !rb.secrets.is_empty() {
            let s: Vec<String> = rb
                .secrets
                .iter()
                .map(|n| format!("{n} ({})", if self.secrets.contains_key(n) { "set" } else { "NOT SET" }))
                .collect();
            let _ = writeln!(out, "secrets: {}", s.join(", "));
        }
        for (name, person) in &rb.people {
            let slack = person.slack.as_deref().map_or_else(|| "no Slack id".to_string(), |id| format!("Slack {id}"));
            let _ = writeln!(out, "person {name}: {slack}");
        }
        for (group, names) in &rb.approvers {
            let _ = writeln!(out, "approvers {group}: {}", names.join(", "));
        }
        for integration in rb.integrations.values() {
            for line in integration.describe() {
                let _ = writeln!(out, "{}", self.resolved(&line));
            }
        }
        let mut humans = Vec::new();
        for stage in &self.stages {
            self.render_stage(&mut out, stage, &mut humans);
        }
        let _ = writeln!(out, "\nGATES AND CONFIRMS");
        if humans.is_empty() {
            let _ = writeln!(out, "  (none)");
        }
        for (key, kind, who) in humans {
            let _ = writeln!(out, "  {key:<14} {kind:<8} {who}");
        }
        out
    }

    fn render_stage(&self, out: &mut String, stage: &Stage, humans: &mut Vec<(String, &'static str, String)>) {
        let (title, rule) = heading(stage.state);
        let _ = writeln!(out, "\n{title} ({rule})");
        if stage.steps.is_empty() && stage.gates.is_empty() {
            let _ = writeln!(out, "  (no steps)");
        }
        // Questions asked again while verifying are listed once, where they are first asked.
        let mut asked = Vec::new();
        for p in stage.steps.iter().chain(&stage.gates) {
            self.render_step(out, p, 1, &mut asked);
        }
        if stage.state == RunState::Validate && stage.gates.is_empty() {
            let _ = writeln!(out, "  (no gate: go when every check passes)");
        }
        if stage.state != RunState::VerifyingRollback {
            humans.extend(asked);
        }
    }

    /// Text with this run's values filled in; secrets masked, and what is only
    /// known while running (step outputs, the run id) shown as `<...>`.
    pub(super) fn resolved(&self, raw: &str) -> String {
        Template::parse(raw, Span::default(), 1)
            .ok()
            .and_then(|t| t.render(&PlanScope(self), Quoting::None).ok())
            .map_or_else(|| raw.to_string(), |r| r.text)
    }

    fn render_step(
        &self,
        out: &mut String,
        planned: &PlannedStep,
        depth: usize,
        humans: &mut Vec<(String, &'static str, String)>,
    ) {
        let step = &planned.step;
        let key = &planned.key;
        let indent = "  ".repeat(depth);
        let mut line = format!("{indent}{key:<14} {:<18}", step.kind);
        if let Some(id) = &step.id {
            let _ = write!(line, "[{id}] ");
        }
        if let Some(name) = &step.name {
            let _ = write!(line, "{name}: ");
        }
        line.push_str(&one_line(&self.resolved(&step.body.describe())));
        let mut notes = Vec::new();
        match planned.deadline {
            Some(d) if d.from_runbook => notes.push(format!("timeout {}", format_duration(d.limit))),
            Some(d) => notes.push(format!("timeout {} by default", format_duration(d.limit))),
            None => {}
        }
        if step.retry.attempts > 1 {
            let pauses: Vec<String> = (2..=step.retry.attempts).map(|n| format_duration(step.retry.delay_before(n))).collect();
            let apart = if step.retry.backoff > 1.0 {
                format!("waiting {}", pauses.join(" then "))
            } else {
                format!("{} apart", pauses[0])
            };
            notes.push(format!("{} attempts, {apart}", step.retry.attempts));
        }
        if let Some(w) = &step.when {
            notes.push(format!("when {} = {}", w.display(), self.resolved(&w.display())));
        }
        if step.continue_on_failure {
            notes.push("may fail".into());
        }
        if step.idempotent {
            notes.push("idempotent".into());
        }
        match &planned.target {
            Some((TargetUse::Saves, Some(t))) => notes.push(format!("records {t} for the rollback")),
            Some((TargetUse::Restores, Some(t))) => notes.push(format!("restores {t}")),
            _ => {}
        }
        if !notes.is_empty() {
            let _ = write!(line, "  ({})", notes.join(", "));
        }
        let _ = writeln!(out, "{line}");
        if let Some(ask) = step.body.ask() {
            let mut who = match &ask.approvers {
                Some(names) => names.join(", "),
                None => "anyone".into(),
            };
            if ask.not_initiator {
                who.push_str(", not whoever started the run");
            }
            if ask.require > 1 {
                who.push_str(&format!(", {} of them", ask.require));
            }
            if ask.verified_only {
                who.push_str(", verified identities only");
            }
            let places: Vec<&str> = ask.via.iter().map(|v| v.as_str()).collect();
            if places != ["terminal"] {
                who.push_str(&format!(", asked in {}", places.join(" and ")));
            }
            let mut approve = step.id.as_deref().map_or_else(|| "--approve all".to_string(), |id| format!("--approve {id}"));
            if places.contains(&"slack") {
                approve = format!("waits for Slack, or {approve}");
            }
            humans.push((
                key.clone(),
                if matches!(step.body, StepBody::Gate(_)) { "gate" } else { "confirm" },
                format!("{who}  (CI: {approve})"),
            ));
        }
        for child in &planned.children {
            self.render_step(out, child, depth + 1, humans);
        }
    }
}

/// A multi-line script as its first line and how many more there are.
fn one_line(text: &str) -> String {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or_default().trim().to_string();
    match lines.count() {
        0 => first,
        n => format!("{first} … (+{n} lines)"),
    }
}

struct PlanScope<'a>(&'a Plan);

impl Scope for PlanScope<'_> {
    fn lookup(&self, reference: &Reference) -> Result<Value, String> {
        let text = match reference {
            Reference::Var(name) => self.0.vars.get(name).cloned().unwrap_or_else(|| format!("<vars.{name}: not set>")),
            Reference::Env(name) => std::env::var(name).unwrap_or_default(),
            Reference::Secret(_) => MASK.to_string(),
            other => format!("<{other}>"),
        };
        Ok(Value { text, secret: false })
    }
}
