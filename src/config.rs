//! What the user asked for, resolved from flags and the environment: the
//! only place that reads `CI`, `NO_COLOR`, `TERM`, actor variables and
//! whether stdin/stdout are terminals.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::cli::{self, Cli, OutputFormat};
use crate::question::Identity;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// Live progress bars and colours (a terminal).
    Human,
    /// One line per event.
    Plain,
    /// One JSON event per line.
    Json,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

#[derive(Debug, Clone)]
pub struct Display {
    pub format: OutputMode,
    /// -1 quiet, 0 normal, 1 step output, 2 debug.
    pub verbosity: i8,
    /// False with NO_COLOR (no-color.org: it removes colour, nothing else).
    pub color: bool,
    /// In GitHub Actions (GITHUB_ACTIONS=true): workflow commands in the log.
    pub github: bool,
    /// In GitLab CI (GITLAB_CI=true): collapsible sections in the log.
    pub gitlab: bool,
}

#[derive(Debug, Clone)]
pub struct GateSettings {
    pub interactive: bool,
    pub approve: Vec<String>,
    pub actor: String,
    /// How `actor` was established.
    pub identity: Identity,
    /// `--reason`, for an override.
    pub reason: Option<String>,
}

/// What is written when a run ends, besides the journal.
#[derive(Debug, Clone, Default)]
pub struct Publishing {
    /// `--report FORMAT=PATH`: (junit|json|markdown, path).
    pub reports: Vec<(String, PathBuf)>,
    /// GitHub Actions: the file behind GITHUB_STEP_SUMMARY (the Markdown report is appended).
    pub step_summary: Option<PathBuf>,
    /// GitHub Actions: the file behind GITHUB_OUTPUT (run_id, outcome, exit_code).
    pub outputs: Option<PathBuf>,
}

/// Shared state between machines (`--state s3://…`) and how its lock behaves.
#[derive(Debug, Clone)]
pub struct Shared {
    /// `--state` or RELCTL_STATE; when absent, the runbook's `state:` decides.
    pub location: Option<crate::state::Location>,
    /// How long a run's lock lasts without renewal: RELCTL_LOCK_LEASE [default: 2m].
    pub lease: std::time::Duration,
    /// `--lock-wait`.
    pub wait: Option<std::time::Duration>,
    /// The CI job running relctl, if any: shown to whoever the lock refuses.
    pub ci_job_url: Option<String>,
}

/// `relctl lock …` and `relctl unlock`.
#[derive(Debug)]
pub enum LockRequest {
    Status { runbook: Option<PathBuf>, name: Option<String> },
    Acquire { runbook: Option<PathBuf>, name: Option<String>, message: String, actor: String },
    Release { runbook: Option<PathBuf>, name: Option<String>, reason: Option<String>, actor: String },
    Unlock { lock_id: String, reason: String, actor: String },
}

pub const REPORT_FORMATS: [&str; 3] = ["junit", "json", "markdown"];

#[derive(Debug)]
pub struct RunRequest {
    pub file: PathBuf,
    pub lock_dir: PathBuf,
    pub vars: Vec<(String, String)>,
    pub gates: GateSettings,
    pub dry_run: bool,
    pub state_dir: PathBuf,
    pub publishing: Publishing,
    pub override_window: bool,
    /// The time the release windows are checked at: now, or RELCTL_NOW
    /// (RFC 3339) to rehearse a release at another time.
    pub now: jiff::Timestamp,
    pub shared: Shared,
}

#[derive(Debug)]
pub struct ResumeRequest {
    pub run_id: Option<String>,
    pub lock_dir: PathBuf,
    pub state_dir: PathBuf,
    /// The state dir was named (-f or --state-dir): no looking elsewhere.
    pub state_explicit: bool,
    pub gates: GateSettings,
    pub rerun: Vec<String>,
    pub assume_done: Vec<String>,
    pub accept_damage: bool,
    pub stop_leftovers: bool,
    pub publishing: Publishing,
    pub shared: Shared,
    /// `-f`: the runbook file (on a machine that never saw the run, where it is).
    pub runbook_file: Option<PathBuf>,
}

#[derive(Debug)]
pub struct AbandonRequest {
    pub run_id: String,
    pub reason: String,
    pub actor: String,
    pub state_dir: PathBuf,
    pub state_explicit: bool,
    pub lock_dir: PathBuf,
    pub shared: Shared,
}

