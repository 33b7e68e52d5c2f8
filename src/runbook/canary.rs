//! `canary`: a progressive rollout on an ALB listener, read into the steps
//! it stands for, so that `relctl plan` shows each one and the journal
//! records each one (a resumed canary goes on from the step it was at):
//! for every percentage, an `alb.shift`, then (between steps) a `wait` for
//! the bake that watches every check, failing at the first one out of
//! bounds, which sends the run to rollback.
//!
//! ```yaml
//! - id: canary
//!   canary:
//!     traffic: { alb_listener: ARN, stable: BLUE_TG, canary: GREEN_TG }
//!     steps: [5, 25, 50, 100]
//!     bake: 10m
//!     checks: [ { cloudwatch.metric: … }, { prometheus: … } ]
//! ```

use super::diagnostic::{Diagnostic, Span};
use super::node::{Key, Node, NodeKind};
use crate::step::{ParseContext, PhaseName, StepBody, StepSpec};

const KEYS: [&str; 5] = ["traffic", "steps", "bake", "checks", "every"];
const TRAFFIC: [&str; 4] = ["alb_listener", "rule", "stable", "canary"];

fn node(kind: NodeKind, span: Span) -> Node {
    Node { kind, span, text_col: span.col }
}

fn entry(name: &str, value: Node, span: Span) -> (Key, Node) {
    (Key { name: name.to_string(), span }, value)
}

