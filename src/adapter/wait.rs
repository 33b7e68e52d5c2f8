//! `wait`: a pause, e.g. the bake time before validation reads metrics.
//! With `watch:` (CloudWatch alarms, or a metric check: `prometheus`,
//! `cloudwatch.metric`) it fails as soon as an alarm fires or the metric
//! leaves its bounds during the bake, which sends the run to rollback
//! without waiting it out.

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
    watch: Option<(Watched, Duration)>,
}

/// What a bake watches.
#[derive(Debug)]
enum Watched {
    Alarms(AlarmQuery),
    /// Metric checks (their kinds' actions), all judged at every look.
    Checks(Vec<Arc<dyn Action>>),
}

/// The metric checks a bake may watch, by their kind key.
const WATCHABLE: [&str; 2] = ["prometheus", "cloudwatch.metric"];

impl Watched {
    fn describe(&self) -> String {
        match self {
            Watched::Alarms(q) => q.describe(),
            Watched::Checks(c) => c.iter().map(|a| a.describe()).collect::<Vec<_>>().join(" and "),
        }
    }

    /// `Ok(summary)` while all is well.
    async fn check(&self, run: &StepRun<'_>) -> Result<String, StepFailure> {
        match self {
            Watched::Alarms(q) => q.check(run.env).await,
            Watched::Checks(checks) => {
                let mut said = Vec::new();
                for a in checks {
                    said.push(a.execute(run).await?.summary.unwrap_or_default());
                }
                Ok(said.join("; "))
            }
        }
    }
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
        let every = schema::duration("how often to look (default 15s)");
        let mut alarms = AlarmQuery::schema("CloudWatch alarms to watch while waiting: one firing ends the wait as a failure");
        alarms["properties"]["every"] = every.clone();
        let mut choices = vec![alarms];
        for kind in [&super::prometheus::PrometheusKind as &dyn StepKind, &super::cloudwatch_metric::MetricKind] {
            choices.push(schema::object(
                "a metric check to run while waiting: out of bounds ends the wait as a failure",
                &[("every", every.clone()), (kind.name(), kind.schema())],
                &[kind.name()],
            ));
        }
        let each: Vec<serde_json::Value> = choices[1..]
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c["properties"].as_object_mut().map(|p| p.remove("every"));
                c
            })
            .collect();
        choices.push(schema::object(
            "several metric checks to run while waiting: any out of bounds ends the wait as a failure",
            &[
                ("every", every.clone()),
                ("checks", serde_json::json!({ "type": "array", "minItems": 1, "items": { "oneOf": each } })),
            ],
            &["checks"],
        ));
        vec![("watch", serde_json::json!({ "oneOf": choices }))]
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>> {
        let duration = duration_setting(Some(spec.value), cx);
        let watch = match spec.sibling("watch") {
            None => None,
            Some(node) => {
                // `every:` belongs to the watch, not to what is watched.
                let every = duration_setting(node.get("every"), cx).unwrap_or(DEFAULT_WATCH_EVERY);
                let check = node.as_map().and_then(|m| m.iter().find(|(k, _)| WATCHABLE.contains(&k.name.as_str())));
                let listed = node.get("checks");
                let watched = match (check, listed) {
                    (_, Some(list)) => Watched::Checks(checks(list, node, spec, cx)?),
                    (Some((key, value)), None) => {
                        let others: Vec<&str> = node
                            .as_map()
                            .unwrap_or_default()
                            .iter()
                            .map(|(k, _)| k.name.as_str())
                            .filter(|k| *k != key.name && *k != "every")
                            .collect();
                        if let Some(other) = others.first() {
                            cx.diagnostics().push(
                                crate::runbook::diagnostic::Diagnostic::new(
                                    node.span,
                                    format!("`watch` with `{}` takes only `every` beside it, not `{other}`", key.name),
                                )
                                .hint("one thing to watch per bake: alarms, or one metric check"),
                            );
                            return None;
                        }
                        Watched::Checks(vec![check_action(key, value, node, spec, cx)?])
                    }
                    (None, None) => {
                        let mut query_node = node.clone();
                        if let crate::runbook::node::NodeKind::Map(entries) = &mut query_node.kind {
                            entries.retain(|(k, _)| k.name != "every");
                        }
                        Watched::Alarms(AlarmQuery::parse(&query_node, spec.key.span, spec.phase, cx)?)
                    }
                };
                Some((watched, every))
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

    /// A watched metric check compares with before the release too: its
    /// baseline is measured, and journaled under this step, before execute.
    fn baselines<'a>(&'a self, run: &'a StepRun<'a>) -> Vec<(String, crate::step::Baseline<'a>)> {
        match &self.watch {
            Some((Watched::Checks(c), _)) => c.iter().flat_map(|a| a.baselines(run)).collect(),
            _ => Vec::new(),
        }
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
                let summary = query.check(run).await.map_err(|f| final_(f, "still out of bounds after the bake"))?;
                return Ok(Outcome {
                    summary: Some(format!("waited {}, then {summary}", format_duration(self.duration))),
                    ..Outcome::default()
                });
            }
            let end = tokio::time::Instant::now() + self.duration;
            loop {
                query.check(run).await.map_err(|f| final_(f, "during the bake"))?;
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

/// One metric check under `watch:`, read by its kind.
fn check_action(
    key: &crate::runbook::node::Key,
    value: &crate::runbook::node::Node,
    within: &crate::runbook::node::Node,
    spec: &StepSpec<'_>,
    cx: &mut dyn ParseContext,
) -> Option<Arc<dyn Action>> {
    let inner = StepSpec { key, value, step: within, phase: spec.phase };
    let kind: &dyn StepKind =
        if key.name == "prometheus" { &super::prometheus::PrometheusKind } else { &super::cloudwatch_metric::MetricKind };
    kind.parse(&inner, cx)
}

/// `watch: { checks: [ {prometheus: …}, {cloudwatch.metric: …} ] }`: every
/// one of them, judged at every look.
fn checks(
    list: &crate::runbook::node::Node,
    watch: &crate::runbook::node::Node,
    spec: &StepSpec<'_>,
    cx: &mut dyn ParseContext,
) -> Option<Vec<Arc<dyn Action>>> {
    use crate::runbook::diagnostic::Diagnostic;
    let others: Vec<&str> = watch
        .as_map()
        .unwrap_or_default()
        .iter()
        .map(|(k, _)| k.name.as_str())
        .filter(|k| !["checks", "every"].contains(k))
        .collect();
    if let Some(other) = others.first() {
        cx.diagnostics().push(
            Diagnostic::new(watch.span, format!("`watch` with `checks` takes only `every` beside it, not `{other}`"))
                .hint("put every metric check in the `checks` list"),
        );
        return None;
    }
    let items = match &list.kind {
        crate::runbook::node::NodeKind::Seq(items) if !items.is_empty() => items,
        _ => {
            cx.diagnostics().push(
                Diagnostic::new(list.span, "`checks` is a list of metric checks")
                    .hint("e.g. `checks: [ { prometheus: { url: …, query: …, max: 0.01 } } ]`"),
            );
            return None;
        }
    };
    let mut out = Vec::new();
    for item in items {
        let entries = item.as_map().unwrap_or_default();
        match entries {
            [(key, value)] if WATCHABLE.contains(&key.name.as_str()) => out.push(check_action(key, value, item, spec, cx)),
            _ => {
                cx.diagnostics().push(
                    Diagnostic::new(item.span, "each of `checks` is one metric check")
                        .hint(format!("a mapping with one of: {}", WATCHABLE.join(", "))),
                );
                out.push(None);
            }
        }
    }
    out.into_iter().collect()
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
