//! Reading settings shared by every step kind: durations and unknown keys,
//! each problem reported at its position.

use super::ParseContext;
use crate::runbook::diagnostic::{Diagnostic, Span, suggest};
use crate::runbook::duration::parse_duration;
use crate::runbook::expr::Template;
use crate::runbook::node::{Node, NodeKind};

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

/// A mapping of names to values (`env:`, `headers:`, `params:`), each value
/// a template; `what` names one entry in problems ("header", "param").
pub fn template_map(node: Option<&Node>, key: &str, what: &str, cx: &mut dyn ParseContext) -> Vec<(String, Template)> {
    let Some(node) = node else { return Vec::new() };
    let Some(map) = node.as_map() else {
        cx.diagnostics().push(
            Diagnostic::new(node.span, format!("`{key}` must map names to values, found {}", node.type_name()))
                .hint(format!("e.g. `{key}: {{ NAME: value }}`")),
        );
        return Vec::new();
    };
    map.iter().filter_map(|(k, v)| cx.template(v, &format!("{what} `{}`", k.name)).map(|t| (k.name.clone(), t))).collect()
}

/// A settings mapping (a step kind's value, an integration's settings),
/// read key by key with every problem reported at its position: the one
/// place the "must be a mapping", "needs `key`", "must be true or false"
/// and unknown-key checks are written.
pub struct Settings<'n> {
    node: &'n Node,
    /// How problems name the mapping: "`s3.promote`".
    what: String,
}

impl<'n> Settings<'n> {
    /// The mapping at `node`, or `None` (reported, with `example`) when it is
    /// not one; keys outside `known` are reported with the closest one.
    pub fn mapping(node: &'n Node, what: &str, known: &[&str], example: &str, cx: &mut dyn ParseContext) -> Option<Self> {
        let what = format!("`{what}`");
        if node.as_map().is_none() {
            cx.diagnostics().push(
                Diagnostic::new(node.span, format!("{what} takes a mapping, found {}", node.type_name()))
                    .hint(example.to_string()),
            );
            return None;
        }
        check_keys(node, known, &what, cx);
        Some(Settings { node, what })
    }

    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.node.get(key)
    }

    /// An optional string setting, expressions allowed.
    pub fn template(&self, key: &str, cx: &mut dyn ParseContext) -> Option<Template> {
        self.get(key).and_then(|n| cx.template(n, &format!("`{key}`")))
    }

    /// A setting the mapping cannot do without.
    pub fn required(&self, key: &str, cx: &mut dyn ParseContext) -> Option<Template> {
        if self.get(key).is_none() {
            cx.diagnostics().push(Diagnostic::new(self.node.span, format!("{} needs `{key}`", self.what)));
            return None;
        }
        self.template(key, cx)
    }

    /// A list of strings, or a single one.
    pub fn templates(&self, key: &str, cx: &mut dyn ParseContext) -> Vec<Template> {
        match self.get(key).map(|n| (n, &n.kind)) {
            None => Vec::new(),
            Some((_, NodeKind::Seq(items))) => items.iter().filter_map(|n| cx.template(n, &format!("`{key}`"))).collect(),
            Some((n, _)) => cx.template(n, &format!("`{key}`")).into_iter().collect(),
        }
    }

    pub fn flag(&self, key: &str, default: bool, cx: &mut dyn ParseContext) -> bool {
        match self.get(key).map(|n| (n, &n.kind)) {
            None => default,
            Some((_, NodeKind::Bool(b))) => *b,
            Some((n, _)) => {
                cx.diagnostics()
                    .push(Diagnostic::new(n.span, format!("`{key}` must be true or false")).hint("write `true` or `false`"));
                default
            }
        }
    }

    pub fn duration(&self, key: &str, cx: &mut dyn ParseContext) -> Option<std::time::Duration> {
        duration_setting(self.get(key), cx)
    }

    /// A whole number in `range`, else `default` (reported).
    pub fn count(&self, key: &str, range: std::ops::RangeInclusive<i64>, default: i64, cx: &mut dyn ParseContext) -> i64 {
        match self.get(key).map(|n| (n, &n.kind)) {
            None => default,
            Some((_, NodeKind::Int(i))) if range.contains(i) => *i,
            Some((n, _)) => {
                cx.diagnostics()
                    .error(n.span, format!("`{key}` must be a whole number from {} to {}", range.start(), range.end()));
                default
            }
        }
    }
}
