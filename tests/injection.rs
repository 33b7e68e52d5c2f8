//! Values substituted into `run` commands are data, never shell syntax: a
//! `--var` or a step output full of metacharacters is printed literally and
//! runs nothing.

use crate::support::*;

const ECHO_VERSION: &str = "version: 1
name: injection
vars:
  version: 1.0.0
execute:
  - run: echo ${{ vars.version }} > seen.txt; echo deploying ${{ vars.version }}
";

/// Runs ECHO_VERSION with `version` set to `value`; returns what the step saw.
fn echo_var(sb: &Sandbox, value: &str) -> Run {
    sb.write("release.yaml", ECHO_VERSION);
    let var = format!("version={value}");
    let run = sb.relctl(&["run", "release.yaml", "--non-interactive", "--var", &var]);
    run.expect_code(0);
    assert_eq!(sb.read("seen.txt"), format!("{value}\n"), "the command saw the value literally");
    assert!(run.stdout.contains(&format!("deploying {value}")), "{}", run.stdout);
    run
}

#[test]
fn semicolon_in_a_var_does_not_start_a_command() {
    let sb = Sandbox::new();
    echo_var(&sb, "1.0; touch pwned");
    assert!(!sb.path().join("pwned").exists());
}

#[test]
fn command_substitution_in_a_var_is_not_run() {
    let sb = Sandbox::new();
    echo_var(&sb, "$(touch pwned2)");
    assert!(!sb.path().join("pwned2").exists());
}

#[test]
fn backticks_in_a_var_are_not_run() {
    let sb = Sandbox::new();
    echo_var(&sb, "`touch pwned3`");
    assert!(!sb.path().join("pwned3").exists());
}

#[test]
fn single_quote_in_a_var_cannot_break_out_of_quoting() {
    let sb = Sandbox::new();
    echo_var(&sb, "it's'; touch pwned4; echo '");
    assert!(!sb.path().join("pwned4").exists());
}

#[test]
fn pipes_redirects_and_newlines_in_a_var_stay_inert() {
    let sb = Sandbox::new();
    sb.write("release.yaml", ECHO_VERSION);
    let value = "1.0 | tee pwned5 > pwned6 && touch pwned7\ntouch pwned8";
    let var = format!("version={value}");
    sb.relctl(&["run", "release.yaml", "--non-interactive", "--var", &var]).expect_code(0);
    assert_eq!(sb.read("seen.txt"), format!("{value}\n"));
    for f in ["pwned5", "pwned6", "pwned7", "pwned8"] {
        assert!(!sb.path().join(f).exists(), "{f} was created");
    }
}

#[test]
fn step_output_with_shell_syntax_stays_inert_in_a_later_step() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.path().join("victim")).unwrap();
    sb.write("victim/keep.txt", "still here");
    sb.write(
        "release.yaml",
        "version: 1
name: output-injection
execute:
  - id: probe
    run: |
      echo 'previous=1.0; rm -rf victim; touch pwned' >> \"$RELCTL_OUTPUT\"
      echo 'tag=$(touch pwned2)`touch pwned3`' >> \"$RELCTL_OUTPUT\"
  - run: echo ${{ steps.probe.outputs.previous }} ${{ steps.probe.outputs.tag }} > seen.txt
",
    );
    sb.relctl(&["run", "release.yaml", "--non-interactive"]).expect_code(0);
    assert_eq!(sb.read("seen.txt"), "1.0; rm -rf victim; touch pwned $(touch pwned2)`touch pwned3`\n");
    assert_eq!(sb.read("victim/keep.txt"), "still here");
    for f in ["pwned", "pwned2", "pwned3"] {
        assert!(!sb.path().join(f).exists(), "{f} was created");
    }
}

#[test]
fn var_used_in_env_and_dir_is_not_interpreted() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.path().join("svc")).unwrap();
    sb.write(
        "release.yaml",
        "version: 1
name: env-injection
vars:
  version: 1.0.0
  dir: svc
execute:
  - dir: ${{ vars.dir }}
    env:
      VERSION: ${{ vars.version }}
    run: printf '%s\\n' \"$VERSION\" > seen.txt
",
    );
    let run = sb.relctl(&["run", "release.yaml", "--non-interactive", "--var", "version=$(touch pwned); `touch pwned2`"]);
    run.expect_code(0);
    assert_eq!(sb.read("svc/seen.txt"), "$(touch pwned); `touch pwned2`\n");
    for f in ["pwned", "pwned2", "svc/pwned", "svc/pwned2"] {
        assert!(!sb.path().join(f).exists(), "{f} was created");
    }
}

