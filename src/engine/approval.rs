//! Who may answer a question in this run, before any person is asked:
//! pre-approvals from `--approve`, the approvers list, the dry run, and
//! failing closed when nobody can answer.

use crate::question::{Answer, AnsweredBy, Question, QuestionKind, Reply};

/// How questions get answered in this run.
#[derive(Debug, Clone, Default)]
pub struct ApprovalPolicy {
    pub interactive: bool,
    /// `--approve ID` values; `all` approves every confirm and gate.
    pub approve: Vec<String>,
    /// `--reason`: why CI goes ahead over failed checks (an override).
    pub reason: Option<String>,
    pub dry_run: bool,
}

/// The policy's verdict before any person is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ruling {
    Decided(Answer),
    AskPerson,
    /// Asked in several places (`via: slack`), CI included: the answers
    /// there decide; `--approve`, where it applies, is one of them.
    AskAround {
        flag: Option<Reply>,
    },
}

impl ApprovalPolicy {
    fn pre_approved(&self, id: Option<&str>) -> bool {
        self.approve.iter().any(|a| a == "all" || Some(a.as_str()) == id)
    }

    /// The yes `--approve` gives a question asked in several places: over
    /// failed checks only with the gate's own id and a reason, where the
    /// runbook allows it; otherwise none (the people asked decide).
    fn flag_answer(&self, q: &Question) -> Option<Reply> {
        if !self.pre_approved(q.id.as_deref()) {
            return None;
        }
        match &q.kind {
            QuestionKind::Gate { failed_checks, allow_override, .. } if !failed_checks.is_empty() => {
                let named = q.id.as_deref().is_some_and(|id| self.approve.iter().any(|a| a == id));
                (*allow_override && named).then(|| self.reason.clone()).flatten().map(|r| Reply { yes: true, comment: Some(r) })
            }
            _ => Some(Reply { yes: true, comment: None }),
        }
    }

