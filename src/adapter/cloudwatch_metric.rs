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
use super::threshold::{self, MetricCheck, Source, Thresholds};
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::duration::format_duration;
use crate::runbook::expr::Template;
use crate::step::schema;
use crate::step::{
    Action, BoxFuture, Integration, ParseContext, Settings, StepFailure, StepKind, StepRun, StepSpec, template_map,
};

const SYSTEM: &str = "CloudWatch";
const KEYS: &[&str] = &["namespace", "metric", "dimensions", "stat", "window"];
const DEFAULT_WINDOW: Duration = Duration::from_secs(300);
/// GetMetricData's statistics besides percentiles (`p99`, `p99.9`).
const STATS: &[&str] = &["SampleCount", "Average", "Sum", "Minimum", "Maximum"];

pub struct MetricKind;

#[derive(Debug)]
struct CloudWatchMetric {
    aws: Arc<dyn Integration>,
    namespace: Template,
    metric: Template,
    dimensions: Vec<(String, Template)>,
    stat: String,
    window: Duration,
}

impl StepKind for MetricKind {
    fn name(&self) -> &'static str {
        "cloudwatch.metric"
    }

    fn schema(&self) -> serde_json::Value {
        let props = vec![
            ("namespace", schema::template("e.g. AWS/ApplicationELB")),
            ("metric", schema::template("e.g. HTTPCode_Target_5XX_Count")),
            ("dimensions", schema::template_map("e.g. { TargetGroup: targetgroup/green/0123 }")),
            (
                "stat",
                serde_json::json!({ "type": "string", "pattern": "^(SampleCount|Average|Sum|Minimum|Maximum|p[0-9]{1,2}(\\.[0-9]+)?)$", "default": "Average" }),
            ),
            ("window", schema::duration("how far back to look, whole minutes (default 5m)")),
        ];
        threshold::check_schema(
            "a CloudWatch metric's statistic over the last `window`, compared with thresholds",
            props,
            &["namespace", "metric"],
        )
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>> {
        let aws = aws::settings(cx, spec.key.span, "cloudwatch.metric");
        let example = "e.g. `{ namespace: AWS/ApplicationELB, metric: HTTPCode_Target_5XX_Count, stat: Sum, max: 5 }`";
        let keys: Vec<&str> = KEYS.iter().chain(threshold::KEYS.iter()).copied().collect();
        let v = Settings::mapping(spec.value, "cloudwatch.metric", &keys, example, cx)?;
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
        let limits = Thresholds::parse(&v, "cloudwatch.metric", spec.key.span, cx)?;
        let source = CloudWatchMetric { aws: aws?, namespace: namespace?, metric: metric?, dimensions, stat, window };
        Some(Arc::new(MetricCheck { source, limits, at: crate::step::baseline_key(spec.key.span) }))
    }
}

fn valid_stat(s: &str) -> bool {
    STATS.contains(&s) || s.strip_prefix('p').and_then(|p| p.parse::<f64>().ok()).is_some_and(|p| (0.0..=100.0).contains(&p))
}

impl CloudWatchMetric {
    async fn measure(&self, run: &StepRun<'_>) -> Result<(String, Option<f64>), StepFailure> {
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

impl Source for CloudWatchMetric {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    fn describe(&self) -> String {
        format!("check {} {} {}", self.namespace.display(), self.metric.display(), self.stat)
    }

    fn value<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, Result<(String, Option<f64>), StepFailure>> {
        Box::pin(self.measure(run))
    }
}
