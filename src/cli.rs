//! Command-line syntax only. Parsed values become a [`crate::config`] value;
//! nothing past that point sees clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "relctl",
    version,
    about = "Run release runbooks: checklist, execute, validate, go/no-go, rollback, finalize",
    after_help = "Examples:
  relctl validate release.yaml                      check a runbook, every problem at once
  relctl plan release.yaml --var version=1.2.3      what a run would do, vars resolved
  relctl run release.yaml --var version=1.2.3       release, answering gates at the terminal
  relctl resume                                     continue the latest interrupted run here
  relctl status -f runbooks/release.yaml            where the latest run of that runbook is

Docs: docs/runbook.md (the format, commands, exit codes), docs/adapters.md (each system)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// More detail (-v: step output; -vv: debug logs)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Less output: phases, failures and the result only
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// How progress is shown: human (terminal), plain (lines), json (one event per line)
    #[arg(long, value_enum, global = true)]
    pub output: Option<OutputFormat>,

    /// Where runs, journals and locks live [default: .relctl/ beside the runbook, or ./.relctl]
    #[arg(long, global = true, env = "RELCTL_STATE_DIR")]
    pub state_dir: Option<PathBuf>,

    /// Shared state for many machines: s3://BUCKET/PREFIX holds each runbook's lock [default: the runbook's `state:`]
    #[arg(long, global = true, env = "RELCTL_STATE", value_name = "s3://BUCKET/PREFIX")]
    pub state: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Human,
    Plain,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a runbook
    #[command(after_help = "Examples:
  relctl run release.yaml --var version=1.2.3 --as alice
  relctl run release.yaml --dry-run                 walk it without changing anything
  relctl run release.yaml --non-interactive --approve checklist --var version=1.2.3   in CI
  relctl run release.yaml --non-interactive --approve go --reason \"INC-42: known-bad alarm\"")]
    Run(RunArgs),
    /// Check runbooks and report every problem
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Show what a run would do: steps in order, the rollback path, who answers each gate
    Plan {
        file: PathBuf,
        /// Set a var: KEY=VALUE (repeatable)
        #[arg(long = "var", value_name = "KEY=VALUE")]
        vars: Vec<String>,
    },
    /// Continue an interrupted run from its journal
    #[command(after_help = "Examples:
  relctl resume                                     the latest unfinished run of ./.relctl
  relctl resume 20261201-101500-ab12 -f runbooks/release.yaml
  relctl resume --non-interactive --rerun deploy    a step cut off mid-way: run it again
  relctl resume --stop-leftovers                    end what a killed step left running")]
    Resume(ResumeArgs),
    /// Show a run's state, steps and decisions [default: the latest run]
    Status {
        run_id: Option<String>,
        /// The runbook whose state dir to read
        #[arg(long, short = 'f')]
        runbook: Option<PathBuf>,
    },
    /// Check that a run's journal is intact: every line readable and chained to the one before [default: the latest run]
    Verify {
        run_id: Option<String>,
        /// The runbook whose state dir to read
        #[arg(long, short = 'f')]
        runbook: Option<PathBuf>,
    },
    /// Give up an unfinished run, on the record, so its runbook may run again
    Abandon {
        run_id: String,
        /// Why (journaled): e.g. "rolled back by hand after the runner died"
        #[arg(long, required = true)]
        reason: String,
        /// Who gives it up [default: RELCTL_ACTOR, GITHUB_ACTOR, BUILD_USER_ID, the OS user]
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
        /// The runbook whose state dir to read
        #[arg(long, short = 'f')]
        runbook: Option<PathBuf>,
    },
    /// List past runs
    History {
        /// The runbook whose state dir to read
        #[arg(long, short = 'f')]
        runbook: Option<PathBuf>,
    },
    /// Write a commented runbook to start from: shell (default), kubernetes or aws
    Init {
        /// shell, kubernetes or aws
        template: Option<String>,
        /// Where to write it (never overwritten) [default: release.yaml]
        path: Option<PathBuf>,
    },
    /// Print a report of a run: junit, json or markdown [default: the latest run]
    Report {
        run_id: Option<String>,
        /// junit (CI test views), json (tools), markdown (people; Mermaid timeline)
        #[arg(long, value_name = "FORMAT", default_value = "markdown")]
        format: String,
        /// The runbook whose state dir to read
        #[arg(long, short = 'f')]
        runbook: Option<PathBuf>,
    },
    /// Shared locks (with --state s3://…): status, acquire -m MESSAGE, release
    #[command(after_help = "Examples:
  relctl lock status --state s3://acme-release-state/checkout
  relctl lock acquire -f release.yaml -m \"incident 4411: freeze\"
  relctl lock release -f release.yaml --reason \"incident 4411 closed\"")]
    Lock {
        #[command(subcommand)]
        action: LockAction,
    },
    /// Take away a lock nobody keeps alive (stale, stopped) or a manual one, on the record
    Unlock {
        /// The lock's id, as `relctl lock status` and the refusal show it (lk-…)
        lock_id: String,
        /// Why (recorded): e.g. "runner i-0abc terminated; release finished by hand"
        #[arg(long, required = true)]
        reason: String,
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
    },
    /// Print the runbook format as a JSON Schema, for editors: `relctl schema > relctl.schema.json`
    Schema,
    /// Print a shell completion script: `source <(relctl completions bash)`
    Completions {
        /// The shell to complete in
        shell: clap_complete::Shell,
    },
    /// Print relctl's manual page, or a subcommand's (roff): `relctl man resume > relctl-resume.1`
    Man {
        /// The subcommand whose page to print (the pages relctl(1) refers to)
        subcommand: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct Gates {
    /// Never prompt; confirms and gates are answered only by --approve
    #[arg(long)]
    pub non_interactive: bool,

    /// Approve a confirm or gate by step id, or `all` (repeatable)
    #[arg(long, value_name = "ID|all")]
    pub approve: Vec<String>,

    /// Who is answering [default: RELCTL_ACTOR, GITHUB_ACTOR, BUILD_USER_ID, the OS user]
    #[arg(long = "as", value_name = "NAME")]
    pub actor: Option<String>,

    /// Why a gate approved by its own id goes ahead over failed checks (an
    /// override; only where the gate has `allow_override: true`)
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    pub file: PathBuf,

    /// Set a var: KEY=VALUE (repeatable)
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,

    #[command(flatten)]
    pub gates: Gates,

    /// Walk the plan without changing anything: run steps are shown, not run
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub reports: Reports,

    /// Start outside the runbook's release windows or in a freeze; needs
    /// --reason, and is journaled
    #[arg(long)]
    pub override_window: bool,

    #[command(flatten)]
    pub lock: LockWait,
}

#[derive(Debug, Args)]
pub struct LockWait {
    /// With shared state, wait this long (e.g. 10m) for a live run holding
    /// the lock to finish; never for a manual, stopped or stale lock
    #[arg(long, value_name = "DURATION")]
    pub lock_wait: Option<String>,
}

#[derive(Debug, Args)]
pub struct Reports {
    /// Write a report when the run ends: junit=PATH, json=PATH or markdown=PATH (repeatable)
    #[arg(long = "report", value_name = "FORMAT=PATH")]
    pub report: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The run to continue [default: the latest unfinished run]
    pub run_id: Option<String>,

    /// The runbook whose state dir to read
    #[arg(long, short = 'f')]
    pub runbook: Option<PathBuf>,

    #[command(flatten)]
    pub gates: Gates,

    #[command(flatten)]
    pub reports: Reports,

    /// Re-run a step that was interrupted mid-way (step id or key, repeatable)
    #[arg(long, value_name = "STEP")]
    pub rerun: Vec<String>,

    /// Treat a step that was interrupted mid-way as done (step id or key, repeatable)
    #[arg(long, value_name = "STEP")]
    pub assume_done: Vec<String>,

    /// Go on from a journal with lines that cannot be trusted (edited, or
    /// unreadable), from what could be read; the choice is journaled
    #[arg(long)]
    pub accept_damaged_journal: bool,

    /// End the processes a killed run's step left running (SIGTERM to their
    /// process group, SIGKILL after 5 s) instead of waiting for them
    #[arg(long)]
    pub stop_leftovers: bool,

    #[command(flatten)]
    pub lock: LockWait,
}

#[derive(Debug, Subcommand)]
pub enum LockAction {
    /// Show the lock of a runbook (or every lock under --state) and its recent history
    Status {
        /// The runbook (its name, and its `state:`)
        #[arg(long, short = 'f')]
        runbook: Option<PathBuf>,
        /// The runbook's name, without the file
        #[arg(long)]
        name: Option<String>,
    },
    /// Lock a runbook by hand: no run starts until it is released
    Acquire {
        /// Why, shown to everyone refused: e.g. "incident 4411: freeze"
        #[arg(long, short = 'm', required = true)]
        message: String,
        #[arg(long, short = 'f')]
        runbook: Option<PathBuf>,
        #[arg(long)]
        name: Option<String>,
        /// Who locks it [default: RELCTL_ACTOR, GITHUB_ACTOR, BUILD_USER_ID, the OS user]
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
    },
    /// Release a manual lock
    Release {
        #[arg(long, short = 'f')]
        runbook: Option<PathBuf>,
        #[arg(long)]
        name: Option<String>,
        /// Why (recorded)
        #[arg(long)]
        reason: Option<String>,
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
