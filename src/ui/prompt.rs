//! Questions at the terminal (dialoguer), with the progress display paused
//! while a person reads and answers.

use super::terminal::Progress;
use dialoguer::theme::ColorfulTheme;
use dialoguer::{Confirm, Input, Select};

use crate::question::{Prompter, Question, QuestionKind, Reply};

pub struct TerminalPrompter {
    pub progress: Option<Progress>,
}

impl TerminalPrompter {
    fn paused<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.progress {
            Some(p) => p.paused(f),
            None => f(),
        }
    }
}

fn to_io(e: dialoguer::Error) -> std::io::Error {
    match e {
        dialoguer::Error::IO(e) => e,
    }
}

/// Drops whatever was typed before the question was shown: a key pressed
/// during a long step (or the Enter that answered the Ctrl-C prompt) must
/// not answer a go/no-go nobody has read yet.
fn discard_type_ahead() {
    for fd in [libc::STDIN_FILENO, libc::STDERR_FILENO] {
        // SAFETY: isatty and tcflush only look at the descriptor; a descriptor
        // that is not a terminal is left alone.
        unsafe {
            if libc::isatty(fd) == 1 {
                libc::tcflush(fd, libc::TCIFLUSH);
            }
        }
    }
}

impl Prompter for TerminalPrompter {
    fn ask(&self, q: &Question, actor: &str) -> std::io::Result<Reply> {
        self.paused(|| {
            discard_type_ahead();
            let theme = ColorfulTheme::default();
            match &q.kind {
                QuestionKind::Confirm | QuestionKind::RerunUnfinished | QuestionKind::EndLeftover => {
                    let yes = Confirm::with_theme(&theme)
                        .with_prompt(format!("[{actor}] {}", q.text))
                        .default(false)
                        .wait_for_newline(true)
                        .interact()
                        .map_err(to_io)?;
                    Ok(Reply { yes, comment: None })
                }
                QuestionKind::Gate { failed_checks, passed_checks, .. } => {
                    if failed_checks.is_empty() && *passed_checks == 0 {
                        eprintln!("  No validation check ran (validate holds only waits): nothing has been checked.");
                    } else if failed_checks.is_empty() {
                        eprintln!("  All {passed_checks} validation check(s) passed.");
                    } else {
                        eprintln!("  {} validation check(s) FAILED:", failed_checks.len());
                        for c in failed_checks {
                            eprintln!("    ✗ {c}");
                        }
                    }
                    let default = usize::from(!failed_checks.is_empty());
                    let choice = Select::with_theme(&theme)
                        .with_prompt(format!("[{actor}] {}", q.text))
                        .items(["Go: finalize the release", "No-go: roll back"])
                        .default(default)
                        .interact()
                        .map_err(to_io)?;
                    // Go over failed checks is an override: it needs a reason.
                    let overriding = choice == 0 && !failed_checks.is_empty();
                    let prompt = if overriding {
                        format!("Reason for going ahead over {} failed check(s) (required)", failed_checks.len())
                    } else {
                        "Comment for the record (optional)".to_string()
                    };
                    let comment: String = Input::with_theme(&theme)
                        .with_prompt(prompt)
                        .allow_empty(!overriding)
                        .validate_with(|t: &String| -> Result<(), &str> {
                            if overriding && t.trim().is_empty() { Err("an override needs a reason") } else { Ok(()) }
                        })
                        .interact_text()
                        .map_err(to_io)?;
                    let comment = Some(comment.trim().to_string()).filter(|c| !c.is_empty());
                    Ok(Reply { yes: choice == 0, comment })
                }
            }
        })
    }
}

/// The first Ctrl-C in a terminal asks before stopping.
pub fn confirm_interrupt(progress: Option<&Progress>, run_id: &str) -> std::io::Result<bool> {
    let ask = || {
        Confirm::with_theme(&ColorfulTheme::default())
            .with_prompt(format!(
                "Stop the run now? The current step is stopped; `relctl resume {run_id}` continues later (Ctrl-C again: stop at once)"
            ))
            .default(false)
            .interact()
            .map_err(to_io)
    };
    match progress {
        Some(p) => p.paused(ask),
        None => ask(),
    }
}
