//! A step's checkpoint as a typed value: written from a serde type, read
//! back into it. The journal keeps checkpoints as string maps; a map that
//! does not read back (a damaged or edited journal) is an error naming the
//! step's record, never a default quietly taken for the truth.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{AdapterError, StepFailure};

/// The checkpoint as `T`; none yet is `T::default()`.
pub fn read_checkpoint<T: DeserializeOwned + Default>(data: Option<&BTreeMap<String, String>>) -> Result<T, StepFailure> {
    let Some(data) = data else { return Ok(T::default()) };
    let object = data.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
    serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| AdapterError::Journal(format!("the journal's checkpoint of this step is damaged ({e}): {data:?}")).into())
}

/// What `progress` holds, as the journal stores it (unset fields left out).
pub fn checkpoint_data<T: Serialize>(progress: &T) -> BTreeMap<String, String> {
    match serde_json::to_value(progress) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::String(s) => Some((k, s)),
                serde_json::Value::Null => None,
                other => Some((k, other.to_string())),
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Progress {
        arn: Option<String>,
        deployment: Option<String>,
    }

    #[test]
    fn what_is_written_reads_back_and_a_stranger_is_an_error() {
        let p = Progress { arn: Some("arn:td:7".into()), deployment: None };
        let data = checkpoint_data(&p);
        assert_eq!(data.len(), 1);
        assert_eq!(read_checkpoint::<Progress>(Some(&data)).unwrap(), p);
        assert_eq!(read_checkpoint::<Progress>(None).unwrap(), Progress::default());
        let mut edited = data;
        edited.insert("deployment_idd".into(), "x".into());
        let e = read_checkpoint::<Progress>(Some(&edited)).unwrap_err();
        assert!(!e.retryable());
        assert!(e.message().contains("damaged"), "{}", e.message());
    }
}
