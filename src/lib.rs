//! relctl: runs release runbooks as a state machine.
//!
//! The binary (`src/main.rs`) only calls [`main`]; the library exists so
//! that the fuzz target in `fuzz/` can drive the loader ([`fuzz`]).
//!
//! Pipeline: YAML → [`runbook`] (validated model) → [`plan`] → [`engine`]
//! (events to [`ui`] observers and the journal; adapters in [`adapter`]).
//! This file owns the runtime, logging, and turning errors into exit codes.
//!
//! Dependencies flow one way (docs/architecture.md draws it; the test
//! `tests/architecture.rs` keeps it true):
//!
//! ```text
//! main, cli, config, commands, interrupt      the edge
//!   engine (driver, state, approval, journal)   ui (terminal, plain, json, prompts)   state (shared store, lock)
//!     plan
//!       runbook (model, validate, constructs)   adapter (one per system)
//!         step, event, question, redact         the leaf contract
//!           runbook primitives (node, diagnostic, expr, duration), exit
//! ```

mod adapter;
mod cli;
mod commands;
mod config;
mod engine;
mod error;
mod event;
mod exit;
pub mod fuzz;
mod interrupt;
mod plan;
mod question;
mod redact;
mod runbook;
mod state;
mod step;
mod ui;

use clap::Parser;

/// The whole command line: parse, run, exit with the code `exit` gives.
pub fn main() -> ! {
    // A file-size limit (ulimit -f) reached while journaling must be a write
    // error the run stops on cleanly, not SIGXFSZ killing relctl mid-line.
    // SAFETY: setting a signal's disposition to ignore, before any thread starts.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    ui::tty::save();
    let cli = cli::Cli::parse();
    let verbose = cli.verbose;
    init_tracing(verbose);
    let config = match config::Config::from_cli(cli, &|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(exit::ExitCode::Usage.code());
        }
    };
    if !config.display.color {
        console::set_colors_enabled(false);
        console::set_colors_enabled_stderr(false);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(exit::ExitCode::Internal.code());
        }
    };
    let github = config.display.github;
    let code = match runtime.block_on(commands::dispatch(config)) {
        Ok(code) => code,
        Err(e) => {
            match &e {
                error::AppError::Load(runbook::LoadError::Invalid { path, diagnostics, .. }) => {
                    eprint!("{}", crate::ui::diagnostics::colour(&e.to_string()));
                    if github {
                        // An annotation on each problem, in the workflow's summary and the file view.
                        for d in diagnostics {
                            println!(
                                "::error file={},line={},col={},title=invalid runbook::{}",
                                ui::plain::property(&path.display().to_string()),
                                d.span.line,
                                d.span.col,
                                ui::plain::data(&d.message)
                            );
                        }
                    }
                }
                _ => eprintln!("error: {e}"),
            }
            e.exit_code()
        }
    };
    // No step's processes outlive relctl: SIGKILL for what ignored SIGTERM.
    adapter::shell::settle();
    // Exit without waiting for blocking threads (a prompt left on stdin),
    // with the terminal as the person had it.
    ui::tty::restore();
    std::process::exit(code);
}

fn init_tracing(verbose: u8) {
    let default = if verbose >= 2 { "relctl=debug" } else { "relctl=warn" };
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("RELCTL_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}
