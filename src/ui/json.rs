//! `--output json`: every event as one JSON object per line on stdout, for
//! CI systems and dashboards. The same shapes as the journal.

use std::io::Write;

use crate::event::{Event, Observer};

pub struct JsonOutput;

impl Observer for JsonOutput {
    fn on_event(&self, event: &Event) {
        if let Ok(text) = serde_json::to_string(event) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
    }
}
