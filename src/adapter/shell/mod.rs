//! `run`: a shell command, run by bash (or sh) in the runbook's directory.
//!
//! Values substituted into the command are shell-quoted. The command runs in
//! its own process group, so a timeout or an interrupt stops everything it
//! started, and Ctrl-C at the terminal reaches relctl, not the command.
//! Outputs are `KEY=VALUE` lines written to the file named by `$RELCTL_OUTPUT`.
//! A simple command (one program, plain words) runs without a shell
//! ([`direct`]), which halves what a step costs.

mod direct;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::os::unix::process::ExitStatusExt;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::expr::Template;
use crate::step::schema;
use crate::step::{
    Action, AdapterError, BoxFuture, Outcome, ParseContext, ProcessRecord, STOP_GRACE, StepFailure, StepKind, StepResult,
    StepRun, StepSpec, group_alive, signal_group, template_map,
};

pub struct RunKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shell {
    Bash,
    Sh,
}

#[derive(Debug)]
struct RunAction {
    command: Template,
    /// The command's words when it needs no shell.
    direct: Option<Vec<Template>>,
    env: Vec<(String, Template)>,
    dir: Option<Template>,
    shell: Shell,
}

impl StepKind for RunKind {
    fn name(&self) -> &'static str {
        "run"
    }

    fn sibling_keys(&self) -> &'static [&'static str] {
        &["env", "dir", "shell"]
    }

    fn schema(&self) -> serde_json::Value {
        schema::text("a shell command; values from expressions reach it as environment variables, never as code")
    }

    fn sibling_schema(&self) -> Vec<(&'static str, serde_json::Value)> {
        vec![
            ("env", schema::template_map("environment variables for the command")),
            ("dir", schema::template("the directory to run in, relative to the runbook's")),
            (
                "shell",
                serde_json::json!({ "enum": ["bash", "sh"], "default": "bash", "description": "the shell that runs the command" }),
            ),
        ]
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>> {
        if spec.value.as_str().is_none() {
            cx.diagnostics().push(
                Diagnostic::new(spec.value.span, format!("`run` takes a shell command, found {}", spec.value.type_name()))
                    .hint("e.g. `run: ./scripts/deploy.sh ${{ vars.version }}`"),
            );
            return None;
        }
        let command = cx.template(spec.value, "`run`")?;

        let env = template_map(spec.sibling("env"), "env", "env", cx);
        let dir = spec.sibling("dir").and_then(|n| cx.template(n, "`dir`"));
        let shell = match spec.sibling("shell").map(|n| (n, n.as_str())) {
            None | Some((_, Some("bash"))) => Shell::Bash,
            Some((_, Some("sh"))) => Shell::Sh,
            Some((n, _)) => {
                cx.diagnostics().push(Diagnostic::new(n.span, "unknown shell").hint("`shell` is `bash` (the default) or `sh`"));
                Shell::Bash
            }
        };
        let direct = direct::words(&command);
        Some(Arc::new(RunAction { command, direct, env, dir, shell }))
    }
}

impl Action for RunAction {
    fn describe(&self) -> String {
        self.command.display()
    }

    fn execute<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, StepResult> {
        Box::pin(self.run(run))
    }
}

