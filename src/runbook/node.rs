//! The runbook file as a tree of YAML nodes that remember where they came from.
//!
//! Validation walks this tree by hand instead of deriving `Deserialize` for the
//! model, because serde stops at the first problem and loses positions inside
//! untagged enums; walking the tree lets validation report every problem with
//! its `line:col`.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::diagnostic::{Diagnostic, Span};

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
    /// Where the text of a string scalar starts, past any opening quote, so
    /// that positions inside the string (an expression) can be pointed at.
    pub text_col: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

impl Node {
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// Scalars as the text a user wrote (numbers and booleans included), for
    /// places where `port: 8080` and `port: "8080"` mean the same.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            NodeKind::Str(s) => Some(s.clone()),
            NodeKind::Int(i) => Some(i.to_string()),
            NodeKind::Float(f) => Some(f.to_string()),
            NodeKind::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|(k, _)| k.name == key).map(|(_, v)| v)
    }
}

/// Parses YAML text into a node tree; a syntax error becomes one diagnostic.
pub fn parse(source: &str) -> Result<Node, Diagnostic> {
    let raw: Spanned<RawKind> = serde_saphyr::from_str(source).map_err(|e| syntax_diagnostic(&e))?;
    let lines: Vec<&str> = source.lines().collect();
    Ok(convert(raw, &lines))
}

fn syntax_diagnostic(e: &serde_saphyr::Error) -> Diagnostic {
    let span =
        e.location().map(|l| Span::new(l.line() as u32, l.column() as u32, (l.span().len() as u32).max(1))).unwrap_or_default();
    let text = e.without_snippet().to_string();
    let first = text.lines().next().unwrap_or("invalid YAML").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // serde-saphyr prefixes "line N column M: "; the rendered location says that already.
    let message = match first.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") => rest,
        _ => first,
    };
    let message = message.split(", set DuplicateKeyPolicy").next().unwrap_or(message);
    let message = match message.rfind(" at line ") {
        Some(i) if message[i..].contains("column") => &message[..i],
        _ => message,
    };
    Diagnostic::new(span, format!("invalid YAML: {message}")).hint("fix the YAML syntax here (indentation, quotes, brackets)")
}

fn convert(raw: Spanned<RawKind>, lines: &[&str]) -> Node {
    let loc = raw.referenced;
    let span = Span::new(loc.line() as u32, loc.column() as u32, loc.span().len() as u32);
    let mut text_col = span.col;
    let kind = match raw.value {
        RawKind::Null => NodeKind::Null,
        RawKind::Bool(b) => NodeKind::Bool(b),
        RawKind::Int(i) => NodeKind::Int(i),
        RawKind::Float(f) => NodeKind::Float(f),
        RawKind::Str(s) => {
            let first =
                lines.get((span.line as usize).wrapping_sub(1)).and_then(|l| l.chars().nth(span.col.saturating_sub(1) as usize));
            if matches!(first, Some('"' | '\'')) {
                text_col += 1;
            }
            NodeKind::Str(s)
        }
        RawKind::Seq(items) => NodeKind::Seq(items.into_iter().map(|n| convert(n, lines)).collect()),
        RawKind::Map(entries) => NodeKind::Map(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let kl = k.referenced;
                    let key =
                        Key { name: k.value, span: Span::new(kl.line() as u32, kl.column() as u32, kl.span().len() as u32) };
                    (key, convert(v, lines))
                })
                .collect(),
        ),
    };
    Node { kind, span, text_col }
}

/// What serde-saphyr hands us before positions are flattened into [`Node`].
enum RawKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<RawKind>>),
    Map(Vec<(Spanned<String>, Spanned<RawKind>)>),
}

impl<'de> Deserialize<'de> for RawKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct AnyVisitor;
        impl<'de> Visitor<'de> for AnyVisitor {
            type Value = RawKind;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<RawKind, E> {
                Ok(RawKind::Null)
            }
            fn visit_none<E>(self) -> Result<RawKind, E> {
                Ok(RawKind::Null)
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<RawKind, D2::Error> {
                RawKind::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<RawKind, E> {
                Ok(RawKind::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawKind, E> {
                Ok(RawKind::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawKind, E> {
                i64::try_from(v).map(RawKind::Int).map_err(|_| E::custom("integer too large"))
            }
            fn visit_f64<E>(self, v: f64) -> Result<RawKind, E> {
                Ok(RawKind::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<RawKind, E> {
                Ok(RawKind::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<RawKind, E> {
                Ok(RawKind::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<RawKind, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = a.next_element()? {
                    items.push(item);
                }
                Ok(RawKind::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<RawKind, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = a.next_entry()? {
                    entries.push(entry);
                }
                Ok(RawKind::Map(entries))
            }
        }
        d.deserialize_any(AnyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_of_keys_and_values() {
        let node = parse("name: x\nexecute:\n  - run: \"echo hi\"\n").unwrap();
        let exec = node.get("execute").unwrap();
        let NodeKind::Seq(steps) = &exec.kind else { panic!() };
        let run = steps[0].get("run").unwrap();
        assert_eq!(run.span.line, 3);
        assert_eq!(run.span.col, 10);
        assert_eq!(run.text_col, 11);
    }

    #[test]
    fn syntax_error_has_location() {
        let d = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(d.span.line, 2);
        assert!(d.message.starts_with("invalid YAML"), "{}", d.message);
    }
}
