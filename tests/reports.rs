//! What people read after and during a run, compared whole: the plain
//! progress output, `status` and `history`. Times, durations, run ids and
//! the sandbox path are replaced by placeholders; everything else, stray
//! lines included, must match the snapshot.

use crate::support::*;

const RELEASE: &str = "version: 1
name: snap
vars:
  version: 1.2.3
checklist:
  - id: ready
    confirm: Ready to release ${{ vars.version }}?
execute:
  - id: deploy
    run: echo deploying ${{ vars.version }}
  - run: echo second
validate:
  - name: health
    run: test ! -f broken.txt
  - id: go
    gate: Go?
rollback:
  - run: rm broken.txt
finalize:
  - run: echo done
";

/// Replaces what changes from run to run: `YYYY-MM-DDTHH:MM:SS.mmmZ`,
/// `(12ms)`-style durations, the run id and the sandbox path.
fn normalize(text: &str, sb: &Sandbox) -> String {
    let text = text.replace(&sb.latest_run_id(), "[RUN]").replace(&sb.path().display().to_string(), "[DIR]");
    let mut out = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let rest: String = chars[i..chars.len().min(i + 24)].iter().collect();
        if is_timestamp(&rest) {
            out.push_str("[TIME]");
            i += 24;
            continue;
        }
        if chars[i] == '(' {
            let end = chars[i + 1..].iter().position(|c| *c == ')').map(|p| i + 1 + p);
            if let Some(end) = end {
                let inner: String = chars[i + 1..end].iter().collect();
                if !inner.is_empty()
                    && inner.starts_with(|c: char| c.is_ascii_digit())
                    && inner.chars().all(|c| c.is_ascii_digit() || "hms.".contains(c))
                {
                    out.push_str("([DURATION])");
                    i = end + 1;
                    continue;
                }
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// A release; `broken` makes the health check fail until the rollback.
fn release(sb: &Sandbox, broken: bool) -> Run {
    sb.write("release.yaml", RELEASE);
    if broken {
        sb.write("broken.txt", "");
    }
    sb.relctl(&["run", "release.yaml", "--non-interactive", "--approve", "all", "--output", "plain"])
}

#[test]
fn plain_progress_of_a_release_reads_as_the_snapshot() {
    let sb = Sandbox::new();
    let run = release(&sb, false);
    run.expect_code(0);
    insta::assert_snapshot!("plain_released", normalize(&run.stdout, &sb));
}

#[test]
fn plain_progress_of_a_rollback_reads_as_the_snapshot() {
    let sb = Sandbox::new();
    let run = release(&sb, true);
    run.expect_code(3);
    insta::assert_snapshot!("plain_rolled_back", normalize(&run.stdout, &sb));
}

#[test]
fn status_and_history_of_a_rollback_read_as_the_snapshot() {
    let sb = Sandbox::new();
    release(&sb, true).expect_code(3);
    let status = sb.relctl(&["status", "-f", "release.yaml"]);
    status.expect_code(0);
    insta::assert_snapshot!("status_rolled_back", normalize(&status.stdout, &sb));
    let history = sb.relctl(&["history", "-f", "release.yaml"]);
    history.expect_code(0);
    insta::assert_snapshot!("history_one_rollback", normalize(&history.stdout, &sb));
}

#[test]
fn the_normalizer_replaces_only_what_changes() {
    let sb = Sandbox::new();
    sb.write(".relctl/runs/20261201-101500-ab12/journal.jsonl", "");
    let text = "run 20261201-101500-ab12 at 2026-12-01T10:15:00.123Z  ✓ deploy  (12ms) (1m30s) (exit 3) (see docs)";
    assert_eq!(normalize(text, &sb), "run [RUN] at [TIME]  ✓ deploy  ([DURATION]) ([DURATION]) (exit 3) (see docs)");
}
