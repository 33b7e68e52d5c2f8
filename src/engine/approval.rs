//! Who may answer a question in this run, before any person is asked:
//! pre-approvals from `--approve`, the approvers list, the dry run, and
//! failing closed when nobody can answer.

use crate::question::{Answer, AnsweredBy, Question, QuestionKind};

/// How questions get answered in this run.
#[derive(Debug, Clone, Default)]
pub struct ApprovalPolicy {
    pub interactive: bool,
    /// `--approve ID` values; `all` approves every confirm and gate.
    pub approve: Vec<String>,
    pub dry_run: bool,
}

/// The policy's verdict before any person is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ruling {
    Decided(Answer),
    AskPerson,
}

impl ApprovalPolicy {
    fn pre_approved(&self, id: Option<&str>) -> bool {
        self.approve.iter().any(|a| a == "all" || Some(a.as_str()) == id)
    }

    pub fn rule(&self, q: &Question, actor: &str) -> Ruling {
        let decided = |yes: bool, by: AnsweredBy, reason: Option<String>| {
            Ruling::Decided(Answer { yes, actor: actor.to_string(), by, comment: None, reason })
        };
        if self.dry_run {
            return decided(true, AnsweredBy::DryRun, Some("dry run: nothing is asked".into()));
        }
        if let Some(approvers) = &q.approvers
            && !approvers.iter().any(|a| a == actor)
        {
            return decided(
                false,
                AnsweredBy::Policy,
                Some(format!("{actor} may not answer this (approvers: {}); set --as or RELCTL_ACTOR", approvers.join(", "))),
            );
        }
        let failed = match &q.kind {
            QuestionKind::Gate { failed_checks } => failed_checks.clone(),
            _ => Vec::new(),
        };
        if self.pre_approved(q.id.as_deref()) && q.kind != QuestionKind::RerunUnfinished {
            if !failed.is_empty() {
                return decided(
                    false,
                    AnsweredBy::Policy,
                    Some(format!("no-go: {} check(s) failed: {}", failed.len(), failed.join(", "))),
                );
            }
            return decided(true, AnsweredBy::Flag, None);
        }
        if self.interactive {
            return Ruling::AskPerson;
        }
        let reason = match (&q.kind, &q.id) {
            (QuestionKind::RerunUnfinished, _) => {
                "not interactive: cannot decide whether to re-run a step that may have run".to_string()
            }
            (_, Some(id)) => format!("not interactive and no --approve {id} (or --approve all): failing closed"),
            (_, None) => {
                "not interactive and no --approve all (give the step an id to approve it alone): failing closed".to_string()
            }
        };
        decided(false, AnsweredBy::Policy, Some(reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(failed: &[&str]) -> Question {
        Question {
            kind: QuestionKind::Gate { failed_checks: failed.iter().map(std::string::ToString::to_string).collect() },
            id: Some("go".into()),
            text: "Go?".into(),
            approvers: Some(vec!["alice".into()]),
        }
    }

    fn yes(r: &Ruling) -> Option<bool> {
        match r {
            Ruling::Decided(a) => Some(a.yes),
            Ruling::AskPerson => None,
        }
    }

    #[test]
    fn ci_fails_closed_without_approval() {
        let p = ApprovalPolicy { interactive: false, approve: vec![], dry_run: false };
        assert_eq!(yes(&p.rule(&gate(&[]), "alice")), Some(false));
    }

    #[test]
    fn approval_by_id_or_all() {
        for approve in ["go", "all"] {
            let p = ApprovalPolicy { interactive: false, approve: vec![approve.into()], dry_run: false };
            assert_eq!(yes(&p.rule(&gate(&[]), "alice")), Some(true));
        }
    }

    #[test]
    fn approved_gate_is_still_no_go_when_checks_failed() {
        let p = ApprovalPolicy { interactive: false, approve: vec!["all".into()], dry_run: false };
        assert_eq!(yes(&p.rule(&gate(&["health"]), "alice")), Some(false));
    }

    #[test]
    fn non_approvers_are_refused_even_with_flags() {
        let p = ApprovalPolicy { interactive: true, approve: vec!["all".into()], dry_run: false };
        match p.rule(&gate(&[]), "mallory") {
            Ruling::Decided(a) => {
                assert!(!a.yes);
                assert!(a.reason.unwrap().contains("mallory may not answer"));
            }
            Ruling::AskPerson => panic!("must refuse"),
        }
    }

    #[test]
    fn interactive_asks_a_person() {
        let p = ApprovalPolicy { interactive: true, approve: vec![], dry_run: false };
        assert_eq!(p.rule(&gate(&["x"]), "alice"), Ruling::AskPerson);
    }
}
