//! Notices that could not go out in time are kept, not dropped. A notice
//! gets a few seconds so that Slack never holds up a release or a rollback;
//! when Slack's rate limit asks to wait longer (Retry-After), or Slack is
//! briefly down, the notice stays queued and goes out, in order, before
//! the next one, and at the end of the run, which waits longer for them.
//! A notice Slack refuses outright (`channel_not_found`, …) never will go
//! out, and one whose answer was lost may have gone out: either is dropped,
//! with a warning, and the ones behind it still go.

use std::collections::VecDeque;

use super::super::remote::RemoteError;
use super::SlackSettings;
use crate::step::{AdapterError, RemoteKind, StepEnv};

#[derive(Debug, Default)]
pub(super) struct Outbox {
    queue: std::sync::Mutex<VecDeque<(String, bool)>>,
    /// One sender at a time, so that notices keep their order.
    sending: tokio::sync::Mutex<()>,
}

impl Outbox {
    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<(String, bool)>> {
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl SlackSettings {
    /// Queues a notice; [`SlackSettings::flush`] sends it.
    pub(super) fn notify_post(&self, env: &dyn StepEnv, text: &str, broadcast: bool) {
        self.outbox.queue().push_back((env.redact(text), broadcast));
    }

    /// Sends the queued notices, oldest first. One that may still go out
    /// later (busy, rate-limited, unreachable) stays at the front; one Slack
    /// refused is dropped.
    pub(super) async fn flush(&self, env: &dyn StepEnv) -> Result<(), RemoteError> {
        let _in_order = self.outbox.sending.lock().await;
        let mut refused = None;
        loop {
            let Some((text, broadcast)) = self.outbox.queue().front().cloned() else { break };
            let Err(e) = self.post(env, &text, broadcast).await else {
                self.outbox.queue().pop_front();
                continue;
            };
            let kind = match AdapterError::from(e.clone()) {
                AdapterError::Remote { kind, .. } => kind,
                _ => RemoteKind::Rejected,
            };
            // Not sent for sure (busy, rate-limited, unreachable): kept for
            // later. Refused, or maybe sent (the answer was lost): dropped,
            // never posted twice blindly; the ones behind it still go.
            if matches!(kind, RemoteKind::Transient | RemoteKind::Unreachable) {
                let waiting = self.outbox.queue().len();
                let mut e = e;
                e.message = format!("{} ({waiting} notice(s) kept: they go out with the next one, or at the end)", e.message);
                return Err(e);
            }
            self.outbox.queue().pop_front();
            refused.get_or_insert(e);
        }
        refused.map_or(Ok(()), Err)
    }
}
