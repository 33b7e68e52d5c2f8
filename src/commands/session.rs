//! `run` and `resume`: everything around the engine — the lock, the run
//! directory and journal, observers, prompts and signals — and nothing of
//! what happens inside a run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;

use crate::adapter;
use crate::config::{AbandonRequest, Display, GateSettings, OutputMode, ResumeRequest, RunRequest};
use crate::engine::approval::ApprovalPolicy;
use crate::engine::driver::{Engine, EngineConfig, RunEnd, Wiring};
use crate::engine::journal::{Journal, JournalError};
use crate::engine::lock::{Holder, LockError, RunLock};
use crate::engine::replay::Replay;
use crate::engine::run_dir::{OUTPUT_LOG, RUNBOOK_COPY, RunDir, RunIndex};
use crate::error::AppError;
use crate::event::{Event, Observer, now};
use crate::exit::ExitCode;
use crate::plan::Plan;
use crate::question::Prompter;
use crate::redact::Redactor;
use crate::runbook;
use crate::ui;

/// Writes to stderr, ignoring failure (the terminal may be gone after SIGHUP).
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub async fn run(req: RunRequest, display: &Display, index: Option<&RunIndex>) -> Result<i32, AppError> {
    let registry = adapter::registry();
    let rb = runbook::load(&req.file, &registry)?;
    let plan = Plan::build(Arc::new(rb), &req.vars, &|k| std::env::var(k).ok(), !req.dry_run)?;
    plan.check_approvals(&req.gates.approve)?;
    // With --override-window, --reason is the window override's reason.
    if !req.override_window {
        plan.check_override(&req.gates.approve, req.gates.reason.as_deref())?;
    }
    if !req.dry_run {
        plan.check_actor(&req.gates.actor)?;
    }
    let window_override = match plan.runbook.schedule.check(req.now) {
        Ok(()) => None,
        Err(closed) if req.dry_run => {
            note!("note: a real run now would be refused: the release is {}", closed.why);
            None
        }
        Err(closed) if req.override_window => match &req.gates.reason {
            Some(reason) => Some((closed.why, reason.clone())),
            None => {
                return Err(crate::config::UsageError("--override-window needs --reason TEXT: why release now".into()).into());
            }
        },
        Err(closed) => return Err(AppError::Closed(closed)),
    };
    let runbook_path =
        std::fs::canonicalize(&req.file).map_err(AppError::io(format!("cannot resolve {}", req.file.display())))?;
    let workdir = runbook_path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);

    if req.dry_run {
        let session =
            Session { display, gates: &req.gates, run_id: "dry-run".into(), run_dir: None, dry_run: true, window_override: None };
        return session.drive(plan, workdir, None, None, None).await;
    }

    let state_dir = &std::path::absolute(&req.state_dir).map_err(AppError::io("cannot resolve the state dir"))?;
    std::fs::create_dir_all(state_dir).map_err(AppError::io(format!("cannot create state dir {}", state_dir.display())))?;
    let run_dir =
        RunDir::create(state_dir).map_err(AppError::io(format!("cannot create a run directory in {}", state_dir.display())))?;
    // Found again from any directory (a failure only costs that convenience).
    if let Some(index) = index
        && let Err(e) = index.record(&run_dir.id, state_dir)
    {
        tracing::warn!("cannot record the run in the run index: {e}");
    }
    let locked =
        RunLock::acquire(&req.lock_dir, &plan.runbook.name, &holder(&run_dir.id, &req.gates.actor, &req.file)).and_then(|lock| {
            match unfinished_run(state_dir, &plan.runbook.name) {
                Some((run_id, state)) => Err(LockError::Unfinished { name: plan.runbook.name.clone(), run_id, state }),
                None => Ok(lock),
            }
        });
    let lock = match locked {
        Ok(l) => l,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&run_dir.path);
            return Err(e.into());
        }
    };
    // With shared state, the runbook's lock in the store too: one run across machines.
    let shared_run = match super::shared::lock_run(&req.shared, &plan.runbook, &run_dir.id, &req.gates.actor, false).await {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&run_dir.path);
            return Err(e);
        }
    };
    std::fs::write(run_dir.path.join(RUNBOOK_COPY), &plan.runbook.source)
        .map_err(AppError::io(format!("cannot write {}", run_dir.path.display())))?;
    let mut plan = plan;
    Arc::make_mut(&mut plan.runbook).path = runbook_path;
    let journal = match &shared_run {
        None => Journal::open(&run_dir.path)?,
        // The runbook, the index entry and every journal line go to the store.
        Some(s) => match s.start(&plan.runbook, &req.gates.actor).await {
            Ok(()) => s.mirror(&run_dir.path).await?,
            Err(e) => {
                let _ = s.held.release().await;
                let _ = std::fs::remove_dir_all(&run_dir.path);
                return Err(e);
            }
        },
    };
    let session = Session::recorded(display, &req.gates, &run_dir, window_override);
    let runbook = Arc::clone(&plan.runbook);
    let code = session.drive(plan, workdir, Some(journal), None, shared_run.as_ref().map(|s| &s.held)).await;
    if let Some(s) = &shared_run {
        s.finish(&run_dir.path).await;
        super::shared::unlock_after(&s.held, code.as_ref().ok().copied(), &runbook, &run_dir.path).await;
    }
    drop(lock);
    finish_hint(code.as_ref().ok().copied(), &run_dir, state_dir, display);
    publish(&run_dir, &req.publishing);
    code
}

