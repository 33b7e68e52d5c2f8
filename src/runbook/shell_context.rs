//! Where in a shell script an expression stands, so that its value can be
//! referred to as exactly one word there.
//!
//! Values are never spliced into a script: an expression becomes a reference
//! to an environment variable holding the value, quoted for its place —
//! `"${V}"` unquoted, `${V}` inside double quotes or an expanding
//! here-document, `'"${V}"'` inside single quotes. A wrong guess can only
//! change how a value prints, never run it, because the shell does not parse
//! the result of a parameter expansion again. The one place a reference
//! cannot work is a quoted here-document (`<<'EOF'`), which expands nothing:
//! there the value is written as it is, unless it would end the document.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellContext {
    Unquoted,
    Double,
    Single,
    Comment,
    /// A here-document body; `expand` is false for `<<'EOF'` and `<<"EOF"`.
    Heredoc {
        delimiter: String,
        expand: bool,
        strip_tabs: bool,
    },
}

/// Reads a script a piece at a time, knowing the context after each piece.
#[derive(Debug)]
pub struct ShellScanner {
    context: ShellContext,
    /// Contexts of enclosing `$(...)`.
    enclosing: Vec<ShellContext>,
    /// Here-documents announced on the current line, read after its newline.
    pending: Vec<ShellContext>,
    /// The current line so far, to find a here-document's closing line.
    line: String,
    word_start: bool,
}

impl Default for ShellScanner {
    fn default() -> Self {
        ShellScanner {
            context: ShellContext::Unquoted,
            enclosing: Vec::new(),
            pending: Vec::new(),
            line: String::new(),
            word_start: true,
        }
    }
}

impl ShellScanner {
    #[cfg(test)]
    pub fn context(&self) -> &ShellContext {
        &self.context
    }

    /// The text a value is referred to by here, or why it cannot be.
    pub fn reference(&self, name: &str, value: &str) -> Result<String, String> {
        Ok(match &self.context {
            ShellContext::Unquoted => format!("\"${{{name}}}\""),
            ShellContext::Double | ShellContext::Comment | ShellContext::Heredoc { expand: true, .. } => format!("${{{name}}}"),
            ShellContext::Single => format!("'\"${{{name}}}\"'"),
            ShellContext::Heredoc { delimiter, expand: false, .. } => {
                if value.lines().any(|l| l.trim_start_matches('\t') == delimiter) {
                    return Err(format!("a value contains the line `{delimiter}`, which would end the here-document it is in"));
                }
                value.to_string()
            }
        })
    }

    /// A value was inserted: it is part of the current line and word.
    pub fn inserted(&mut self) {
        self.line.push('\u{1}');
        self.word_start = false;
    }

