//! `relctl schema`: the JSON Schema editors validate runbooks with. An
//! independent validator (python-jsonschema, Draft 2020-12) must agree with
//! relctl's own on every shipped runbook and on every invalid fixture: a
//! schema that rejects what relctl runs puts red lines under good runbooks,
//! and one that accepts what relctl refuses tells an author "fine" wrongly.

use std::path::{Path, PathBuf};

use crate::support::*;

const SCHEMA_LINE: &str = "# yaml-language-server: $schema=../schema/runbook.schema.json";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// What the independent validator says of each file: `None` when valid, else why not.
fn schema_verdicts(files: &[PathBuf]) -> Vec<(PathBuf, Option<String>)> {
    let python = std::env::var("RELCTL_TEST_PYTHON").expect("RELCTL_TEST_PYTHON (scripts/moto.sh sets it)");
    let out = std::process::Command::new(python)
        .arg(root().join("tests/support/schema_check.py"))
        .arg(root().join("schema/runbook.schema.json"))
        .args(files)
        .output()
        .unwrap();
    assert!(out.status.success(), "schema_check.py: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let verdicts: Vec<_> = text
        .lines()
        .map(|l| {
            let mut f = l.splitn(3, '\t');
            let path = PathBuf::from(f.next().unwrap());
            match f.next() {
                Some("valid") => (path, None),
                _ => (path, Some(f.next().unwrap_or_default().to_string())),
            }
        })
        .collect();
    assert_eq!(verdicts.len(), files.len(), "one verdict per file: {text}");
    verdicts
}

fn relctl_validate(file: &Path) -> Run {
    Sandbox::new().relctl(&["validate", file.to_str().unwrap()])
}

#[test]
fn the_committed_schema_file_is_what_relctl_schema_prints() {
    let r = Sandbox::new().relctl(&["schema"]);
    r.expect_code(0);
    let committed = std::fs::read_to_string(root().join("schema/runbook.schema.json")).unwrap();
    assert!(
        r.stdout == committed,
        "schema/runbook.schema.json is stale: run `cargo run -- schema > schema/runbook.schema.json` and commit it"
    );
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["$schema"], "https://json-schema.org/draft/2020-12/schema");
}

#[test]
fn every_shipped_runbook_names_the_schema_and_both_validators_accept_it() {
    let shipped: Vec<PathBuf> = yaml_files("examples").into_iter().chain(yaml_files("runbooks")).collect();
    assert!(shipped.len() >= 5, "{shipped:?}");
    for file in &shipped {
        let text = std::fs::read_to_string(file).unwrap();
        assert_eq!(text.lines().next(), Some(SCHEMA_LINE), "{}: editors find the schema by its first line", file.display());
        let target = file.parent().unwrap().join("../schema/runbook.schema.json");
        assert!(target.is_file(), "{} points at {}", file.display(), target.display());
    }
    // The init templates and the fixture that uses every setting of every
    // kind are runbooks people start from: they must pass both too.
    let all: Vec<PathBuf> =
        shipped.into_iter().chain(yaml_files("templates")).chain(yaml_files("tests/fixtures/valid")).collect();
    for (file, verdict) in schema_verdicts(&all) {
        assert_eq!(verdict, None, "the schema rejects {}, which relctl runs", file.display());
        let r = relctl_validate(&file);
        assert_eq!(r.code, 0, "relctl rejects {}: {}", file.display(), r.all());
    }
}

#[test]
fn the_schema_and_relctl_both_reject_every_invalid_fixture() {
    let fixtures = yaml_files("tests/fixtures/invalid");
    assert!(fixtures.len() >= 30, "{fixtures:?}");
    for (file, verdict) in schema_verdicts(&fixtures) {
        assert!(verdict.is_some(), "the schema accepts {}, which relctl refuses", file.display());
        let r = relctl_validate(&file);
        assert_eq!(r.code, 2, "relctl accepts {}: {}", file.display(), r.all());
    }
}