pub async fn resume(req: ResumeRequest, display: &Display) -> Result<i32, AppError> {
    let state_dir = &std::path::absolute(&req.state_dir).map_err(AppError::io("cannot resolve the state dir"))?;
    let run_dir = match &req.run_id {
        Some(id) => super::shared::find_run(&req.shared, req.runbook_file.as_deref(), state_dir, id).await?,
        None => latest_resumable(state_dir)?,
    };
    super::shared::catch_up(&req.shared, req.runbook_file.as_deref(), &run_dir).await?;
    let replay = Replay::load(&run_dir.path)?;
    let journal_path = run_dir.path.join(crate::engine::journal::FILE_NAME);
    if !replay.damage.is_empty() && !req.accept_damage {
        return Err(JournalError::Damaged { path: journal_path, damage: replay.damage.clone() }.into());
    }
    if let Some((state, at)) = &replay.finished {
        return Err(AppError::NotFound(format!("run {} already finished at {at}: {}", run_dir.id, state.label())));
    }
    if let Some((actor, reason, at)) = &replay.abandoned {
        return Err(AppError::NotFound(format!(
            "run {} was abandoned at {at} by {actor} ({reason}); it is not resumed",
            run_dir.id
        )));
    }
    let registry = adapter::registry();
    let copy = run_dir.path.join(RUNBOOK_COPY);
    let source = std::fs::read_to_string(&copy).map_err(AppError::io(format!("cannot read {}", copy.display())))?;
    let original = original_runbook(&replay.path, req.runbook_file.as_deref(), &run_dir.id)?;
    let mut rb = runbook::load_str(&copy, &source, &registry)?;
    if std::fs::read_to_string(&original).is_ok_and(|now| now != source) {
        note!(
            "warning: {} changed since this run started; resuming with the runbook as it was ({})",
            original.display(),
            copy.display()
        );
    }
    rb.path = original.clone();
    let mut vars = replay.vars.clone();
    // A var that held a secret was journaled masked: read the secret again.
    for (name, secret) in &replay.secret_vars {
        let value = (!secret.is_empty()).then(|| std::env::var(secret).ok()).flatten().filter(|v| !v.is_empty());
        match value {
            Some(v) => {
                vars.insert(name.clone(), v);
            }
            None if secret.is_empty() => {
                return Err(AppError::NotFound(format!(
                    "var `{name}` held a secret, which the journal does not keep, so this run cannot be resumed with it"
                )));
            }
            None => {
                return Err(AppError::NotFound(format!(
                    "var `{name}` is the secret {secret}, which the journal does not keep: export {secret} and resume again"
                )));
            }
        }
    }
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    let plan = Plan::build(Arc::new(rb), &vars, &|k| std::env::var(k).ok(), true)?;
    plan.check_approvals(&req.gates.approve)?;
    plan.check_override(&req.gates.approve, req.gates.reason.as_deref())?;
    plan.check_resume_flags(&req.rerun, &req.assume_done)?;
    let workdir = original.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let lock = RunLock::acquire(&req.lock_dir, &plan.runbook.name, &holder(&run_dir.id, &req.gates.actor, &original))?;
    let shared_run = super::shared::lock_run(&req.shared, &plan.runbook, &run_dir.id, &req.gates.actor, true).await?;
    let journal = match &shared_run {
        None => Journal::open(&run_dir.path)?,
        Some(s) => s.resume_journal(&run_dir.path).await?,
    };
    let session = Session::recorded(display, &req.gates, &run_dir, None);
    let accepted: Vec<String> = replay.damage.iter().map(ToString::to_string).collect();
    let resuming = Resuming {
        replay,
        rerun: req.rerun,
        assume_done: req.assume_done,
        accepted_damage: accepted,
        stop_leftovers: req.stop_leftovers,
    };
    let runbook = Arc::clone(&plan.runbook);
    let code = session.drive(plan, workdir, Some(journal), Some(resuming), shared_run.as_ref().map(|s| &s.held)).await;
    if let Some(s) = &shared_run {
        s.finish(&run_dir.path).await;
        super::shared::unlock_after(&s.held, code.as_ref().ok().copied(), &runbook, &run_dir.path).await;
    }
    drop(lock);
    finish_hint(code.as_ref().ok().copied(), &run_dir, state_dir, display);
    publish(&run_dir, &req.publishing);
    code
}

