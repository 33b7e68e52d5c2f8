//! Keeps secret values out of every output: terminal, JSON, journal, logs.
//!
//! Every value that came from `${{ secrets.X }}` is registered before the run
//! starts (and any value a step rendered from one), and each event passes
//! through [`Redactor::event`] before any observer or the journal sees it.
//! A secret is masked in the forms scripts commonly print it in too: base64
//! (standard and URL-safe, padded or not), hex and URL-encoding.

use std::sync::RwLock;

use crate::event::Event;

pub const MASK: &str = "***";

/// Event fields that never carry secret values.
const STRUCTURAL: &[&str] = &["event", "run_id", "vars", "key", "at", "state", "kind", "id", "status", "by"];

#[derive(Debug, Default)]
pub struct Redactor {
    secrets: RwLock<Vec<String>>,
}

impl Redactor {
    pub fn add(&self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        // A multi-line secret (a PEM key) is printed a line at a time: mask
        // each substantial line too.
        if secret.contains('\n') {
            for line in secret.lines().map(str::trim).filter(|l| l.len() >= 8) {
                self.add(line);
            }
        }
        let mut s = self.secrets.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if s.iter().any(|x| x == secret) {
            return;
        }
        s.push(secret.to_string());
        for form in encoded_forms(secret) {
            // A short encoding would mask ordinary text; the secret's own
            // length already passed that bar for the plain form.
            if form != secret && form.len() >= 8 && !s.contains(&form) {
                s.push(form);
            }
        }
        // Longest first, so a secret containing another is masked whole.
        s.sort_by_key(|x| std::cmp::Reverse(x.len()));
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.read().unwrap_or_else(std::sync::PoisonError::into_inner).is_empty()
    }

    pub fn text(&self, text: &str) -> String {
        let secrets = self.secrets.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = text.to_string();
        for s in secrets.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        out
    }

    /// The event with every string in it redacted.
    pub fn event(&self, event: &Event) -> Event {
        if self.is_empty() {
            return event.clone();
        }
        // Step output can be large (a Jenkins console): redact it directly.
        if let Event::StepLog { key, line } = event {
            return Event::StepLog { key: key.clone(), line: self.text(line) };
        }
        let Ok(mut value) = serde_json::to_value(event) else { return event.clone() };
        self.value(&mut value);
        serde_json::from_value(value).unwrap_or_else(|_| event.clone())
    }

    fn value(&self, v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) => *s = self.text(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|i| self.value(i)),
            serde_json::Value::Object(map) => {
                for (k, i) in map.iter_mut() {
                    // relctl's own fields and the --var values a run is resumed
                    // with hold no secrets; masking them would corrupt resume.
                    if !STRUCTURAL.contains(&k.as_str()) {
                        self.value(i);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The secret as base64 (standard and URL-safe, with and without padding),
/// hex (both cases) and percent-encoded.
fn encoded_forms(secret: &str) -> Vec<String> {
    let bytes = secret.as_bytes();
    let standard = base64(bytes, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    let url_safe = base64(bytes, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let percent: String = bytes
        .iter()
        .map(|&b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    vec![
        standard.trim_end_matches('=').to_string(),
        standard,
        url_safe.trim_end_matches('=').to_string(),
        url_safe,
        hex.to_uppercase(),
        hex,
        percent.replace("%20", "+"),
        percent,
    ]
}

fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn encoded_forms_of_a_secret_are_masked_too() {
        let r = Redactor::default();
        r.add("s3cr3t-t0ken/+=?");
        // base64, URL-safe base64, hex, URL-encoding of the secret.
        for leaked in [
            "czNjcjN0LXQwa2VuLys9Pw==",
            "czNjcjN0LXQwa2VuLys9Pw",
            "czNjcjN0LXQwa2VuLys9Pw",
            "7333637233742d74306b656e2f2b3d3f",
            "s3cr3t-t0ken%2F%2B%3D%3F",
        ] {
            assert_eq!(r.text(&format!("x {leaked} y")), "x *** y", "{leaked}");
        }
        assert_eq!(base64(b"Ma", b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"), "TWE=");
        assert_eq!(base64(b"Man", b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"), "TWFu");
    }

    use super::*;

    #[test]
    fn masks_every_occurrence_longest_first() {
        let r = Redactor::default();
        r.add("abc");
        r.add("abcdef");
        assert_eq!(r.text("x abcdef y abc"), "x *** y ***");
    }

    #[test]
    fn masks_each_line_of_a_multi_line_secret() {
        let r = Redactor::default();
        r.add("-----BEGIN KEY-----\nMIIEowIBAAKCAQEA1\nshort\n-----END KEY-----");
        assert_eq!(r.text("MIIEowIBAAKCAQEA1"), "***");
        assert_eq!(r.text("short"), "short");
    }

    #[test]
    fn structural_fields_stay_intact_for_resume() {
        let r = Redactor::default();
        r.add("9");
        let e = Event::StateEntered { state: crate::event::RunState::Execute, at: "2026-11-22T02:09:09Z".into() };
        assert_eq!(r.event(&e), e);
    }

    #[test]
    fn masks_inside_events() {
        let r = Redactor::default();
        r.add("hunter2");
        let e = Event::StepLog { key: "k".into(), line: "token=hunter2".into() };
        assert_eq!(r.event(&e), Event::StepLog { key: "k".into(), line: "token=***".into() });
    }
}
