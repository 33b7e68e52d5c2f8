//! Reading settings shared by every step kind: durations and unknown keys,
//! each problem reported at its position.

use super::ParseContext;
use crate::runbook::diagnostic::{Diagnostic, Span, suggest};
use crate::runbook::duration::parse_duration;
use crate::runbook::node::Node;

/// Reads an optional duration setting, reporting a bad one.
pub fn duration_setting(node: Option<&Node>, cx: &mut dyn ParseContext) -> Option<std::time::Duration> {
    let node = node?;
    let Some(text) = node.as_str() else {
        let hint = node.scalar_text().map(|t| format!("write `{t}s` or `{t}m`"));
        let mut d = Diagnostic::new(node.span, format!("expected a duration, found {}", node.type_name()));
        if let Some(h) = hint {
            d = d.hint(h);
        }
        cx.diagnostics().push(d);
        return None;
    };
    match parse_duration(text) {
        Ok(d) => Some(d),
        Err(e) => {
            cx.diagnostics().push(
                Diagnostic::new(Span { len: text.chars().count() as u32, ..node.span }, format!("bad duration: {e}"))
                    .hint("durations look like 500ms, 5s, 10m, 1h30m"),
            );
            None
        }
    }
}

/// Reports keys of a settings mapping that the kind does not know.
pub fn check_keys(node: &Node, known: &[&str], what: &str, cx: &mut dyn ParseContext) {
    if let Some(map) = node.as_map() {
        for (k, _) in map {
            if !known.contains(&k.name.as_str()) {
                let mut d = Diagnostic::new(k.span, format!("unknown key `{}` in {what}", k.name));
                d.hint = suggest(&k.name, known.iter().copied()).or_else(|| Some(format!("known keys: {}", known.join(", "))));
                cx.diagnostics().push(d);
            }
        }
    }
}
