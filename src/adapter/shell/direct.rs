//! Running a simple command without a shell, as make does: when a `run`
//! command is one program with plain words, relctl executes it directly and
//! saves a shell's start-up per step. Anything a shell would interpret —
//! quotes, `$`, globs, redirections, pipes, `;`, `&`, comments, `~`, braces,
//! several lines, an assignment or a shell builtin first — keeps the shell,
//! so a command never means something different from what bash would do.
//!
//! Expressions (`${{ vars.version }}`) stay inside the word they are written
//! in, each value one argument whatever it contains, exactly as the quoting
//! relctl uses for the shell would pass it. (Either way an argument is
//! visible in `ps`: secrets belong in `env:`, which the docs say.)

use crate::runbook::expr::{Segment, Template};

/// Characters a literal word may hold and still mean the same to bash.
fn plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | ':' | ',' | '+' | '@' | '%' | '=' | '-')
}

/// Bash builtins and keywords: run through the shell, whose meaning they have
/// (`cd`, `export` and `exit` would do nothing useful as programs).
const SHELL_WORDS: &[&str] = &[
    ".",
    ":",
    "[",
    "alias",
    "bg",
    "bind",
    "break",
    "builtin",
    "caller",
    "case",
    "cd",
    "command",
    "compgen",
    "complete",
    "compopt",
    "continue",
    "coproc",
    "declare",
    "dirs",
    "disown",
    "do",
    "done",
    "echo",
    "elif",
    "else",
    "enable",
    "esac",
    "eval",
    "exec",
    "exit",
    "export",
    "false",
    "fc",
    "fg",
    "fi",
    "for",
    "function",
    "getopts",
    "hash",
    "help",
    "history",
    "if",
    "in",
    "jobs",
    "kill",
    "let",
    "local",
    "logout",
    "mapfile",
    "popd",
    "printf",
    "pushd",
    "pwd",
    "read",
    "readarray",
    "readonly",
    "return",
    "select",
    "set",
    "shift",
    "shopt",
    "source",
    "suspend",
    "test",
    "then",
    "time",
    "times",
    "trap",
    "true",
    "type",
    "typeset",
    "ulimit",
    "umask",
    "unalias",
    "unset",
    "until",
    "wait",
    "while",
];

/// The command's words when it can run without a shell, each a template to
/// render into one argument; `None` when it needs the shell.
pub fn words(command: &Template) -> Option<Vec<Template>> {
    let mut words: Vec<Vec<Segment>> = Vec::new();
    let mut current: Vec<Segment> = Vec::new();
    let mut text = String::new();
    for segment in &command.segments {
        match segment {
            Segment::Text(t) => {
                for c in t.chars() {
                    if c == ' ' || c == '\t' {
                        if !text.is_empty() {
                            current.push(Segment::Text(std::mem::take(&mut text)));
                        }
                        if !current.is_empty() {
                            words.push(std::mem::take(&mut current));
                        }
                    } else if plain(c) {
                        text.push(c);
                    } else {
                        return None;
                    }
                }
            }
            Segment::Expr(e) => {
                if !text.is_empty() {
                    current.push(Segment::Text(std::mem::take(&mut text)));
                }
                current.push(Segment::Expr(e.clone()));
            }
        }
    }
    if !text.is_empty() {
        current.push(Segment::Text(text));
    }
    if !current.is_empty() {
        words.push(current);
    }
    // The program must be written out: not a value, not an assignment, not a builtin.
    let [Segment::Text(program)] = words.first()?.as_slice() else { return None };
    if program.contains('=') || (!program.contains('/') && SHELL_WORDS.contains(&program.as_str())) {
        return None;
    }
    Some(
        words
            .into_iter()
            .map(|segments| {
                let raw = segments
                    .iter()
                    .map(|s| match s {
                        Segment::Text(t) => t.clone(),
                        Segment::Expr(_) => "${{ … }}".to_string(),
                    })
                    .collect();
                Template { raw, segments, span: command.span }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::words;
    use crate::runbook::diagnostic::Span;
    use crate::runbook::expr::Template;

    fn split(command: &str) -> Option<Vec<String>> {
        let t = Template::parse(command, Span::default(), 1).unwrap();
        words(&t).map(|w| w.iter().map(|t| t.raw.clone()).collect())
    }

    #[test]
    fn plain_commands_run_without_a_shell() {
        assert_eq!(split("/bin/true 1").unwrap(), ["/bin/true", "1"]);
        assert_eq!(split("./deploy.sh --env=prod  v1.2.3").unwrap(), ["./deploy.sh", "--env=prod", "v1.2.3"]);
        assert_eq!(split("kubectl rollout status deploy/web").unwrap(), ["kubectl", "rollout", "status", "deploy/web"]);
        // A value stays one argument, inside the word it is written in.
        assert_eq!(split("./deploy.sh --version=${{ vars.v }} x").unwrap(), ["./deploy.sh", "--version=${{ … }}", "x"]);
    }

    #[test]
    fn anything_a_shell_would_interpret_keeps_the_shell() {
        for command in [
            "echo hi",
            "true",
            "cd /tmp",
            "exit 1",
            "A=1 ./x",
            "./x | grep y",
            "./x > out",
            "./x; ./y",
            "./x && ./y",
            "./x &",
            "./x \"quoted\"",
            "./x 'quoted'",
            "./x $HOME",
            "./x `date`",
            "./x *.js",
            "./x ~/file",
            "./x {a,b}",
            "./x # comment",
            "./x\n./y",
            "${{ vars.tool }} --help",
            "./x \\n",
            "! ./x",
            "",
        ] {
            assert_eq!(split(command), None, "{command:?}");
        }
    }
}
