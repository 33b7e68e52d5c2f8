//! What a shell, `man` and an editor need: a completion script, the manual
//! page and the runbook schema, each generated from the same definitions as
//! the parser and the validator, so they never disagree with them.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::AppError;
use crate::exit::ExitCode;

pub fn completions(shell: clap_complete::Shell) -> i32 {
    clap_complete::generate(shell, &mut Cli::command(), "relctl", &mut std::io::stdout());
    ExitCode::Released.code()
}

/// The runbook format as a JSON Schema, for editors and other validators.
pub fn schema() -> i32 {
    let doc = crate::runbook::schema::document(&crate::adapter::registry());
    println!("{}", serde_json::to_string_pretty(&doc).expect("a JSON value serializes"));
    ExitCode::Released.code()
}

/// relctl(1), or with a subcommand the relctl-SUBCOMMAND(1) page it refers to.
pub fn man(subcommand: Option<&str>) -> Result<i32, AppError> {
    let top = Cli::command();
    let page = match subcommand {
        None => top,
        Some(name) => {
            let Some(sub) = top.find_subcommand(name) else {
                let known: Vec<&str> = top.get_subcommands().map(clap::Command::get_name).collect();
                eprintln!("error: no subcommand `{name}` (one of: {})", known.join(", "));
                return Ok(ExitCode::Usage.code());
            };
            sub.clone().name(format!("relctl-{name}")).version(env!("CARGO_PKG_VERSION"))
        }
    };
    clap_mangen::Man::new(page)
        .render(&mut std::io::stdout())
        .map_err(AppError::io("cannot write the manual page".to_string()))?;
    Ok(ExitCode::Released.code())
}

#[cfg(test)]
mod tests {
    use crate::runbook::schema::document;

    #[test]
    fn every_kind_describes_each_sibling_key_it_accepts() {
        for kind in crate::adapter::registry().kinds() {
            let described: Vec<&str> = kind.sibling_schema().iter().map(|(k, _)| *k).collect();
            assert_eq!(described, kind.sibling_keys(), "`{}`", kind.name());
        }
    }

    #[test]
    fn the_document_names_every_kind_and_integration() {
        let registry = crate::adapter::registry();
        let doc = document(&registry);
        let refs = |def: &str| -> Vec<String> {
            doc["$defs"][def]["oneOf"].as_array().unwrap().iter().map(|v| v["$ref"].as_str().unwrap().to_string()).collect()
        };
        for name in registry.names().chain(["confirm", "gate", "parallel"]) {
            let def = format!("step_{name}");
            assert!(refs("validate_step").contains(&format!("#/$defs/{def}")), "{name}");
            assert_eq!(doc["$defs"][&def]["required"][0], name);
        }
        assert!(!refs("step").contains(&"#/$defs/step_gate".to_string()), "a gate belongs in validate only");
        for name in registry.integration_names() {
            assert!(doc["properties"]["integrations"]["properties"].get(name).is_some(), "{name}");
        }
    }
}
