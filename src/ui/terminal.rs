//! Live progress in a terminal: a spinner per running step with its latest
//! output line, finished steps printed above, and the step's recent output
//! shown again when it fails.

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::lines::line;
use crate::event::{Event, Observer, StepStatus};
use crate::runbook::duration::format_duration;

const RECENT_LINES: usize = 20;

pub struct TerminalOutput {
    progress: MultiProgress,
    /// Set while a person is being asked: the bars are hidden and lines go
    /// straight to the terminal, so nothing waits for the prompt to end.
    prompting: Arc<AtomicBool>,
    verbosity: i8,
    bars: Mutex<HashMap<String, (ProgressBar, String)>>,
    recent: Mutex<HashMap<String, VecDeque<String>>>,
}

impl TerminalOutput {
    pub fn new(verbosity: i8) -> TerminalOutput {
        TerminalOutput {
            progress: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
            prompting: Arc::new(AtomicBool::new(false)),
            verbosity,
            bars: Mutex::new(HashMap::new()),
            recent: Mutex::new(HashMap::new()),
        }
    }

    /// The handle prompts use to pause the bars while they ask.
    pub fn progress(&self) -> Progress {
        Progress { bars: self.progress.clone(), prompting: self.prompting.clone() }
    }

    /// Removes the step's spinner, if it has one.
    fn clear_bar(&self, key: &str) {
        if let Some((bar, _)) = self.bars.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(key) {
            bar.finish_and_clear();
            self.progress.remove(&bar);
        }
    }

    fn print(&self, text: &str) {
        if self.prompting.load(Ordering::SeqCst) {
            // The bars are hidden; a prompt may be waiting for a person. Never
            // wait for it: a signal's "interrupted" must reach the journal
            // and the terminal while the prompt is still up.
            let _ = writeln!(std::io::stdout(), "{text}");
        } else {
            let _ = self.progress.println(text);
        }
    }
}

/// The live display, as prompts pause it.
#[derive(Clone)]
pub struct Progress {
    bars: MultiProgress,
    prompting: Arc<AtomicBool>,
}

impl Progress {
    /// Runs `f` (a prompt) with the bars cleared and hidden. Unlike
    /// `MultiProgress::suspend`, it does not hold the display while `f`
    /// waits for a person, so output and signals are never blocked by it.
    pub fn paused<T>(&self, f: impl FnOnce() -> T) -> T {
        let _ = self.bars.clear();
        self.bars.set_draw_target(ProgressDrawTarget::hidden());
        self.prompting.store(true, Ordering::SeqCst);
        let out = f();
        self.prompting.store(false, Ordering::SeqCst);
        self.bars.set_draw_target(ProgressDrawTarget::stdout());
        out
    }
}

impl Observer for TerminalOutput {
    fn on_event(&self, event: &Event) {
        match event {
            Event::StepStarted { key, label, attempt, expected_ms, timeout_ms, .. } => {
                self.clear_bar(key);
                let bar = self.progress.add(ProgressBar::new_spinner());
                // A wait shows how long is left; any step its timeout.
                let template = match expected_ms {
                    Some(ms) => {
                        bar.set_length(*ms);
                        "  {spinner:.cyan} {msg} {elapsed:.dim} of {len_time:.dim}, {left:.dim} left"
                    }
                    None => "  {spinner:.cyan} {msg} {elapsed:.dim}",
                };
                bar.set_style(step_style(template));
                let mut title = if *attempt > 1 { format!("{label} (attempt {attempt})") } else { label.clone() };
                if let Some(t) = timeout_ms {
                    title.push_str(
                        &console::style(format!(" (timeout {})", format_duration(Duration::from_millis(*t)))).dim().to_string(),
                    );
                }
                bar.set_message(title.clone());
                bar.enable_steady_tick(Duration::from_millis(120));
                self.bars.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key.clone(), (bar, title));
            }
            Event::StepLog { key, line: text } => {
                if self.verbosity >= 1 {
                    if let Some(l) = line(event, true) {
                        self.print(&l);
                    }
                    return;
                }
                let mut recent = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let lines = recent.entry(key.clone()).or_default();
                // Only the last lines of a block (a Jenkins console can log MiBs at once) are kept.
                for l in text.rsplit('\n').take(RECENT_LINES).collect::<Vec<_>>().into_iter().rev() {
                    lines.push_back(l.to_string());
                    if lines.len() > RECENT_LINES {
                        lines.pop_front();
                    }
                }
                if let Some((bar, title)) = self.bars.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(key) {
                    let last = text.rsplit('\n').next().unwrap_or_default();
                    let short: String = last.chars().take(80).collect();
                    bar.set_message(format!("{title} {}", console::style(format!("│ {short}")).dim()));
                }
            }
            Event::StepFinished { key, status, .. } => {
                if let Some((bar, _)) = self.bars.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(key) {
                    bar.finish_and_clear();
                    self.progress.remove(&bar);
                }
                let recent = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(key);
                if *status == StepStatus::Failed && self.verbosity < 1 {
                    for l in recent.into_iter().flatten() {
                        self.print(&console::style(format!("    │ {l}")).dim().to_string());
                    }
                }
                if (self.verbosity >= 0 || *status == StepStatus::Failed)
                    && let Some(l) = line(event, true)
                {
                    self.print(&l);
                }
            }
            Event::StepRetrying { key, .. } => {
                // The failed attempt's spinner goes; the next attempt gets its own.
                self.clear_bar(key);
                if let Some(l) = line(event, true) {
                    self.print(&l);
                }
            }
            Event::StepReused { .. } if self.verbosity < 0 => {}
            // The prompt itself is on the screen; the line is for logs and JSON.
            Event::GateWaiting { .. } => {}
            _ => {
                if let Some(l) = line(event, true) {
                    self.print(&l);
                }
            }
        }
    }
}

/// A step's progress line; `{len_time}` and `{left}` show a wait's length
/// and the time left, in whole seconds rounded up.
fn step_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).map_or_else(
        |_| ProgressStyle::default_spinner(),
        |s| {
            s.with_key("len_time", |st: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}", format_duration(Duration::from_millis(st.len().unwrap_or_default())));
            })
            .with_key("left", |st: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let total = Duration::from_millis(st.len().unwrap_or_default());
                let secs = total.saturating_sub(st.elapsed()).as_millis().div_ceil(1000) as u64;
                let text = if secs == 0 { "0s".to_string() } else { format_duration(Duration::from_secs(secs)) };
                let _ = write!(w, "{text}");
            })
        },
    )
}
