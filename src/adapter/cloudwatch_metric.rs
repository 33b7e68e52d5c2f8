//! `cloudwatch.metric`: a CloudWatch metric compared with a threshold, the
//! numbers SOPs write as rollback criteria ("5XX count above 5", "latency
//! above 2000 ms").
//!
//! One GetMetricData query whose period is the whole window: the statistic
//! over the last `window` (5 minutes by default) is the value checked. A
//! window with no data fails (a metric that reports nothing proves nothing)
//! unless `allow_no_data: true`.
//!
//! `max_increase` and `max_ratio` compare with the metric's level before the
//! release ("error rate more than 1% above normal", "responses more than 20%
//! slower"): the engine measures that baseline once, just before `execute`
//! begins, and journals it, so a resumed run compares with the same one.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};

use super::aws::{self, sdk_error};
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::duration::format_duration;
use crate::runbook::expr::Template;
use crate::runbook::node::{Node, NodeKind};
use crate::step::schema;
use crate::step::{
    Action, BoxFuture, Integration, Outcome, ParseContext, Settings, StepFailure, StepKind, StepResult, StepRun, StepSpec,
    baseline_of, template_map,
};

const SYSTEM: &str = "CloudWatch";
const KEYS: &[&str] =
    &["namespace", "metric", "dimensions", "stat", "window", "max", "min", "max_increase", "max_ratio", "allow_no_data"];
const DEFAULT_WINDOW: Duration = Duration::from_secs(300);
/// GetMetricData's statistics besides percentiles (`p99`, `p99.9`).
const STATS: &[&str] = &["SampleCount", "Average", "Sum", "Minimum", "Maximum"];

pub struct MetricKind;

#[derive(Debug)]
struct MetricAction {
    aws: Arc<dyn Integration>,
    namespace: Template,
    metric: Template,
    dimensions: Vec<(String, Template)>,
    stat: String,
    window: Duration,
    max: Option<f64>,
    min: Option<f64>,
    /// At most this much above the baseline (`1%` is 0.01, for ratios).
    max_increase: Option<f64>,
    /// At most the baseline times this.
    max_ratio: Option<f64>,
    allow_no_data: bool,
}

impl StepKind for MetricKind {
    fn name(&self) -> &'static str {
        "cloudwatch.metric"
    }

    fn schema(&self) -> serde_json::Value {
        let number = |d: &str| serde_json::json!({ "type": "number", "description": d });
        let s = schema::object(
            "a CloudWatch metric's statistic over the last `window`, compared with `max` and/or `min`",
            &[
                ("namespace", schema::template("e.g. AWS/ApplicationELB")),
                ("metric", schema::template("e.g. HTTPCode_Target_5XX_Count")),
                ("dimensions", schema::template_map("e.g. { TargetGroup: targetgroup/green/0123 }")),
                (
                    "stat",
                    serde_json::json!({ "type": "string", "pattern": "^(SampleCount|Average|Sum|Minimum|Maximum|p[0-9]{1,2}(\\.[0-9]+)?)$", "default": "Average" }),
                ),
                ("window", schema::duration("how far back to look, whole minutes (default 5m)")),
                ("max", number("fails above this")),
                ("min", number("fails below this")),
                (
                    "max_increase",
                    serde_json::json!({ "anyOf": [{ "type": "number" }, { "type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?%$" }], "description": "fails more than this above the level before the release (1% is 0.01: for ratios such as error rates)" }),
                ),
                ("max_ratio", number("fails above the level before the release times this (1.2: 20% worse)")),
                ("allow_no_data", schema::flag("whether a window with no data passes", false)),
            ],
            &["namespace", "metric"],
        );
        let mut s = s;
        s["anyOf"] = serde_json::json!([
            { "required": ["max"] },
            { "required": ["min"] },
            { "required": ["max_increase"] },
            { "required": ["max_ratio"] }
        ]);
        s
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>> {
        let aws = aws::settings(cx, spec.key.span, "cloudwatch.metric");
        let example = "e.g. `{ namespace: AWS/ApplicationELB, metric: HTTPCode_Target_5XX_Count, stat: Sum, max: 5 }`";
        let v = Settings::mapping(spec.value, "cloudwatch.metric", KEYS, example, cx)?;
        let (namespace, metric) = (v.required("namespace", cx), v.required("metric", cx));
        let dimensions = template_map(v.get("dimensions"), "dimensions", "dimension", cx);
        let stat = match v.get("stat") {
            None => "Average".to_string(),
            Some(n) => match n.as_str().filter(|s| valid_stat(s)) {
                Some(s) => s.to_string(),
                None => {
                    cx.diagnostics().push(
                        Diagnostic::new(n.span, "unknown statistic")
                            .hint(format!("one of {}, or a percentile like p99", STATS.join(", "))),
                    );
                    return None;
                }
            },
        };
        let window = v.duration("window", cx).unwrap_or(DEFAULT_WINDOW);
        if window.as_secs() % 60 != 0 || window.is_zero() {
            let span = v.get("window").map_or(spec.value.span, |n| n.span);
            cx.diagnostics().push(Diagnostic::new(span, "`window` must be whole minutes").hint("e.g. `window: 5m`"));
        }
        let (max, min) = (number(v.get("max"), "max", cx), number(v.get("min"), "min", cx));
        let max_increase = increase(v.get("max_increase"), cx);
        let max_ratio = number(v.get("max_ratio"), "max_ratio", cx);
        if ["max", "min", "max_increase", "max_ratio"].iter().all(|k| v.get(k).is_none()) {
            cx.diagnostics().push(
                Diagnostic::new(spec.key.span, "`cloudwatch.metric` needs `max` or `min`, `max_increase` or `max_ratio`").hint(
                    "the threshold the metric must stay within, e.g. `max: 5`, or `max_ratio: 1.2` against before the release",
                ),
            );
            return None;
        }
        let allow_no_data = v.flag("allow_no_data", false, cx);
        Some(Arc::new(MetricAction {
            aws: aws?,
            namespace: namespace?,
            metric: metric?,
            dimensions,
            stat,
            window,
            max,
            min,
            max_increase,
            max_ratio,
            allow_no_data,
        }))
    }
}

