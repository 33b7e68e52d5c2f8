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
    // Before: step_log and step_retrying lines had no timestamp, and nothing said which schema.
    assert!(events.iter().all(|e| e["schema_version"] == 1 && e["at"].as_str().is_some_and(|a| a.ends_with('Z'))), "{events:?}");
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
    let without_logs: Vec<serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] != "step_log")
        .map(|e| {
            let mut e = e.clone();
            e.as_object_mut().unwrap().remove("schema_version");
            e
        })
        .collect();
    assert_eq!(without_logs.len(), journal.len());
    for (a, b) in without_logs.iter().zip(&journal) {
        // The journal keeps some events without a time; the output adds one.
        let mut a = a.clone();
        if b.get("at").is_none() {
            a.as_object_mut().unwrap().remove("at");
        }
        assert_eq!(&a, b);
    }
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

#[test]
fn validate_plan_status_and_history_answer_in_one_json_document_with_a_schema_version() {
    // Before: `--output json` was in their help, and they printed text.
    let sb = Sandbox::new();
    sb.write("release.yaml", "version: 1\nname: docs\nexecute:\n  - id: deploy\n    run: echo hi\n");
    sb.write("broken.yaml", "version: 1\nname: bad\nexecute:\n  - htpp: x\n");
    let doc = |args: &[&str], code: i32| -> serde_json::Value {
        let r = sb.relctl(args);
        r.expect_code(code);
        let v: serde_json::Value = serde_json::from_str(r.stdout.trim())
            .unwrap_or_else(|e| panic!("{args:?}: not one JSON document ({e}): {}", r.stdout));
        assert_eq!(v["schema_version"], 1, "{v}");
        v
    };
    let v = doc(&["validate", "release.yaml", "broken.yaml", "--output", "json"], 2);
    assert_eq!(v["ok"], false);
    assert_eq!(v["files"][0]["ok"], true);
    assert_eq!(v["files"][1]["problems"][0]["line"], 4, "{v}");
    assert!(v["files"][1]["problems"][0]["message"].as_str().unwrap().contains("htpp"), "{v}");
    let v = doc(&["plan", "release.yaml", "--output", "json"], 0);
    assert_eq!(v["runbook"], "docs");
    let execute = v["stages"].as_array().unwrap().iter().find(|s| s["state"] == "execute").unwrap();
    assert_eq!(execute["steps"][0]["key"], "execute.0");
    assert_eq!(execute["steps"][0]["does"], "echo hi");
    sb.relctl(&["run", "release.yaml", "--non-interactive"]).expect_code(0);
    let v = doc(&["status", "--output", "json"], 0);
    assert_eq!(v["finished"]["state"], "released");
    assert_eq!(v["steps"][0]["key"], "execute.0");
    assert_eq!(v["steps"][0]["status"], "succeeded");
    let v = doc(&["history", "--output", "json"], 0);
    assert_eq!(v["runs"].as_array().unwrap().len(), 1);
    assert_eq!(v["runs"][0]["runbook"], "docs");
}
