//! Where runs live: `<state dir>/runs/<run id>/` holds the journal, a copy of
//! the runbook as it was run (so `resume` runs the same steps), and step logs.

use std::path::{Path, PathBuf};

pub const RUNBOOK_COPY: &str = "runbook.yaml";
pub const OUTPUT_LOG: &str = "output.log";

#[derive(Debug, Clone)]
pub struct RunDir {
    pub id: String,
    pub path: PathBuf,
}

impl RunDir {
    /// Creates a new run directory with a fresh, sortable id.
    pub fn create(state_dir: &Path) -> std::io::Result<RunDir> {
        let runs = state_dir.join("runs");
        std::fs::create_dir_all(&runs)?;
        loop {
            let id = new_run_id();
            let path = runs.join(&id);
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(RunDir { id, path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
    }

    pub fn open(state_dir: &Path, id: &str) -> Option<RunDir> {
        let path = state_dir.join("runs").join(id);
        path.is_dir().then(|| RunDir { id: id.to_string(), path })
    }

    /// Every run, oldest first (ids sort by start time).
    pub fn list(state_dir: &Path) -> Vec<RunDir> {
        let Ok(entries) = std::fs::read_dir(state_dir.join("runs")) else { return Vec::new() };
        let mut runs: Vec<RunDir> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().join(super::journal::FILE_NAME).is_file())
            .map(|e| RunDir { id: e.file_name().to_string_lossy().into_owned(), path: e.path() })
            .collect();
        runs.sort_by(|a, b| a.id.cmp(&b.id));
        runs
    }
}

/// Where this user's runs are, whatever directory they were started from:
/// one file per run, named by its id, holding its state dir. `resume`,
/// `status`, `verify`, `abandon` and `history` fall back to it when the
/// current directory has no such run, so the hints relctl prints
/// (`relctl resume RUN_ID`) work from wherever they are typed.
#[derive(Debug, Clone)]
pub struct RunIndex {
    dir: PathBuf,
}

impl RunIndex {
    pub fn new(dir: PathBuf) -> RunIndex {
        RunIndex { dir }
    }

    /// Records where run `id` lives (an absolute state dir).
    pub fn record(&self, id: &str, state_dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(".{id}.tmp"));
        std::fs::write(&tmp, format!("{}\n", state_dir.display()))?;
        std::fs::rename(tmp, self.dir.join(id))
    }

    /// The state dir of run `id`, if it was recorded and is still there.
    pub fn state_dir_of(&self, id: &str) -> Option<PathBuf> {
        if id.contains('/') || id.starts_with('.') {
            return None;
        }
        let text = std::fs::read_to_string(self.dir.join(id)).ok()?;
        let dir = PathBuf::from(text.trim_end_matches('\n'));
        RunDir::open(&dir, id).map(|_| dir)
    }

    /// Every recorded run that is still there, oldest first: (id, state dir).
    pub fn runs(&self) -> Vec<(String, PathBuf)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut ids: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        ids.sort();
        ids.into_iter().filter_map(|id| self.state_dir_of(&id).map(|d| (id, d))).collect()
    }
}

/// `20261122-021055-7f3a`: UTC start time, then 16 random-enough bits.
fn new_run_id() -> String {
    let now = std::time::SystemTime::now();
    let stamp = humantime::format_rfc3339_seconds(now).to_string();
    let compact: String = stamp.chars().filter(char::is_ascii_digit).collect();
    let (date, time) = compact.split_at(8.min(compact.len()));
    let nanos = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let mix = (u64::from(nanos) ^ (u64::from(std::process::id()) << 16)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{date}-{time}-{:04x}", (mix >> 48) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_finds_a_run_from_anywhere_and_forgets_one_that_is_gone() {
        let home = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let index = RunIndex::new(home.path().join("runs"));
        let run = RunDir::create(state.path()).unwrap();
        std::fs::write(run.path.join(super::super::journal::FILE_NAME), "").unwrap();
        index.record(&run.id, state.path()).unwrap();
        assert_eq!(index.state_dir_of(&run.id).as_deref(), Some(state.path()));
        assert_eq!(index.runs(), vec![(run.id.clone(), state.path().to_path_buf())]);
        assert_eq!(index.state_dir_of("../etc"), None);
        std::fs::remove_dir_all(&run.path).unwrap();
        assert_eq!(index.state_dir_of(&run.id), None);
    }

    #[test]
    fn ids_are_unique_and_sortable() {
        let dir = tempfile::tempdir().unwrap();
        let a = RunDir::create(dir.path()).unwrap();
        let b = RunDir::create(dir.path()).unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(a.id.len(), "20261122-021055-7f3a".len(), "{}", a.id);
    }
}