/// Where the run's runbook is: where it was started from, or, for a run
/// started on another machine, the file given with -f here (steps run in
/// its directory).
fn original_runbook(started_from: &str, given: Option<&Path>, run_id: &str) -> Result<PathBuf, AppError> {
    let original = PathBuf::from(started_from);
    if original.parent().is_some_and(Path::is_dir) {
        return Ok(original);
    }
    match given {
        Some(f) => std::fs::canonicalize(f).map_err(AppError::io(format!("cannot resolve {}", f.display()))),
        None => Err(AppError::NotFound(format!(
            "run {run_id} started from {}, which is not on this machine: give -f PATH/TO/RUNBOOK (steps run in its directory)",
            original.display()
        ))),
    }
}

/// What `resume` brings to a session: the journal's account of the run and
/// what the person said about it.
struct Resuming {
    replay: Replay,
    rerun: Vec<String>,
    assume_done: Vec<String>,
    accepted_damage: Vec<String>,
    stop_leftovers: bool,
}

struct Session<'a> {
    display: &'a Display,
    gates: &'a GateSettings,
    run_id: String,
    run_dir: Option<PathBuf>,
    dry_run: bool,
    /// Started outside the release windows on purpose: (why closed, reason).
    window_override: Option<(String, String)>,
}

impl<'a> Session<'a> {
    /// A run with a run directory and a journal (not a dry run).
    fn recorded(
        display: &'a Display,
        gates: &'a GateSettings,
        run_dir: &RunDir,
        window_override: Option<(String, String)>,
    ) -> Session<'a> {
        Session {
            display,
            gates,
            run_id: run_dir.id.clone(),
            run_dir: Some(run_dir.path.clone()),
            dry_run: false,
            window_override,
        }
    }
}

