//! Which state dir a command reads when none was named: the current
//! directory's `.relctl`, or, when the run asked for (or any run) is not
//! there, the one this user's run index points to. So `relctl resume RUN_ID`,
//! as relctl prints it, works from wherever it is typed.

use std::path::{Path, PathBuf};

use crate::engine::run_dir::{RunDir, RunIndex};

pub fn locate(state_dir: &Path, explicit: bool, run_id: Option<&str>, index: Option<&RunIndex>) -> PathBuf {
    if explicit {
        return state_dir.to_path_buf();
    }
    let here = match run_id {
        Some(id) => RunDir::open(state_dir, id).is_some(),
        None => !RunDir::list(state_dir).is_empty(),
    };
    if here {
        return state_dir.to_path_buf();
    }
    let found = index.and_then(|i| match run_id {
        Some(id) => i.state_dir_of(id),
        None => i.runs().pop().map(|(_, dir)| dir),
    });
    match found {
        Some(dir) => {
            eprintln!("(runs in {})", dir.display());
            dir
        }
        None => state_dir.to_path_buf(),
    }
}