impl RunAction {
    async fn run(&self, run: &StepRun<'_>) -> StepResult {
        let mut cwd = run.env.info().workdir.clone();
        if let Some(dir) = &self.dir {
            cwd = cwd.join(run.env.render(dir)?);
        }
        if !cwd.is_dir() {
            return Err(StepFailure::refused(format!("`dir` {} is not a directory", cwd.display())));
        }
        let output_file = output_path(run);
        let cannot_start =
            |e: std::io::Error| StepFailure::refused(format!("cannot start {:?} in {}: {e}", self.shell, cwd.display()));
        let child = match &self.direct {
            None => self.prepare(run, self.shell_command(run)?, &cwd, &output_file)?.spawn().map_err(cannot_start)?,
            Some(words) => {
                let argv: Vec<String> = words.iter().map(|w| run.env.render(w)).collect::<Result<_, _>>()?;
                // A relative path names a file in the step's directory, as it would for the shell.
                let program = if argv[0].contains('/') { cwd.join(&argv[0]) } else { PathBuf::from(&argv[0]) };
                let mut cmd = Command::new(&program);
                cmd.args(&argv[1..]);
                match self.prepare(run, cmd, &cwd, &output_file)?.spawn() {
                    Ok(child) => child,
                    // What bash says, and exits with, for a program it cannot run.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(AdapterError::Command(format!("exited with code 127: {}: command not found", argv[0])).into());
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                        return Err(AdapterError::Command(format!("exited with code 126: {}: Permission denied", argv[0])).into());
                    }
                    // A script without `#!`: bash runs it as a shell script.
                    Err(e) if e.raw_os_error() == Some(libc::ENOEXEC) => {
                        self.prepare(run, self.shell_command(run)?, &cwd, &output_file)?.spawn().map_err(cannot_start)?
                    }
                    Err(e) => return Err(cannot_start(e)),
                }
            }
        };
        follow(run, child, &output_file).await
    }

    /// The command run by the step's shell, values passed as environment variables.
    fn shell_command(&self, run: &StepRun<'_>) -> Result<Command, StepFailure> {
        let (command, values) = run.env.render_shell(&self.command)?;
        let mut c = match self.shell {
            Shell::Bash => {
                let mut c = Command::new("bash");
                c.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &command]);
                c
            }
            Shell::Sh => {
                let mut c = Command::new("sh");
                c.args(["-ec", &command]);
                c
            }
        };
        c.envs(values);
        Ok(c)
    }

    /// Everything but the program: directory, environment, pipes, its own process group.
    fn prepare(
        &self,
        run: &StepRun<'_>,
        mut cmd: Command,
        cwd: &std::path::Path,
        output_file: &std::path::Path,
    ) -> Result<Command, StepFailure> {
        cmd.current_dir(cwd)
            // What bash would set: a program run without it inherits relctl's.
            .env("PWD", cwd)
            .env("RELCTL_OUTPUT", output_file)
            .env("RELCTL_RUN_ID", &run.env.info().run_id)
            .env("RELCTL_ACTOR", &run.env.info().actor)
            .env("RELCTL_STEP", run.key)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        for (k, t) in &self.env {
            cmd.env(k, run.env.render(t)?);
        }
        Ok(cmd)
    }
}

/// Streams the command's output into the step and waits for it to end.
async fn follow(run: &StepRun<'_>, mut child: tokio::process::Child, output_file: &std::path::Path) -> StepResult {
    let guard = ProcessGroup::register(child.id());
    // Journaled before anything is read from it: if relctl is killed, a
    // resumed run finds these processes still running and waits for them
    // (or ends them) instead of starting the step again beside them.
    if let Some(record) = guard.pgid.and_then(ProcessRecord::of_group) {
        run.env.process_started(run.key, &record)?;
    }
    let last_err = Arc::new(Mutex::new(String::new()));
    // Both pipes feed one channel; lines are logged from this task, so the
    // step's output stays in order per pipe and on the step's task.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut forward = Vec::new();
    if let Some(out) = child.stdout.take() {
        forward.push(pump(BufReader::new(out), None, tx.clone()));
    }
    if let Some(err) = child.stderr.take() {
        forward.push(pump(BufReader::new(err), Some(last_err.clone()), tx.clone()));
    }
    drop(tx);
    let status = loop {
        tokio::select! {
            line = rx.recv() => match line {
                Some(l) => run.log(&l),
                None => break child.wait().await,
            },
            status = child.wait() => break status,
        }
    };
    guard.finished();
    // A command may leave a background process holding its stdout; do not
    // wait for that past a short grace period.
    let drain = async {
        while let Some(l) = rx.recv().await {
            run.log(&l);
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(300), drain).await;
    for f in forward {
        f.abort();
    }
    let outputs = read_outputs(output_file);
    let _ = std::fs::remove_file(output_file);
    let status = status.map_err(|e| StepFailure::from(AdapterError::Command(format!("waiting for the command failed: {e}"))))?;
    if status.success() {
        return Ok(Outcome { outputs, summary: None });
    }
    let why = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "failed".to_string(),
    };
    let tail = last_err.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    let message = if tail.trim().is_empty() { why } else { format!("{why}: {}", tail.trim()) };
    Err(StepFailure { error: AdapterError::Command(message), outputs })
}