#[test]
fn values_inside_double_or_single_quotes_stay_literal() {
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1\nname: quoted\nvars:\n  v: x\nexecute:\n  - run: |\n      echo \"double: ${{ vars.v }}\" >> out.txt\n      echo 'single: ${{ vars.v }}' >> out.txt\n      echo \"mixed: it's ${{ vars.v }}\" >> out.txt\n",
    );
    let value = "$(touch pwned1) `touch pwned2` \"'\\ ${HOME}";
    let var = format!("v={value}");
    sb.relctl(&["run", "release.yaml", "--non-interactive", "--var", &var]).expect_code(0);
    assert!(!sb.path().join("pwned1").exists() && !sb.path().join("pwned2").exists());
    assert_eq!(sb.read("out.txt"), format!("double: {value}\nsingle: {value}\nmixed: it's {value}\n"));
}

#[test]
fn values_in_heredocs_comments_and_nested_substitutions_never_run() {
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1\nname: h\nvars:\n  v: x\nexecute:\n  - run: |\n      # don't forget: ${{ vars.v }}\n      cat >> out.txt <<EOF\n      ${{ vars.v }}\n      EOF\n      echo \"built $(echo ${{ vars.v }})\" >> out.txt\n",
    );
    let value = "x; touch pwned1 $(touch pwned2)\ntouch pwned3 #";
    let var = format!("v={value}");
    sb.relctl(&["run", "release.yaml", "--non-interactive", "--var", &var]).expect_code(0);
    for f in ["pwned1", "pwned2", "pwned3"] {
        assert!(!sb.path().join(f).exists(), "{f} was created: a value ran as a command");
    }
    assert_eq!(sb.read("out.txt"), format!("{value}\nbuilt {value}\n"));
}

/// A simple command runs without a shell; its values must still arrive as
/// one argument each, literally, as they would through the shell.
#[test]
fn values_in_a_command_run_without_a_shell_are_one_literal_argument_each() {
    let sb = Sandbox::new();
    sb.write("args.sh", "#!/bin/sh\nfor a in \"$@\"; do printf '<%s>\\n' \"$a\"; done > args.txt\n");
    std::fs::set_permissions(sb.path().join("args.sh"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    sb.write(
        "release.yaml",
        "version: 1\nname: direct\nvars:\n  v: x\nexecute:\n  - run: ./args.sh --version=${{ vars.v }} plain ${{ vars.v }}\n",
    );
    let value = "1.0 $(touch pwned) `touch pwned2`; touch pwned3 | * ~ \"'";
    sb.relctl(&["run", "release.yaml", "--non-interactive", "--var", &format!("v={value}")]).expect_code(0);
    assert_eq!(sb.read("args.txt"), format!("<--version={value}>\n<plain>\n<{value}>\n"));
    for f in ["pwned", "pwned2", "pwned3"] {
        assert!(!sb.path().join(f).exists(), "{f}");
    }
}

#[test]
fn a_program_that_does_not_exist_fails_as_it_would_in_bash() {
    let sb = Sandbox::new();
    sb.write("release.yaml", "version: 1\nname: missing\nchecklist:\n  - run: ./no-such-tool --flag\n");
    let r = sb.relctl(&["run", "release.yaml", "--non-interactive"]);
    r.expect_code(1);
    assert!(r.stdout.contains("exited with code 127: ./no-such-tool: command not found"), "{}", r.stdout);
}

#[test]
fn a_script_without_a_shebang_still_runs_as_a_shell_script() {
    // execve refuses it (ENOEXEC); bash runs such a file as a script.
    let sb = Sandbox::new();
    sb.write("noshebang.sh", "echo ran \"$1\" > ran.txt\n");
    std::fs::set_permissions(sb.path().join("noshebang.sh"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    sb.write("release.yaml", "version: 1\nname: noshebang\nexecute:\n  - run: ./noshebang.sh ok\n");
    sb.relctl(&["run", "release.yaml", "--non-interactive"]).expect_code(0);
    assert_eq!(sb.read("ran.txt"), "ran ok\n");
}
