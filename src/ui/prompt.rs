//! Questions at the terminal (dialoguer), with the progress display paused
//! while a person reads and answers.

use super::terminal::Progress;
use dialoguer::Confirm;
use dialoguer::theme::ColorfulTheme;

use super::ask::{self, Until};

use std::sync::atomic::{AtomicBool, Ordering};

use crate::question::{Prompter, Question, QuestionKind, Reply, Via};

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

/// Columns dialoguer's theme puts before a prompt ("? ", "✔ ").
const PREFIX: usize = 2;
/// The widest thing drawn after each kind of prompt: " (y/n) › yes", the
/// chosen item, the typed text's first words.
const AFTER_CONFIRM: usize = 12;
const AFTER_SELECT: usize = 28;
const AFTER_INPUT: usize = 16;

/// The question's last line, for dialoguer to draw, its other lines printed
/// above it once. dialoguer redraws a prompt by clearing the rows it thinks
/// it wrote (a confirm, only the cursor's row): a question the terminal
/// wrapped, or one over several lines, would leave its first rows on screen
/// at every keypress. Lines printed here are never redrawn.
fn fit(text: &str, after: usize) -> String {
    let width = usize::from(console::Term::stderr().size().1);
    let wrapped = wrap(text, width.saturating_sub(PREFIX).max(20), after);
    let (head, last) = wrapped.rsplit_once('\n').unwrap_or(("", &wrapped));
    for line in head.lines() {
        eprintln!("{:PREFIX$}{}", "", console::style(line).bold());
    }
    last.to_string()
}

fn wrap(text: &str, width: usize, after: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let needed = console::measure_text_width(&line) + 1 + console::measure_text_width(word);
        if !line.is_empty() && needed > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    // The last line also holds what dialoguer draws after it.
    let mut moved: Vec<&str> = Vec::new();
    let mut last: Vec<&str> = line.split(' ').collect();
    while last.len() > 1 && console::measure_text_width(&last.join(" ")) + after > width {
        moved.insert(0, last.pop().unwrap_or_default());
    }
    lines.push(last.join(" "));
    if !moved.is_empty() {
        lines.push(moved.join(" "));
    }
    lines.join("\n")
}

impl Prompter for TerminalPrompter {
    fn ask(&self, q: &Question, actor: &str, stop: &AtomicBool) -> std::io::Result<Reply> {
        self.paused(|| {
            discard_type_ahead();
            let until = Until { deadline: q.timeout.map(|t| std::time::Instant::now() + t), stop: Some(stop) };
            let unanswered = || {
                if stop.load(Ordering::SeqCst) {
                    return std::io::Error::other("answered elsewhere");
                }
                let after = q.timeout.map(crate::runbook::duration::format_duration).unwrap_or_default();
                std::io::Error::new(std::io::ErrorKind::TimedOut, format!("unanswered for {after}"))
            };
            if q.elsewhere() {
                let places: Vec<&str> = q.via.iter().filter(|v| **v != Via::Terminal).map(|v| v.as_str()).collect();
                let many =
                    if q.require > 1 { format!(" It takes {} approvers' yes; yours is one.", q.require) } else { String::new() };
                eprintln!("  Also asked in {}: the first answer that counts decides.{many}", places.join(", "));
            }
            match &q.kind {
                QuestionKind::Confirm | QuestionKind::RerunUnfinished | QuestionKind::EndLeftover => {
                    let yes =
                        ask::confirm(&fit(&format!("[{actor}] {}", q.text), AFTER_CONFIRM), until)?.ok_or_else(unanswered)?;
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
                    if let Some(t) = q.timeout {
                        eprintln!("  (unanswered within {}, the answer is no-go)", crate::runbook::duration::format_duration(t));
                    }
                    let default = usize::from(!failed_checks.is_empty());
                    let prompt = fit(&format!("[{actor}] {}", q.text), AFTER_SELECT);
                    let choice = ask::select(&prompt, &["Go: finalize the release", "No-go: roll back"], default, until)?
                        .ok_or_else(unanswered)?;
                    // Go over failed checks is an override: it needs a reason.
                    let overriding = choice == 0 && !failed_checks.is_empty();
                    let prompt = if overriding {
                        format!("Reason for going ahead over {} failed check(s) (required)", failed_checks.len())
                    } else {
                        "Comment for the record (optional)".to_string()
                    };
                    let check = |t: &str| -> Result<(), String> {
                        if overriding && t.trim().is_empty() { Err("an override needs a reason".into()) } else { Ok(()) }
                    };
                    let comment = ask::input(&fit(&prompt, AFTER_INPUT), &check, until)?.ok_or_else(unanswered)?;
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
            .with_prompt(fit(
                &format!(
                    "Stop the run now? The current step is stopped; `relctl resume {run_id}` continues later (Ctrl-C again: stop at once)"
                ),
                AFTER_CONFIRM,
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

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn every_line_fits_and_the_last_leaves_room_for_the_answer() {
        let text = "[alice] Go / no-go for wrap-release: are the error rate, the latency and the business metrics within limits?";
        let wrapped = wrap(text, 40, 12);
        let lines: Vec<&str> = wrapped.lines().collect();
        assert!(lines.iter().all(|l| l.chars().count() <= 40), "{lines:?}");
        assert!(lines.last().unwrap().chars().count() + 12 <= 40, "{lines:?}");
        assert_eq!(wrapped.replace('\n', " "), text, "only spaces become line breaks");
        assert_eq!(wrap("Go?", 40, 12), "Go?");
    }
}
