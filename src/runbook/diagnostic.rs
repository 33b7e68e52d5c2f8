//! Problems found in a runbook, each pointing into the file.
//!
//! Every stage before execution (YAML loading, validation, planning) reports
//! through [`Diagnostics`], so a user sees every problem at once, rendered the
//! way `just` points into a justfile: `file:line:col`, the source line, a caret
//! under the offending text and a hint.

use std::fmt::Write as _;

/// A place in a runbook file. Lines and columns are 1-based; `len` counts characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub line: u32,
    pub col: u32,
    pub len: u32,
}

impl Span {
    pub fn new(line: u32, col: u32, len: u32) -> Self {
        Span { line, col, len }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub message: String,
    pub span: Span,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(span: Span, message: impl Into<String>) -> Self {
        Diagnostic { message: message.into(), span, hint: None }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Collects problems instead of stopping at the first one.
#[derive(Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub fn error(&mut self, span: Span, message: impl Into<String>) {
        self.push(Diagnostic::new(span, message));
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn into_vec(mut self) -> Vec<Diagnostic> {
        self.items.sort_by_key(|d| (d.span.line, d.span.col));
        self.items
    }
}

/// Renders diagnostics against the source text they point into.
pub fn render(file: &str, source: &str, diagnostics: &[Diagnostic]) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let mut out = String::new();
    for d in diagnostics {
        let _ = writeln!(out, "error: {}", d.message);
        let line_no = d.span.line.max(1);
        let width = line_no.to_string().len();
        let pad = " ".repeat(width);
        let _ = writeln!(out, "{pad}--> {file}:{}:{}", line_no, d.span.col.max(1));
        if let Some(text) = lines.get(line_no as usize - 1) {
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{line_no} | {text}");
            let caret_pad = " ".repeat(d.span.col.saturating_sub(1) as usize);
            let available = text.chars().count().saturating_sub(d.span.col.saturating_sub(1) as usize);
            let carets = "^".repeat((d.span.len as usize).clamp(1, available.max(1)));
            match &d.hint {
                Some(hint) => {
                    let _ = writeln!(out, "{pad} | {caret_pad}{carets} {hint}");
                }
                None => {
                    let _ = writeln!(out, "{pad} | {caret_pad}{carets}");
                }
            }
        } else if let Some(hint) = &d.hint {
            let _ = writeln!(out, "{pad} = help: {hint}");
        }
        out.push('\n');
    }
    let n = diagnostics.len();
    let _ = writeln!(out, "{file}: {n} problem{} found", if n == 1 { "" } else { "s" });
    out
}

/// `did you mean ...?` when a close match exists.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    // Jaro-Winkler catches shared prefixes (`jenkinz`); the edit distance
    // with transpositions catches swapped letters in short names (`ulr`).
    candidates
        .into_iter()
        .map(|c| {
            let close = strsim::damerau_levenshtein(word, c) <= (c.chars().count() / 3).max(1);
            let score = strsim::jaro_winkler(word, c) + if close { 1.0 } else { 0.0 };
            (score, c)
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(suggest("jenkinz", ["jenkins", "run"]).as_deref(), Some("did you mean `jenkins`?"));
        assert_eq!(suggest("zzz", ["jenkins", "run"]), None);
        assert_eq!(suggest("ulr", ["url", "method"]).as_deref(), Some("did you mean `url`?"));
    }

    #[test]
    fn renders_caret_under_span() {
        let src = "a: 1\nexecute:\n  - jenkinz: x\n";
        let d = Diagnostic::new(Span::new(3, 5, 7), "unknown step kind `jenkinz`").hint("did you mean `jenkins`?");
        let text = render("r.yaml", src, &[d]);
        assert!(text.contains("--> r.yaml:3:5"), "{text}");
        assert!(text.contains("3 |   - jenkinz: x"), "{text}");
        assert!(text.contains("  |     ^^^^^^^ did you mean `jenkins`?"), "{text}");
    }
}
