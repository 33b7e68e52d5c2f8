//! Ctrl-C and SIGTERM. The first Ctrl-C asks in a terminal (or, in CI, stops
//! the run at once) and leaves the run resumable; a second exits immediately.
//! Either way the journal holds everything that happened.

use indicatif::MultiProgress;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::adapter::shell::kill_all_running;
use crate::exit::ExitCode;

pub fn install(cancel: watch::Sender<bool>, interactive: bool, progress: Option<MultiProgress>, run_id: String) {
    let (Ok(mut sigint), Ok(mut sigterm)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        tracing::warn!("cannot install signal handlers; Ctrl-C will stop relctl without recording it");
        return;
    };
    tokio::spawn(async move {
        let mut count = 0u32;
        loop {
            tokio::select! {
                _ = sigint.recv() => {
                    count += 1;
                    if count >= 2 || *cancel.borrow() {
                        stop_now(&run_id);
                    }
                    if interactive {
                        let progress = progress.clone();
                        let id = run_id.clone();
                        let cancel = cancel.clone();
                        tokio::task::spawn_blocking(move || {
                            match crate::ui::prompt::confirm_interrupt(progress.as_ref(), &id) {
                                Ok(true) => { let _ = cancel.send(true); }
                                Ok(false) => {}
                                Err(_) => stop_now(&id),
                            }
                        });
                    } else {
                        let _ = cancel.send(true);
                    }
                }
                _ = sigterm.recv() => { let _ = cancel.send(true); }
            }
        }
    });
}

fn stop_now(run_id: &str) -> ! {
    kill_all_running();
    eprintln!("\nrelctl: stopped at once; the journal is intact. Continue with: relctl resume {run_id}");
    std::process::exit(ExitCode::Interrupted.code());
}
