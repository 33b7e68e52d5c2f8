//! `${{ ... }}` expressions inside runbook strings.
//!
//! A [`Template`] is parsed once at validation time, so every bad reference is
//! reported with its position before anything runs. Rendering asks a [`Scope`]
//! for values. In a shell command a value is never spliced into the script:
//! the expression becomes a reference to an environment variable holding it
//! (`"${RELCTL_V1}"`), so no value — a version string, a step output, a
//! secret — can inject a command, whatever quotes or comments surround it.

use super::diagnostic::{Diagnostic, Span};
use super::shell_context::ShellScanner;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Var(String),
    Env(String),
    Secret(String),
    StepOutput { step: String, key: String },
    RunId,
    RunActor,
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reference::Var(n) => write!(f, "vars.{n}"),
            Reference::Env(n) => write!(f, "env.{n}"),
            Reference::Secret(n) => write!(f, "secrets.{n}"),
            Reference::StepOutput { step, key } => write!(f, "steps.{step}.outputs.{key}"),
            Reference::RunId => f.write_str("run.id"),
            Reference::RunActor => f.write_str("run.actor"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Ref(Reference, Span),
    Literal(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Ne,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    pub lhs: Operand,
    pub cmp: Option<(Comparison, Operand)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Text(String),
    Expr(Expr),
}

/// A string from the runbook with its expressions parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub raw: String,
    pub segments: Vec<Segment>,
    pub span: Span,
}

/// A resolved value and whether it must be redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub text: String,
    pub secret: bool,
}

/// Where rendering looks values up; the engine implements it over the run's state.
pub trait Scope {
    fn lookup(&self, reference: &Reference) -> Result<Value, String>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quoting {
    /// Values inserted as they are.
    None,
    /// Values passed as environment variables that the text refers to.
    Shell,
}

/// The result of rendering: the text, the secret values that went into it,
/// and (for [`Quoting::Shell`]) the environment the text refers to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub secrets: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl Template {
    pub fn literal(text: &str) -> Self {
        Template { raw: text.into(), segments: vec![Segment::Text(text.into())], span: Span::default() }
    }

    /// Parses `raw`, which starts at `span` in the file (`text_col` is where
    /// the characters begin, past an opening quote).
    pub fn parse(raw: &str, span: Span, text_col: u32) -> Result<Template, Vec<Diagnostic>> {
        let mut segments = Vec::new();
        let mut errors = Vec::new();
        let mut rest = raw;
        let mut consumed_chars = 0usize;
        // Where the first line ends, counted once: re-scanning the text for
        // every expression made parsing quadratic.
        let first_newline = raw.chars().position(|c| c == '\n');
        let position = |char_offset: usize, len: usize| -> Span {
            if first_newline.is_some_and(|n| n < char_offset) {
                // Multi-line scalars: point at the scalar itself.
                span
            } else {
                Span::new(span.line, text_col + char_offset as u32, len as u32)
            }
        };
        while let Some(start) = rest.find("${{") {
            if start > 0 {
                segments.push(Segment::Text(rest[..start].to_string()));
            }
            let start_chars = consumed_chars + rest[..start].chars().count();
            let after = &rest[start + 3..];
            let Some(end) = after.find("}}") else {
                errors.push(Diagnostic::new(position(start_chars, 3), "unclosed expression").hint("close it with `}}`"));
                rest = "";
                break;
            };
            let inner = &after[..end];
            let inner_offset = start_chars + 3;
            match parse_expr(inner) {
                Ok(mut expr) => {
                    let lead = inner.chars().take_while(|c| c.is_whitespace()).count();
                    let set_span = |op: &mut Operand| {
                        if let Operand::Ref(_, s) = op {
                            *s = position(inner_offset + lead + s.col as usize, s.len as usize);
                        }
                    };
                    set_span(&mut expr.lhs);
                    if let Some((_, rhs)) = &mut expr.cmp {
                        set_span(rhs);
                    }
                    segments.push(Segment::Expr(expr));
                }
                Err(message) => {
                    let len = inner.chars().count() + 5;
                    errors.push(Diagnostic::new(position(start_chars, len), message).hint(
                        "expressions look like ${{ vars.NAME }}, ${{ steps.ID.outputs.KEY }} or ${{ vars.env == 'prod' }}",
                    ));
                }
            }
            let used = start + 3 + end + 2;
            consumed_chars += rest[..used].chars().count();
            rest = &rest[used..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Text(rest.to_string()));
        }
        if errors.is_empty() { Ok(Template { raw: raw.to_string(), segments, span }) } else { Err(errors) }
    }