    pub fn read(&mut self, text: &str) {
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\n' {
                self.newline();
                continue;
            }
            self.line.push(c);
            let word_start = self.word_start;
            self.word_start = c.is_whitespace() || matches!(c, ';' | '&' | '|' | '(' | ')');
            match self.context.clone() {
                ShellContext::Comment | ShellContext::Heredoc { .. } => {}
                ShellContext::Single => {
                    if c == '\'' {
                        self.context = ShellContext::Unquoted;
                    }
                }
                ShellContext::Double => match c {
                    '\\' => self.skip(&mut chars),
                    '"' => self.context = ShellContext::Unquoted,
                    '$' if chars.peek() == Some(&'(') => self.open_substitution(&mut chars),
                    _ => {}
                },
                ShellContext::Unquoted => match c {
                    '#' if word_start => self.context = ShellContext::Comment,
                    '\\' => self.skip(&mut chars),
                    '\'' => self.context = ShellContext::Single,
                    '"' => self.context = ShellContext::Double,
                    '$' if chars.peek() == Some(&'(') => self.open_substitution(&mut chars),
                    ')' if !self.enclosing.is_empty() => self.context = self.enclosing.pop().unwrap_or(ShellContext::Unquoted),
                    '<' if chars.peek() == Some(&'<') => {
                        chars.next();
                        self.line.push('<');
                        if chars.peek() == Some(&'<') {
                            // A here-string (`<<<`): an ordinary word follows.
                            chars.next();
                            self.line.push('<');
                        } else {
                            self.heredoc_operator(&mut chars);
                        }
                    }
                    _ => {}
                },
            }
        }
    }

    fn skip(&mut self, chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
        if let Some(next) = chars.next() {
            if next == '\n' {
                self.newline();
            } else {
                self.line.push(next);
            }
        }
    }

    fn open_substitution(&mut self, chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
        chars.next();
        self.line.push('(');
        self.enclosing.push(self.context.clone());
        self.context = ShellContext::Unquoted;
        self.word_start = true;
    }

    /// After `<<`: an optional `-`, then the delimiter word, quoted or not.
    fn heredoc_operator(&mut self, chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
        let strip_tabs = chars.peek() == Some(&'-');
        if strip_tabs {
            chars.next();
        }
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let mut delimiter = String::new();
        let mut expand = true;
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || matches!(c, ';' | '&' | '|' | '<' | '>' | ')') {
                break;
            }
            chars.next();
            if c == '\'' || c == '"' || c == '\\' {
                expand = false;
                continue;
            }
            delimiter.push(c);
        }
        self.line.push_str(&delimiter);
        if !delimiter.is_empty() {
            self.pending.push(ShellContext::Heredoc { delimiter, expand, strip_tabs });
        }
    }

    fn newline(&mut self) {
        let line = std::mem::take(&mut self.line);
        self.word_start = true;
        match &self.context {
            ShellContext::Heredoc { delimiter, strip_tabs, .. } => {
                let candidate = if *strip_tabs { line.trim_start_matches('\t') } else { line.as_str() };
                if candidate == delimiter {
                    self.context = self.next_heredoc();
                }
            }
            ShellContext::Comment => self.context = self.next_heredoc(),
            ShellContext::Unquoted => self.context = self.next_heredoc(),
            // A newline inside quotes is part of the quoted word.
            ShellContext::Single | ShellContext::Double => {}
        }
    }

    fn next_heredoc(&mut self) -> ShellContext {
        if self.pending.is_empty() { ShellContext::Unquoted } else { self.pending.remove(0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(text: &str) -> ShellContext {
        let mut s = ShellScanner::default();
        s.read(text);
        s.context().clone()
    }

    #[test]
    fn quotes_comments_and_substitutions() {
        assert_eq!(after("echo "), ShellContext::Unquoted);
        assert_eq!(after("echo \"a "), ShellContext::Double);
        assert_eq!(after("echo 'a "), ShellContext::Single);
        assert_eq!(after("echo \"$(printf x "), ShellContext::Unquoted);
        assert_eq!(after("echo \"$(printf x) "), ShellContext::Double);
        assert_eq!(after("# don't\necho "), ShellContext::Unquoted);
        assert_eq!(after("echo a#b 'c "), ShellContext::Single, "# inside a word starts no comment");
        assert_eq!(after("echo \\' "), ShellContext::Unquoted);
    }

    #[test]
    fn here_documents() {
        let expand = |d: &str| ShellContext::Heredoc { delimiter: d.into(), expand: true, strip_tabs: false };
        assert_eq!(after("cat <<EOF\n"), expand("EOF"));
        assert_eq!(after("cat <<EOF\nit's \n"), expand("EOF"));
        assert_eq!(after("cat <<EOF\nx\nEOF\necho "), ShellContext::Unquoted);
        assert_eq!(
            after("cat <<'EOF' > f\n"),
            ShellContext::Heredoc { delimiter: "EOF".into(), expand: false, strip_tabs: false }
        );
        assert_eq!(after("cat <<-END\n\tEND\n"), ShellContext::Unquoted);
        assert_eq!(after("cat <<<'x' "), ShellContext::Unquoted);
    }

    #[test]
    fn a_quoted_heredoc_refuses_a_value_that_would_end_it() {
        let mut s = ShellScanner::default();
        s.read("cat <<'EOF'\n");
        assert_eq!(s.reference("V", "1.2.3").unwrap(), "1.2.3");
        assert!(s.reference("V", "x\nEOF\nrm -rf /").is_err());
    }
}
