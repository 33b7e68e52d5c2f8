//! The prompts a person answers at the terminal, drawn with dialoguer's
//! theme but read here, so that a question can stop waiting: at its
//! `timeout`, or when the run no longer needs the answer. dialoguer blocks
//! in its own read until a key comes; these wait for a key in slices of
//! 100 ms and look at the clock and the stop flag between them.
//!
//! The terminal is in raw mode for the whole question (not key by key), so
//! every key is seen as it is typed and nothing is echoed but what is
//! drawn. Ctrl-C still ends the prompt as an interruption (console's
//! reader raises SIGINT, as with dialoguer).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use console::{Key, Term};
use dialoguer::theme::{ColorfulTheme, Theme};

/// When a question stops waiting for its answer.
#[derive(Clone, Copy, Default)]
pub struct Until<'a> {
    pub deadline: Option<Instant>,
    /// Set when the answer is no longer needed.
    pub stop: Option<&'a AtomicBool>,
}

impl Until<'_> {
    /// What a prompt that ended unanswered shows.
    fn unanswered(&self) -> &'static str {
        if self.stop.is_some_and(|s| s.load(Ordering::SeqCst)) { "(answered elsewhere)" } else { "(no answer)" }
    }

    fn over(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d) || self.stop.is_some_and(|s| s.load(Ordering::SeqCst))
    }
}

/// The terminal in raw mode (output processing kept) until dropped.
struct Raw {
    original: libc::termios,
}

impl Raw {
    fn on() -> io::Result<Raw> {
        // SAFETY: tcgetattr/tcsetattr on stdin with a zeroed termios of the
        // right type; the settings read are put back on drop.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &raw mut t) != 0 {
                return Err(io::Error::last_os_error());
            }
            let original = t;
            libc::cfmakeraw(&raw mut t);
            t.c_oflag = original.c_oflag;
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSADRAIN, &raw const t) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Raw { original })
        }
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        // SAFETY: writes back the settings read in `on`.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSADRAIN, &raw const self.original);
        }
    }
}

/// The next key, or `None` when the question is over first.
fn next_key(term: &Term, until: Until<'_>) -> io::Result<Option<Key>> {
    loop {
        if until.over() {
            return Ok(None);
        }
        let mut fd = libc::pollfd { fd: libc::STDIN_FILENO, events: libc::POLLIN, revents: 0 };
        // SAFETY: poll on one valid pollfd for at most 100 ms.
        let ready = unsafe { libc::poll(&raw mut fd, 1, 100) };
        if ready < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if fd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 && fd.revents & libc::POLLIN == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        if ready > 0 {
            return term.read_key().map(Some);
        }
    }
}

fn draw(f: impl FnOnce(&mut String) -> std::fmt::Result) -> String {
    let mut s = String::new();
    let _ = f(&mut s);
    s
}

/// Yes or no, confirmed with Enter; `None` when the question is over first.
pub fn confirm(prompt: &str, until: Until<'_>) -> io::Result<Option<bool>> {
    let (term, theme) = (Term::stderr(), ColorfulTheme::default());
    let _raw = Raw::on()?;
    let mut value: Option<bool> = None;
    let line = |v: Option<bool>| draw(|s| theme.format_confirm_prompt(s, prompt, v.or(Some(false))));
    term.write_str(&line(value))?;
    term.hide_cursor()?;
    let answer = loop {
        match next_key(&term, until)? {
            None => break None,
            Some(Key::Char('y' | 'Y')) => value = Some(true),
            Some(Key::Char('n' | 'N')) => value = Some(false),
            Some(Key::Enter) => break Some(value.unwrap_or(false)),
            Some(_) => continue,
        }
        term.clear_line()?;
        term.write_str(&line(value))?;
    };
    term.clear_line()?;
    match answer {
        Some(a) => term.write_line(&draw(|s| theme.format_confirm_prompt_selection(s, prompt, Some(a))))?,
        None => term.write_line(&draw(|s| theme.format_input_prompt_selection(s, prompt, until.unanswered())))?,
    }
    term.show_cursor()?;
    Ok(answer)
}

/// One of `items`, chosen with the arrow keys and Enter.
pub fn select(prompt: &str, items: &[&str], default: usize, until: Until<'_>) -> io::Result<Option<usize>> {
    let (term, theme) = (Term::stderr(), ColorfulTheme::default());
    let _raw = Raw::on()?;
    let mut at = default.min(items.len().saturating_sub(1));
    term.write_line(&draw(|s| theme.format_select_prompt(s, prompt)))?;
    term.hide_cursor()?;
    let render = |at: usize| -> io::Result<()> {
        for (i, item) in items.iter().enumerate() {
            term.write_line(&draw(|s| theme.format_select_prompt_item(s, item, i == at)))?;
        }
        Ok(())
    };
    render(at)?;
    let answer = loop {
        match next_key(&term, until)? {
            None => break None,
            Some(Key::ArrowUp | Key::Char('k') | Key::BackTab) => at = at.checked_sub(1).unwrap_or(items.len() - 1),
            Some(Key::ArrowDown | Key::Char('j') | Key::Tab) => at = (at + 1) % items.len(),
            Some(Key::Enter | Key::Char(' ')) => break Some(at),
            Some(_) => continue,
        }
        term.clear_last_lines(items.len())?;
        render(at)?;
    };
    term.clear_last_lines(items.len() + 1)?;
    let chosen = answer.map_or(until.unanswered(), |i| items[i]);
    term.write_line(&draw(|s| theme.format_select_prompt_selection(s, prompt, chosen)))?;
    term.show_cursor()?;
    Ok(answer)
}

/// A line of text; `check` refuses what may not be the answer (the message is shown).
pub fn input(prompt: &str, check: &dyn Fn(&str) -> Result<(), String>, until: Until<'_>) -> io::Result<Option<String>> {
    let (term, theme) = (Term::stderr(), ColorfulTheme::default());
    let _raw = Raw::on()?;
    let mut text = String::new();
    let mut error_shown = false;
    let line = |t: &str| format!("{}{t}", draw(|s| theme.format_input_prompt(s, prompt, None)));
    term.write_str(&line(&text))?;
    let answer = loop {
        match next_key(&term, until)? {
            None => break None,
            Some(Key::Char(c)) if !c.is_control() => text.push(c),
            Some(Key::Backspace) => {
                text.pop();
            }
            Some(Key::Enter) => match check(&text) {
                Ok(()) => break Some(text.clone()),
                Err(e) => {
                    term.clear_line()?;
                    if error_shown {
                        term.clear_last_lines(1)?;
                    }
                    term.write_line(&draw(|s| theme.format_error(s, &e)))?;
                    error_shown = true;
                }
            },
            Some(_) => continue,
        }
        term.clear_line()?;
        term.write_str(&line(&text))?;
    };
    term.clear_line()?;
    if error_shown {
        term.clear_last_lines(1)?;
    }
    let shown = answer.as_deref().map_or(until.unanswered(), |t| if t.is_empty() { "" } else { t });
    term.write_line(&draw(|s| theme.format_input_prompt_selection(s, prompt, shown)))?;
    Ok(answer)
}
