//! One function per subcommand, from a resolved [`Config`] to an exit code.

pub mod inspect;
pub mod report;
pub mod session;
pub mod shell;
mod summary;

use crate::config::{Config, Request};
use crate::error::AppError;

pub async fn dispatch(config: Config) -> Result<i32, AppError> {
    let display = config.display;
    match config.request {
        Request::Run(r) => session::run(r, &display).await,
        Request::Resume(r) => session::resume(r, &display).await,
        Request::Validate(files) => Ok(inspect::validate(&files)),
        Request::Plan { file, vars } => inspect::plan(&file, &vars),
        Request::Status { run_id, state_dir } => report::status(&state_dir, run_id.as_deref()),
        Request::Verify { run_id, state_dir } => report::verify(&state_dir, run_id.as_deref()),
        Request::Abandon(r) => session::abandon(&r),
        Request::History { state_dir } => Ok(report::history(&state_dir)),
        Request::Completions(shell) => Ok(shell::completions(shell)),
        Request::Man(sub) => shell::man(sub.as_deref()),
    }
}
