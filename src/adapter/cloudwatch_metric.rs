//! `cloudwatch.metric`: a CloudWatch metric compared with a threshold, the
//! numbers SOPs write as rollback criteria ("5XX count above 5", "latency
//! above 2000 ms").
//!
//! One GetMetricData query whose period is the whole window: the statistic
//! over the last `window` (5 minutes by default) is the value checked. A
//! window with no data fails (a metric that reports nothing proves nothing)
//! unless `allow_no_data: true`.

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
    template_map,
};

const SYSTEM: &str = "CloudWatch";
const KEYS: &[&str] = &["namespace", "metric", "dimensions", "stat", "window", "max", "min", "allow_no_data"];
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
                ("allow_no_data", schema::flag("whether a window with no data passes", false)),
            ],
            &["namespace", "metric"],
        );
        let mut s = s;
        s["anyOf"] = serde_json::json!([{ "required": ["max"] }, { "required": ["min"] }]);
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
        if v.get("max").is_none() && v.get("min").is_none() {
            cx.diagnostics().push(
                Diagnostic::new(spec.key.span, "`cloudwatch.metric` needs `max` or `min` (or both)")
                    .hint("the threshold the metric must stay within, e.g. `max: 5`"),
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
            allow_no_data,
        }))
    }
}

fn valid_stat(s: &str) -> bool {
    STATS.contains(&s) || s.strip_prefix('p').and_then(|p| p.parse::<f64>().ok()).is_some_and(|p| (0.0..=100.0).contains(&p))
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
        b.join(", ")
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

    fn execute<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, StepResult> {
        Box::pin(async move {
            let (label, value) = self.value(run).await?;
            let bounds = self.bounds();
            let Some(v) = value else {
                if self.allow_no_data {
                    return Ok(Outcome { summary: Some(format!("{label}: no data (allowed)")), ..Outcome::default() });
                }
                return Err(StepFailure::check(format!(
                    "{SYSTEM}: {label}: no data, so nothing shows it within {bounds} (allow_no_data: true accepts that)"
                )));
            };
            let outputs = [("value".to_string(), v.to_string())].into_iter().collect();
            if let Some(max) = self.max.filter(|m| v > *m) {
                return Err(StepFailure { outputs, ..StepFailure::check(format!("{SYSTEM}: {label} = {v}, above max {max}")) });
            }
            if let Some(min) = self.min.filter(|m| v < *m) {
                return Err(StepFailure { outputs, ..StepFailure::check(format!("{SYSTEM}: {label} = {v}, below min {min}")) });
            }
            Ok(Outcome { summary: Some(format!("{label} = {v} ({bounds})")), outputs })
        })
    }
}
