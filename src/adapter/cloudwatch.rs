//! `cloudwatch.alarms`: the release's alarms, by name or prefix.
//!
//! Fails when an alarm is in ALARM. In the checklist ("monitoring ready") a
//! missing alarm fails too: alarms that do not exist cannot warn anyone.
//! Also used by `wait` with `watch:` to end a bake time early when an alarm
//! fires, which sends the run to rollback.

use std::sync::Arc;

use aws_sdk_cloudwatch::types::{AlarmType, StateValue};

use super::aws::{self, sdk_error};
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::expr::Template;
use crate::runbook::node::Node;
use crate::step::PhaseName;
use crate::step::schema;
use crate::step::{
    Action, BoxFuture, Integration, Outcome, ParseContext, Settings, StepEnv, StepFailure, StepKind, StepResult, StepRun,
    StepSpec,
};

const SYSTEM: &str = "CloudWatch";

pub struct AlarmsKind;

/// Which alarms to look at, and how strict to be about missing ones.
#[derive(Debug)]
pub struct AlarmQuery {
    aws: Arc<dyn Integration>,
    names: Vec<Template>,
    prefix: Option<Template>,
    require_present: bool,
}

impl AlarmQuery {
    /// `{ names: [...] | prefix: ..., expect: OK }` as a schema.
    pub fn schema(description: &str) -> serde_json::Value {
        let names = serde_json::json!({ "anyOf": [{ "$ref": "#/$defs/template" }, { "type": "array", "items": { "$ref": "#/$defs/template" }, "minItems": 1 }], "description": "the alarms' names" });
        let s = schema::object(
            description,
            &[
                ("names", names),
                ("prefix", schema::template("every alarm whose name starts with this")),
                ("expect", serde_json::json!({ "const": "OK", "description": "the only state accepted: no alarm fires" })),
            ],
            &[],
        );
        schema::one_of_keys(s, &["names", "prefix"])
    }

    /// Parses `{ names: [...] | prefix: ..., expect: OK }`.
    pub fn parse(
        node: &Node,
        key_span: crate::runbook::diagnostic::Span,
        phase: PhaseName,
        cx: &mut dyn ParseContext,
    ) -> Option<AlarmQuery> {
        let aws = aws::settings(cx, key_span, "cloudwatch.alarms");
        let example = "e.g. `{ prefix: \"checkout-prod-\" }` or `{ names: [a, b] }`";
        let v = Settings::mapping(node, "cloudwatch.alarms", &["names", "prefix", "expect"], example, cx)?;
        let names = v.templates("names", cx);
        let prefix = v.template("prefix", cx);
        if names.is_empty() == prefix.is_none() {
            cx.diagnostics().push(
                Diagnostic::new(node.span, "give the alarms by `names` or by `prefix` (one of them)")
                    .hint("e.g. `prefix: \"checkout-prod-\"`"),
            );
            return None;
        }
        if let Some(e) = node.get("expect")
            && e.as_str() != Some("OK")
        {
            cx.diagnostics()
                .push(Diagnostic::new(e.span, "`expect` can only be `OK`").hint("the step checks that no alarm fires"));
        }
        Some(AlarmQuery { aws: aws?, names, prefix, require_present: phase == PhaseName::Checklist })
    }

    pub fn describe(&self) -> String {
        match &self.prefix {
            Some(p) => format!("alarms {}*", p.display()),
            None => format!("alarms {}", self.names.iter().map(Template::display).collect::<Vec<_>>().join(", ")),
        }
    }