fn valid_stat(s: &str) -> bool {
    STATS.contains(&s) || s.strip_prefix('p').and_then(|p| p.parse::<f64>().ok()).is_some_and(|p| (0.0..=100.0).contains(&p))
}

/// `max_increase`: a number, or `N%` for N hundredths (of a ratio metric).
fn increase(node: Option<&Node>, cx: &mut dyn ParseContext) -> Option<f64> {
    let node = node?;
    if let Some(text) = node.as_str() {
        return match text.strip_suffix('%').and_then(|n| n.trim().parse::<f64>().ok()).filter(|n| n.is_finite()) {
            Some(n) => Some(n / 100.0),
            None => {
                cx.diagnostics().push(
                    Diagnostic::new(node.span, "`max_increase` is a number or a percentage")
                        .hint("e.g. `max_increase: 5` or `max_increase: 1%`"),
                );
                None
            }
        };
    }
    number(Some(node), "max_increase", cx)
}

fn number(node: Option<&Node>, key: &str, cx: &mut dyn ParseContext) -> Option<f64> {
    let node = node?;
    match node.kind {
        NodeKind::Int(i) => Some(i as f64),
        NodeKind::Float(f) if f.is_finite() => Some(f),
        _ => {
            cx.diagnostics()
                .push(Diagnostic::new(node.span, format!("`{key}` must be a number")).hint(format!("e.g. `{key}: 5`")));
            None
        }
    }
}

impl MetricAction {
    fn bounds(&self) -> String {
        let mut b = Vec::new();
        if let Some(m) = self.min {
            b.push(format!("min {m}"));
        }
        if let Some(m) = self.max {
            b.push(format!("max {m}"));
        }
        if let Some(m) = self.max_increase {
            b.push(format!("at most {m} above before"));
        }
        if let Some(m) = self.max_ratio {
            b.push(format!("at most {m}x before"));
        }
        b.join(", ")
    }

    fn relative(&self) -> bool {
        self.max_increase.is_some() || self.max_ratio.is_some()
    }

