//! `alb.shift` and `alb.rollback`: traffic between two target groups of an
//! Application Load Balancer, on a listener's default action or on one of
//! its rules, through the ELBv2 API.
//!
//! Before the first change to a listener or rule in a run, its forward
//! action is journaled exactly as ELBv2 describes it (the rollback target);
//! a later shift, or a resumed run, keeps that first one. `alb.rollback`
//! puts it back, whatever shifts came between. Weights are percentages:
//! `percent: 25` sends 25 to the canary and 75 to the stable group (ELBv2
//! takes weights 0–999 and routes by their ratio). Blue-green is a shift to
//! 100, which keeps blue in the forward action at weight 0: one shift back
//! away.

mod forward;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::Action as ElbAction;

use self::forward::{Forward, group_name, replaced};
use super::aws::{self, sdk_error};
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::expr::Template;
use crate::step::schema;
use crate::step::{
    Action, AdapterError, BoxFuture, Integration, Outcome, ParseContext, Settings, StepEnv, StepFailure, StepKind, StepResult,
    StepRun, StepSpec, TargetDecl, TargetUse,
};

const SYSTEM: &str = "ELBv2";

pub struct ShiftKind;
pub struct RollbackKind;

/// A listener's default action, or one rule's actions.
#[derive(Debug)]
struct Place {
    aws: Arc<dyn Integration>,
    listener: Template,
    rule: Option<Template>,
}

impl Place {
    fn parse(v: &Settings<'_>, spec: &StepSpec<'_>, kind: &str, cx: &mut dyn ParseContext) -> Option<Place> {
        let aws = aws::settings(cx, spec.key.span, kind);
        let listener = v.required("listener", cx);
        let rule = v.template("rule", cx);
        Some(Place { aws: aws?, listener: listener?, rule })
    }

    /// What a rollback restores: the rule when one is named, else the listener.
    fn target(&self, uses: TargetUse) -> TargetDecl {
        TargetDecl {
            uses,
            system: "alb",
            parts: vec![self.rule.clone().unwrap_or_else(|| self.listener.clone())],
            resource: |p| p.join(""),
        }
    }

    fn describe(&self) -> String {
        match &self.rule {
            Some(r) => format!("rule {}", r.display()),
            None => format!("listener {}", self.listener.display()),
        }
    }

    async fn connect(&self, env: &dyn StepEnv) -> Result<Connected, StepFailure> {
        let conf = aws::downcast(&self.aws).config(env).await?;
        Ok(Connected {
            client: Client::new(conf),
            listener: env.render(&self.listener)?,
            rule: self.rule.as_ref().map(|r| env.render(r)).transpose()?,
        })
    }
}

struct Connected {
    client: Client,
    listener: String,
    rule: Option<String>,
}

impl Connected {
    fn name(&self) -> String {
        self.rule.as_ref().map_or_else(|| format!("listener {}", self.listener), |r| format!("rule {r}"))
    }

    /// The actions now, as ELBv2 describes them.
    async fn actions(&self) -> Result<Vec<ElbAction>, StepFailure> {
        match &self.rule {
            Some(rule) => {
                let out = self
                    .client
                    .describe_rules()
                    .rule_arns(rule)
                    .send()
                    .await
                    .map_err(|e| sdk_error(SYSTEM, "DescribeRules", &e))?;
                let found = out.rules().first().ok_or_else(|| not_found("DescribeRules", &self.name()))?;
                Ok(found.actions().to_vec())
            }
            None => {
                let out = self
                    .client
                    .describe_listeners()
                    .listener_arns(&self.listener)
                    .send()
                    .await
                    .map_err(|e| sdk_error(SYSTEM, "DescribeListeners", &e))?;
                let found = out.listeners().first().ok_or_else(|| not_found("DescribeListeners", &self.name()))?;
                Ok(found.default_actions().to_vec())
            }
        }
    }

