//! Ctrl-C and SIGTERM. The first Ctrl-C asks in a terminal (or, in CI, stops
//! the run at once) and leaves the run resumable; a second exits immediately.
//! Either way the journal holds everything that happened.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::adapter::shell::kill_all_running;
use crate::exit::ExitCode;
use crate::ui::terminal::Progress;

pub fn install(cancel: watch::Sender<bool>, interactive: bool, progress: Option<Progress>, run_id: String) {
    let (Ok(mut sigint), Ok(mut sigterm), Ok(mut sighup)) =
        (signal(SignalKind::interrupt()), signal(SignalKind::terminate()), signal(SignalKind::hangup()))
    else {
        tracing::warn!("cannot install signal handlers; Ctrl-C will stop relctl without recording it");
        return;
    };
    tokio::spawn(async move {
        // Presses since the last "keep going" answer.
        let presses = Arc::new(AtomicU32::new(0));
        loop {
            tokio::select! {
                _ = sigint.recv() => {
                    if presses.fetch_add(1, Ordering::SeqCst) >= 1 || *cancel.borrow() {
                        stop_now(&run_id);
                    }
                    if interactive {
                        let progress = progress.clone();
                        let id = run_id.clone();
                        let cancel = cancel.clone();
                        let presses = presses.clone();
                        tokio::task::spawn_blocking(move || {
                            match crate::ui::prompt::confirm_interrupt(progress.as_ref(), &id) {
                                Ok(true) => { let _ = cancel.send(true); }
                                Ok(false) => presses.store(0, Ordering::SeqCst),
                                Err(_) => stop_now(&id),
                            }
                        });
                    } else {
                        let _ = cancel.send(true);
                    }
                }
                // SIGTERM, or the terminal went away (a dropped SSH session):
                // stop the step, journal the interruption, release the lock.
                _ = sigterm.recv() => { let _ = cancel.send(true); }
                _ = sighup.recv() => { let _ = cancel.send(true); }
            }
        }
    });
}

fn stop_now(run_id: &str) -> ! {
    kill_all_running();
    crate::ui::tty::restore();
    eprintln!("\nrelctl: stopped at once; the journal is intact. Continue with: relctl resume {run_id}");
    std::process::exit(ExitCode::Interrupted.code());
}