    /// Why `v` is out of bounds, given the level before the release.
    fn problem(&self, v: f64, before: Option<f64>) -> Option<String> {
        if let Some(max) = self.max.filter(|m| v > *m) {
            return Some(format!("above max {max}"));
        }
        if let Some(min) = self.min.filter(|m| v < *m) {
            return Some(format!("below min {min}"));
        }
        let before = before?;
        if let Some(inc) = self.max_increase.filter(|inc| v - before > *inc) {
            return Some(format!("{} above the {before} before the release (at most {inc})", v - before));
        }
        if let Some(ratio) = self.max_ratio.filter(|r| v > before * r) {
            return Some(format!("{:.2}x the {before} before the release (at most {ratio}x)", v / before));
        }
        None
    }

    async fn value(&self, run: &StepRun<'_>) -> Result<(String, Option<f64>), StepFailure> {
        let env = run.env;
        let (namespace, metric) = (env.render(&self.namespace)?, env.render(&self.metric)?);
        let mut m = Metric::builder().namespace(&namespace).metric_name(&metric);
        for (name, value) in &self.dimensions {
            m = m.dimensions(Dimension::builder().name(name).value(env.render(value)?).build());
        }
        let stat = MetricStat::builder().metric(m.build()).period(self.window.as_secs() as i32).stat(&self.stat).build();
        let query = MetricDataQuery::builder().id("relctl").metric_stat(stat).return_data(true).build();
        let now = std::time::SystemTime::now();
        let (from, to) = (DateTime::from(now - self.window), DateTime::from(now));
        let settings = aws::downcast(&self.aws);
        let cw = aws_sdk_cloudwatch::Client::new(settings.config(env).await?);
        let out = cw
            .get_metric_data()
            .metric_data_queries(query)
            .start_time(from)
            .end_time(to)
            .send()
            .await
            .map_err(|e| StepFailure::from(sdk_error(SYSTEM, "GetMetricData", &e)))?;
        // One period covers the window; the newest value if the service split it.
        let result = out.metric_data_results().first();
        let latest = result.and_then(|r| r.timestamps().iter().zip(r.values()).max_by_key(|(t, _)| **t).map(|(_, v)| *v));
        let label = format!("{namespace} {metric} {} over {}", self.stat, format_duration(self.window));
        Ok((label, latest))
    }
}

impl Action for MetricAction {
    fn describe(&self) -> String {
        format!("check {} {} {} ({})", self.namespace.display(), self.metric.display(), self.stat, self.bounds())
    }

    fn dry_run_safe(&self) -> bool {
        true
    }

    fn baseline<'a>(&'a self, run: &'a StepRun<'a>) -> Option<BoxFuture<'a, Result<Option<f64>, StepFailure>>> {
        self.relative().then(|| Box::pin(async move { Ok(self.value(run).await?.1) }) as BoxFuture<'a, _>)
    }

    fn execute<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, StepResult> {
        Box::pin(async move {
            let (label, value) = self.value(run).await?;
            let bounds = self.bounds();
            let before = if self.relative() {
                match baseline_of(run.env, run.step) {
                    Some(b) => Some(b),
                    _ if self.allow_no_data => None,
                    _ => {
                        return Err(StepFailure::check(format!(
                            "{SYSTEM}: {label}: no level from before the release to compare with (no data then; allow_no_data: true accepts that)"
                        )));
                    }
                }
            } else {
                None
            };
            let Some(v) = value else {
                if self.allow_no_data {
                    return Ok(Outcome { summary: Some(format!("{label}: no data (allowed)")), ..Outcome::default() });
                }
                return Err(StepFailure::check(format!(
                    "{SYSTEM}: {label}: no data, so nothing shows it within {bounds} (allow_no_data: true accepts that)"
                )));
            };
            let mut outputs: std::collections::BTreeMap<String, String> = [("value".to_string(), v.to_string())].into();
            if let Some(b) = before {
                outputs.insert("baseline".into(), b.to_string());
            }
            if let Some(problem) = self.problem(v, before) {
                return Err(StepFailure { outputs, ..StepFailure::check(format!("{SYSTEM}: {label} = {v}, {problem}")) });
            }
            let was = before.map(|b| format!("; {b} before the release")).unwrap_or_default();
            Ok(Outcome { summary: Some(format!("{label} = {v} ({bounds}{was})")), outputs })
        })
    }
}