    async fn forward(&self) -> Result<(Vec<ElbAction>, usize, Forward), StepFailure> {
        let actions = self.actions().await?;
        let (at, f) = Forward::find(&actions).ok_or_else(|| {
            let kinds: Vec<String> = actions.iter().filter_map(|a| a.r#type().map(|t| t.as_str().to_string())).collect();
            StepFailure::from(
                AdapterError::refused(format!("{SYSTEM}: {} has no forward action (it has: {})", self.name(), kinds.join(", ")))
                    .with_help("alb.shift moves traffic between the target groups of a forward action"),
            )
        })?;
        Ok((actions, at, f))
    }

    async fn set(&self, actions: Vec<ElbAction>) -> Result<(), StepFailure> {
        match &self.rule {
            Some(rule) => {
                self.client
                    .modify_rule()
                    .rule_arn(rule)
                    .set_actions(Some(actions))
                    .send()
                    .await
                    .map_err(|e| sdk_error(SYSTEM, "ModifyRule", &e))?;
            }
            None => {
                self.client
                    .modify_listener()
                    .listener_arn(&self.listener)
                    .set_default_actions(Some(actions))
                    .send()
                    .await
                    .map_err(|e| sdk_error(SYSTEM, "ModifyListener", &e))?;
            }
        }
        Ok(())
    }
}

fn not_found(call: &str, what: &str) -> StepFailure {
    StepFailure::from(AdapterError::refused(format!("{SYSTEM} {call}: no {what}")).with_help("check the ARN (and the region)"))
}

fn place_schema(description: &str, extra: &[(&str, serde_json::Value)], required: &[&str]) -> serde_json::Value {
    let mut props = vec![
        ("listener", schema::template("the listener's ARN")),
        ("rule", schema::template("a listener rule's ARN: its actions change instead of the listener's default action")),
    ];
    props.extend(extra.iter().cloned());
    let mut req = vec!["listener"];
    req.extend_from_slice(required);
    schema::object(description, &props, &req)
}

#[derive(Debug)]
struct ShiftAction {
    place: Place,
    stable: Template,
    canary: Template,
    percent: i64,
}

impl StepKind for ShiftKind {
    fn name(&self) -> &'static str {
        "alb.shift"
    }

    fn schema(&self) -> serde_json::Value {
        place_schema(
            "send a percentage of a listener's (or rule's) traffic to the canary target group, the rest to the stable one",
            &[
                ("stable", schema::template("the stable (blue) target group's ARN")),
                ("canary", schema::template("the canary (green) target group's ARN")),
                (
                    "percent",
                    serde_json::json!({ "type": "integer", "minimum": 0, "maximum": 100, "description": "the canary's share of the traffic" }),
                ),
            ],
            &["stable", "canary", "percent"],
        )
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>> {
        let keys = ["listener", "rule", "stable", "canary", "percent"];
        let example = "e.g. `{ listener: ARN, stable: BLUE_TG_ARN, canary: GREEN_TG_ARN, percent: 25 }`";
        let v = Settings::mapping(spec.value, "alb.shift", &keys, example, cx)?;
        let place = Place::parse(&v, spec, "alb.shift", cx);
        let (stable, canary) = (v.required("stable", cx), v.required("canary", cx));
        let percent = match v.get("percent") {
            None => {
                cx.diagnostics()
                    .push(Diagnostic::new(spec.value.span, "`alb.shift` needs `percent`").hint("the canary's share, 0 to 100"));
                return None;
            }
            Some(_) => v.count("percent", 0..=100, 0, cx),
        };
        Some(Arc::new(ShiftAction { place: place?, stable: stable?, canary: canary?, percent }))
    }
}

impl ShiftAction {
    async fn run(&self, run: &StepRun<'_>) -> StepResult {
        let env = run.env;
        let c = self.place.connect(env).await?;
        let (stable, canary) = (env.render(&self.stable)?, env.render(&self.canary)?);
        if stable == canary {
            return Err(StepFailure::from(AdapterError::refused(format!("alb.shift: `stable` and `canary` are both {stable}"))));
        }
        let (actions, at, now) = c.forward().await?;
        let saved = self.place.target(TargetUse::Saves).resolve(|t| env.render(t))?;
        // The first forward action seen in this run is what a rollback restores.
        if env.saved_target(&saved).is_none() {
            // Before the first change, the stable group must be the one
            // serving, and no other: swapped vars would send the canary's
            // share of traffic to the old version, and a third group's
            // traffic would be dropped.
            let others: Vec<String> = now.live().into_iter().filter(|g| *g != stable).collect();
            if !now.live().contains(&stable) || !others.is_empty() {
                return Err(StepFailure::from(
                    AdapterError::refused(format!(
                        "{SYSTEM}: {} forwards {}, and `stable` is {}",
                        c.name(),
                        now.describe(),
                        group_name(&stable)
                    ))
                    .with_help("`stable` must be the only target group serving before the first shift: check stable and canary"),
                ));
            }
            let json = serde_json::to_string(&now).map_err(|e| AdapterError::Journal(e.to_string()))?;
            env.save_target(&saved, &json)?;
            run.log(&format!("recorded {} before any change: {}", c.name(), now.describe()));
        }
        let percent = i32::try_from(self.percent).unwrap_or(100);
        let wanted = now.shifted(&stable, &canary, percent);
        if now.weights() != wanted.weights() {
            c.set(replaced(&actions, at, &wanted)).await?;
        }
        // Read back: what ELBv2 holds now is what is reported.
        let (_, _, after) = c.forward().await?;
        if after.weights() != wanted.weights() {
            return Err(StepFailure::from(AdapterError::refused(format!(
                "{SYSTEM}: {} forwards {} after the change, not {}",
                c.name(),
                after.describe(),
                wanted.describe()
            ))));
        }
        let outputs = BTreeMap::from([("weights".to_string(), after.describe())]);
        Ok(Outcome {
            outputs,
            summary: Some(format!("{}% to {} ({}): {}", self.percent, group_name(&canary), c.name(), after.describe())),
        })
    }
}

impl Action for ShiftAction {
    fn describe(&self) -> String {
        format!(
            "shift {}% of {} to {} (the rest to {})",
            self.percent,
            self.place.describe(),
            self.canary.display(),
            self.stable.display()
        )
    }