/// Reads lines from one pipe into `tx`; remembers the last stderr line.
fn pump<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    mut reader: BufReader<R>,
    last: Option<Arc<Mutex<String>>>,
    tx: tokio::sync::mpsc::UnboundedSender<String>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            // Bytes, not UTF-8 lines: one stray byte must not stop the reading
            // (the command would die of SIGPIPE mid-work).
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                buf.pop();
            }
            let line = String::from_utf8_lossy(&buf).into_owned();
            if let Some(last) = &last
                && !line.trim().is_empty()
            {
                last.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone_from(&line);
            }
            if tx.send(line).is_err() {
                break;
            }
        }
    })
}

fn output_path(run: &StepRun<'_>) -> PathBuf {
    let name = format!("{}-{}.{}.out", run.key, run.attempt, std::process::id());
    match &run.env.info().run_dir {
        Some(d) => d.join(name),
        None => std::env::temp_dir().join(format!("relctl-{}-{name}", run.env.info().run_id)),
    }
}

/// `KEY=VALUE` lines, and GitHub-style `KEY<<EOF` ... `EOF` blocks.
fn read_outputs(path: &std::path::Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(path) else { return out };
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((key, delim)) = line.split_once("<<")
            && !key.contains('=')
        {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                value.push(l);
            }
            out.insert(key.trim().to_string(), value.join("\n"));
            continue;
        }
        if let Some((k, v)) = line.split_once('=')
            && !k.trim().is_empty()
        {
            out.insert(k.trim().to_string(), v.to_string());
        }
    }
    out
}

static RUNNING: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Groups sent SIGTERM and not yet seen gone, with their SIGKILL deadline.
static STOPPING: Mutex<Vec<(i32, std::time::Instant)>> = Mutex::new(Vec::new());

fn alive(pgid: i32) -> bool {
    group_alive(pgid)
}

fn kill_group(pgid: i32) {
    signal_group(pgid, libc::SIGKILL);
}

/// Waits, before relctl exits, for every stopped step's processes to end:
/// SIGKILL for a group still there when its grace period is over. Without
/// it, a step that ignores SIGTERM outlived relctl, still changing things
/// beside a resumed run.
pub fn settle() {
    loop {
        let now = std::time::Instant::now();
        let mut stopping = STOPPING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        stopping.retain(|(pgid, deadline)| {
            if !alive(*pgid) {
                return false;
            }
            if now >= *deadline {
                kill_group(*pgid);
                return false;
            }
            true
        });
        if stopping.is_empty() {
            return;
        }
        drop(stopping);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills the process group of a command that did not finish (timeout,
/// interrupt), including anything it started.
struct ProcessGroup {
    pgid: Option<i32>,
    done: bool,
}

impl ProcessGroup {
    fn register(pid: Option<u32>) -> ProcessGroup {
        // The child leads its own group (process_group(0)): its pid is the group id.
        let group = pid.map(|p| p as i32);
        if let Some(g) = group {
            RUNNING.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(g);
        }
        ProcessGroup { pgid: group, done: false }
    }

    fn finished(mut self) {
        self.done = true;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(p) = self.pgid {
            RUNNING.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|x| *x != p);
            if !self.done {
                signal_group(p, libc::SIGTERM);
                STOPPING
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push((p, std::time::Instant::now() + STOP_GRACE));
                // While relctl goes on (a timeout, then the rollback), a
                // thread ends what ignored SIGTERM; on exit, `settle` does.
                std::thread::spawn(move || {
                    std::thread::sleep(STOP_GRACE);
                    if alive(p) {
                        kill_group(p);
                    }
                });
            }
        }
    }
}

/// Stops every command still running or being stopped; for an immediate
/// exit (second Ctrl-C).
pub fn kill_all_running() {
    for p in RUNNING.lock().unwrap_or_else(std::sync::PoisonError::into_inner).drain(..) {
        kill_group(p);
    }
    for (p, _) in STOPPING.lock().unwrap_or_else(std::sync::PoisonError::into_inner).drain(..) {
        kill_group(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_support_plain_and_heredoc_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("o");
        std::fs::write(&p, "previous=1.2.2\nnotes<<EOF\nline one\nline=two\nEOF\nbad line\n").unwrap();
        let o = read_outputs(&p);
        assert_eq!(o["previous"], "1.2.2");
        assert_eq!(o["notes"], "line one\nline=two");
        assert_eq!(o.len(), 2);
    }
}
