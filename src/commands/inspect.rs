//! `validate` and `plan`: read-only looks at runbooks.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::adapter;
use crate::error::AppError;
use crate::exit::ExitCode;
use crate::plan::{Plan, SCHEMA_VERSION};
use crate::runbook::{self, LoadError};

/// Checks every file and reports every problem of every file.
pub fn validate(files: &[PathBuf], json: bool, github: bool) -> i32 {
    let registry = adapter::registry();
    let mut bad = 0;
    let mut reports = Vec::new();
    // Runbooks that share a `name` share one lock and one history.
    let mut names: Vec<(String, String)> = Vec::new();
    for f in files {
        let file = f.display().to_string();
        match runbook::load(f, &registry) {
            Ok(rb) => {
                let steps: usize = rb.phases.values().map(Vec::len).sum();
                names.push((rb.name.clone(), file.clone()));
                if json {
                    reports.push(serde_json::json!({"file": file, "ok": true, "runbook": rb.name, "steps": steps}));
                } else {
                    println!("{file}: ok (runbook `{}`, {steps} steps)", rb.name);
                }
            }
            Err(e) => {
                bad += 1;
                if json {
                    let problems: Vec<serde_json::Value> = match &e {
                        LoadError::Invalid { diagnostics, .. } => diagnostics
                            .iter()
                            .map(|d| serde_json::json!({"line": d.span.line, "column": d.span.col, "message": d.message, "hint": d.hint}))
                            .collect(),
                        other @ LoadError::Read { .. } => vec![serde_json::json!({"message": other.to_string()})],
                    };
                    reports.push(serde_json::json!({"file": file, "ok": false, "problems": problems}));
                } else if let LoadError::Invalid { diagnostics, .. } = &e {
                    eprint!("{}", crate::ui::diagnostics::colour(&e.to_string()));
                    if github {
                        // A GitHub annotation on each problem, where it is.
                        for d in diagnostics {
                            println!(
                                "::error file={},line={},col={},title=invalid runbook::{}",
                                crate::ui::plain::property(&file),
                                d.span.line,
                                d.span.col,
                                crate::ui::plain::data(&d.message)
                            );
                        }
                    }
                } else {
                    eprintln!("error: {e}");
                }
            }
        }
    }
    let mut warnings = Vec::new();
    for (i, (name, file)) in names.iter().enumerate() {
        if let Some((_, first)) = names[..i].iter().find(|(n, _)| n == name) {
            warnings.push(format!(
                "{first} and {file} are both named `{name}`: they share one lock (one runs at a time) and one history; give each its own `name`"
            ));
        }
    }
    if json {
        let doc = serde_json::json!({"schema_version": SCHEMA_VERSION, "ok": bad == 0, "files": reports, "warnings": warnings});
        println!("{doc}");
    } else {
        for w in &warnings {
            eprintln!("warning: {w}");
        }
    }
    if bad == 0 { ExitCode::Released.code() } else { ExitCode::Usage.code() }
}

pub fn plan(file: &Path, vars: &[(String, String)], json: bool) -> Result<i32, AppError> {
    let registry = adapter::registry();
    let rb = runbook::load(file, &registry)?;
    let plan = Plan::build(Arc::new(rb), vars, &|k| std::env::var(k).ok(), false)?;
    if json {
        println!("{}", plan.to_json());
    } else {
        print!("{}", plan.render());
    }
    Ok(0)
}
