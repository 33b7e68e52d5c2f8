//! The layering drawn in docs/architecture.md, kept true: each rule names a
//! part of the source and the modules it must not reach into. A reversed
//! import fails here with the file and line, before it can tangle the code.

use std::path::{Path, PathBuf};

/// (files under this path, modules they must not name)
const RULES: &[(&str, &[&str])] = &[
    // The leaf contract: shared by everyone, depends on nobody above it.
    (
        "src/step",
        &[
            "adapter",
            "engine",
            "plan",
            "ui",
            "commands",
            "config",
            "cli",
            "runbook::model",
            "runbook::validate",
            "runbook::constructs",
        ],
    ),
    ("src/event.rs", &["adapter", "engine", "plan", "ui", "commands", "config", "cli", "step", "runbook"]),
    ("src/question.rs", &["adapter", "engine", "plan", "ui", "commands", "config", "cli", "step", "runbook", "event"]),
    ("src/redact.rs", &["adapter", "engine", "plan", "ui", "commands", "config", "cli"]),
    // The runbook model knows step kinds through the contract, not the adapters.
    ("src/runbook", &["adapter", "engine", "plan", "ui", "commands", "config", "cli"]),
    // Shared state knows its store and the lock protocol, nothing of runs.
    ("src/state", &["adapter", "engine", "plan", "ui", "commands", "config", "cli", "runbook", "step"]),
    // Adapters know nothing of the engine or the UI.
    ("src/adapter", &["engine", "plan", "ui", "commands", "config", "cli"]),
    ("src/plan", &["adapter", "engine", "ui", "commands", "config", "cli"]),
    // The engine emits events and asks a Prompter: it never prints or prompts.
    ("src/engine", &["adapter", "ui", "commands", "config", "cli"]),
    // The UI reads events and questions; of the runbook only its text primitives.
    ("src/ui", &["adapter", "engine", "plan", "commands", "config", "cli", "runbook::model", "runbook::validate", "step"]),
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for e in entries {
            rust_files(&e, out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

#[test]
fn no_module_imports_against_the_layering() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut problems = Vec::new();
    for (part, forbidden) in RULES {
        let mut files = Vec::new();
        rust_files(&root.join(part), &mut files);
        assert!(!files.is_empty(), "{part}: no source files (rule out of date?)");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                for module in *forbidden {
                    let named = code.contains(&format!("crate::{module}::"))
                        || code.contains(&format!("crate::{module};"))
                        || code.contains(&format!("crate::{{{module}"))
                        || code.contains(&format!("crate::{module}}}"))
                        || code.contains(&format!("super::super::{module}"))
                        // `use crate::{a, engine::x}` names it after a comma.
                        || (code.contains("crate::{") && code.contains(&format!(", {module}::")));
                    if named {
                        let shown = file.strip_prefix(root).unwrap().display().to_string();
                        problems.push(format!("{shown}:{}: names `{module}`: {}", n + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "imports against the layering (docs/architecture.md):\n{}", problems.join("\n"));
}
