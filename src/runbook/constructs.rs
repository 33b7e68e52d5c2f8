//! The engine's own step kinds: `confirm` and `gate` (questions for a person)
//! and `parallel` (a group run at once). They are read here, beside the
//! adapters' kinds, but become [`StepBody`] variants the engine runs itself:
//! no adapter answers a question or runs other steps.

use super::diagnostic::Diagnostic;
use super::node::NodeKind;
use crate::step::{Ask, ParseContext, PhaseName, StepBody, StepSpec};

/// Each construct's name and the keys it allows beside the kind key.
pub const CONSTRUCTS: [(&str, &[&str]); 3] = [
    ("confirm", &["approvers", "not_initiator"]),
    ("gate", &["approvers", "allow_override", "not_initiator"]),
    ("parallel", &[]),
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
    let text = cx.template(spec.value, what)?;
    Some(Ask { text, approvers, allow_override, not_initiator })
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
