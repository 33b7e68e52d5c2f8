//! `ecs.rollback`: back to the task definition `ecs.deploy` recorded (or
//! `to:`), waiting the same way a deploy does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ecs::types::DeploymentRolloutState;

use super::{ROLLOUT_TIMEOUT, RollbackKind, Target, parse_target, target_schema};
use crate::runbook::expr::Template;
use crate::step::schema;
use crate::step::{Action, BoxFuture, Outcome, ParseContext, StepKind, StepResult, StepRun, StepSpec, TargetDecl, TargetUse};

#[derive(Debug)]
struct RollbackAction {
    target: Target,
    to: Option<Template>,
}

impl StepKind for RollbackKind {
    fn name(&self) -> &'static str {
        "ecs.rollback"
    }

    fn schema(&self) -> serde_json::Value {
        target_schema(
            "put a service back on the task definition it had before this run's ecs.deploy, or on `to`",
            &[("to", schema::template("a task definition (family:revision or ARN) to go back to instead"))],
        )
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>> {
        let target = parse_target(spec, "ecs.rollback", &["to"], cx)?;
        let to = spec.value.get("to").and_then(|n| cx.template(n, "`to`"));
        Some(Arc::new(RollbackAction { target, to }))
    }
}

impl RollbackAction {
    async fn run(&self, run: &StepRun<'_>) -> StepResult {
        let env = run.env;
        let ecs = self.target.connect(env).await?;
        let target = match &self.to {
            Some(t) => ecs.resolve_task_definition(&env.render(t)?).await?,
            None => match env.saved_target(&self.target.rollback(TargetUse::Restores).resolve(|t| env.render(t))?) {
                Some(p) => p,
                None => {
                    return Ok(Outcome {
                        summary: Some(format!(
                            "nothing to roll back: no ecs.deploy changed {}/{} in this run",
                            ecs.cluster, ecs.service
                        )),
                        ..Outcome::default()
                    });
                }
            },
        };
        let now = ecs.rollout().await?;
        let settled = now.deployments == 1 && matches!(now.state, None | Some(DeploymentRolloutState::Completed));
        let outputs = BTreeMap::from([("task_definition_arn".to_string(), target.clone())]);
        if now.primary_task_definition == target && settled && now.running == now.desired {
            return Ok(Outcome { outputs, summary: Some(format!("already on {target}: nothing to do")) });
        }
        if now.primary_task_definition == target {
            run.log(&format!("{}/{} is already deploying {target}; waiting for it", ecs.cluster, ecs.service));
        } else {
            let d = ecs.update(&target).await?;
            run.log(&format!("updated {}/{} back to {target} (deployment {d})", ecs.cluster, ecs.service));
        }
        let stable = ecs.wait_stable(run, &target).await?;
        Ok(Outcome { outputs, summary: Some(format!("back on {target}: {}", stable.progress())) })
    }
}

impl Action for RollbackAction {
    fn describe(&self) -> String {
        let to = self.to.as_ref().map_or_else(|| "the task definition recorded before the deploy".to_string(), Template::display);
        format!("roll ECS {} back to {to}", self.target.describe())
    }

    fn default_timeout(&self) -> Option<Duration> {
        Some(ROLLOUT_TIMEOUT)
    }

    fn rollback_target(&self) -> Option<TargetDecl> {
        // With `to:` it names its own target and needs nothing recorded.
        self.to.is_none().then(|| self.target.rollback(TargetUse::Restores))
    }

    fn resumes_from_checkpoint(&self) -> bool {
        true
    }

    fn execute<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, StepResult> {
        Box::pin(self.run(run))
    }
}
