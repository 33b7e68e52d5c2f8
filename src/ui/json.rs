//! `--output json`: every event as one JSON object per line on stdout, for
//! CI systems and dashboards. The same shapes as the journal, each line with
//! the `schema_version` and a timestamp (`at`; for events the journal keeps
//! without one, such as output lines, the time it was printed).

use std::io::Write;

use crate::event::{Event, Observer, SCHEMA_VERSION, now};

pub struct JsonOutput;

impl Observer for JsonOutput {
    fn on_event(&self, event: &Event) {
        let Ok(mut value) = serde_json::to_value(event) else { return };
        if let Some(fields) = value.as_object_mut() {
            fields.entry("at").or_insert_with(|| serde_json::Value::String(now()));
            fields.insert("schema_version".into(), SCHEMA_VERSION.into());
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{value}");
        let _ = out.flush();
    }
}
