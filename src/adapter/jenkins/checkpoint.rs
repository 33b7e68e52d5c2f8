//! What a `jenkins` step journals as it goes (the queue item, the build, what
//! relctl stopped or cancelled), read back through a serde type. A value
//! that does not parse is an error naming it, never a silent build #0.

use std::collections::BTreeMap;

use crate::step::{AdapterError, StepFailure, read_checkpoint};

const QUEUE_URL: &str = "queue_url";
const BUILD_NUMBER: &str = "build_number";
const BUILD_URL: &str = "build_url";
const STOPPED_BUILD: &str = "stopped_build";
const CANCELLED_ITEM: &str = "cancelled_item";

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Progress {
    /// The queue item the trigger created.
    pub queue_url: Option<String>,
    /// The build it became: number and URL.
    pub build: Option<(u64, String)>,
    /// A build relctl asked Jenkins to stop (timeout, interrupt).
    pub stopped_build: Option<u64>,
    /// A queue item relctl took out of the queue.
    pub cancelled_item: Option<String>,
}

/// The checkpoint as the journal stores it (strings; an empty value is a
/// cleared one, since checkpoints are only ever added to).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    queue_url: Option<String>,
    build_number: Option<String>,
    build_url: Option<String>,
    stopped_build: Option<String>,
    cancelled_item: Option<String>,
}

impl Progress {
    /// The step's checkpoint as journaled, typed.
    pub fn read(data: Option<&BTreeMap<String, String>>) -> Result<Progress, StepFailure> {
        let stored: Stored = read_checkpoint(data)?;
        let set = |v: Option<String>| v.filter(|v| !v.is_empty());
        let number = |key: &str, v: Option<String>| -> Result<Option<u64>, StepFailure> {
            set(v)
                .map(|n| {
                    n.parse::<u64>().map_err(|_| {
                        StepFailure::from(AdapterError::Journal(format!(
                            "the journal's checkpoint of this step is damaged: `{key}` is {n:?}, not a build number"
                        )))
                    })
                })
                .transpose()
        };
        let build = match (number(BUILD_NUMBER, stored.build_number)?, set(stored.build_url)) {
            (Some(n), Some(url)) => Some((n, url)),
            (None, None) => None,
            _ => {
                return Err(AdapterError::Journal(
                    "the journal's checkpoint of this step is damaged: a build number without its URL, or the reverse".into(),
                )
                .into());
            }
        };
        Ok(Progress {
            queue_url: set(stored.queue_url),
            build,
            stopped_build: number(STOPPED_BUILD, stored.stopped_build)?,
            cancelled_item: set(stored.cancelled_item),
        })
    }

    /// A new queue item; any build of an earlier attempt is no longer the step's.
    pub fn triggered(queue_url: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (QUEUE_URL.to_string(), queue_url.to_string()),
            (BUILD_NUMBER.to_string(), String::new()),
            (BUILD_URL.to_string(), String::new()),
        ])
    }

    pub fn started(number: u64, url: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(BUILD_NUMBER.to_string(), number.to_string()), (BUILD_URL.to_string(), url.to_string())])
    }

    pub fn stopped(number: u64) -> BTreeMap<String, String> {
        BTreeMap::from([(STOPPED_BUILD.to_string(), number.to_string())])
    }

    pub fn cancelled(queue_url: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(CANCELLED_ITEM.to_string(), queue_url.to_string())])
    }

    /// The build relctl stopped itself: attaching to it again could only
    /// report ABORTED, so the next attempt triggers afresh.
    pub fn build_was_stopped(&self) -> bool {
        self.build.as_ref().is_some_and(|(n, _)| Some(*n) == self.stopped_build)
    }

    /// The queue item still waiting for a build (not cancelled by relctl).
    pub fn waiting_item(&self) -> Option<&str> {
        self.queue_url.as_deref().filter(|q| self.build.is_none() && self.cancelled_item.as_deref() != Some(*q))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
    }

    #[test]
    fn a_damaged_build_number_is_an_error_not_build_zero() {
        let damaged = map(&[("build_number", "4x2"), ("build_url", "http://j/job/a/42/")]);
        let e = Progress::read(Some(&damaged)).unwrap_err();
        assert!(!e.retryable());
        assert!(e.message().contains("`build_number` is \"4x2\""), "{}", e.message());
        let half = map(&[("build_number", "42")]);
        assert!(Progress::read(Some(&half)).is_err());
        let stranger = map(&[("build_numbr", "42")]);
        assert!(Progress::read(Some(&stranger)).is_err(), "an unknown key is a damaged record, not an empty one");
    }

    #[test]
    fn what_was_written_reads_back() {
        let mut data = Progress::triggered("http://j/queue/item/7/");
        assert_eq!(Progress::read(Some(&data)).unwrap().waiting_item(), Some("http://j/queue/item/7/"));
        data.extend(Progress::started(42, "http://j/job/a/42/"));
        let p = Progress::read(Some(&data)).unwrap();
        assert_eq!(p.build, Some((42, "http://j/job/a/42/".to_string())));
        assert_eq!(p.waiting_item(), None);
        data.extend(Progress::stopped(42));
        assert!(Progress::read(Some(&data)).unwrap().build_was_stopped());
        // A new trigger clears the old build.
        data.extend(Progress::triggered("http://j/queue/item/8/"));
        let p = Progress::read(Some(&data)).unwrap();
        assert_eq!(p.build, None);
        assert_eq!(p.waiting_item(), Some("http://j/queue/item/8/"));
    }
}
