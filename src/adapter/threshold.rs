//! What a metric check compares its value with, the same for every source
//! (CloudWatch, Prometheus): absolute bounds (`max`, `min`) and bounds
//! relative to the level before the release (`max_increase`, `max_ratio`),
//! whose baseline the engine measures once before `execute` and journals.

use serde_json::json;

use crate::runbook::diagnostic::{Diagnostic, Span};
use crate::runbook::node::{Node, NodeKind};
use crate::step::schema;
use crate::step::{
    Action, Baseline, BoxFuture, Outcome, ParseContext, Settings, StepEnv, StepFailure, StepResult, StepRun, baseline_of,
};

/// Where a metric check's value comes from (CloudWatch, Prometheus).
pub trait Source: Send + Sync + std::fmt::Debug {
    /// The system, as failures name it.
    fn system(&self) -> &'static str;
    /// What is measured, for `plan` and progress.
    fn describe(&self) -> String;
    /// The value now, with a label saying what it is; `None`: no data.
    fn value<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, Result<(String, Option<f64>), StepFailure>>;
}

/// A metric check: a source's value judged by thresholds, with a baseline
/// measured before `execute` when a threshold is relative.
#[derive(Debug)]
pub struct MetricCheck<S> {
    pub source: S,
    pub limits: Thresholds,
    /// Where its baseline is journaled ([`crate::step::baseline_key`]).
    pub at: String,
}

impl<S: Source> Action for MetricCheck<S> {
    fn describe(&self) -> String {
        format!("{} ({})", self.source.describe(), self.limits.describe())
    }

    fn dry_run_safe(&self) -> bool {
        true
    }

    fn baselines<'a>(&'a self, run: &'a StepRun<'a>) -> Vec<(String, Baseline<'a>)> {
        if !self.limits.relative() {
            return Vec::new();
        }
        vec![(self.at.clone(), Box::pin(async move { Ok(self.source.value(run).await?.1) }) as Baseline<'a>)]
    }

    fn execute<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, StepResult> {
        Box::pin(async move {
            let (label, value) = self.source.value(run).await?;
            self.limits.judge(self.source.system(), &label, value, run.env, &self.at)
        })
    }
}

/// A metric check's schema: the source's settings and the thresholds, one bound at least.
pub fn check_schema(
    description: &str,
    mut properties: Vec<(&'static str, serde_json::Value)>,
    required: &[&str],
) -> serde_json::Value {
    let one_bound = Thresholds::schema(&mut properties);
    let mut s = schema::object(description, &properties, required);
    s["anyOf"] = one_bound;
    s
}

/// The threshold keys, beside each source's own.
pub const KEYS: [&str; 5] = ["max", "min", "max_increase", "max_ratio", "allow_no_data"];

#[derive(Debug, Clone, Default)]
pub struct Thresholds {
    pub max: Option<f64>,
    pub min: Option<f64>,
    /// At most this much above the baseline (`1%` is 0.01, for ratios).
    pub max_increase: Option<f64>,
    /// At most the baseline times this.
    pub max_ratio: Option<f64>,
    pub allow_no_data: bool,
}

impl Thresholds {
    /// Reads the threshold keys of a check's settings; at least one bound.
    pub fn parse(v: &Settings<'_>, kind: &str, at: Span, cx: &mut dyn ParseContext) -> Option<Thresholds> {
        let t = Thresholds {
            max: number(v.get("max"), "max", cx),
            min: number(v.get("min"), "min", cx),
            max_increase: increase(v.get("max_increase"), cx),
            max_ratio: number(v.get("max_ratio"), "max_ratio", cx),
            allow_no_data: v.flag("allow_no_data", false, cx),
        };
        if ["max", "min", "max_increase", "max_ratio"].iter().all(|k| v.get(k).is_none()) {
            cx.diagnostics().push(
                Diagnostic::new(at, format!("`{kind}` needs `max` or `min`, `max_increase` or `max_ratio`")).hint(
                    "the threshold the metric must stay within, e.g. `max: 5`, or `max_ratio: 1.2` against before the release",
                ),
            );
            return None;
        }
        Some(t)
    }

    /// The schema of the threshold keys, and the rule that one bound is given.
    pub fn schema(properties: &mut Vec<(&'static str, serde_json::Value)>) -> serde_json::Value {
        let number = |d: &str| json!({ "type": "number", "description": d });
        properties.extend([
            ("max", number("fails above this")),
            ("min", number("fails below this")),
            (
                "max_increase",
                json!({ "anyOf": [{ "type": "number" }, { "type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?%$" }], "description": "fails more than this above the level before the release (1% is 0.01: for ratios such as error rates)" }),
            ),
            ("max_ratio", number("fails above the level before the release times this (1.2: 20% worse)")),
            ("allow_no_data", schema::flag("whether no data passes", false)),
        ]);
        json!([{ "required": ["max"] }, { "required": ["min"] }, { "required": ["max_increase"] }, { "required": ["max_ratio"] }])
    }

    /// Whether a baseline is needed.
    pub fn relative(&self) -> bool {
        self.max_increase.is_some() || self.max_ratio.is_some()
    }

    pub fn describe(&self) -> String {
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

    /// The check's result for `value` of the metric `label` (from `system`).
    pub fn judge(&self, system: &str, label: &str, value: Option<f64>, env: &dyn StepEnv, at: &str) -> StepResult {
        let bounds = self.describe();
        let Some(v) = value else {
            if self.allow_no_data {
                return Ok(Outcome { summary: Some(format!("{label}: no data (allowed)")), ..Outcome::default() });
            }
            return Err(StepFailure::check(format!(
                "{system}: {label}: no data, so nothing shows it within {bounds} (allow_no_data: true accepts that)"
            )));
        };
        let before = match baseline_of(env, at) {
            Some(b) if self.relative() => Some(b),
            None if self.relative() && !self.allow_no_data => {
                return Err(StepFailure::check(format!(
                    "{system}: {label}: no level from before the release to compare with (no data then; allow_no_data: true accepts that)"
                )));
            }
            _ => None,
        };
        let mut outputs: std::collections::BTreeMap<String, String> = [("value".to_string(), v.to_string())].into();
        if let Some(b) = before {
            outputs.insert("baseline".into(), b.to_string());
        }
        if let Some(problem) = self.problem(v, before) {
            return Err(StepFailure { outputs, ..StepFailure::check(format!("{system}: {label} = {v}, {problem}")) });
        }
        let was = before.map(|b| format!("; {b} before the release")).unwrap_or_default();
        Ok(Outcome { summary: Some(format!("{label} = {v} ({bounds}{was})")), outputs })
    }
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