#[derive(Debug)]
pub enum Request {
    Run(RunRequest),
    Validate(Vec<PathBuf>),
    Plan {
        file: PathBuf,
        vars: Vec<(String, String)>,
    },
    Resume(ResumeRequest),
    Status {
        run_id: Option<String>,
        state_dir: PathBuf,
        state_explicit: bool,
        lock_dir: PathBuf,
        shared: Shared,
        runbook: Option<PathBuf>,
    },
    Verify {
        run_id: Option<String>,
        state_dir: PathBuf,
        state_explicit: bool,
        shared: Shared,
        runbook: Option<PathBuf>,
    },
    Abandon(AbandonRequest),
    History {
        state_dir: PathBuf,
        state_explicit: bool,
        shared: Shared,
        runbook: Option<PathBuf>,
    },
    Report {
        run_id: Option<String>,
        format: String,
        state_dir: PathBuf,
        state_explicit: bool,
        shared: Shared,
        runbook: Option<PathBuf>,
    },
    Completions(clap_complete::Shell),
    Man(Option<String>),
    Schema,
    Lock(LockRequest, Shared),
    Init {
        template: Option<String>,
        path: PathBuf,
    },
}

#[derive(Debug)]
pub struct Config {
    pub display: Display,
    /// This user's index of runs (XDG_STATE_HOME/relctl/runs), if there is a home.
    pub index: Option<PathBuf>,
    pub request: Request,
}

impl Config {
    pub fn from_cli(cli: Cli, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, UsageError> {
        let color = env("NO_COLOR").is_none_or(|v| v.is_empty());
        let format = output_mode(cli.output, env);
        let verbosity = if cli.quiet { -1 } else { cli.verbose.min(2) as i8 };
        let state_dir = |runbook: Option<&Path>| match (&cli.state_dir, runbook) {
            (Some(d), _) => d.clone(),
            (None, Some(rb)) => rb.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf).join(".relctl"),
            (None, None) => PathBuf::from(".relctl"),
        };
        // One run per runbook name on this machine, whatever the state dir,
        // the user or their TMPDIR: a fixed, shared place.
        let explicit = |runbook: Option<&Path>| cli.state_dir.is_some() || runbook.is_some();
        let index = run_index(env);
        let lock_dir =
            env("RELCTL_LOCK_DIR").filter(|d| !d.is_empty()).map_or_else(|| PathBuf::from(MACHINE_LOCK_DIR), PathBuf::from);
        let shared_for = |wait: Option<&str>| shared(cli.state.as_deref(), wait, env);
        let request = match cli.command {
            cli::Command::Run(a) => Request::Run(RunRequest {
                lock_dir: lock_dir.clone(),
                state_dir: state_dir(Some(&a.file)),
                vars: parse_vars(&a.vars)?,
                gates: gates(&a.gates, env),
                dry_run: a.dry_run,
                publishing: publishing(&a.reports, env)?,
                override_window: a.override_window,
                now: release_time(env)?,
                shared: shared_for(a.lock.lock_wait.as_deref())?,
                file: a.file,
            }),
            cli::Command::Validate { files } => Request::Validate(files),
            cli::Command::Plan { file, vars } => Request::Plan { vars: parse_vars(&vars)?, file },
            cli::Command::Resume(a) => Request::Resume(ResumeRequest {
                lock_dir,
                state_dir: state_dir(a.runbook.as_deref()),
                state_explicit: explicit(a.runbook.as_deref()),
                gates: gates(&a.gates, env),
                run_id: a.run_id,
                rerun: a.rerun,
                assume_done: a.assume_done,
                accept_damage: a.accept_damaged_journal,
                stop_leftovers: a.stop_leftovers,
                publishing: publishing(&a.reports, env)?,
                shared: shared_for(a.lock.lock_wait.as_deref())?,
                runbook_file: a.runbook.clone(),
            }),
            cli::Command::Status { run_id, runbook } => Request::Status {
                run_id,
                state_dir: state_dir(runbook.as_deref()),
                state_explicit: explicit(runbook.as_deref()),
                lock_dir: lock_dir.clone(),
                shared: shared_for(None)?,
                runbook,
            },
            cli::Command::Verify { run_id, runbook } => Request::Verify {
                run_id,
                state_dir: state_dir(runbook.as_deref()),
                state_explicit: explicit(runbook.as_deref()),
                shared: shared_for(None)?,
                runbook,
            },
            cli::Command::Abandon { run_id, reason, actor: who, runbook } => Request::Abandon(AbandonRequest {
                run_id,
                reason,
                actor: actor(who.as_deref(), env),
                state_dir: state_dir(runbook.as_deref()),
                state_explicit: explicit(runbook.as_deref()),
                lock_dir: lock_dir.clone(),
                shared: shared_for(None)?,
            }),
            cli::Command::History { runbook } => Request::History {
                state_dir: state_dir(runbook.as_deref()),
                state_explicit: explicit(runbook.as_deref()),
                shared: shared_for(None)?,
                runbook,
            },
            cli::Command::Report { run_id, format, runbook } => Request::Report {
                run_id,
                format: report_format(format)?,
                state_dir: state_dir(runbook.as_deref()),
                state_explicit: explicit(runbook.as_deref()),
                shared: shared_for(None)?,
                runbook,
            },
            cli::Command::Init { template, path } => {
                Request::Init { template, path: path.unwrap_or_else(|| PathBuf::from("release.yaml")) }
            }
            cli::Command::Completions { shell } => Request::Completions(shell),
            cli::Command::Schema => Request::Schema,
            cli::Command::Lock { action } => Request::Lock(lock_request(action, env)?, shared_for(None)?),
            cli::Command::Unlock { lock_id, reason, actor: who } => {
                if reason.trim().is_empty() {
                    return Err(UsageError("--reason: say why the lock is taken away".into()));
                }
                Request::Lock(LockRequest::Unlock { lock_id, reason, actor: actor(who.as_deref(), env) }, shared_for(None)?)
            }
            cli::Command::Man { subcommand } => Request::Man(subcommand),
        };
        let github = env("GITHUB_ACTIONS").as_deref() == Some("true");
        let gitlab = env("GITLAB_CI").as_deref() == Some("true");
        Ok(Config { display: Display { format, verbosity, color, github, gitlab }, index, request })
    }
}

