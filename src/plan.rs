//! Runbook + this run's inputs → the plan: vars resolved, secrets present,
//! every step in order with the rollback path and who must answer each gate.
//!
//! `relctl plan` prints it and `relctl run` executes exactly it, so what a
//! release manager reviews is what runs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use crate::runbook::diagnostic::Span;
use crate::runbook::diagnostic::suggest;
use crate::runbook::duration::format_duration;
use crate::runbook::expr::{Quoting, Reference, Scope, Template, Value};
use crate::runbook::model::Runbook;
use crate::step::{PhaseName, Step, StepBody};

#[derive(Debug, Clone)]
pub struct Plan {
    pub runbook: Arc<Runbook>,
    pub vars: BTreeMap<String, String>,
    /// Secret values by name; never printed.
    pub secrets: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot plan {runbook}:\n{}", problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct PlanError {
    pub runbook: String,
    pub problems: Vec<String>,
}

impl Plan {
    /// `overrides` are `--var` values; `env` reads the environment (injectable for tests).
    pub fn build(
        runbook: Arc<Runbook>,
        overrides: &[(String, String)],
        env: &dyn Fn(&str) -> Option<String>,
        require_secrets: bool,
    ) -> Result<Plan, PlanError> {
        let mut problems = Vec::new();
        let mut vars = BTreeMap::new();
        for def in &runbook.vars {
            if let Some(d) = &def.default {
                vars.insert(def.name.clone(), d.clone());
            }
        }
        for (k, v) in overrides {
            if runbook.vars.iter().any(|d| &d.name == k) {
                vars.insert(k.clone(), v.clone());
            } else {
                let hint =
                    suggest(k, runbook.vars.iter().map(|d| d.name.as_str())).map(|h| format!(" ({h})")).unwrap_or_default();
                problems.push(format!("--var {k}: the runbook declares no var `{k}`{hint}"));
            }
        }
        for def in &runbook.vars {
            if def.required && !vars.contains_key(&def.name) {
                let what = def.description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
                problems.push(format!("var `{}`{what} is required: pass --var {}=VALUE", def.name, def.name));
            }
        }
        let mut secrets = BTreeMap::new();
        for name in &runbook.secrets {
            match env(name) {
                Some(v) if !v.is_empty() => {
                    secrets.insert(name.clone(), v);
                }
                _ if require_secrets => {
                    problems.push(format!("secret `{name}` is not set: export the environment variable {name}"));
                }
                _ => {}
            }
        }
        if problems.is_empty() {
            Ok(Plan { runbook, vars, secrets })
        } else {
            Err(PlanError { runbook: runbook.path.display().to_string(), problems })
        }
    }

    /// `--approve` values must name a confirm or gate (or be `all`): a typo
    /// would otherwise fail closed with no hint why.
    pub fn check_approvals(&self, approve: &[String]) -> Result<(), PlanError> {
        fn questions<'a>(steps: &'a [Step], out: &mut Vec<&'a str>) {
            for s in steps {
                if s.body.ask().is_some() {
                    out.extend(s.id.as_deref());
                }
                questions(s.body.children(), out);
            }
        }
        let mut ids = Vec::new();
        for phase in PhaseName::ALL {
            questions(self.runbook.phase(phase), &mut ids);
        }
        let problems: Vec<String> = approve
            .iter()
            .filter(|a| a.as_str() != "all" && !ids.contains(&a.as_str()))
            .map(|a| {
                let hint = suggest(a, ids.iter().copied()).unwrap_or_else(|| {
                    format!("ids of confirms and gates: {}", if ids.is_empty() { "none".into() } else { ids.join(", ") })
                });
                format!("--approve {a}: no confirm or gate has id `{a}` ({hint})")
            })
            .collect();
        if problems.is_empty() { Ok(()) } else { Err(PlanError { runbook: self.runbook.path.display().to_string(), problems }) }
    }

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
        for (group, names) in &rb.approvers {
            let _ = writeln!(out, "approvers {group}: {}", names.join(", "));
        }
        for integration in rb.integrations.values() {
            for line in integration.describe() {
                let _ = writeln!(out, "{}", self.resolved(&line));
            }
        }
        let sections = [
            (PhaseName::Checklist, "CHECKLIST", "before any change; a failure or a refused confirm aborts"),
            (PhaseName::Execute, "EXECUTE", "a failure rolls back"),
            (PhaseName::Validate, "VALIDATE", "every check runs, then the go/no-go gate; no-go rolls back"),
            (PhaseName::Rollback, "ROLLBACK", "on an execute failure or no-go; then the validate checks run again to verify"),
            (PhaseName::Finalize, "FINALIZE", "after go; a failure is a warning, never a rollback"),
        ];
        let mut humans = Vec::new();
        for (phase, title, rule) in sections {
            let steps = rb.phase(phase);
            let _ = writeln!(out, "\n{title} ({rule})");
            if steps.is_empty() {
                let _ = writeln!(out, "  (no steps)");
            }
            for (i, step) in steps.iter().enumerate() {
                self.render_step(&mut out, step, &format!("{}.{}", phase.as_str(), i), 1, &mut humans);
            }
            if phase == PhaseName::Validate && !steps.iter().any(|s| s.body.is_gate()) {
                let _ = writeln!(out, "  (no gate: go when every check passes)");
            }
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

    /// Text with this run's values filled in; secrets masked, and what is only
    /// known while running (step outputs, the run id) shown as `<...>`.
    fn resolved(&self, raw: &str) -> String {
        Template::parse(raw, Span::default(), 1)
            .ok()
            .and_then(|t| t.render(&PlanScope(self), Quoting::None).ok())
            .map_or_else(|| raw.to_string(), |r| r.text)
    }

    fn render_step(
        &self,
        out: &mut String,
        step: &Step,
        key: &str,
        depth: usize,
        humans: &mut Vec<(String, &'static str, String)>,
    ) {
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
        if let Some(t) = step.timeout {
            notes.push(format!("timeout {}", format_duration(t)));
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
        if !notes.is_empty() {
            let _ = write!(line, "  ({})", notes.join(", "));
        }
        let _ = writeln!(out, "{line}");
        if let Some(ask) = step.body.ask() {
            let who = match &ask.approvers {
                Some(names) => names.join(", "),
                None => "anyone".into(),
            };
            let approve = step.id.as_deref().map_or_else(|| "--approve all".to_string(), |id| format!("--approve {id}"));
            humans.push((
                key.to_string(),
                if matches!(step.body, StepBody::Gate(_)) { "gate" } else { "confirm" },
                format!("{who}  (CI: {approve})"),
            ));
        }
        for (i, child) in step.body.children().iter().enumerate() {
            self.render_step(out, child, &format!("{key}.{i}"), depth + 1, humans);
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
            Reference::Secret(_) => crate::redact::MASK.to_string(),
            other => format!("<{other}>"),
        };
        Ok(Value { text, secret: false })
    }
}
