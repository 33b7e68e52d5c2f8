//! The engine's own step kinds: `confirm` and `gate` (questions for a person)
//! and `parallel` (a group run at once). They are read here, beside the
//! adapters' kinds, but become [`StepBody`] variants the engine runs itself:
//! no adapter answers a question or runs other steps.

use super::diagnostic::{Diagnostic, suggest};
use super::node::{Node, NodeKind};
use crate::question::Via;
use crate::step::{Ask, ParseContext, PhaseName, StepBody, StepSpec};

/// Each construct's name and the keys it allows beside the kind key.
pub const CONSTRUCTS: [(&str, &[&str]); 4] = [
    ("confirm", &["approvers", "not_initiator", "via", "require", "identity"]),
    ("gate", &["approvers", "allow_override", "not_initiator", "via", "require", "identity"]),
    ("parallel", &[]),
    ("canary", &[]),
];

/// The construct named `name`, as the name and allowed sibling keys.
pub fn find(name: &str) -> Option<(&'static str, &'static [&'static str])> {
    CONSTRUCTS.iter().copied().find(|(n, _)| *n == name)
}

pub fn parse(name: &str, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<StepBody> {
    match name {
        "confirm" => ask(spec, cx, "`confirm`").map(StepBody::Confirm),
        "gate" => {
            if spec.phase != PhaseName::Validate {
                cx.diagnostics().push(
                    Diagnostic::new(spec.key.span, format!("a `gate` belongs in `validate`, not `{}`", spec.phase.as_str()))
                        .hint("use `confirm` for a yes/no question elsewhere"),
                );
            }
            ask(spec, cx, "`gate`").map(StepBody::Gate)
        }
        "parallel" => parallel(spec, cx),
        "canary" => super::canary::parse(spec, cx),
        _ => None,
    }
}

fn ask(spec: &StepSpec<'_>, cx: &mut dyn ParseContext, what: &str) -> Option<Ask> {
    let approvers = spec.sibling("approvers").and_then(|n| cx.approvers(n));
    let mut flag = |key: &str| match spec.sibling(key).map(|n| (n, &n.kind)) {
        None => false,
        Some((_, NodeKind::Bool(b))) => *b,
        Some((n, _)) => {
            cx.diagnostics()
                .push(Diagnostic::new(n.span, format!("`{key}` must be true or false")).hint("write `true` or `false`"));
            false
        }
    };
    let (allow_override, not_initiator) = (flag("allow_override"), flag("not_initiator"));
    let via = spec.sibling("via").map_or_else(|| Some(vec![Via::Terminal]), |n| via(n, cx));
    let require = spec.sibling("require").map_or(Some(1), |n| require(n, cx));
    let verified_only = match spec.sibling("identity").map(|n| (n, n.as_str())) {
        None | Some((_, Some("any"))) => false,
        Some((_, Some("verified"))) => true,
        Some((n, _)) => {
            cx.diagnostics().push(
                Diagnostic::new(n.span, "`identity` is `verified` or `any`")
                    .hint("`verified`: only answers from Slack or a CI system's user count, not a name typed with --as"),
            );
            false
        }
    };
    let text = cx.template(spec.value, what);
    let (via, require) = (via?, require?);
    check_asking(spec, cx, &via, require, approvers.as_deref());
    Some(Ask { text: text?, approvers, allow_override, not_initiator, via, require, verified_only })
}

/// `via: [terminal, slack]` (or one of them).
fn via(node: &Node, cx: &mut dyn ParseContext) -> Option<Vec<Via>> {
    let items: Vec<&Node> = match &node.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    let mut out = Vec::new();
    for item in &items {
        match item.as_str() {
            Some("terminal") => out.push(Via::Terminal),
            Some("slack") => out.push(Via::Slack),
            other => {
                let hint = other
                    .and_then(|o| suggest(o, ["terminal", "slack"]))
                    .unwrap_or_else(|| "`terminal`, `slack`, or a list of them".into());
                cx.diagnostics().push(Diagnostic::new(item.span, "`via` names where the question is asked").hint(hint));
                return None;
            }
        }
    }
    out.dedup();
    if out.is_empty() {
        cx.diagnostics().push(
            Diagnostic::new(node.span, "`via` cannot be empty: nobody would be asked").hint("e.g. `via: [terminal, slack]`"),
        );
        return None;
    }
    Some(out)
}

fn require(node: &Node, cx: &mut dyn ParseContext) -> Option<usize> {
    match &node.kind {
        NodeKind::Int(n) if *n >= 1 && *n <= 20 => usize::try_from(*n).ok(),
        _ => {
            cx.diagnostics().push(
                Diagnostic::new(node.span, "`require` is how many distinct approvers must say yes: a number from 1 to 20")
                    .hint("e.g. `require: 2`; one no decides"),
            );
            None
        }
    }
}

/// What asking in Slack, or asking several people, needs from the runbook.
fn check_asking(spec: &StepSpec<'_>, cx: &mut dyn ParseContext, via: &[Via], require: usize, approvers: Option<&[String]>) {
    let at = |key: &str| spec.sibling(key).map_or(spec.key.span, |n| n.span);
    let slack = via.contains(&Via::Slack);
    if require > 1 && !slack {
        cx.diagnostics().push(
            Diagnostic::new(at("require"), format!("`require: {require}` needs `via: slack`: a terminal has one person at it"))
                .hint("add `via: [terminal, slack]`"),
        );
    }
    if let Some(a) = approvers
        && require > a.len()
    {
        cx.diagnostics().push(
            Diagnostic::new(at("require"), format!("`require: {require}` but only {} approver(s) may answer", a.len()))
                .hint("lower `require`, or add approvers"),
        );
    }
    if !slack {
        return;
    }
    if cx.integration("slack").is_none_or(|i| i.asker().is_none()) {
        cx.diagnostics().push(
            Diagnostic::new(
                at("via"),
                "`via: slack` needs the Slack Web API: `integrations.slack` with a `token` and a `channel`",
            )
            .hint("a webhook can post but cannot read the answers"),
        );
    }
    if spec.sibling("timeout").is_none() {
        cx.diagnostics().push(
            Diagnostic::new(at("via"), "a question asked in Slack needs a `timeout`")
                .hint("e.g. `timeout: 30m`: unanswered by then, the answer is no (so CI never waits forever)"),
        );
    }
    let Some(people) = cx.people().cloned() else {
        cx.diagnostics().push(
            Diagnostic::new(at("via"), "`via: slack` needs `people:` with Slack member ids, to know who answered")
                .hint("e.g. `people: { alice: { slack: U0ALICE } }`"),
        );
        return;
    };
    let without: Vec<&String> = match approvers {
        Some(a) => a.iter().filter(|n| people.get(*n).is_some_and(Option::is_none)).collect(),
        None => people.iter().filter(|(_, id)| id.is_none()).map(|(n, _)| n).collect(),
    };
    let reachable = match approvers {
        Some(a) => a.iter().filter(|n| people.get(*n).is_some_and(Option::is_some)).count(),
        None => people.values().filter(|id| id.is_some()).count(),
    };
    if approvers.is_some() && !without.is_empty() {
        let names = without.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", ");
        cx.diagnostics().push(
            Diagnostic::new(
                at("via"),
                format!("asked in Slack, but {names} cannot answer there: no `slack:` id under `people:`"),
            )
            .hint("add each approver's member id, e.g. `alice: { slack: U0ALICE }`"),
        );
    } else if reachable < require {
        cx.diagnostics().push(
            Diagnostic::new(at("via"), format!("asked in Slack of {require} people, but only {reachable} have a `slack:` id"))
                .hint("add member ids under `people:`, e.g. `alice: { slack: U0ALICE }`"),
        );
    }
}

fn parallel(spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<StepBody> {
    if !matches!(spec.value.kind, NodeKind::Seq(_)) {
        cx.diagnostics().push(
            Diagnostic::new(spec.value.span, format!("`parallel` takes a list of steps, found {}", spec.value.type_name()))
                .hint("e.g. `parallel: [ { run: a.sh }, { run: b.sh } ]`"),
        );
        return None;
    }
    let steps = cx.steps(spec.value, spec.phase);
    for s in &steps {
        if s.body.is_gate() {
            cx.diagnostics()
                .push(Diagnostic::new(s.span, "a `gate` cannot run in parallel").hint("put the gate at the end of `validate`"));
        }
    }
    Some(StepBody::Parallel(steps))
}
