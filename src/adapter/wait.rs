//! `wait`: a pause, e.g. the bake time before validation reads metrics.
//! With `watch:` (CloudWatch alarms) it fails as soon as an alarm fires
//! during the bake, which sends the run to rollback without waiting it out.

use std::sync::Arc;
use std::time::Duration;

use super::cloudwatch::AlarmQuery;
use crate::event::RunState;
use crate::runbook::duration::format_duration;
use crate::step::schema;
use crate::step::{
    Action, AdapterError, BoxFuture, Outcome, ParseContext, StepFailure, StepKind, StepResult, StepRun, StepSpec,
    duration_setting,
};

/// How often `watch:` looks at the alarms during the wait.
const DEFAULT_WATCH_EVERY: Duration = Duration::from_secs(15);

pub struct WaitKind;

#[derive(Debug)]
struct WaitAction {
    duration: Duration,
    watch: Option<(AlarmQuery, Duration)>,
}

impl StepKind for WaitKind {
    fn name(&self) -> &'static str {
        "wait"
    }

    fn sibling_keys(&self) -> &'static [&'static str] {
        &["watch"]
    }

    fn schema(&self) -> serde_json::Value {
        schema::duration("how long to wait (a bake time)")
    }

    fn sibling_schema(&self) -> Vec<(&'static str, serde_json::Value)> {
        let mut watch = AlarmQuery::schema("CloudWatch alarms to watch while waiting: one firing ends the wait as a failure");
        watch["properties"]["every"] = schema::duration("how often to look at the alarms (default 15s)");
        vec![("watch", watch)]
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>> {
        let duration = duration_setting(Some(spec.value), cx);
        let watch = match spec.sibling("watch") {
            None => None,
            Some(node) => {
                // `every:` belongs to the watch, not to the alarm query.
                let every = duration_setting(node.get("every"), cx).unwrap_or(DEFAULT_WATCH_EVERY);
                let mut query_node = node.clone();
                if let crate::runbook::node::NodeKind::Map(entries) = &mut query_node.kind {
                    entries.retain(|(k, _)| k.name != "every");
                }
                Some((AlarmQuery::parse(&query_node, spec.key.span, spec.phase, cx)?, every))
            }
        };
        Some(Arc::new(WaitAction { duration: duration?, watch }))
    }
}

impl Action for WaitAction {
    fn describe(&self) -> String {
        match &self.watch {
            Some((q, _)) => format!("wait {}, watching {}", format_duration(self.duration), q.describe()),
            None => format!("wait {}", format_duration(self.duration)),
        }
    }

    /// The pause itself, and a minute for the last alarm query to answer.
    fn default_timeout(&self) -> Option<Duration> {
        Some(self.duration.saturating_add(Duration::from_secs(60)))
    }

    fn expected_duration(&self) -> Option<Duration> {
        Some(self.duration)
    }

    fn execute<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, StepResult> {
        Box::pin(async move {
            let Some((query, every)) = &self.watch else {
                tokio::time::sleep(self.duration).await;
                return Ok(Outcome { summary: Some(format!("waited {}", format_duration(self.duration))), ..Outcome::default() });
            };
            if run.env.state() == RunState::VerifyingRollback {
                // After a rollback the alarm that sent us here may still be in
                // ALARM for a while: the bake gives it time to clear, and the
                // rollback is verified only if it has by the end.
                tokio::time::sleep(self.duration).await;
                // Another bake would not tell more: the attempt is final.
                let summary = query.check(run.env).await.map_err(|f| final_(f, "still firing after the bake"))?;
                return Ok(Outcome {
                    summary: Some(format!("waited {}, then {summary}", format_duration(self.duration))),
                    ..Outcome::default()
                });
            }
            let end = tokio::time::Instant::now() + self.duration;
            loop {
                query.check(run.env).await.map_err(|f| final_(f, "during the bake"))?;
                let now = tokio::time::Instant::now();
                if now >= end {
                    break;
                }
                tokio::time::sleep((*every).min(end - now)).await;
            }
            Ok(Outcome {
                summary: Some(format!("waited {}, {} quiet", format_duration(self.duration), query.describe())),
                ..Outcome::default()
            })
        })
    }
}

/// A failure during or after the bake, with when it happened. An alarm that
/// fired is final (another bake would not tell more); a failed query keeps
/// its own kind, so a throttled call may still be retried.
fn final_(f: StepFailure, when: &str) -> StepFailure {
    let error = match f.error {
        AdapterError::Check(m) => AdapterError::refused(format!("{when}: {m}")),
        other => other.map_message(|m| format!("{when}: {m}")),
    };
    StepFailure { error, outputs: f.outputs }
}