impl Session<'_> {
    async fn drive(
        &self,
        plan: Plan,
        workdir: PathBuf,
        journal: Option<Journal>,
        resuming: Option<Resuming>,
        shared_lock: Option<&Arc<crate::state::lock::Held>>,
    ) -> Result<i32, AppError> {
        let (replay, rerun, assume_done, accepted_damage, stop_leftovers) = match resuming {
            Some(r) => (Some(r.replay), r.rerun, r.assume_done, r.accepted_damage, r.stop_leftovers),
            None => (None, Vec::new(), Vec::new(), Vec::new(), false),
        };
        if self.display.github {
            // Before anything else is printed: GitHub masks these in the log.
            for value in plan.secrets.values().filter(|v| !v.trim().is_empty()) {
                for line in value.lines().filter(|l| !l.trim().is_empty()) {
                    println!("::add-mask::{}", ui::plain::data(line));
                }
            }
        }
        let mut observers: Vec<Arc<dyn Observer>> = Vec::new();
        let mut progress = None;
        match self.display.format {
            OutputMode::Human => {
                let t = ui::terminal::TerminalOutput::new(self.display.verbosity);
                progress = Some(t.progress());
                observers.push(Arc::new(t));
            }
            OutputMode::Plain => {
                let github = self.display.github.then(|| step_places(&plan));
                let gitlab = self.display.gitlab;
                observers.push(Arc::new(ui::plain::PlainOutput { verbosity: self.display.verbosity, github, gitlab }));
            }
            OutputMode::Json => observers.push(Arc::new(ui::json::JsonOutput)),
        }
        if let Some(dir) = &self.run_dir {
            let log = ui::output_log::OutputLog::create(&dir.join(OUTPUT_LOG))
                .map_err(AppError::io(format!("cannot create {}", dir.join(OUTPUT_LOG).display())))?;
            observers.push(Arc::new(log));
        }
        let prompter: Option<Arc<dyn Prompter>> = self
            .gates
            .interactive
            .then(|| Arc::new(ui::prompt::TerminalPrompter { progress: progress.clone() }) as Arc<dyn Prompter>);
        let (cancel, _) = watch::channel(false);
        crate::interrupt::install(cancel.clone(), self.gates.interactive, progress, self.run_id.clone());
        // A lock that cannot be kept stops the run before its next step.
        let keeper = shared_lock.map(|held| {
            let cancel = cancel.clone();
            held.keep_alive(move |why| {
                note!("relctl: {why}\nStopping the run before its next step: nothing runs without the lock.");
                let _ = cancel.send(true);
            })
        });
        let cfg = EngineConfig {
            run_id: self.run_id.clone(),
            actor: self.gates.actor.clone(),
            workdir,
            run_dir: self.run_dir.clone(),
            policy: ApprovalPolicy {
                interactive: self.gates.interactive,
                approve: self.gates.approve.clone(),
                reason: self.gates.reason.clone(),
                dry_run: self.dry_run,
            },
            rerun,
            assume_done,
            accepted_damage,
            stop_leftovers,
            window_override: self.window_override.clone(),
            identity: self.gates.identity,
        };
        let wiring = Wiring { observers, journal, prompter, redactor: Arc::new(Redactor::default()), cancel };
        let engine = Engine::new(plan, cfg, wiring, replay);
        let end = engine.run().await;
        if let Some(k) = keeper {
            k.stop().await;
        }
        Ok(match end? {
            RunEnd::Finished(state) => state.exit_code().code(),
            RunEnd::Interrupted(state) => state.exit_code().code(),
        })
    }
}

/// An earlier run of `runbook` that neither finished nor was abandoned:
/// until it is, the runbook does not run again (a kill frees the OS lock at
/// once, while the release is still half done).
fn unfinished_run(state_dir: &Path, runbook: &str) -> Option<(String, String)> {
    RunDir::list(state_dir).into_iter().rev().find_map(|dir| {
        let replay = Replay::load(&dir.path).ok()?;
        (replay.runbook == runbook && replay.is_resumable()).then(|| (dir.id.clone(), replay.state.label().to_string()))
    })
}