    /// Current states: `Ok(summary)` when none fires, `Err` naming those that do.
    pub async fn check(&self, env: &dyn StepEnv) -> Result<String, StepFailure> {
        let settings = aws::downcast(&self.aws);
        let cw = aws_sdk_cloudwatch::Client::new(settings.config(env).await?);
        let names: Vec<String> = self.names.iter().map(|t| env.render(t)).collect::<Result<_, _>>()?;
        let prefix = self.prefix.as_ref().map(|t| env.render(t)).transpose()?;
        let mut alarms = Vec::new();
        // DescribeAlarms takes at most 100 names per call (more is a
        // ValidationError), and answers at most MaxRecords (≤ 100) alarms a
        // page, with a NextToken for the rest.
        let batches: Vec<Option<&[String]>> =
            if prefix.is_some() { vec![None] } else { names.chunks(MAX_NAMES_PER_CALL).map(Some).collect() };
        for batch in batches {
            let mut token = None;
            loop {
                // Composite alarms too: a firing composite is as much a no-go.
                let mut req = cw
                    .describe_alarms()
                    .alarm_types(AlarmType::MetricAlarm)
                    .alarm_types(AlarmType::CompositeAlarm)
                    .max_records(MAX_RECORDS)
                    .set_next_token(token);
                req = match (&prefix, batch) {
                    (Some(p), _) => req.alarm_name_prefix(p),
                    (None, batch) => req.set_alarm_names(batch.map(<[String]>::to_vec)),
                };
                let page = req.send().await.map_err(|e| StepFailure::from(sdk_error(SYSTEM, "DescribeAlarms", &e)))?;
                let metric = page.metric_alarms().iter().map(|a| (a.alarm_name(), a.state_value(), a.state_reason()));
                let composite = page.composite_alarms().iter().map(|a| (a.alarm_name(), a.state_value(), a.state_reason()));
                for (name, state, reason) in metric.chain(composite) {
                    let name = name.unwrap_or_default().to_string();
                    // Some servers apply only one filter: keep to what was asked.
                    let wanted = match &prefix {
                        Some(p) => name.starts_with(p.as_str()),
                        None => names.contains(&name),
                    };
                    if wanted && !alarms.iter().any(|(n, _, _)| *n == name) {
                        alarms.push((name, state.cloned(), reason.unwrap_or_default().to_string()));
                    }
                }
                match page.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => break,
                }
            }
        }
        let what = prefix.as_ref().map_or_else(|| names.join(", "), |p| format!("{p}*"));
        let mut problems = Vec::new();
        if self.require_present {
            if alarms.is_empty() {
                problems.push(format!("no alarms match {what}: monitoring is not ready (create the alarms first)"));
            }
            let missing: Vec<&String> = names.iter().filter(|n| !alarms.iter().any(|(a, _, _)| a == *n)).collect();
            if !missing.is_empty() && !alarms.is_empty() {
                problems.push(format!("alarms missing: {}", missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")));
            }
        }
        let firing: Vec<String> = alarms
            .iter()
            .filter(|(_, s, _)| *s == Some(StateValue::Alarm))
            .map(|(n, _, reason)| if reason.is_empty() { n.clone() } else { format!("{n} ({reason})") })
            .collect();
        if !firing.is_empty() {
            problems.push(format!("in ALARM: {}", firing.join("; ")));
        }
        if problems.is_empty() {
            Ok(format!("{} alarms OK", alarms.len()))
        } else {
            Err(StepFailure::check(format!("{SYSTEM}: {}", problems.join("; "))))
        }
    }
}

/// DescribeAlarms: `AlarmNames` takes 1–100 names, `MaxRecords` 1–100.
const MAX_NAMES_PER_CALL: usize = 100;
const MAX_RECORDS: i32 = 100;

#[derive(Debug)]
struct AlarmsAction {
    query: AlarmQuery,
}

impl StepKind for AlarmsKind {
    fn name(&self) -> &'static str {
        "cloudwatch.alarms"
    }

    fn schema(&self) -> serde_json::Value {
        AlarmQuery::schema("CloudWatch alarms that must not be in ALARM (in the checklist, must exist)")
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>> {
        let query = AlarmQuery::parse(spec.value, spec.key.span, spec.phase, cx)?;
        Some(Arc::new(AlarmsAction { query }))
    }
}

impl Action for AlarmsAction {
    fn describe(&self) -> String {
        format!("check {}", self.query.describe())
    }

    fn dry_run_safe(&self) -> bool {
        true
    }

    fn execute<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, StepResult> {
        Box::pin(async move {
            let summary = self.query.check(run.env).await?;
            Ok(Outcome { summary: Some(summary), ..Outcome::default() })
        })
    }
}
