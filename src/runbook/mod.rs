//! From runbook text to a checked model: load (YAML with positions),
//! validate (every problem at once), and the expressions inside strings.

pub mod canary;
pub mod constructs;
pub mod diagnostic;
pub mod duration;
pub mod expr;
pub mod model;
pub mod node;
pub mod people;
pub mod rollback_targets;
pub mod schedule;
pub mod schema;
pub mod shell_context;
pub mod validate;

use std::path::{Path, PathBuf};

use diagnostic::Diagnostic;

/// A runbook that could not be loaded or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read runbook {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{rendered}")]
    Invalid { path: PathBuf, rendered: String, diagnostics: Vec<Diagnostic> },
}

/// Reads, parses and validates a runbook file.
pub fn load(path: &Path, registry: &crate::step::Registry) -> Result<model::Runbook, LoadError> {
    let source = std::fs::read_to_string(path).map_err(|source| LoadError::Read { path: path.to_path_buf(), source })?;
    load_str(path, &source, registry)
}

pub fn load_str(path: &Path, source: &str, registry: &crate::step::Registry) -> Result<model::Runbook, LoadError> {
    let invalid = |diagnostics: Vec<Diagnostic>| LoadError::Invalid {
        path: path.to_path_buf(),
        rendered: diagnostic::render(&path.display().to_string(), source, &diagnostics),
        diagnostics,
    };
    let root = node::parse(source).map_err(|d| invalid(vec![d]))?;
    validate::validate(&root, path, source, registry).map_err(invalid)
}
