//! Questions the person running relctl cannot answer, found before any
//! change: a gate whose approvers do not include them would be refused only
//! after the deploy, and the release rolled back for nothing.

use super::Plan;
use crate::step::{PhaseName, Step};

#[derive(Debug, thiserror::Error)]
#[error("{actor} cannot answer every question {runbook} asks, so nothing was started:\n{}\nhint: run as one of the approvers (--as NAME, or RELCTL_ACTOR)",
    problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ApproverError {
    pub runbook: String,
    pub actor: String,
    pub problems: Vec<String>,
}

impl Plan {
    /// Every confirm and gate that will surely be asked (no `when`) and that
    /// `actor` may not answer. A rollback's questions count too: a rollback
    /// stopped at one nobody here can answer is worse than no release.
    pub fn check_actor(&self, actor: &str) -> Result<(), ApproverError> {
        type People = std::collections::BTreeMap<String, crate::runbook::model::Person>;
        fn walk(steps: &[Step], phase: PhaseName, actor: &str, people: Option<&People>, out: &mut Vec<String>) {
            for s in steps.iter().filter(|s| s.when.is_none()) {
                // A question also asked in Slack is answered by whoever is there.
                if let Some(ask) = s.body.ask()
                    && !ask.via.iter().any(|v| *v != crate::question::Via::Terminal)
                    && let Some(approvers) = &ask.approvers
                    && !approvers.iter().any(|a| a == actor)
                {
                    let what = if s.body.is_gate() { "gate" } else { "confirm" };
                    let name = s.id.clone().unwrap_or_else(|| s.label());
                    out.push(format!("{} {what} `{name}` is for {} only", phase.as_str(), approvers.join(", ")));
                }
                // Four eyes across places: the initiator's answers elsewhere
                // are refused by their `people:` name, so relctl must know it.
                if let Some(ask) = s.body.ask()
                    && ask.not_initiator
                    && ask.via.iter().any(|v| *v != crate::question::Via::Terminal)
                    && people.is_some_and(|p| !p.contains_key(actor))
                {
                    let name = s.id.clone().unwrap_or_else(|| s.label());
                    out.push(format!(
                        "{} `{name}` (not_initiator) is asked in Slack, where people answer by their `people:` name, and {actor} is nobody under `people:`: relctl could not refuse their own answer there (run as your name under `people:`: --as NAME)",
                        phase.as_str()
                    ));
                }
                walk(s.body.children(), phase, actor, people, out);
            }
        }
        let mut problems = Vec::new();
        for phase in PhaseName::ALL {
            let people = (!self.runbook.people.is_empty()).then_some(&self.runbook.people);
            walk(self.runbook.phase(phase), phase, actor, people, &mut problems);
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(ApproverError { runbook: self.runbook.path.display().to_string(), actor: actor.to_string(), problems })
    }
}