    pub fn rule(&self, q: &Question, actor: &str) -> Ruling {
        let decided = |yes: bool, by: AnsweredBy, reason: Option<String>| {
            Ruling::Decided(Answer { yes, actor: actor.to_string(), by, reason, ..Answer::default() })
        };
        if self.dry_run {
            return decided(true, AnsweredBy::DryRun, Some("dry run: nothing is asked".into()));
        }
        if q.elsewhere() {
            return Ruling::AskAround { flag: self.flag_answer(q) };
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
        let (failed, allow_override) = match &q.kind {
            QuestionKind::Gate { failed_checks, allow_override, .. } => (failed_checks.clone(), *allow_override),
            _ => (Vec::new(), false),
        };
        let about_a_step = matches!(q.kind, QuestionKind::RerunUnfinished | QuestionKind::EndLeftover);
        if self.pre_approved(q.id.as_deref()) && !about_a_step {
            if !failed.is_empty() {
                // `--approve all` never overrides a failed check: only the
                // gate's own id, with a reason, where the runbook allows it.
                let named = q.id.as_deref().is_some_and(|id| self.approve.iter().any(|a| a == id));
                let no_go = format!("no-go: {} check(s) failed: {}", failed.len(), failed.join(", "));
                let why = match (allow_override, named, &self.reason, &q.id) {
                    (true, true, Some(r), _) => {
                        return Ruling::Decided(Answer {
                            yes: true,
                            actor: actor.to_string(),
                            by: AnsweredBy::Flag,
                            comment: Some(r.clone()),
                            ..Answer::default()
                        });
                    }
                    (true, _, _, Some(id)) => {
                        format!("{no_go}; to go ahead anyway, name the gate and say why: --approve {id} --reason TEXT")
                    }
                    (true, _, _, None) => format!("{no_go}; give the gate an id to override it"),
                    (false, ..) => format!("{no_go}; this gate allows no override (`allow_override: true` on it would)"),
                };
                return decided(false, AnsweredBy::Policy, Some(why));
            }
            return decided(true, AnsweredBy::Flag, None);
        }
        if self.interactive {
            return Ruling::AskPerson;
        }
        let reason = match (&q.kind, &q.id) {
            (QuestionKind::EndLeftover, _) => "not interactive: waiting for them (--stop-leftovers ends them)".to_string(),
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
        let kind = QuestionKind::Gate {
            passed_checks: 0,
            failed_checks: failed.iter().map(std::string::ToString::to_string).collect(),
            allow_override: true,
        };
        Question { approvers: Some(vec!["alice".into()]), ..Question::new(kind, Some("go".into()), "Go?".into()) }
    }

    fn yes(r: &Ruling) -> Option<bool> {
        match r {
            Ruling::Decided(a) => Some(a.yes),
            Ruling::AskPerson | Ruling::AskAround { .. } => None,
        }
    }

    #[test]
    fn ci_fails_closed_without_approval() {
        let p = ApprovalPolicy { interactive: false, approve: vec![], reason: None, dry_run: false };
        assert_eq!(yes(&p.rule(&gate(&[]), "alice")), Some(false));
    }

    #[test]
    fn approval_by_id_or_all() {
        for approve in ["go", "all"] {
            let p = ApprovalPolicy { interactive: false, approve: vec![approve.into()], reason: None, dry_run: false };
            assert_eq!(yes(&p.rule(&gate(&[]), "alice")), Some(true));
        }
    }

    #[test]
    fn approved_gate_is_still_no_go_when_checks_failed() {
        let p = ApprovalPolicy { interactive: false, approve: vec!["all".into()], reason: None, dry_run: false };
        assert_eq!(yes(&p.rule(&gate(&["health"]), "alice")), Some(false));
    }

    #[test]
    fn non_approvers_are_refused_even_with_flags() {
        let p = ApprovalPolicy { interactive: true, approve: vec!["all".into()], reason: None, dry_run: false };
        match p.rule(&gate(&[]), "mallory") {
            Ruling::Decided(a) => {
                assert!(!a.yes);
                assert!(a.reason.unwrap().contains("mallory may not answer"));
            }
            Ruling::AskPerson | Ruling::AskAround { .. } => panic!("must refuse"),
        }
    }

    #[test]
    fn interactive_asks_a_person() {
        let p = ApprovalPolicy { interactive: true, approve: vec![], reason: None, dry_run: false };
        assert_eq!(p.rule(&gate(&["x"]), "alice"), Ruling::AskPerson);
    }
}

#[cfg(test)]
mod override_tests {
    use super::*;

    fn gate(allow_override: bool) -> Question {
        let kind = QuestionKind::Gate { failed_checks: vec!["health".into()], passed_checks: 0, allow_override };
        Question::new(kind, Some("go".into()), "Go?".into())
    }

    fn ci(approve: &str, reason: Option<&str>) -> ApprovalPolicy {
        ApprovalPolicy { interactive: false, approve: vec![approve.into()], reason: reason.map(Into::into), dry_run: false }
    }

    fn answer(r: Ruling) -> Answer {
        match r {
            Ruling::Decided(a) => a,
            Ruling::AskPerson | Ruling::AskAround { .. } => panic!("CI never asks"),
        }
    }

    #[test]
    fn only_the_gate_s_own_id_with_a_reason_overrides_and_only_where_allowed() {
        let a = answer(ci("go", Some("known flaky check")).rule(&gate(true), "alice"));
        assert!(a.yes);
        assert_eq!(a.comment.as_deref(), Some("known flaky check"));
        assert!(!answer(ci("all", Some("x")).rule(&gate(true), "alice")).yes, "--approve all never overrides");
        let a = answer(ci("go", None).rule(&gate(true), "alice"));
        assert!(!a.yes);
        assert!(a.reason.unwrap().contains("--approve go --reason TEXT"));
        let a = answer(ci("go", Some("x")).rule(&gate(false), "alice"));
        assert!(!a.yes);
        assert!(a.reason.unwrap().contains("allows no override"));
    }
}
