//! What a person's terminal shows after answering: the run's output played
//! through a terminal emulator (vt100) of the size the pty says, so lines a
//! prompt failed to clear are seen as they would be on screen.

use rexpect::session::{PtySession, spawn_command};

use crate::pty::{exit_code, person_at_a_terminal, press};
use crate::support::*;

/// Questions longer than 80 columns: each wraps onto a second screen row.
const LONG_QUESTIONS: &str = r#"
version: 1
name: wrap-release
approvers:
  release_managers: [alice]
checklist:
  - id: approval
    confirm: "Have the change board, the security reviewer and the on-call engineer all approved this release?"
execute:
  - run: "true"
validate:
  - id: go
    gate: "Go / no-go for wrap-release: are the error rate, the latency and the business metrics within their limits?"
    approvers: release_managers
"#;

/// relctl in a pty of `cols` columns, as `stty` sets it for a real terminal.
fn spawn_sized(sb: &Sandbox, cols: u16, args: &[&str]) -> PtySession {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(format!("stty cols {cols} rows 40 && exec \"$0\" \"$@\"")).arg(BIN).args(args);
    spawn_command(person_at_a_terminal(cmd, sb), Some(30_000)).expect("spawn relctl in a pty")
}

/// The screen's rows after playing `output` on a terminal `cols` wide.
fn screen_rows(output: &str, cols: u16) -> Vec<String> {
    let nz = |n: u16| std::num::NonZeroU16::new(n).unwrap();
    let mut parser = vt100::Parser::new(nz(400), nz(cols), 0);
    // rexpect hands back each byte read as one char: undo that for UTF-8.
    let bytes: Vec<u8> = output.chars().map(|c| u8::try_from(u32::from(c)).expect("one byte per char")).collect();
    parser.process(&bytes);
    parser.screen().rows(0, cols).map(|r| r.trim_end().to_string()).filter(|r| !r.is_empty()).collect()
}

#[test]
fn a_question_wider_than_the_terminal_leaves_no_duplicated_lines_when_answered() {
    let sb = Sandbox::new();
    sb.write("release.yaml", LONG_QUESTIONS);
    let mut p = spawn_sized(&sb, 80, &["run", "release.yaml", "--as", "alice"]);
    let mut seen = String::new();
    seen += &p.exp_string("all approved this").unwrap();
    // The y/n answer is drawn again as it is typed (wait_for_newline).
    p.send("n").unwrap();
    p.send("y").unwrap();
    press(&mut p, "");
    seen += &p.exp_string("within their").unwrap();
    // Each arrow key redraws the question and its choices.
    for key in ["\x1b[B", "\x1b[A", "\x1b[B", "\x1b[A"] {
        p.send(key).unwrap();
    }
    press(&mut p, "");
    seen += &p.exp_string("Comment for the record").unwrap();
    press(&mut p, "metrics fine");
    seen += &p.exp_eof().unwrap();
    assert_eq!(exit_code(&p), 0, "{seen}");
    let rows = screen_rows(&seen, 80);
    let count = |needle: &str| rows.iter().filter(|r| r.contains(needle)).count();
    let screen = rows.join("\n");
    assert_eq!(count("[alice] Have the change board"), 1, "the answered confirm is on screen once:\n{screen}");
    assert_eq!(count("[alice] Go / no-go for wrap-release"), 1, "the answered gate is on screen once:\n{screen}");
    assert_eq!(count("No-go: roll back"), 0, "the choices are cleared once answered:\n{screen}");
}
