//! Answers to a question asked in several places (the terminal, the run's
//! Slack thread), judged: whose answer counts, and when the question is
//! decided. One no decides; yes takes `require` distinct people; each
//! person's latest standing answer is theirs, so they may change it until
//! the question closes.

use crate::question::{Ballot, Question};

/// Why `ballot` does not count for `q`, or `None` when it does.
pub fn refusal(q: &Question, ballot: &Ballot) -> Option<String> {
    if let Some(r) = &ballot.refused {
        return Some(r.clone());
    }
    let Some(person) = &ballot.person else {
        return Some(format!("{} is nobody under `people:`", ballot.account));
    };
    if let Some(approvers) = &q.approvers
        && !approvers.contains(person)
    {
        return Some(format!("{person} is not an approver of this question ({})", approvers.join(", ")));
    }
    if q.not_from.as_deref() == Some(person.as_str()) {
        return Some(format!("{person} started this run and may not answer it (not_initiator)"));
    }
    if q.verified_only && !ballot.identity.verified() {
        return Some(format!(
            "{person}'s name was not verified (it is {}); this question counts only answers from Slack or a CI system's user (identity: verified)",
            ballot.identity.as_str()
        ));
    }
    let failed = q.failed_checks();
    if ballot.yes && !failed.is_empty() && ballot.comment.as_deref().is_none_or(|c| c.trim().is_empty()) {
        return Some(format!("go over {} failed check(s) needs a reason: reply `go: <reason>`", failed.len()));
    }
    None
}

/// Where a question stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tally {
    /// Not decided: these people said yes so far.
    Open { yes: Vec<String> },
    /// Decided by these answers.
    Decided { yes: bool, by: Vec<Ballot> },
}

/// The question's state, given every answer standing now, in the order
/// given.
pub fn tally(q: &Question, standing: &[Ballot]) -> Tally {
    let mut latest: Vec<&Ballot> = Vec::new();
    for b in standing.iter().filter(|b| refusal(q, b).is_none()) {
        latest.retain(|l| l.person != b.person);
        latest.push(b);
    }
    if let Some(no) = latest.iter().find(|b| !b.yes) {
        return Tally::Decided { yes: false, by: vec![(*no).clone()] };
    }
    let yes: Vec<&Ballot> = latest.iter().copied().filter(|b| b.yes).collect();
    if yes.len() >= q.require.max(1) {
        return Tally::Decided { yes: true, by: yes.into_iter().cloned().collect() };
    }
    Tally::Open { yes: yes.iter().filter_map(|b| b.person.clone()).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::question::{AnsweredBy, Identity, QuestionKind, Via};

    fn gate(require: usize, failed: &[&str]) -> Question {
        let kind = QuestionKind::Gate {
            failed_checks: failed.iter().map(ToString::to_string).collect(),
            passed_checks: 1,
            allow_override: false,
        };
        Question {
            approvers: Some(vec!["alice".into(), "bob".into(), "carol".into()]),
            via: vec![Via::Terminal, Via::Slack],
            require,
            not_from: Some("carol".into()),
            ..Question::new(kind, Some("go".into()), "Go?".into())
        }
    }

    fn said(person: &str, yes: bool, comment: Option<&str>) -> Ballot {
        Ballot {
            person: Some(person.into()),
            account: format!("U0{}", person.to_uppercase()),
            yes,
            comment: comment.map(Into::into),
            identity: Identity::Slack,
            by: AnsweredBy::Slack,
            source: format!("{person}-{yes}"),
            refused: None,
        }
    }

    #[test]
    fn one_yes_decides_by_default_and_one_no_decides_always() {
        let q = gate(1, &[]);
        assert!(matches!(tally(&q, &[said("alice", true, None)]), Tally::Decided { yes: true, .. }));
        let q = gate(2, &[]);
        let t = tally(&q, &[said("alice", true, None), said("bob", false, Some("latency"))]);
        assert!(matches!(t, Tally::Decided { yes: false, ref by } if by[0].person.as_deref() == Some("bob")));
    }

    #[test]
    fn two_required_and_one_given_stays_open() {
        let q = gate(2, &[]);
        assert_eq!(tally(&q, &[said("alice", true, None)]), Tally::Open { yes: vec!["alice".into()] });
        // The same person twice is one person.
        let again = Ballot { source: "again".into(), ..said("alice", true, None) };
        assert_eq!(tally(&q, &[said("alice", true, None), again]), Tally::Open { yes: vec!["alice".into()] });
        let t = tally(&q, &[said("alice", true, None), said("bob", true, None)]);
        assert!(matches!(t, Tally::Decided { yes: true, ref by } if by.len() == 2));
    }

    #[test]
    fn a_person_may_change_their_answer_until_it_closes() {
        let q = gate(2, &[]);
        let t = tally(&q, &[said("alice", false, None), said("alice", true, None)]);
        assert_eq!(t, Tally::Open { yes: vec!["alice".into()] });
    }

    #[test]
    fn strangers_the_initiator_and_unverified_names_do_not_count() {
        let mut q = gate(1, &[]);
        let stranger = Ballot { person: None, account: "U0STRANGER".into(), ..said("x", true, None) };
        assert!(refusal(&q, &stranger).unwrap().contains("nobody under `people:`"));
        assert!(refusal(&q, &said("mallory", true, None)).unwrap().contains("not an approver"));
        assert!(refusal(&q, &said("carol", true, None)).unwrap().contains("started this run"));
        q.verified_only = true;
        let typed = Ballot { identity: Identity::Asserted, by: AnsweredBy::Terminal, ..said("alice", true, None) };
        assert!(refusal(&q, &typed).unwrap().contains("verified"));
        assert_eq!(tally(&q, &[stranger, said("carol", true, None), typed]), Tally::Open { yes: vec![] });
    }

    #[test]
    fn go_over_a_failed_check_needs_a_reason_but_no_go_does_not() {
        let q = gate(1, &["health"]);
        assert!(refusal(&q, &said("alice", true, None)).unwrap().contains("needs a reason"));
        assert_eq!(refusal(&q, &said("alice", true, Some("known flaky probe"))), None);
        assert_eq!(refusal(&q, &said("alice", false, None)), None);
    }
}
