//! `prometheus`: a PromQL instant query compared with thresholds (an error
//! rate, a latency quantile), through Prometheus' HTTP API
//! (prometheus.io/docs/prometheus/latest/querying/api/, "Instant queries").
//!
//! The query must come down to one number: a scalar, or a vector of one
//! series (aggregate with `sum`, `max`, …). An empty vector, or NaN (a rate
//! of nothing over nothing), is no data. The API answers a bad query with
//! 400 `bad_data` and one it cannot run with 422 `execution`, each with an
//! `error` text; relctl shows it.

use std::sync::Arc;

use reqwest::StatusCode;
use serde::Deserialize;

use super::remote::{self, Repeat, RetryPolicy};
use super::threshold::{self, MetricCheck, Source, Thresholds};
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::expr::Template;
use crate::step::schema;
use crate::step::{Action, AdapterError, BoxFuture, ParseContext, Settings, StepFailure, StepKind, StepRun, StepSpec};

const SYSTEM: &str = "Prometheus";
const KEYS: &[&str] = &["url", "query", "bearer_token", "username", "password"];

pub struct PrometheusKind;

#[derive(Debug)]
struct PrometheusQuery {
    url: Template,
    query: Template,
    bearer_token: Option<Template>,
    basic: Option<(Template, Template)>,
}

impl StepKind for PrometheusKind {
    fn name(&self) -> &'static str {
        "prometheus"
    }

    fn schema(&self) -> serde_json::Value {
        let props = vec![
            ("url", schema::template("the server, e.g. http://prometheus:9090")),
            ("query", schema::template("a PromQL expression that comes down to one number")),
            ("bearer_token", schema::template("a token, e.g. ${{ secrets.PROMETHEUS_TOKEN }}")),
            ("username", schema::template("basic auth user")),
            ("password", schema::template("basic auth password, e.g. ${{ secrets.PROMETHEUS_PASSWORD }}")),
        ];
        let mut s = threshold::check_schema("a Prometheus instant query compared with thresholds", props, &["url", "query"]);
        s["dependentRequired"] = serde_json::json!({ "username": ["password"], "password": ["username"] });
        s["not"] = serde_json::json!({ "required": ["bearer_token", "username"] });
        s
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>> {
        let example =
            "e.g. `{ url: http://prometheus:9090, query: 'sum(rate(http_requests_total{code=~\"5..\"}[5m]))', max: 1 }`";
        let keys: Vec<&str> = KEYS.iter().chain(threshold::KEYS.iter()).copied().collect();
        let v = Settings::mapping(spec.value, "prometheus", &keys, example, cx)?;
        let (url, query) = (v.required("url", cx), v.required("query", cx));
        let bearer_token = v.template("bearer_token", cx);
        let basic = match (v.template("username", cx), v.template("password", cx)) {
            (Some(u), Some(p)) => Some((u, p)),
            (None, None) => None,
            _ => {
                cx.diagnostics().push(
                    Diagnostic::new(spec.key.span, "basic auth needs both `username` and `password`")
                        .hint("e.g. `password: ${{ secrets.PROMETHEUS_PASSWORD }}`"),
                );
                return None;
            }
        };
        if bearer_token.is_some() && basic.is_some() {
            cx.diagnostics().push(
                Diagnostic::new(spec.key.span, "give `bearer_token` or `username`/`password`, not both")
                    .hint("Prometheus behind a proxy takes one kind of credentials"),
            );
            return None;
        }
        let limits = Thresholds::parse(&v, "prometheus", spec.key.span, cx)?;
        let source = PrometheusQuery { url: url?, query: query?, bearer_token, basic };
        Some(Arc::new(MetricCheck { source, limits, at: crate::step::baseline_key(spec.key.span) }))
    }
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

impl PrometheusQuery {
    async fn measure(&self, run: &StepRun<'_>) -> Result<(String, Option<f64>), StepFailure> {
        let env = run.env;
        let base = env.render(&self.url)?;
        let query = env.render(&self.query)?;
        let token = self.bearer_token.as_ref().map(|t| env.render(t)).transpose()?;
        let basic = match &self.basic {
            Some((u, p)) => Some((env.render(u)?, env.render(p)?)),
            None => None,
        };
        let url = format!("{}/api/v1/query", base.trim_end_matches('/'));
        let accept = [StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY];
        // POST with a form body, which the API takes like GET (and with no
        // limit on the query's length); a query changes nothing, so a lost
        // answer is asked again.
        let response = remote::send(SYSTEM, "POST /api/v1/query", Repeat::Safe, RetryPolicy::default(), &accept, || {
            let mut req = remote::client().post(&url).form(&[("query", query.as_str())]);
            if let Some(t) = &token {
                req = req.bearer_auth(t);
            }
            if let Some((u, p)) = &basic {
                req = req.basic_auth(u, Some(p));
            }
            req
        })
        .await?;
        let status = response.status();
        let text = response.text().await.map_err(|e| AdapterError::refused(format!("{SYSTEM}: reading the answer: {e}")))?;
        let answer: Answer = serde_json::from_str(&text).map_err(|e| {
            StepFailure::from(AdapterError::refused(format!(
                "{SYSTEM}: {url} did not answer as Prometheus' API does ({e}): {}",
                text.chars().take(200).collect::<String>()
            )))
        })?;
        if answer.status != "success" {
            let kind = answer.error_type.unwrap_or_default();
            return Err(StepFailure::from(
                AdapterError::refused(format!(
                    "{SYSTEM}: the query was refused (HTTP {}, {kind}): {}",
                    status.as_u16(),
                    answer.error.unwrap_or_default()
                ))
                .with_help("check the PromQL in `query` (try it in Prometheus' expression browser)"),
            ));
        }
        let label = format!("`{query}`");
        let data = answer.data.ok_or_else(|| StepFailure::refused(format!("{SYSTEM}: an answer without data")))?;
        let value = match data.result_type.as_str() {
            "scalar" => sample(&data.result),
            "vector" => match data.result.as_array().map(Vec::as_slice) {
                None | Some([]) => None,
                Some([one]) => sample(&one["value"]),
                Some(many) => {
                    return Err(StepFailure::refused(format!(
                        "{SYSTEM}: {label} returns {} series, not one number; aggregate it (sum, max, avg)",
                        many.len()
                    )));
                }
            },
            other => {
                return Err(StepFailure::refused(format!(
                    "{SYSTEM}: {label} returns a {other}, not one number; use an instant vector or a scalar"
                )));
            }
        };
        Ok((label, value))
    }
}

/// `[timestamp, "value"]`; NaN (nothing over nothing) is no data.
fn sample(pair: &serde_json::Value) -> Option<f64> {
    pair.get(1)?.as_str()?.parse::<f64>().ok().filter(|v| !v.is_nan())
}

impl Source for PrometheusQuery {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    fn describe(&self) -> String {
        format!("query {} at {}", self.query.display(), self.url.display())
    }

    fn value<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, Result<(String, Option<f64>), StepFailure>> {
        Box::pin(self.measure(run))
    }
}
