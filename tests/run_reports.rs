//! Reports when a run ends (`--report FORMAT=PATH`, `relctl report`) and
//! GitHub Actions' step summary and outputs. The JUnit report is read by a
//! real JUnit parser (junitparser, installed by scripts/moto.sh).

use crate::support::*;

const RELEASE: &str = "version: 1
name: reported
vars:
  version: { default: 2.0.0 }
checklist:
  - id: approval
    confirm: Approved?
execute:
  - id: deploy
    run: echo deploying
validate:
  - id: smoke
    run: echo smoke
  - id: health
    run: test -f ok
rollback:
  - run: echo back
  - run: touch ok
finalize:
  - run: echo never
";

/// (classname, name, result kinds, file, line) per testcase, as junitparser reads them.
fn parse_junit(path: &std::path::Path) -> Vec<(String, String, String, String, String)> {
    let python = std::env::var("RELCTL_TEST_PYTHON").expect("RELCTL_TEST_PYTHON (scripts/moto.sh sets it)");
    let script = "import sys\nfrom junitparser import JUnitXml\nxml = JUnitXml.fromfile(sys.argv[1])\nfor suite in xml:\n    for case in suite:\n        kinds = ','.join(type(r).__name__ for r in case.result) or 'passed'\n        print('\\t'.join([case.classname, case.name, kinds, case._elem.get('file') or '', case._elem.get('line') or '']))\n";
    let out = std::process::Command::new(python).args(["-c", script]).arg(path).output().unwrap();
    assert!(out.status.success(), "junitparser: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].into(), f[1].into(), f[2].into(), f[3].into(), f[4].into())
        })
        .collect()
}

#[test]
fn a_run_writes_junit_markdown_and_json_reports_and_github_gets_its_summary_and_outputs() {
    let sb = Sandbox::new();
    sb.write("release.yaml", RELEASE);
    let env = [("GITHUB_ACTIONS", "true"), ("GITHUB_STEP_SUMMARY", "summary.md"), ("GITHUB_OUTPUT", "outputs.txt")];
    let r = sb.relctl_env(
        &[
            "run",
            "release.yaml",
            "--non-interactive",
            "--approve",
            "approval",
            "--report",
            "junit=report.xml",
            "--report",
            "markdown=report.md",
            "--report",
            "json=report.json",
        ],
        &env,
    );
    r.expect_code(3);

    let cases = parse_junit(&sb.path().join("report.xml"));
    let find = |key: &str| {
        cases.iter().find(|c| c.1.ends_with(&format!("[{key}]"))).unwrap_or_else(|| panic!("{key} in {cases:?}")).clone()
    };
    let deploy = find("execute.0");
    assert_eq!((deploy.0.as_str(), deploy.2.as_str()), ("reported.execute", "passed"));
    assert_eq!(
        (deploy.3.as_str(), deploy.4.as_str()),
        ("release.yaml", "10"),
        "file (from where relctl ran) and line of the step"
    );
    let health = find("validate.1");
    assert_eq!(health.2, "Failure", "a failed check is a failure: {health:?}");
    assert_eq!(health.4, "15");
    assert_eq!(find("checklist.0").2, "passed", "the confirm is a testcase too");
    assert_eq!(find("verify.1").0, "reported.verify");

    let md = sb.read("report.md");
    assert!(md.starts_with("## ↩️ ROLLED BACK — reported 2.0.0"), "{md}");
    assert!(md.contains("```mermaid\ngantt\n") && md.contains("section execute") && md.contains(":crit, "), "{md}");
    assert!(md.contains("| Approved? | yes | tester |"), "{md}");
    assert!(md.contains("`validate.1` health: exited with code 1"), "{md}");
    let json: serde_json::Value = serde_json::from_str(&sb.read("report.json")).unwrap();
    assert_eq!(
        (json["schema_version"].as_u64(), json["outcome"].as_str(), json["exit_code"].as_i64()),
        (Some(1), Some("ROLLED BACK"), Some(3))
    );

    // GitHub Actions: the summary is the Markdown report, the outputs name the run.
    assert_eq!(sb.read("summary.md"), md);
    let outputs = sb.read("outputs.txt");
    assert!(outputs.contains(&format!("run_id={}\n", sb.latest_run_id())), "{outputs}");
    assert!(outputs.contains("outcome=rolled_back\nexit_code=3\n"), "{outputs}");

    // The same report, afterwards.
    let again = sb.relctl(&["report", "--format", "junit"]);
    again.expect_code(0);
    assert_eq!(again.stdout, sb.read("report.xml"));
    sb.relctl(&["report", "--format", "pdf"]).expect_code(2);
    sb.relctl(&["run", "release.yaml", "--report", "html=x.html"]).expect_code(2);
}

#[test]
fn in_github_actions_secrets_are_masked_first_steps_are_grouped_and_failures_annotated() {
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1\nname: gha\nexecute:\n  - id: deploy\n    run: echo deploying with ${{ secrets.DEPLOY_KEY }}\nvalidate:\n  - id: health\n    run: exit 1\nrollback:\n  - run: echo back\n",
    );
    let env = [("GITHUB_ACTIONS", "true"), ("DEPLOY_KEY", "k3y-50%-secret")];
    let r = sb.relctl_env(&["run", "release.yaml", "--non-interactive"], &env);
    assert_eq!(
        r.stdout.lines().next(),
        Some("::add-mask::k3y-50%25-secret"),
        "the mask comes before anything else:\n{}",
        r.stdout
    );
    assert!(r.stdout.contains("::group::deploy [execute.0]\n"), "{}", r.stdout);
    assert!(r.stdout.contains("::endgroup::\n"), "{}", r.stdout);
    assert!(
        r.stdout.contains("::error file=release.yaml,line=8,title=relctl%3A health failed::exited with code 1"),
        "{}",
        r.stdout
    );
    // An invalid runbook: an annotation on each problem.
    sb.write("bad.yaml", "version: 1\nname: bad\nexecute:\n  - htpp: x\n");
    let r = sb.relctl_env(&["validate", "bad.yaml"], &env);
    r.expect_code(2);
    assert!(
        r.stdout.contains("::error file=bad.yaml,line=4,col=5,title=invalid runbook::unknown step kind `htpp`"),
        "{}",
        r.stdout
    );
    let r = sb.relctl_env(&["run", "bad.yaml"], &env);
    r.expect_code(2);
    assert!(
        r.stdout.contains("::error file=bad.yaml,line=4,col=5,title=invalid runbook::unknown step kind `htpp`"),
        "{}",
        r.stdout
    );
}

#[test]
fn in_gitlab_ci_each_step_is_a_collapsible_section() {
    let sb = Sandbox::new();
    sb.write("release.yaml", "version: 1\nname: glab\nexecute:\n  - id: deploy\n    run: echo deploying\n");
    let r = sb.relctl_env(&["run", "release.yaml", "--non-interactive"], &[("GITLAB_CI", "true")]);
    r.expect_code(0);
    let start = r.stdout.find("\u{1b}[0Ksection_start:").expect("a section start");
    let end = r.stdout.find("\u{1b}[0Ksection_end:").expect("a section end");
    assert!(start < r.stdout.find("deploying").unwrap() && r.stdout.find("deploying").unwrap() < end, "{:?}", r.stdout);
    assert!(r.stdout.contains(":relctl_execute_0\r\u{1b}[0Kdeploy [execute.0]\n"), "{:?}", r.stdout);
    assert!(!r.stdout.contains("::group::"), "GitHub commands only in GitHub");
}