/// `relctl abandon`: gives up an unfinished run, on the record, so its
/// runbook may run again. Refused while the run is live (it holds the lock).
pub async fn abandon(req: &AbandonRequest) -> Result<i32, AppError> {
    let state_dir = &std::path::absolute(&req.state_dir).map_err(AppError::io("cannot resolve the state dir"))?;
    let run_dir = RunDir::open(state_dir, &req.run_id).ok_or_else(|| {
        AppError::NotFound(format!("no run `{}` in {}; `relctl history` lists runs", req.run_id, state_dir.display()))
    })?;
    let replay = Replay::load(&run_dir.path)?;
    if !replay.is_resumable() {
        return Err(AppError::NotFound(format!("run {} has already ended; there is nothing to abandon", run_dir.id)));
    }
    let runbook = PathBuf::from(&replay.path);
    let _lock = RunLock::acquire(&req.lock_dir, &replay.runbook, &holder(&run_dir.id, &req.actor, &runbook))?;
    // With shared state: refused while the run is live elsewhere; its lock goes with it.
    let copy = run_dir.path.join(RUNBOOK_COPY);
    let state = std::fs::read_to_string(&copy)
        .ok()
        .and_then(|source| runbook::load_str(&copy, &source, &adapter::registry()).ok())
        .and_then(|rb| rb.state);
    let shared = match req.shared.location.clone().or(state) {
        Some(location) => {
            let store = crate::state::store::Store::connect(location).await.map_err(crate::state::lock::LockError::from)?;
            let found = crate::state::lock::check_abandonable(&store, &replay.runbook, &run_dir.id).await?;
            Some((store, found))
        }
        None => None,
    };
    let journal = Journal::open(&run_dir.path)?;
    let event = Event::RunAbandoned { actor: req.actor.clone(), reason: req.reason.clone(), at: now() };
    journal.append(&event, crate::engine::journal::Durability::Now)?;
    if let Some((store, Some(found))) = &shared {
        let who = super::shared::who(&req.actor, &req.shared);
        crate::state::lock::release_abandoned(store, found, &who, &req.reason).await?;
    }
    note!(
        "run {} of `{}` abandoned by {}: {}. It will not be resumed; `{}` may run again. What it changed stays as it is.",
        run_dir.id,
        replay.runbook,
        req.actor,
        req.reason,
        replay.runbook
    );
    Ok(0)
}

/// The latest run, if it can be resumed. An older unfinished run is not
/// picked up behind a newer one (that could redeploy an old version after
/// a newer release); it is named, to be resumed by id if that is meant.
fn latest_resumable(state_dir: &Path) -> Result<RunDir, AppError> {
    let runs = RunDir::list(state_dir);
    let Some(latest) = runs.last() else {
        return Err(AppError::NotFound(format!(
            "no unfinished run in {}; pass --state-dir or -f RUNBOOK to look elsewhere",
            state_dir.display()
        )));
    };
    let replay = Replay::load(&latest.path)?;
    if replay.is_resumable() {
        return Ok(latest.clone());
    }
    let older: Vec<String> = runs[..runs.len() - 1]
        .iter()
        .filter_map(|d| {
            Replay::load(&d.path).ok().filter(Replay::is_resumable).map(|r| format!("{} ({})", d.id, r.state.label()))
        })
        .collect();
    let ended = replay.finished.as_ref().map_or("ended".to_string(), |(s, _)| format!("ended {}", s.label()));
    let mut message = format!("no unfinished run in {}: the latest run, {}, {ended}", state_dir.display(), latest.id);
    if !older.is_empty() {
        message.push_str(&format!(
            "; older unfinished runs (resume one by id only if that is really meant, it started before the latest): {}",
            older.join(", ")
        ));
    }
    Err(AppError::NotFound(message))
}

fn holder(run_id: &str, actor: &str, runbook: &Path) -> Holder {
    let host = crate::step::ProcessRecord::this_host();
    Holder {
        run_id: run_id.into(),
        actor: actor.into(),
        pid: std::process::id(),
        host,
        since: now(),
        runbook: runbook.display().to_string(),
    }
}

