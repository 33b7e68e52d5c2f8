//! `relctl completions SHELL` and `relctl man`: generated from the parser
//! itself, and checked with the real consumers (bash's completion machinery,
//! man).

use crate::support::*;

#[test]
fn the_bash_completion_loads_in_bash_and_completes_subcommands_and_flags() {
    let sb = Sandbox::new();
    let r = sb.relctl(&["completions", "bash"]);
    r.expect_code(0);
    sb.write("relctl.bash", &r.stdout);
    let complete = |words: &str, cword: usize| {
        let script = format!(
            "set -e; source ./relctl.bash; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE=\"{words}\"; COMP_POINT=${{#COMP_LINE}}; _relctl relctl \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        let out = std::process::Command::new("bash").arg("-c").arg(&script).current_dir(sb.path()).output().unwrap();
        assert!(out.status.success(), "bash: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(complete("relctl res", 1).trim(), "resume");
    let flags = complete("relctl resume --st", 2);
    assert!(flags.lines().any(|l| l == "--stop-leftovers"), "{flags}");
}

#[test]
fn every_shell_gets_a_completion_script() {
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let r = sb.relctl(&["completions", shell]);
        r.expect_code(0);
        assert!(r.stdout.contains("relctl") && r.stdout.contains("resume"), "{shell}: {}", r.stdout);
    }
    let r = sb.relctl(&["completions", "tcsh"]);
    r.expect_code(2);
}

#[test]
fn the_manual_page_renders_with_man_and_names_every_subcommand() {
    let sb = Sandbox::new();
    let r = sb.relctl(&["man"]);
    r.expect_code(0);
    sb.write("relctl.1", &r.stdout);
    let out = std::process::Command::new("man")
        .args(["-P", "cat", "-l", "relctl.1"])
        .env("MANWIDTH", "100")
        .current_dir(sb.path())
        .output()
        .expect("man is installed");
    assert!(out.status.success(), "man: {}", String::from_utf8_lossy(&out.stderr));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains("NAME") && page.contains("relctl - "), "{page}");
    for sub in ["run", "validate", "plan", "resume", "status", "verify", "abandon", "history", "completions", "man"] {
        assert!(page.contains(&format!("relctl-{sub}(1)")), "{sub} missing:\n{page}");
        // And the page it refers to exists.
        let r = sb.relctl(&["man", sub]);
        r.expect_code(0);
        assert!(r.stdout.contains(&format!(".TH relctl-{sub} 1")), "{sub}: {}", &r.stdout[..r.stdout.len().min(300)]);
    }
    let resume = sb.relctl(&["man", "resume"]).stdout;
    assert!(resume.contains("stop\\-leftovers"), "the resume page documents its flags");
    sb.relctl(&["man", "deploy"]).expect_code(2);
}
