//! What a shell and `man` need: a completion script and the manual page,
//! both generated from the same clap definition as the parser, so they
//! never disagree with it.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::AppError;
use crate::exit::ExitCode;

pub fn completions(shell: clap_complete::Shell) -> i32 {
    clap_complete::generate(shell, &mut Cli::command(), "relctl", &mut std::io::stdout());
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