/// This user's index of runs: XDG_STATE_HOME/relctl/runs (~/.local/state/relctl/runs).
fn run_index(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    env("XDG_STATE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| env("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".local/state")))
        .map(|d| d.join("relctl/runs"))
}

/// Live progress needs a terminal; asked for anyway, it falls back to plain lines.
fn output_mode(asked: Option<OutputFormat>, env: &dyn Fn(&str) -> Option<String>) -> OutputMode {
    let stdout_tty = std::io::stdout().is_terminal();
    let plain_terminal = env("TERM").as_deref() == Some("dumb");
    match asked {
        Some(OutputFormat::Human) | None if stdout_tty && !plain_terminal => OutputMode::Human,
        Some(OutputFormat::Json) => OutputMode::Json,
        _ => OutputMode::Plain,
    }
}

fn report_format(format: String) -> Result<String, UsageError> {
    if REPORT_FORMATS.contains(&format.as_str()) {
        Ok(format)
    } else {
        Err(UsageError(format!("--format {format}: one of {}", REPORT_FORMATS.join(", "))))
    }
}

/// Now, or RELCTL_NOW (RFC 3339) to rehearse a release at another time.
fn release_time(env: &dyn Fn(&str) -> Option<String>) -> Result<jiff::Timestamp, UsageError> {
    match env("RELCTL_NOW").filter(|v| !v.is_empty()) {
        Some(v) => v.parse().map_err(|e| UsageError(format!("RELCTL_NOW={v}: not an RFC 3339 time ({e})"))),
        None => Ok(jiff::Timestamp::now()),
    }
}

fn lock_request(action: cli::LockAction, env: &dyn Fn(&str) -> Option<String>) -> Result<LockRequest, UsageError> {
    Ok(match action {
        cli::LockAction::Status { runbook, name } => LockRequest::Status { runbook, name },
        cli::LockAction::Acquire { message, runbook, name, actor: who } => {
            if message.trim().is_empty() {
                return Err(UsageError("-m: say why the runbook is locked".into()));
            }
            LockRequest::Acquire { runbook, name, message, actor: actor(who.as_deref(), env) }
        }
        cli::LockAction::Release { runbook, name, reason, actor: who } => {
            LockRequest::Release { runbook, name, reason, actor: actor(who.as_deref(), env) }
        }
    })
}

