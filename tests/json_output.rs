//! Machine-readable and pipe-friendly output: `--output json` is nothing but
//! JSON events on stdout, and `--output plain` / `-q` never emit terminal
//! escapes, even where colours would otherwise be forced.

use crate::support::*;

const RUNBOOK: &str = "version: 1
name: output
checklist:
  - id: ready
    confirm: Ready?
execute:
  - name: Deploy
    run: echo deploying; echo some warning >&2
validate:
  - name: Check
    run: echo checking
  - id: go
    gate: Go?
finalize:
  - name: Announce
    run: echo announcing; exit 1
";

/// Runs RUNBOOK approved, with colour not disabled by the environment.
fn run_output(sb: &Sandbox, extra: &[&str], env: &[(&str, &str)]) -> Run {
    sb.write("release.yaml", RUNBOOK);
    let mut args = vec!["run", "release.yaml", "--non-interactive", "--approve", "all"];
    args.extend_from_slice(extra);
    let mut cmd = sb.cmd(&args);
    cmd.env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn json_output_is_one_event_per_line_from_run_started_to_run_finished() {
    let sb = Sandbox::new();
    let run = run_output(&sb, &["--output", "json"], &[]);
    run.expect_code(0);
    let events: Vec<serde_json::Value> =
        run.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}"))).collect();
    assert!(events.iter().all(|e| e["event"].is_string()), "every line has an `event`");
    assert_eq!(events.first().unwrap()["event"], "run_started");
    let last = events.last().unwrap();
    assert_eq!(last["event"], "run_finished");
    assert_eq!(last["state"], "released_with_warnings");
    assert_eq!(last["exit_code"], 0);
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    for kind in ["state_entered", "step_started", "step_log", "step_finished", "decision"] {
        assert!(kinds.contains(&kind), "no {kind} in {kinds:?}");
    }
    assert!(
        events.iter().any(|e| e["event"] == "step_log" && e["line"] == "some warning"),
        "stderr of a step arrives as a step_log event"
    );
    // The journal holds the same events, step output lines aside, each
    // chained to the line before it (`prev`).
    let journal: Vec<serde_json::Value> = sb
        .journal()
        .into_iter()
        .map(|mut e| {
            assert!(e.as_object_mut().unwrap().remove("prev").is_some(), "a journal line without `prev`: {e}");
            e
        })
        .collect();
    let without_logs: Vec<&serde_json::Value> = events.iter().filter(|e| e["event"] != "step_log").collect();
    assert_eq!(without_logs.len(), journal.len());
    assert!(without_logs.iter().zip(&journal).all(|(a, b)| *a == b));
}

#[test]
fn json_output_for_a_rejected_runbook_keeps_stdout_clean() {
    let sb = Sandbox::new();
    sb.write("release.yaml", "version: 1\nname: bad\nexecute:\n  - htpp: x\n");
    let run = sb.relctl(&["run", "release.yaml", "--output", "json"]);
    run.expect_code(2);
    assert_eq!(run.stdout, "", "errors go to stderr");
    assert!(run.stderr.contains("unknown step kind `htpp`"), "{}", run.stderr);
}

fn assert_no_escapes(what: &str, run: &Run) {
    assert!(!run.stdout.contains('\x1b'), "{what}: ANSI escape in stdout:\n{:?}", run.stdout);
    assert!(!run.stderr.contains('\x1b'), "{what}: ANSI escape in stderr:\n{:?}", run.stderr);
}

#[test]
fn plain_output_has_no_ansi_escapes_even_when_colour_is_forced() {
    let sb = Sandbox::new();
    let force = [("CLICOLOR_FORCE", "1"), ("TERM", "xterm-256color")];
    let run = run_output(&sb, &["--output", "plain"], &force);
    run.expect_code(0);
    assert_no_escapes("--output plain", &run);
    assert!(run.stdout.contains("  ✓ Deploy"), "{}", run.stdout);
    assert!(run.stdout.contains("== RELEASED (with warnings) == (exit 0)"), "{}", run.stdout);
}

#[test]
fn quiet_output_has_no_ansi_escapes_and_only_the_essentials() {
    let sb = Sandbox::new();
    let force = [("CLICOLOR_FORCE", "1"), ("TERM", "xterm-256color")];
    let run = run_output(&sb, &["-q"], &force);
    run.expect_code(0);
    assert_no_escapes("-q", &run);
    assert!(!run.stdout.contains("✓ Deploy"), "successful steps are not listed:\n{}", run.stdout);
    assert!(run.stdout.contains("Announce"), "failures are:\n{}", run.stdout);
    assert!(run.stdout.contains("== RELEASED (with warnings) == (exit 0)"), "{}", run.stdout);

    let run = run_output(&sb, &["-q", "--output", "plain"], &force);
    run.expect_code(0);
    assert_no_escapes("-q --output plain", &run);
}
