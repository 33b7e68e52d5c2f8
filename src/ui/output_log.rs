//! Every line steps print, kept in the run directory (`output.log`), whatever
//! the terminal showed.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

use crate::event::{Event, Observer};

pub struct OutputLog {
    file: Mutex<BufWriter<File>>,
}

impl OutputLog {
    pub fn create(path: &Path) -> std::io::Result<OutputLog> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(OutputLog { file: Mutex::new(BufWriter::new(file)) })
    }
}

impl Observer for OutputLog {
    fn on_event(&self, event: &Event) {
        let mut f = self.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = match event {
            Event::StepLog { key, line } => {
                // One write per block: a Jenkins console arrives as millions of lines.
                let mut block = Vec::with_capacity(line.len() + 64);
                for l in line.split('\n') {
                    block.push(b'[');
                    block.extend_from_slice(key.as_bytes());
                    block.extend_from_slice(b"] ");
                    block.extend_from_slice(l.as_bytes());
                    block.push(b'\n');
                }
                f.write_all(&block)
            }
            Event::StepStarted { key, label, attempt, at, .. } => {
                writeln!(f, "[{key}] --- {label} (attempt {attempt}) started {at}")
            }
            Event::StepFinished { key, status, message, at, .. } => {
                let r = writeln!(f, "[{key}] --- {status:?} {at} {}", message.as_deref().unwrap_or(""));
                let _ = f.flush();
                r
            }
            _ => Ok(()),
        };
    }
}
