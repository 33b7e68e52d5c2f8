//! `relctl validate`: every kind of runbook problem is reported with
//! `file:line:col`, the source line, carets under the offending text and a
//! hint, and every problem in a file is reported in one go (exit 2).
//!
//! The runbook is passed as the relative `release.yaml` (the command runs in
//! the sandbox), so the snapshots hold no temp paths.

use crate::support::*;

/// Validates `yaml` as `release.yaml`; the run must fail with exit 2 and
/// print nothing on stdout. Returns the rendered diagnostics.
fn problems(yaml: &str) -> String {
    let sb = Sandbox::new();
    sb.write("release.yaml", yaml);
    let run = sb.relctl(&["validate", "release.yaml"]);
    run.expect_code(2);
    assert_eq!(run.stdout, "", "nothing on stdout for an invalid runbook");
    run.stderr
}

#[test]
fn yaml_syntax_error_points_at_the_broken_line() {
    let out = problems(
        "version: 1
name: release
execute:
  - run: [echo, hi
  - run: echo bye
",
    );
    assert!(out.contains("invalid YAML"), "{out}");
    insta::assert_snapshot!("yaml_syntax_error", out);
}

#[test]
fn missing_version_and_name_are_both_reported() {
    let out = problems(
        "execute:
  - run: echo hi
",
    );
    assert!(out.contains("missing `version`") && out.contains("missing `name`"), "{out}");
    insta::assert_snapshot!("missing_version_and_name", out);
}

#[test]
fn unsupported_version_is_rejected() {
    let out = problems(
        "version: 2
name: release
",
    );
    insta::assert_snapshot!("unsupported_version", out);
}

#[test]
fn unknown_top_level_key_suggests_the_close_one() {
    let out = problems(
        "version: 1
name: release
exeucte:
  - run: echo hi
",
    );
    assert!(out.contains("did you mean `execute`?"), "{out}");
    insta::assert_snapshot!("unknown_top_level_key", out);
}

#[test]
fn unknown_step_kind_suggests_the_close_one() {
    let out = problems(
        "version: 1
name: release
validate:
  - id: health
    htpp: http://127.0.0.1/health
",
    );
    assert!(out.contains("unknown step kind `htpp`") && out.contains("did you mean `http`?"), "{out}");
    insta::assert_snapshot!("unknown_step_kind", out);
}

#[test]
fn a_step_with_two_kinds_is_rejected() {
    let out = problems(
        "version: 1
name: release
execute:
  - run: ./deploy.sh
    http: http://127.0.0.1/deploy
",
    );
    insta::assert_snapshot!("two_kinds_in_one_step", out);
}

#[test]
fn unknown_key_in_a_step_suggests_the_close_one() {
    let out = problems(
        "version: 1
name: release
execute:
  - run: ./deploy.sh
    tiemout: 5m
",
    );
    assert!(out.contains("did you mean `timeout`?"), "{out}");
    insta::assert_snapshot!("unknown_key_in_step", out);
}

#[test]
fn unknown_key_in_http_expect_suggests_the_close_one() {
    let out = problems(
        "version: 1
name: release
validate:
  - http:
      url: http://127.0.0.1/health
      expect:
        stauts: 200
",
    );
    assert!(out.contains("did you mean `status`?"), "{out}");
    insta::assert_snapshot!("unknown_key_in_http_expect", out);
}

#[test]
fn wrong_types_name_what_was_found() {
    let out = problems(
        "version: 1
name: release
execute:
  - run: ./deploy.sh
    continue_on_failure: maybe
  - run: [a]
",
    );
    assert!(out.contains("found a string") && out.contains("found a list"), "{out}");
    insta::assert_snapshot!("wrong_types", out);
}

#[test]
fn durations_without_a_unit_or_with_an_unknown_unit_are_rejected() {
    let out = problems(
        "version: 1
name: release
execute:
  - run: ./deploy.sh
    timeout: 10
  - run: ./migrate.sh
    timeout: 5y
",
    );
    assert!(out.contains("write `10s` or `10m`") && out.contains("unknown unit `y`"), "{out}");
    insta::assert_snapshot!("bad_durations", out);
}

#[test]
fn retry_attempts_outside_one_to_a_hundred_are_rejected() {
    let out = problems(
        "version: 1
name: release
execute:
  - run: ./deploy.sh
    retry: { attempts: 0, delay: 1s }
  - run: ./migrate.sh
    retry:
      attempts: many
",
    );
    insta::assert_snapshot!("bad_retry_attempts", out);
}

#[test]
fn duplicate_step_id_names_the_first_use() {
    let out = problems(
        "version: 1
name: release
execute:
  - id: deploy
    run: ./deploy.sh
validate:
  - id: deploy
    run: ./check.sh
",
    );
    assert!(out.contains("already used on line 4"), "{out}");
    insta::assert_snapshot!("duplicate_step_id", out);
}

#[test]
fn unknown_var_reference_suggests_a_declared_var() {
    let out = problems(
        "version: 1
name: release
vars:
  version: { required: true }
execute:
  - run: ./deploy.sh ${{ vars.versoin }}
",
    );
    assert!(out.contains("unknown var `versoin`") && out.contains("did you mean `version`?"), "{out}");
    insta::assert_snapshot!("unknown_var_reference", out);
}

#[test]
fn unknown_step_id_in_an_output_reference_suggests_a_known_id() {
    let out = problems(
        "version: 1
name: release
execute:
  - id: deploy
    run: ./deploy.sh
rollback:
  - run: ./deploy.sh ${{ steps.deplyo.outputs.previous }}
",
    );
    assert!(out.contains("unknown step id `deplyo`") && out.contains("did you mean `deploy`?"), "{out}");
    insta::assert_snapshot!("unknown_step_id_reference", out);
}

#[test]
fn malformed_expressions_are_pointed_at() {
    let out = problems(
        "version: 1
name: release
vars:
  x: 1
execute:
  - run: echo ${{ varz.x }}
  - run: echo ${{ vars.x
",
    );
    assert!(out.contains("did you mean `vars`?") && out.contains("unclosed expression"), "{out}");
    insta::assert_snapshot!("malformed_expressions", out);
}

#[test]
fn gate_outside_validate_is_rejected() {
    let out = problems(
        "version: 1
name: release
execute:
  - gate: Go?
",
    );
    insta::assert_snapshot!("gate_outside_validate", out);
}

#[test]
fn unknown_approver_group_suggests_a_defined_group() {
    let out = problems(
        "version: 1
name: release
approvers:
  release_managers: [alice, bob]
validate:
  - gate: Go?
    approvers: release_manager
",
    );
    assert!(out.contains("did you mean `release_managers`?"), "{out}");
    insta::assert_snapshot!("unknown_approver_group", out);
}

#[test]
fn every_problem_in_a_file_is_reported_at_once() {
    let out = problems(
        "version: 1
name: release
nmae: typo
vars:
  version: { required: true }
approvers:
  release_managers: [alice]
checklist:
  - confirm: Ready?
    approvers: release_manager
execute:
  - id: deploy
    run: ./deploy.sh ${{ vars.versoin }}
    timeout: 10
    retry: { attempts: 0 }
    continue_on_failure: maybe
  - id: deploy
    run: ./deploy-again.sh
  - htpp: http://127.0.0.1/deploy
  - run: echo ${{ varz.x }}
  - gate: Go?
validate:
  - http:
      url: http://127.0.0.1/health
      expect: { stauts: 200 }
rollback:
  - run: ./deploy.sh ${{ steps.deplyo.outputs.previous }}
",
    );
    let expected = [
        "unknown key `nmae`",
        "unknown approver group `release_manager`",
        "unknown var `versoin`",
        "expected a duration, found an integer",
        "`attempts` must be a whole number",
        "`continue_on_failure` must be true or false",
        "duplicate step id `deploy`",
        "unknown step kind `htpp`",
        "unknown reference `varz.x`",
        "a `gate` belongs in `validate`",
        "unknown key `stauts` in `expect`",
        "unknown step id `deplyo`",
    ];
    for message in expected {
        assert!(out.contains(message), "missing {message:?} in\n{out}");
    }
    assert_eq!(out.matches("\nerror: ").count() + usize::from(out.starts_with("error: ")), expected.len(), "{out}");
    assert!(out.contains(&format!("release.yaml: {} problems found", expected.len())), "{out}");
    insta::assert_snapshot!("many_problems_at_once", out);
}

#[test]
fn validating_several_files_reports_each_and_fails_if_any_is_bad() {
    let sb = Sandbox::new();
    sb.write(
        "good.yaml",
        "version: 1
name: good
execute:
  - run: ./deploy.sh
validate:
  - run: ./check.sh
",
    );
    sb.write(
        "bad.yaml",
        "version: 1
name: bad
execute:
  - htpp: http://127.0.0.1/deploy
",
    );
    let run = sb.relctl(&["validate", "good.yaml", "bad.yaml"]);
    run.expect_code(2);
    assert_eq!(run.stdout, "good.yaml: ok (runbook `good`, 2 steps)\n");
    assert!(run.stderr.contains("--> bad.yaml:4:5"), "{}", run.stderr);
    assert!(run.stderr.contains("bad.yaml: 1 problem found"), "{}", run.stderr);
    assert!(!run.stderr.contains("good.yaml"), "{}", run.stderr);
}

#[test]
fn a_valid_runbook_passes_with_exit_0() {
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1
name: checkout-release
description: Release the checkout service.
vars:
  version: { required: true, description: version to release }
  url: http://127.0.0.1:8080
approvers:
  release_managers: [alice, bob]
checklist:
  - id: approval
    confirm: Approved ${{ vars.version }}?
    approvers: release_managers
execute:
  - id: deploy
    timeout: 20m
    retry: { attempts: 3, delay: 5s, backoff: 2 }
    run: ./deploy.sh ${{ vars.version }}
validate:
  - id: health
    http:
      url: ${{ vars.url }}/health
      expect: { status: [200, 204], max_latency: 500ms, json: { build.version: x } }
  - parallel:
      - run: ./a.sh
      - wait: 1s
  - id: go
    gate: Go for ${{ vars.version }}?
    approvers: [carol]
rollback:
  - run: ./deploy.sh ${{ steps.deploy.outputs.previous }}
    continue_on_failure: true
finalize:
  - run: ./announce.sh
    when: ${{ vars.version != '0.0.0' }}
",
    );
    let run = sb.relctl(&["validate", "release.yaml"]);
    run.expect_code(0);
    assert_eq!(run.stdout, "release.yaml: ok (runbook `checkout-release`, 7 steps)\n");
    assert_eq!(run.stderr, "");
}

#[test]
fn huge_durations_and_backoffs_are_errors_at_their_position_not_panics() {
    // Before: `backoff: 1e308` validated and then panicked the run mid-execute
    // with no rollback; `18446744073709551615s1s` panicked `validate`;
    // `5124095576030432h` silently became 59m44s.
    let out = problems(
        "version: 1
name: release
execute:
  - run: ./deploy.sh
    timeout: 18446744073709551615s1s
  - run: ./migrate.sh
    timeout: 5124095576030432h
  - run: ./warm.sh
    retry: { attempts: 5, delay: 1s, backoff: 1e308 }
  - run: ./notify.sh
    retry: { attempts: 100, delay: 1h, backoff: 10 }
",
    );
    assert!(out.contains("release.yaml:5:14"), "{out}");
    assert!(out.contains("release.yaml:7:14"), "{out}");
    assert_eq!(out.matches("is longer than a week (168h)").count(), 2, "{out}");
    assert!(out.contains("`backoff` must be a number from 1 to 10"), "{out}");
    assert!(out.contains("the last retry would wait longer than a week"), "{out}");
}

#[test]
fn a_megabyte_of_expressions_parses_in_linear_time() {
    // Before: the position of each expression re-scanned the text before it,
    // so 1 MiB of `${{ vars.v }}` took over 10 s.
    let many = "${{ vars.v }} ".repeat(1 << 16);
    let sb = Sandbox::new();
    sb.write("release.yaml", &format!("version: 1\nname: big\nvars:\n  v: x\nexecute:\n  - run: \"echo {many}\"\n"));
    let started = std::time::Instant::now();
    sb.relctl(&["validate", "release.yaml"]).expect_code(0);
    // A bound far above the linear cost (well under a second), far below the quadratic one.
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[test]
fn runbooks_that_share_a_name_are_flagged_since_they_share_a_lock() {
    // Before: two shipped runbooks were both `memorres-release`, silently.
    let sb = Sandbox::new();
    sb.write("a.yaml", "version: 1\nname: same\nexecute:\n  - run: 'true'\n");
    sb.write("b.yaml", "version: 1\nname: same\nexecute:\n  - run: 'true'\n");
    let r = sb.relctl(&["validate", "a.yaml", "b.yaml"]);
    r.expect_code(0);
    assert!(r.stderr.contains("warning: a.yaml and b.yaml are both named `same`: they share one lock"), "{}", r.stderr);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut shipped: Vec<String> = Vec::new();
    for dir in ["examples", "runbooks"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yaml") {
                shipped.push(p.display().to_string());
            }
        }
    }
    let args: Vec<&str> = std::iter::once("validate").chain(shipped.iter().map(String::as_str)).collect();
    let r = sb.relctl(&args);
    r.expect_code(0);
    assert!(!r.stderr.contains("both named"), "the shipped runbooks each have their own name:\n{}", r.stderr);
}
