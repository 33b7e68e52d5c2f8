//! The terminal's look, through a pseudo-terminal: NO_COLOR removes colour
//! and nothing else (no-color.org), so the live progress stays.

use rexpect::session::spawn_command;

use crate::support::*;

const SLOW: &str = "version: 1\nname: tty-look\nexecute:\n  - id: bake\n    run: sleep 1.5\n";

/// Everything relctl wrote to the terminal for a run of SLOW.
fn screen(no_color: bool) -> String {
    let sb = Sandbox::new();
    sb.write("release.yaml", SLOW);
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["run", "release.yaml"])
        .current_dir(sb.path())
        .env_remove("CI")
        .env_remove("NO_COLOR")
        .env("TERM", "xterm-256color")
        .env("RELCTL_LOCK_DIR", sb.path().join("locks"))
        .env("XDG_STATE_HOME", sb.path().join("xdg-state"))
        .env("USER", "tester");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let mut p = spawn_command(cmd, Some(30_000)).unwrap();
    p.exp_eof().unwrap()
}

/// The screen's text with the terminal's control sequences (colour,
/// cursor moves, erase-line) taken out.
fn without_escapes(raw: &str) -> String {
    let mut screen = String::new();
    let mut rest = raw;
    while let Some(at) = rest.find("\u{1b}[") {
        screen.push_str(&rest[..at]);
        rest = rest[at..].find(|c: char| c.is_ascii_alphabetic()).map_or("", |m| &rest[at + m + 1..]);
    }
    screen.push_str(rest);
    screen
}

/// An SGR sequence that sets a colour or boldness (ESC [ … m with 1 or 30–37).
fn has_colour(text: &str) -> bool {
    text.split('\u{1b}').skip(1).any(|seq| {
        seq.strip_prefix('[')
            .and_then(|s| s.split_once('m'))
            .is_some_and(|(params, _)| params.split(';').any(|p| p == "1" || (p.len() == 2 && p.starts_with('3') && p != "39")))
    })
}

#[test]
fn no_color_keeps_the_live_progress_and_drops_only_the_colour() {
    let coloured = screen(false);
    assert!(has_colour(&coloured), "a terminal gets colour by default:\n{coloured:?}");
    let plain = screen(true);
    assert!(!has_colour(&plain), "NO_COLOR: no colour:\n{plain:?}");
    // Live progress: the spinner redraws its line in place (erase-line), as without NO_COLOR.
    assert!(coloured.contains("\u{1b}[2K"), "{coloured:?}");
    assert!(plain.contains("\u{1b}[2K"), "NO_COLOR kept the live progress:\n{plain:?}");
    assert!(plain.contains("RELEASED"), "{plain:?}");
}

#[test]
fn a_gate_after_only_a_bake_does_not_claim_that_checks_passed() {
    // Before: "All validation checks passed." with no check at all.
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1\nname: bake-only\nexecute:\n  - run: 'true'\nvalidate:\n  - wait: 100ms\n  - id: go\n    gate: Go?\n",
    );
    let mut p = crate::pty::spawn(&sb, &["run", "release.yaml"]);
    p.exp_string("No validation check ran (validate holds only waits)").unwrap();
    p.exp_string("Go?").unwrap();
    crate::pty::press(&mut p, "");
    p.exp_string("Comment for the record").unwrap();
    crate::pty::press(&mut p, "");
    p.exp_eof().unwrap();
}

#[test]
fn a_bake_shows_the_time_left_and_steps_show_their_timeout() {
    // Before: a 20 s bake showed "⠋ Bake 3s": no time left, no timeout.
    let sb = Sandbox::new();
    sb.write("release.yaml", "version: 1\nname: bake-left\nexecute:\n  - run: 'true'\nvalidate:\n  - name: Bake\n    wait: 2s\n");
    let mut p = crate::pty::spawn(&sb, &["run", "release.yaml"]);
    let screen = without_escapes(&p.exp_eof().unwrap());
    assert!(screen.contains("Bake (timeout 1m2s)"), "{screen:?}");
    assert!(screen.contains(" of 2s, ") && screen.contains("s left"), "{screen:?}");
}

#[test]
fn validate_errors_are_coloured_in_a_terminal_and_plain_with_no_color() {
    let sb = Sandbox::new();
    sb.write("bad.yaml", "version: 1\nname: bad\nexecute:\n  - htpp: x\n");
    let mut p = crate::pty::spawn(&sb, &["validate", "bad.yaml"]);
    let coloured = p.exp_eof().unwrap();
    assert!(coloured.contains("\u{1b}[31m\u{1b}[1merror:"), "red error in a terminal: {coloured:?}");
    assert!(coloured.contains("unknown step kind `htpp`"), "{coloured:?}");
    // Not a terminal (a CI log): the same text, no colour.
    let r = sb.relctl(&["validate", "bad.yaml"]);
    assert!(!r.stderr.contains('\u{1b}') && r.stderr.contains("error: unknown step kind"), "{}", r.stderr);
}

#[test]
fn a_failed_attempts_spinner_does_not_tick_on_through_the_retry_delay() {
    // Before: attempt 1's spinner stayed, counting up through the delay
    // beside attempt 2's, which showed 0s.
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1\nname: flaky\nexecute:\n  - name: flaky\n    retry: { attempts: 2, delay: 1500ms }\n    run: exit 1\n",
    );
    let mut p = crate::pty::spawn(&sb, &["run", "release.yaml"]);
    let screen = without_escapes(&p.exp_eof().unwrap());
    assert!(screen.contains("retrying in 1.5s"), "{screen:?}");
    assert!(!screen.contains("flaky 1s"), "the first attempt's spinner ticked on: {screen:?}");
    assert!(screen.contains("flaky (attempt 2)"), "{screen:?}");
}