    pub fn references(&self) -> impl Iterator<Item = (&Reference, Span)> {
        self.segments.iter().flat_map(|s| {
            let mut refs = Vec::new();
            if let Segment::Expr(e) = s {
                if let Operand::Ref(r, sp) = &e.lhs {
                    refs.push((r, *sp));
                }
                if let Some((_, Operand::Ref(r, sp))) = &e.cmp {
                    refs.push((r, *sp));
                }
            }
            refs
        })
    }

    pub fn render(&self, scope: &dyn Scope, quoting: Quoting) -> Result<Rendered, String> {
        let mut out = Rendered::default();
        let mut shell = ShellScanner::default();
        for segment in &self.segments {
            match segment {
                Segment::Text(t) => {
                    out.text.push_str(t);
                    shell.read(t);
                }
                Segment::Expr(e) => {
                    let value = eval(e, scope, &mut out.secrets)?;
                    match quoting {
                        Quoting::None => out.text.push_str(&value),
                        Quoting::Shell => {
                            let name = format!("RELCTL_V{}", out.env.len() + 1);
                            out.text.push_str(&shell.reference(&name, &value)?);
                            shell.inserted();
                            out.env.push((name, value));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Renders for display in a plan: references stay as written, nothing is looked up.
    pub fn display(&self) -> String {
        self.raw.clone()
    }
}

fn eval(e: &Expr, scope: &dyn Scope, secrets: &mut Vec<String>) -> Result<String, String> {
    let mut operand = |op: &Operand| -> Result<String, String> {
        match op {
            Operand::Literal(l) => Ok(l.clone()),
            Operand::Ref(r, _) => {
                let v = scope.lookup(r)?;
                if v.secret && !v.text.is_empty() {
                    secrets.push(v.text.clone());
                }
                Ok(v.text)
            }
        }
    };
    let lhs = operand(&e.lhs)?;
    Ok(match &e.cmp {
        None => lhs,
        Some((cmp, rhs)) => {
            let rhs = operand(rhs)?;
            let equal = lhs == rhs;
            let result = match cmp {
                Comparison::Eq => equal,
                Comparison::Ne => !equal,
            };
            result.to_string()
        }
    })
}

/// How `when:` reads a rendered condition.
pub fn is_truthy(text: &str) -> bool {
    !matches!(text.trim().to_ascii_lowercase().as_str(), "" | "false" | "0" | "no" | "off")
}

fn parse_expr(inner: &str) -> Result<Expr, String> {
    let trimmed = inner.trim();
    if trimmed.is_empty() {
        return Err("empty expression".into());
    }
    let lead = inner.len() - inner.trim_start().len();
    let _ = lead;
    for (token, cmp) in [("==", Comparison::Eq), ("!=", Comparison::Ne)] {
        if let Some(pos) = find_outside_quotes(trimmed, token) {
            let lhs = parse_operand(&trimmed[..pos], 0)?;
            let rhs_start = pos + 2;
            let rhs_text = &trimmed[rhs_start..];
            let rhs_lead = rhs_text.len() - rhs_text.trim_start().len();
            let rhs = parse_operand(rhs_text, trimmed[..rhs_start + rhs_lead].chars().count())?;
            return Ok(Expr { lhs, cmp: Some((cmp, rhs)) });
        }
    }
    Ok(Expr { lhs: parse_operand(trimmed, 0)?, cmp: None })
}

fn find_outside_quotes(text: &str, token: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if text[i..].starts_with(token) => return Some(i),
            None => {}
        }
    }
    None
}

/// `offset` is the operand's character offset inside the trimmed expression;
/// it is kept in the span's `col` until [`Template::parse`] makes it absolute.
fn parse_operand(text: &str, offset: usize) -> Result<Operand, String> {
    let t = text.trim();
    if t.len() >= 2 && ((t.starts_with('\'') && t.ends_with('\'')) || (t.starts_with('"') && t.ends_with('"'))) {
        return Ok(Operand::Literal(t[1..t.len() - 1].to_string()));
    }
    if t == "true" || t == "false" || (!t.is_empty() && t.chars().all(|c| c.is_ascii_digit())) {
        return Ok(Operand::Literal(t.to_string()));
    }
    let lead = text.len() - text.trim_start().len();
    let span = Span::new(0, (offset + lead) as u32, t.chars().count() as u32);
    let parts: Vec<&str> = t.split('.').collect();
    let valid_ident = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !parts.iter().all(|p| valid_ident(p)) {
        return Err(format!("`{t}` is not a valid expression"));
    }
    let reference = match parts.as_slice() {
        ["vars", name] => Reference::Var((*name).into()),
        ["env", name] => Reference::Env((*name).into()),
        ["secrets", name] => Reference::Secret((*name).into()),
        ["steps", step, "outputs", key] => Reference::StepOutput { step: (*step).into(), key: (*key).into() },
        ["run", "id"] => Reference::RunId,
        ["run", "actor"] => Reference::RunActor,
        ["steps", step, ..] => {
            return Err(format!("`{t}`: a step is referenced as steps.{step}.outputs.KEY"));
        }
        ["run", other] => return Err(format!("unknown reference `run.{other}`; known: run.id, run.actor")),
        [root, ..] if ["vars", "env", "secrets"].contains(root) => {
            return Err(format!("`{t}`: write {root}.NAME"));
        }
        [root, ..] => {
            let hint = super::diagnostic::suggest(root, ["vars", "env", "secrets", "steps", "run"])
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            return Err(format!("unknown reference `{t}`{hint}; references start with vars., env., secrets., steps. or run."));
        }
        [] => return Err("empty expression".into()),
    };
    Ok(Operand::Ref(reference, span))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Vars(HashMap<String, String>);
    impl Scope for Vars {
        fn lookup(&self, r: &Reference) -> Result<Value, String> {
            match r {
                Reference::Var(n) => self.0.get(n).map(|v| Value { text: v.clone(), secret: false }).ok_or("missing".into()),
                Reference::Secret(_) => Ok(Value { text: "s3cr3t".into(), secret: true }),
                _ => Err("unsupported".into()),
            }
        }
    }

    fn scope() -> Vars {
        Vars(HashMap::from([("v".into(), "1; rm -rf /".into()), ("env".into(), "prod".into())]))
    }

    /// Runs the rendered command in bash with its environment and returns stdout.
    fn bash(cmd: &str, value: &str) -> String {
        let t = Template::parse(cmd, Span::new(1, 1, 0), 1).unwrap();
        let scope = Vars(HashMap::from([("v".into(), value.into())]));
        let r = t.render(&scope, Quoting::Shell).unwrap();
        assert!(!r.text.contains(value) || cmd.contains("<<'"), "the value was spliced into the script: {}", r.text);
        let out = std::process::Command::new("bash").arg("-c").arg(&r.text).envs(r.env).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn values_print_exactly_in_every_quoting_context_and_never_run() {
        let dir = tempfile::tempdir().unwrap();
        let pwned = dir.path().join("pwned");
        let v = format!("a'b\"c $(touch {p}) `touch {p}` ; touch {p} \\ * ${{HOME}}\ntouch {p} #", p = pwned.display());
        assert_eq!(bash("printf '%s' ${{ vars.v }}", &v), v);
        assert_eq!(bash("printf '%s' \"[${{ vars.v }}]\"", &v), format!("[{v}]"));
        assert_eq!(bash("printf '%s' '[${{ vars.v }}]'", &v), format!("[{v}]"));
        assert_eq!(bash("printf '%s' \"it's\" ${{ vars.v }}", &v), format!("it's{v}"));
        assert_eq!(bash("printf '%s' \"$(printf '%s' ${{ vars.v }})\"", &v), v);
        assert_eq!(bash("# don't\nprintf '%s' ${{ vars.v }}", &v), v);
        assert_eq!(bash("cat <<EOF\n${{ vars.v }}\nEOF", &v), format!("{v}\n"));
        assert_eq!(bash("cat <<'EOF'\n[${{ vars.v }}]\nEOF", &v), format!("[{v}]\n"));
        assert!(!pwned.exists(), "a value ran as a command");
    }

    #[test]
    fn comparisons_and_truthiness() {
        let t = Template::parse("${{ vars.env == 'prod' }}", Span::new(1, 1, 0), 1).unwrap();
        assert!(is_truthy(&t.render(&scope(), Quoting::None).unwrap().text));
        let t = Template::parse("${{ vars.env != 'prod' }}", Span::new(1, 1, 0), 1).unwrap();
        assert!(!is_truthy(&t.render(&scope(), Quoting::None).unwrap().text));
    }

    #[test]
    fn secrets_are_reported_for_redaction() {
        let t = Template::parse("token ${{ secrets.T }}", Span::new(1, 1, 0), 1).unwrap();
        let r = t.render(&scope(), Quoting::None).unwrap();
        assert_eq!(r.secrets, vec!["s3cr3t".to_string()]);
    }

    #[test]
    fn reference_positions_point_into_the_line() {
        let t = Template::parse("echo ${{ vars.version }}", Span::new(4, 10, 0), 10).unwrap();
        let (r, span) = t.references().next().unwrap();
        assert_eq!(r, &Reference::Var("version".into()));
        assert_eq!((span.line, span.col, span.len), (4, 19, 12));
    }

    #[test]
    fn bad_expressions_are_errors() {
        assert!(Template::parse("${{ varz.x }}", Span::new(1, 1, 0), 1).unwrap_err()[0].message.contains("did you mean `vars`"));
        assert!(Template::parse("${{ vars.x ", Span::new(1, 1, 0), 1).is_err());
        assert!(Template::parse("${{ steps.a.result }}", Span::new(1, 1, 0), 1).is_err());
    }
}
