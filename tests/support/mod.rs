//! Drives the real binary in a temp dir: write a runbook, run relctl, assert
//! on exit code, stdout, stderr and the journal.

#![allow(dead_code)]

pub mod cloudwatch;
pub mod ecs;
pub mod http_server;
pub mod jenkins;
pub mod moto;
pub mod prometheus;
pub mod s3_faults;
pub mod slack;
pub mod slack_reads;
pub mod tcp_proxy;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_relctl");

pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: &Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing the output when it differs.
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "exit code\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }

    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name)).unwrap_or_default()
    }

    /// A command for the binary, run in the sandbox, with a clean, non-CI environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(self.path())
            .env_remove("CI")
            .env_remove("RELCTL_ACTOR")
            .env_remove("GITHUB_ACTOR")
            .env_remove("BUILD_USER_ID")
            .env_remove("RELCTL_STATE_DIR")
            .env("NO_COLOR", "1")
            .env("RELCTL_LOCK_DIR", self.path().join("locks"))
            // This sandbox's own index of runs, not the user's.
            .env("XDG_STATE_HOME", self.path().join("xdg-state"))
            .env("USER", "tester")
            .stdin(Stdio::null());
        c
    }

    pub fn relctl(&self, args: &[&str]) -> Run {
        Run::from(&self.cmd(args).output().expect("run relctl"))
    }

    pub fn relctl_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.cmd(args);
        for (k, v) in env {
            c.env(k, v);
        }
        Run::from(&c.output().expect("run relctl"))
    }

    /// Like [`Sandbox::relctl_env`], but a relctl still running after a
    /// generous bound is killed and the test fails, instead of hanging the
    /// suite (a poll loop that never ends is the bug it would show).
    pub fn relctl_bounded(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        finish(self.start(args, env))
    }

    /// relctl started in the background, its output kept, for a test that
    /// acts while it runs (answers in Slack, kills it); [`finish`] waits.
    pub fn start(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
        let mut c = self.cmd(args);
        for (k, v) in env {
            c.env(k, v);
        }
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        c.spawn().expect("start relctl")
    }

    /// The run directory of the only (or latest) run.
    pub fn run_dir(&self) -> PathBuf {
        self.path().join(".relctl/runs").join(self.latest_run_id())
    }

    /// The journal events of the only (or latest) run, as JSON values.
    pub fn journal(&self) -> Vec<serde_json::Value> {
        let runs = self.path().join(".relctl/runs");
        let mut dirs: Vec<_> = std::fs::read_dir(&runs).expect("runs dir").filter_map(Result::ok).map(|e| e.path()).collect();
        dirs.sort();
        let text = std::fs::read_to_string(dirs.last().expect("a run").join("journal.jsonl")).unwrap();
        text.lines().map(|l| serde_json::from_str(l).expect("journal line is JSON")).collect()
    }

    pub fn journal_text(&self) -> String {
        let runs = self.path().join(".relctl/runs");
        let mut out = String::new();
        for e in std::fs::read_dir(&runs).into_iter().flatten().filter_map(Result::ok) {
            for f in ["journal.jsonl", "output.log"] {
                out.push_str(&std::fs::read_to_string(e.path().join(f)).unwrap_or_default());
            }
        }
        out
    }

    pub fn latest_run_id(&self) -> String {
        let runs = self.path().join(".relctl/runs");
        let mut ids: Vec<String> = std::fs::read_dir(&runs)
            .expect("runs dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        ids.sort();
        ids.pop().expect("a run")
    }
}

/// Events of one kind, in order.
pub fn events<'a>(journal: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    journal.iter().filter(|e| e["event"] == kind).collect()
}

/// The `step_finished` event of the step with journal key `key` in the
/// latest run.
pub fn finished(sb: &Sandbox, key: &str) -> serde_json::Value {
    let j = sb.journal();
    events(&j, "step_finished").into_iter().find(|e| e["key"] == key).unwrap_or_else(|| panic!("{key} finished")).clone()
}

/// The message a step finished with.
pub fn step_message(sb: &Sandbox, key: &str) -> String {
    finished(sb, key)["message"].as_str().unwrap_or_default().to_string()
}

/// The advice recorded with a step's failure, apart from its message.
pub fn step_hint(sb: &Sandbox, key: &str) -> String {
    finished(sb, key)["help"].as_str().unwrap_or_default().to_string()
}

/// The terminal state the journal recorded.
pub fn final_state(journal: &[serde_json::Value]) -> String {
    events(journal, "run_finished").last().map(|e| e["state"].as_str().unwrap().to_string()).unwrap_or_default()
}

/// Waits for a relctl started with [`Sandbox::start`]; one still running
/// after a generous bound is killed and the test fails, instead of hanging
/// the suite (a poll loop that never ends is the bug it would show).
pub fn finish(child: std::process::Child) -> Run {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(120)) {
        Ok(out) => Run::from(&out.expect("wait for relctl")),
        Err(_) => {
            // SAFETY: signalling a process this test started.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
            panic!("relctl (pid {pid}) did not finish within 120s");
        }
    }
}

/// Polls until `f` holds (bounded), for coordination with a running process.
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A directory served by python3's http.server on a free port (an app's
/// health files, an Artifactory layout), until dropped.
pub struct Served {
    child: std::process::Child,
    pub url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve_dir(dir: &Path) -> Served {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("python3")
        .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("http.server answers", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    Served { child, url: format!("http://127.0.0.1:{port}") }
}

/// Recording stand-ins for pg_dump, psql and pg_restore in the sandbox's
/// bin/ (each call appended to $PG_LOG; pg_dump writes the file it is given).
pub fn pg_tools(sb: &Sandbox) {
    const PG: &str = r#"#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$PG_LOG"
for a in "$@"; do case "$a" in --file=*) echo dump > "${a#--file=}" ;; esac; done
"#;
    for tool in ["pg_dump", "psql", "pg_restore"] {
        let path = sb.write(&format!("bin/{tool}"), PG);
        Command::new("chmod").arg("+x").arg(path).status().unwrap();
    }
}
