//! Where run state is shared between machines: a location (`s3://bucket/prefix`)
//! and what lives there. The local directory (`--state-dir`) stays what it
//! was — the journal, the run copy, the logs — and, with a shared location,
//! the runbook's lock lives in the store too, so two machines cannot both
//! hold it (docs/state.md).
//!
//! This layer knows the store and the lock protocol; it knows nothing of the
//! engine, the plan or the UI. `commands/` wires it to a run.

mod audit;
mod by_hand;
pub mod lock;
pub mod runs;
pub mod store;

use std::fmt;

/// A shared state location: `s3://bucket/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub bucket: String,
    /// Without leading or trailing `/`; may be empty.
    pub prefix: String,
}

impl Location {
    /// Parses `s3://bucket[/prefix]`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Location, String> {
        let Some(rest) = text.strip_prefix("s3://") else {
            return Err(format!("`{text}` is not a shared state location; write s3://BUCKET/PREFIX"));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && !bucket.starts_with(['-', '.'])
            && !bucket.ends_with(['-', '.']);
        if !valid_bucket {
            return Err(format!(
                "`{bucket}` is not an S3 bucket name (3 to 63 lowercase letters, digits, `-` and `.`): write s3://BUCKET/PREFIX"
            ));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|p| p == ".." || p == ".") {
            return Err(format!("`{text}`: the prefix may not hold `.` or `..`"));
        }
        Ok(Location { bucket: bucket.to_string(), prefix: prefix.to_string() })
    }

    /// The key of `path` under the prefix.
    pub fn key(&self, path: &str) -> String {
        if self.prefix.is_empty() { path.to_string() } else { format!("{}/{path}", self.prefix) }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() { write!(f, "s3://{}", self.bucket) } else { write!(f, "s3://{}/{}", self.bucket, self.prefix) }
    }
}

#[cfg(test)]
mod tests {
    use super::Location;

    #[test]
    fn locations_parse_and_name_their_keys() {
        let l = Location::parse("s3://acme-release-state/checkout/").unwrap();
        assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("acme-release-state", "checkout"));
        assert_eq!(l.key("locks/x.json"), "checkout/locks/x.json");
        assert_eq!(l.to_string(), "s3://acme-release-state/checkout");
        assert_eq!(Location::parse("s3://bucket").unwrap().key("a"), "a");
        assert!(Location::parse("/var/state").unwrap_err().contains("s3://BUCKET/PREFIX"));
        assert!(Location::parse("s3://Bad_Bucket/x").is_err());
        assert!(Location::parse("s3://bucket/../x").is_err());
    }
}
