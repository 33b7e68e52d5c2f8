//! How the engine runs one step, end to end through the binary: retries,
//! timeouts that stop what the step started, `when`, `parallel`, outputs
//! flowing into later steps, and output that is not UTF-8.

use std::time::{Duration, Instant};

use crate::support::*;
use crate::transitions::{finished, ran, run_approved};

#[test]
fn retry_runs_until_the_command_succeeds() {
    let sb = Sandbox::new();
    let run = run_approved(
        &sb,
        "version: 1
name: retry
execute:
  - id: flaky
    retry: { attempts: 3, delay: 10ms }
    run: |
      echo attempt >> attempts.txt
      test $(wc -l < attempts.txt) -ge 3
",
    );
    run.expect_code(0);
    assert_eq!(sb.read("attempts.txt").lines().count(), 3);
    let j = sb.journal();
    let attempts: Vec<_> = events(&j, "step_started").iter().map(|e| e["attempt"].as_u64().unwrap()).collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert_eq!(events(&j, "step_retrying").len(), 2);
    assert_eq!(finished(&j, "execute.0")["status"], "succeeded");
}

#[test]
fn retry_gives_up_after_the_last_attempt() {
    let sb = Sandbox::new();
    let run = run_approved(
        &sb,
        "version: 1
name: retry-exhausted
validate:
  - run: 'true'
execute:
  - retry: { attempts: 2, delay: 10ms }
    run: echo attempt >> attempts.txt; exit 1
",
    );
    run.expect_code(3);
    assert_eq!(sb.read("attempts.txt").lines().count(), 2);
}

/// Whether a process is still running (a zombie waiting to be reaped is not).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

#[test]
fn timeout_fails_the_step_and_kills_what_it_started() {
    let sb = Sandbox::new();
    let started = Instant::now();
    let run = run_approved(
        &sb,
        "version: 1
name: timeout
validate:
  - run: 'true'
execute:
  - id: hang
    timeout: 500ms
    run: |
      sleep 120 &
      echo $! > sleep.pid
      wait
",
    );
    // The sleep is 120s: finishing far sooner proves the timeout, whatever the machine's speed.
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
    run.expect_code(3);
    let j = sb.journal();
    assert_eq!(finished(&j, "execute.0")["message"], "timed out after 500ms");
    let pid = sb.read("sleep.pid").trim().to_string();
    assert!(!pid.is_empty(), "the step wrote its child's pid");
    let deadline = Instant::now() + Duration::from_secs(20);
    while alive(&pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if alive(&pid) {
        let _ = std::process::Command::new("kill").arg("-9").arg(&pid).status();
        panic!("the timed-out step's child {pid} is still running");
    }
}

#[test]
fn when_false_skips_the_step() {
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1
name: when
vars:
  env: staging
execute:
  - id: prod-only
    when: ${{ vars.env == 'prod' }}
    run: echo prod-only >> ran.txt
  - when: ${{ vars.env != 'prod' }}
    run: echo not-prod >> ran.txt
",
    );
    let run = sb.relctl(&["run", "release.yaml", "--non-interactive"]);
    run.expect_code(0);
    assert_eq!(ran(&sb), ["not-prod"]);
    let j = sb.journal();
    assert_eq!(finished(&j, "execute.0")["status"], "skipped");
    assert_eq!(finished(&j, "execute.1")["status"], "succeeded");

    let run = sb.relctl(&["run", "release.yaml", "--non-interactive", "--var", "env=prod"]);
    run.expect_code(0);
    assert_eq!(ran(&sb), ["not-prod", "prod-only"]);
}

#[test]
fn parallel_children_run_at_the_same_time() {
    let sb = Sandbox::new();
    // Each child waits (bounded) for the other's marker: run one after the
    // other, the first would give up and fail.
    let run = run_approved(
        &sb,
        "version: 1
name: parallel
execute:
  - id: both
    parallel:
      - id: left
        run: |
          touch left.ready
          for i in $(seq 600); do [ -f right.ready ] && exit 0; sleep 0.1; done
          exit 1
      - id: right
        run: |
          touch right.ready
          for i in $(seq 600); do [ -f left.ready ] && exit 0; sleep 0.1; done
          exit 1
  - run: echo after >> ran.txt
",
    );
    run.expect_code(0);
    assert_eq!(ran(&sb), ["after"]);
    let j = sb.journal();
    assert_eq!(finished(&j, "execute.0.0")["status"], "succeeded");
    assert_eq!(finished(&j, "execute.0.1")["status"], "succeeded");
    assert_eq!(finished(&j, "execute.0")["status"], "succeeded");
}

#[test]
fn failing_parallel_child_fails_the_block() {
    let sb = Sandbox::new();
    let run = run_approved(
        &sb,
        "version: 1
name: parallel-fails
validate:
  - run: 'true'
execute:
  - parallel:
      - name: good
        run: echo good >> ran.txt
      - name: bad
        run: exit 1
  - run: echo after >> ran.txt
",
    );
    run.expect_code(3);
    assert_eq!(ran(&sb), ["good"]);
    let j = sb.journal();
    assert_eq!(finished(&j, "execute.0")["message"], "1 of 2 parallel steps failed: bad");
}

#[test]
fn step_outputs_flow_into_later_commands() {
    let sb = Sandbox::new();
    let run = run_approved(
        &sb,
        "version: 1
name: outputs
execute:
  - id: record
    run: |
      echo previous=1.4.2 >> \"$RELCTL_OUTPUT\"
      printf 'notes<<EOF\\nline one\\nline two\\nEOF\\n' >> \"$RELCTL_OUTPUT\"
  - run: echo rollback-target ${{ steps.record.outputs.previous }} >> ran.txt
  - run: echo ${{ steps.record.outputs.notes }} >> ran.txt
",
    );
    run.expect_code(0);
    assert_eq!(ran(&sb), ["rollback-target 1.4.2", "line one", "line two"]);
    let j = sb.journal();
    let outputs = &finished(&j, "execute.0")["outputs"];
    assert_eq!(outputs["previous"], "1.4.2");
    assert_eq!(outputs["notes"], "line one\nline two");
}

#[test]
fn output_that_is_not_utf8_does_not_stop_the_step() {
    let sb = Sandbox::new();
    let run = run_approved(
        &sb,
        "version: 1
name: bytes
execute:
  - run: |
      printf 'caf\\xe9\\n'
      for i in $(seq 20000); do echo $i; done
      echo done >> ran.txt
",
    );
    run.expect_code(0);
    assert_eq!(ran(&sb), ["done"]);
    assert!(run.stdout.contains("caf\u{fffd}"), "invalid bytes are shown as U+FFFD");
}
