//! One function per subcommand, from a resolved [`Config`] to an exit code.

mod init;
pub mod inspect;
mod locate;
pub mod report;
mod reports;
pub mod session;
mod shared;
pub mod shell;
mod summary;

use crate::config::{Config, Request};
use crate::engine::run_dir::RunIndex;
use crate::error::AppError;
use locate::locate;

pub async fn dispatch(config: Config) -> Result<i32, AppError> {
    let display = config.display;
    let json = display.format == crate::config::OutputMode::Json;
    let index = config.index.map(RunIndex::new);
    let index = index.as_ref();
    match config.request {
        Request::Run(r) => session::run(r, &display, index).await,
        Request::Resume(mut r) => {
            r.state_dir = locate(&r.state_dir, r.state_explicit, r.run_id.as_deref(), index);
            Box::pin(session::resume(r, &display)).await
        }
        Request::Validate(files) => Ok(inspect::validate(&files, json, display.github)),
        Request::Plan { file, vars } => inspect::plan(&file, &vars, json),
        Request::Status { run_id, state_dir, state_explicit, lock_dir, shared, runbook } => {
            let state_dir = locate(&state_dir, state_explicit, run_id.as_deref(), index);
            // A run from another machine: brought into the local state dir (a cache) first.
            if let Some(id) = &run_id {
                shared::bring(&shared, runbook.as_deref(), &state_dir, id).await?;
            }
            report::status(&state_dir, run_id.as_deref(), &lock_dir, json)
        }
        Request::Verify { run_id, state_dir, state_explicit, shared, runbook } => {
            let state_dir = locate(&state_dir, state_explicit, run_id.as_deref(), index);
            if let Some(id) = &run_id {
                shared::bring(&shared, runbook.as_deref(), &state_dir, id).await?;
            }
            report::verify(&state_dir, run_id.as_deref())
        }
        Request::Abandon(mut r) => {
            r.state_dir = locate(&r.state_dir, r.state_explicit, Some(&r.run_id), index);
            session::abandon(&r).await
        }
        Request::History { state_dir, state_explicit, shared, runbook } => {
            match shared::location_for(&shared, runbook.as_deref()) {
                Some(location) => shared::history(location, runbook.as_deref(), json).await,
                None => Ok(report::history(&state_dir, state_explicit, index, json)),
            }
        }
        Request::Report { run_id, format, state_dir, state_explicit, shared, runbook } => {
            let state_dir = locate(&state_dir, state_explicit, run_id.as_deref(), index);
            if let Some(id) = &run_id {
                shared::bring(&shared, runbook.as_deref(), &state_dir, id).await?;
            }
            report::report(&state_dir, run_id.as_deref(), &format)
        }
        Request::Init { template, path } => Ok(init::init(template.as_deref(), &path)),
        Request::Completions(shell) => Ok(shell::completions(shell)),
        Request::Man(sub) => shell::man(sub.as_deref()),
        Request::Schema => Ok(shell::schema()),
        Request::Lock(request, shared) => shared::command(request, &shared, json).await,
    }
}