pub fn parse(spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<StepBody> {
    let v = spec.value;
    let at = spec.key.span;
    let problem = |cx: &mut dyn ParseContext, span: Span, what: &str, hint: &str| {
        cx.diagnostics().push(Diagnostic::new(span, what.to_string()).hint(hint.to_string()));
    };
    if spec.phase != PhaseName::Execute {
        problem(
            cx,
            at,
            &format!("a `canary` belongs in `execute`, not `{}`", spec.phase.as_str()),
            "it changes traffic: that is the release",
        );
    }
    let Some(entries) = v.as_map() else {
        problem(
            cx,
            v.span,
            "`canary` takes a mapping",
            "e.g. `canary: { traffic: {…}, steps: [5, 25, 50, 100], bake: 10m, checks: […] }`",
        );
        return None;
    };
    for (k, _) in entries {
        if !KEYS.contains(&k.name.as_str()) {
            problem(cx, k.span, &format!("unknown key `{}` for `canary`", k.name), &format!("it takes {}", KEYS.join(", ")));
        }
    }
    let shift = traffic(v, at, cx);
    let percents = steps(v.get("steps"), v.span, cx);
    let bake = v.get("bake");
    match bake {
        None => problem(cx, v.span, "`canary` needs `bake`", "how long each step is watched before the next, e.g. `bake: 10m`"),
        // Read once here: a bad one is one problem, not one per step.
        Some(b) => {
            crate::step::duration_setting(Some(b), cx)?;
        }
    }
    let checks = v.get("checks");
    let percents = percents?;
    let mut children = Vec::new();
    for (i, p) in percents.iter().enumerate() {
        let mut settings = shift.clone();
        settings.push(entry("percent", node(NodeKind::Int(*p), at), at));
        children.push(node(
            NodeKind::Map(vec![
                entry("name", node(NodeKind::Str(format!("canary {p}%: shift traffic")), at), at),
                entry("idempotent", node(NodeKind::Bool(true), at), at),
                entry("alb.shift", node(NodeKind::Map(settings), at), at),
            ]),
            at,
        ));
        if i + 1 < percents.len()
            && let Some(bake) = bake
        {
            // A metric query that fails for a passing reason (throttled, a
            // timeout) bakes again; a check out of bounds is final.
            let retry = node(
                NodeKind::Map(vec![
                    entry("attempts", node(NodeKind::Int(3), at), at),
                    entry("delay", node(NodeKind::Str("5s".into()), at), at),
                ]),
                at,
            );
            let mut step = vec![
                entry("name", node(NodeKind::Str(format!("canary {p}%: bake")), at), at),
                entry("idempotent", node(NodeKind::Bool(true), at), at),
                entry("retry", retry, at),
                entry("wait", bake.clone(), at),
            ];
            if let Some(checks) = checks {
                let mut watch = vec![entry("checks", checks.clone(), checks.span)];
                if let Some(every) = v.get("every") {
                    watch.push(entry("every", every.clone(), every.span));
                }
                step.push(entry("watch", node(NodeKind::Map(watch), checks.span), at));
            }
            children.push(node(NodeKind::Map(step), at));
        }
    }
    let steps = cx.steps(&node(NodeKind::Seq(children), v.span), spec.phase);
    Some(StepBody::Sequence(steps))
}

/// `traffic:` as `alb.shift` settings (`alb_listener` is its `listener`).
fn traffic(v: &Node, at: Span, cx: &mut dyn ParseContext) -> Vec<(Key, Node)> {
    let problem = |cx: &mut dyn ParseContext, span: Span, what: &str, hint: &str| {
        cx.diagnostics().push(Diagnostic::new(span, what.to_string()).hint(hint.to_string()));
    };
    let traffic = v.get("traffic");
    let mut shift: Vec<(Key, Node)> = Vec::new();
    match traffic.and_then(Node::as_map) {
        None => problem(
            cx,
            traffic.map_or(v.span, |t| t.span),
            "`canary` needs `traffic`",
            "`traffic: { alb_listener: ARN, stable: BLUE_TG_ARN, canary: GREEN_TG_ARN }`",
        ),
        Some(t) => {
            for (k, n) in t {
                match k.name.as_str() {
                    "alb_listener" => shift.push((Key { name: "listener".into(), span: k.span }, n.clone())),
                    name if TRAFFIC.contains(&name) => shift.push((k.clone(), n.clone())),
                    other => problem(
                        cx,
                        k.span,
                        &format!("unknown key `{other}` for `traffic`"),
                        &format!("it takes {}", TRAFFIC.join(", ")),
                    ),
                }
            }
            for need in ["alb_listener", "stable", "canary"] {
                if !t.iter().any(|(k, _)| k.name == need) {
                    problem(
                        cx,
                        traffic.map_or(at, |t| t.span),
                        &format!("`traffic` needs `{need}`"),
                        "the listener's ARN and both target groups' ARNs",
                    );
                }
            }
        }
    }
    shift
}

/// `steps: [5, 25, 50, 100]`: rising percentages of traffic on the canary.
fn steps(n: Option<&Node>, span: Span, cx: &mut dyn ParseContext) -> Option<Vec<i64>> {
    let hint = "rising percentages of traffic on the canary, e.g. `steps: [5, 25, 50, 100]`";
    let Some(NodeKind::Seq(items)) = n.map(|n| &n.kind) else {
        cx.diagnostics().push(Diagnostic::new(n.map_or(span, |n| n.span), "`canary` needs `steps`, a list").hint(hint));
        return None;
    };
    let mut out: Vec<i64> = Vec::new();
    for item in items {
        match item.kind {
            NodeKind::Int(p) if (1..=100).contains(&p) && out.last().is_none_or(|l| *l < p) => out.push(p),
            _ => {
                cx.diagnostics().push(
                    Diagnostic::new(item.span, "each of `steps` is a percentage from 1 to 100, above the one before").hint(hint),
                );
                return None;
            }
        }
    }
    if out.is_empty() {
        cx.diagnostics().push(Diagnostic::new(span, "`steps` cannot be empty").hint(hint));
        return None;
    }
    if out.last() != Some(&100) {
        // A canary that stops half-way leaves the release half-done.
        cx.diagnostics().push(
            Diagnostic::new(n.map_or(span, |n| n.span), "a canary's last step is 100")
                .hint("end the list with 100; to stop part-way, roll back instead"),
        );
        return None;
    }
    Some(out)
}
