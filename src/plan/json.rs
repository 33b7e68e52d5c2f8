//! `relctl plan --output json`: the same plan as the text, as one JSON
//! document for tools (`schema_version` 1).

use serde_json::{Value, json};

use super::{Plan, PlannedStep};

pub use crate::event::SCHEMA_VERSION;

impl Plan {
    pub fn to_json(&self) -> Value {
        let rb = &self.runbook;
        let stages: Vec<Value> = self
            .stages
            .iter()
            .map(|s| {
                json!({
                    "state": s.state,
                    "steps": s.steps.iter().map(|p| self.step_json(p)).collect::<Vec<_>>(),
                    "gates": s.gates.iter().map(|p| self.step_json(p)).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({
            "schema_version": SCHEMA_VERSION,
            "runbook": rb.name,
            "path": rb.path.display().to_string(),
            "vars": self.vars,
            "secrets": rb.secrets.iter().map(|n| json!({"name": n, "set": self.secrets.contains_key(n)})).collect::<Vec<_>>(),
            "approvers": rb.approvers,
            "people": rb.people.iter().map(|(n, p)| (n.clone(), json!({"slack": p.slack}))).collect::<serde_json::Map<String, Value>>(),
            "stages": stages,
        })
    }

    fn step_json(&self, p: &PlannedStep) -> Value {
        let step = &p.step;
        let ask = step.body.ask().map(|a| {
            json!({"approvers": a.approvers, "allow_override": a.allow_override, "not_initiator": a.not_initiator,
                       "via": a.via, "require": a.require, "identity": if a.verified_only { "verified" } else { "any" }})
        });
        json!({
            "key": p.key,
            "id": step.id,
            "name": step.name,
            "kind": step.kind.to_string(),
            "does": self.resolved(&step.body.describe()),
            "timeout_ms": p.deadline.map(|d| d.limit.as_millis() as u64),
            "attempts": step.retry.attempts,
            "when": step.when.as_ref().map(crate::runbook::expr::Template::display),
            "continue_on_failure": step.continue_on_failure,
            "idempotent": step.idempotent,
            "asks": ask,
            "children": p.children.iter().map(|c| self.step_json(c)).collect::<Vec<_>>(),
        })
    }
}