    fn rollback_target(&self) -> Option<TargetDecl> {
        Some(self.place.target(TargetUse::Saves))
    }

    fn execute<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, StepResult> {
        Box::pin(self.run(run))
    }
}

#[derive(Debug)]
struct RollbackAction {
    place: Place,
}

impl StepKind for RollbackKind {
    fn name(&self) -> &'static str {
        "alb.rollback"
    }

    fn schema(&self) -> serde_json::Value {
        place_schema(
            "put a listener's (or rule's) forward action back exactly as it was before this run's first alb.shift",
            &[],
            &[],
        )
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>> {
        let v = Settings::mapping(spec.value, "alb.rollback", &["listener", "rule"], "e.g. `{ listener: ARN }`", cx)?;
        Some(Arc::new(RollbackAction { place: Place::parse(&v, spec, "alb.rollback", cx)? }))
    }
}

impl RollbackAction {
    async fn run(&self, run: &StepRun<'_>) -> StepResult {
        let env = run.env;
        let target = self.place.target(TargetUse::Restores).resolve(|t| env.render(t))?;
        let Some(saved) = env.saved_target(&target) else {
            return Ok(Outcome {
                summary: Some(format!("nothing to restore: no alb.shift changed {} in this run", self.place.describe())),
                ..Outcome::default()
            });
        };
        let original: Forward = serde_json::from_str(&saved)
            .map_err(|e| AdapterError::Journal(format!("the journaled forward action cannot be read: {e}")))?;
        let c = self.place.connect(env).await?;
        let (actions, at, now) = c.forward().await?;
        if now == original {
            return Ok(Outcome {
                summary: Some(format!("{} already forwards as before: {}", c.name(), now.describe())),
                ..Outcome::default()
            });
        }
        c.set(replaced(&actions, at, &original)).await?;
        let (_, _, after) = c.forward().await?;
        if after.weights() != original.weights() {
            return Err(StepFailure::from(AdapterError::refused(format!(
                "{SYSTEM}: {} forwards {} after the restore, not {}",
                c.name(),
                after.describe(),
                original.describe()
            ))));
        }
        Ok(Outcome {
            outputs: BTreeMap::from([("weights".to_string(), after.describe())]),
            summary: Some(format!("{} restored: {} (was {})", c.name(), after.describe(), now.describe())),
        })
    }
}

impl Action for RollbackAction {
    fn describe(&self) -> String {
        format!("restore the forward action of {} recorded before the first shift", self.place.describe())
    }

    fn rollback_target(&self) -> Option<TargetDecl> {
        Some(self.place.target(TargetUse::Restores))
    }

    fn execute<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, StepResult> {
        Box::pin(self.run(run))
    }
}