fn shared(state: Option<&str>, wait: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Result<Shared, UsageError> {
    use crate::runbook::duration::parse_duration;
    let location = state
        .filter(|s| !s.is_empty())
        .map(|s| crate::state::Location::parse(s).map_err(|e| UsageError(format!("--state: {e}"))))
        .transpose()?;
    let lease = match env("RELCTL_LOCK_LEASE").filter(|v| !v.is_empty()) {
        Some(v) => parse_duration(&v).map_err(|e| UsageError(format!("RELCTL_LOCK_LEASE={v}: {e}")))?,
        None => crate::state::lock::DEFAULT_LEASE,
    };
    if lease < std::time::Duration::from_secs(1) {
        return Err(UsageError("RELCTL_LOCK_LEASE: a lease shorter than 1s cannot be renewed in time".into()));
    }
    let wait = wait.map(|w| parse_duration(w).map_err(|e| UsageError(format!("--lock-wait {w}: {e}")))).transpose()?;
    Ok(Shared { location, lease, wait, ci_job_url: ci_job_url(env) })
}

/// The URL of the CI job running relctl: GitHub Actions, GitLab CI, Jenkins.
fn ci_job_url(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    if let (Some(server), Some(repo), Some(run)) = (var("GITHUB_SERVER_URL"), var("GITHUB_REPOSITORY"), var("GITHUB_RUN_ID")) {
        return Some(format!("{server}/{repo}/actions/runs/{run}"));
    }
    var("CI_JOB_URL").or_else(|| var("BUILD_URL"))
}

/// `--report` values, and in GitHub Actions the step summary and outputs files.
fn publishing(r: &cli::Reports, env: &dyn Fn(&str) -> Option<String>) -> Result<Publishing, UsageError> {
    let mut reports = Vec::new();
    for value in &r.report {
        let Some((format, path)) = value.split_once('=').filter(|(f, p)| REPORT_FORMATS.contains(f) && !p.is_empty()) else {
            return Err(UsageError(format!(
                "--report {value}: expected FORMAT=PATH with FORMAT one of {}",
                REPORT_FORMATS.join(", ")
            )));
        };
        reports.push((format.to_string(), PathBuf::from(path)));
    }
    let github = env("GITHUB_ACTIONS").as_deref() == Some("true");
    let file = |name: &str| env(name).filter(|v| github && !v.is_empty()).map(PathBuf::from);
    Ok(Publishing { reports, step_summary: file("GITHUB_STEP_SUMMARY"), outputs: file("GITHUB_OUTPUT") })
}

fn gates(g: &cli::Gates, env: &dyn Fn(&str) -> Option<String>) -> GateSettings {
    let ci = env("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
    let interactive = !g.non_interactive && !ci && std::io::stdin().is_terminal();
    let (actor, identity) = actor_identity(g.actor.as_deref(), env);
    GateSettings {
        interactive,
        approve: g.approve.clone(),
        actor,
        identity,
        reason: g.reason.clone().filter(|r| !r.trim().is_empty()),
    }
}

/// Where runs take their locks unless RELCTL_LOCK_DIR says otherwise: the
/// same for every user of the machine (not under TMPDIR, not per user), so
/// two people cannot release the same runbook at once from one machine.
const MACHINE_LOCK_DIR: &str = "/tmp/relctl-locks";

/// `--as`, else RELCTL_ACTOR, else the CI system's user, else the OS user.
pub fn actor(flag: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> String {
    actor_identity(flag, env).0
}

/// The actor, and how that name was established (every decision records it).
pub fn actor_identity(flag: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> (String, Identity) {
    if let Some(a) = flag.filter(|a| !a.is_empty()) {
        return (a.to_string(), Identity::Asserted);
    }
    let sources = [
        ("RELCTL_ACTOR", Identity::Asserted),
        // Set by the CI system from the account that started the job.
        ("GITHUB_ACTOR", Identity::Ci),
        ("GITLAB_USER_LOGIN", Identity::Ci),
        ("BUILD_USER_ID", Identity::Ci),
        ("USER", Identity::Terminal),
        ("LOGNAME", Identity::Terminal),
    ];
    for (var, identity) in sources {
        if let Some(v) = env(var).filter(|v| !v.is_empty()) {
            return (v, identity);
        }
    }
    (os_user().unwrap_or_else(|| "unknown".to_string()), Identity::Terminal)
}

fn os_user() -> Option<String> {
    // SAFETY: getpwuid returns a pointer into static storage or null; it is
    // read immediately, on this thread, before any other passwd call.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if pw.is_null() || (*pw).pw_name.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr((*pw).pw_name).to_str().ok().map(str::to_string)
    }
}

pub fn parse_vars(raw: &[String]) -> Result<Vec<(String, String)>, UsageError> {
    raw.iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
            _ => Err(UsageError(format!("--var {kv}: expected KEY=VALUE"))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_order_is_flag_then_relctl_then_ci() {
        let env = |k: &str| match k {
            "RELCTL_ACTOR" => Some("rel".to_string()),
            "GITHUB_ACTOR" => Some("gh".to_string()),
            _ => None,
        };
        assert_eq!(actor(Some("alice"), &env), "alice");
        assert_eq!(actor(None, &env), "rel");
        let env = |k: &str| (k == "GITHUB_ACTOR").then(|| "gh".to_string());
        assert_eq!(actor(None, &env), "gh");
    }

    #[test]
    fn vars_need_an_equals_sign() {
        assert_eq!(parse_vars(&["a=b=c".into()]).unwrap(), vec![("a".into(), "b=c".into())]);
        assert!(parse_vars(&["nope".into()]).is_err());
    }
}
