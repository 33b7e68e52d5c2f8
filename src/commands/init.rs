//! `relctl init [TEMPLATE] [PATH]`: a commented runbook to start from,
//! modelled on the release SOPs teams follow. It never overwrites a file.

use std::path::Path;

use crate::exit::ExitCode;

/// (name, what it is, the runbook).
pub const TEMPLATES: [(&str, &str, &str); 3] = [
    ("shell", "shell commands, one per SOP step (the default)", include_str!("../../templates/shell.yaml")),
    ("kubernetes", "kubectl set image / rollout status / rollout undo", include_str!("../../templates/kubernetes.yaml")),
    ("aws", "Jenkins build, ECS deploy, S3 assets, CloudWatch alarms, Slack thread", include_str!("../../templates/aws.yaml")),
];

pub fn init(template: Option<&str>, path: &Path) -> i32 {
    let name = template.unwrap_or("shell");
    let Some((_, _, text)) = TEMPLATES.iter().find(|(n, _, _)| *n == name) else {
        eprintln!("error: no template `{name}`; templates:");
        for (n, what, _) in TEMPLATES {
            eprintln!("  {n:<11} {what}");
        }
        return ExitCode::Usage.code();
    };
    let created = std::fs::OpenOptions::new().write(true).create_new(true).open(path);
    let mut file = match created {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!("error: {} already exists; relctl init never overwrites (give another path)", path.display());
            return ExitCode::Usage.code();
        }
        Err(e) => {
            eprintln!("error: cannot create {}: {e}", path.display());
            return ExitCode::Usage.code();
        }
    };
    if let Err(e) = std::io::Write::write_all(&mut file, text.as_bytes()) {
        eprintln!("error: cannot write {}: {e}", path.display());
        return ExitCode::Internal.code();
    }
    let p = path.display();
    println!("wrote {p} (template `{name}`). Next:\n  relctl validate {p}\n  relctl plan {p} --var version=1.2.3");
    println!(
        "Editor support (completion, hover, errors as you type): relctl schema > relctl.schema.json,\n  then make the first line of {p}: # yaml-language-server: $schema=relctl.schema.json"
    );
    ExitCode::Released.code()
}