fn finish_hint(code: Option<i32>, run_dir: &RunDir, state_dir: &Path, display: &Display) {
    if display.format == OutputMode::Json {
        return;
    }
    let path = run_dir.path.join(crate::engine::journal::FILE_NAME);
    let reading = Journal::read(&path).ok();
    if display.verbosity >= 0 || code != Some(ExitCode::Released.code()) {
        let (events, last) = reading.as_ref().map_or((&[][..], ""), |r| (&r.events[..], r.last_hash.as_str()));
        note!("{}", super::summary::recap(events, &path, &run_dir.path.join(OUTPUT_LOG), last, &run_dir.id));
    }
    // An override is said again at the very end, where nobody can miss it.
    for e in reading.iter().flat_map(|r| &r.events) {
        if let Event::Decision { id, key, actor, comment, overridden, .. } = e
            && !overridden.is_empty()
        {
            let why = comment.as_deref().unwrap_or("no reason given");
            let gate = id.as_deref().unwrap_or(key);
            note!("OVERRIDE: gate `{gate}` went ahead over failed checks ({}) by {actor}: {why}", overridden.join(", "));
        }
    }
    let resume = format!("relctl resume {} --state-dir {}", run_dir.id, state_dir.display());
    match code {
        Some(c) if c == ExitCode::Interrupted.code() => note!("The run can be resumed: {resume}"),
        Some(c) if c == ExitCode::RollbackFailed.code() => {
            note!("A human is needed: the rollback failed or could not be verified. Journal: {}", path.display());
        }
        None => note!("Fix the problem above, then continue with: {resume}"),
        _ => {}
    }
}

/// Writes the reports asked for and, in GitHub Actions, the step summary
/// and outputs. A report that cannot be written is said, and changes
/// nothing about the run's outcome.
fn publish(run_dir: &RunDir, p: &crate::config::Publishing) {
    use std::io::Write as _;
    if p.reports.is_empty() && p.step_summary.is_none() && p.outputs.is_none() {
        return;
    }
    let (events, places) = match super::reports::facts(&run_dir.path) {
        Ok(f) => f,
        Err(e) => {
            note!("warning: no report: {e}");
            return;
        }
    };
    let facts = super::reports::RunFacts { events: &events, places };
    for (format, path) in &p.reports {
        let Some(f) = super::reports::Format::parse(format) else { continue };
        if let Err(e) = std::fs::write(path, facts.render(f)) {
            note!("warning: cannot write the {format} report to {}: {e}", path.display());
        }
    }
    let append = |path: &Path, text: &str| {
        std::fs::OpenOptions::new().create(true).append(true).open(path).and_then(|mut f| f.write_all(text.as_bytes()))
    };
    if let Some(path) = &p.step_summary
        && let Err(e) = append(path, &facts.render(super::reports::Format::Markdown))
    {
        note!("warning: cannot append to GITHUB_STEP_SUMMARY ({}): {e}", path.display());
    }
    if let Some(path) = &p.outputs {
        let (state, code) = events
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::RunFinished { state, exit_code, .. } => Some((state.label().to_string(), *exit_code)),
                Event::Interrupted { .. } => Some(("INTERRUPTED".to_string(), ExitCode::Interrupted.code())),
                _ => None,
            })
            .unwrap_or_else(|| ("NOT FINISHED".to_string(), ExitCode::NeedsDecision.code()));
        let outcome = state.to_lowercase().replace(' ', "_");
        if let Err(e) = append(path, &format!("run_id={}\noutcome={outcome}\nexit_code={code}\n", run_dir.id)) {
            note!("warning: cannot append to GITHUB_OUTPUT ({}): {e}", path.display());
        }
    }
}

/// Where each planned step is in the runbook (file relative to here, line).
fn step_places(plan: &Plan) -> std::collections::BTreeMap<String, (String, u32)> {
    fn walk(steps: &[crate::plan::PlannedStep], file: &str, out: &mut std::collections::BTreeMap<String, (String, u32)>) {
        for p in steps {
            out.insert(p.key.clone(), (file.to_string(), p.step.span.line));
            walk(&p.children, file, out);
        }
    }
    let path = &plan.runbook.path;
    let file = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| path.display().to_string());
    let mut out = std::collections::BTreeMap::new();
    for stage in &plan.stages {
        walk(&stage.steps, &file, &mut out);
        walk(&stage.gates, &file, &mut out);
    }
    out
}
