//! `validate` and `plan`: read-only looks at runbooks.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::adapter;
use crate::error::AppError;
use crate::exit::ExitCode;
use crate::plan::Plan;
use crate::runbook::{self, LoadError};

/// Checks every file and reports every problem of every file.
pub fn validate(files: &[PathBuf]) -> i32 {
    let registry = adapter::registry();
    let mut bad = 0;
    for f in files {
        match runbook::load(f, &registry) {
            Ok(rb) => {
                let steps: usize = rb.phases.values().map(Vec::len).sum();
                println!("{}: ok (runbook `{}`, {steps} steps)", f.display(), rb.name);
            }
            Err(e @ LoadError::Invalid { .. }) => {
                bad += 1;
                eprint!("{e}");
            }
            Err(e) => {
                bad += 1;
                eprintln!("error: {e}");
            }
        }
    }
    if bad == 0 { ExitCode::Released.code() } else { ExitCode::Usage.code() }
}

pub fn plan(file: &Path, vars: &[(String, String)]) -> Result<i32, AppError> {
    let registry = adapter::registry();
    let rb = runbook::load(file, &registry)?;
    let plan = Plan::build(Arc::new(rb), vars, &|k| std::env::var(k).ok(), false)?;
    print!("{}", plan.render());
    Ok(0)
}
