//! `ecs.deploy`: record the rollback target, register the new revision,
//! update the service, wait until it is stable; resumable at every stage.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ecs::types::DeploymentRolloutState;

use super::{DeployKind, ROLLOUT_TIMEOUT, SYSTEM, Target, parse_target, target_schema};
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::expr::Template;
use crate::runbook::node::Node;
use crate::step::schema;
use crate::step::{
    Action, AdapterError, BoxFuture, Outcome, ParseContext, Settings, StepFailure, StepKind, StepResult, StepRun, StepSpec,
    TargetDecl, TargetUse, checkpoint_data, read_checkpoint,
};

/// What `ecs.deploy` journals as it goes, in order: the rollback target
/// before anything changes, the revision it registered, the deployment.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Progress {
    previous_task_definition_arn: Option<String>,
    task_definition_arn: Option<String>,
    deployment_id: Option<String>,
}

#[derive(Debug)]
enum Change {
    Image { container: Template, image: Template },
    TaskDefinition(Template),
}

#[derive(Debug)]
struct DeployAction {
    target: Target,
    change: Change,
}

impl StepKind for DeployKind {
    fn name(&self) -> &'static str {
        "ecs.deploy"
    }

    fn schema(&self) -> serde_json::Value {
        let image = schema::object(
            "a new revision of the service's task definition with one container's image changed",
            &[("container", schema::template("the container's name")), ("image", schema::template("the new image"))],
            &["container", "image"],
        );
        let s = target_schema(
            "move a service to a new task definition and follow the rollout",
            &[("image", image), ("task_definition", schema::template("a registered task definition (family:revision or ARN)"))],
        );
        schema::one_of_keys(s, &["image", "task_definition"])
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>> {
        let target = parse_target(spec, "ecs.deploy", &["image", "task_definition"], cx)?;
        let v = spec.value;
        let change = match (v.get("image"), v.get("task_definition")) {
            (Some(img), None) => parse_image(img, cx)?,
            (None, Some(td)) => Change::TaskDefinition(cx.template(td, "`task_definition`")?),
            _ => {
                cx.diagnostics().push(
                    Diagnostic::new(spec.key.span, "`ecs.deploy` takes `image` or `task_definition` (one of them)")
                        .hint("`image: { container: app, image: registry/app:1.2.3 }` registers a new revision"),
                );
                return None;
            }
        };
        Some(Arc::new(DeployAction { target, change }))
    }
}

fn parse_image(node: &Node, cx: &mut dyn ParseContext) -> Option<Change> {
    let example = "e.g. `image: { container: app, image: \"registry/app:${{ vars.version }}\" }`";
    let v = Settings::mapping(node, "image", &["container", "image"], example, cx)?;
    let (container, image) = (v.required("container", cx), v.required("image", cx));
    Some(Change::Image { container: container?, image: image? })
}

impl DeployAction {
    async fn run(&self, run: &StepRun<'_>) -> StepResult {
        let env = run.env;
        let ecs = self.target.connect(env).await?;
        let mut cp: Progress = read_checkpoint(env.checkpoint_of(run.key).as_ref())?;
        let previous = match &cp.previous_task_definition_arn {
            Some(p) => p.clone(),
            None => {
                let r = ecs.rollout().await?;
                if r.deployments > 1 || r.state == Some(DeploymentRolloutState::InProgress) {
                    return Err(StepFailure::from(
                        AdapterError::refused(format!(
                            "{SYSTEM}: {}/{} already has a deployment in progress ({})",
                            ecs.cluster,
                            ecs.service,
                            r.progress()
                        ))
                        .with_help("wait for it to finish, then run the step again"),
                    ));
                }
                // The rollback target, journaled before anything changes.
                let previous = r.primary_task_definition;
                let saved = self.target.rollback(TargetUse::Saves).resolve(|t| env.render(t))?;
                env.save_target(&saved, &previous)?;
                cp.previous_task_definition_arn = Some(previous.clone());
                env.checkpoint(run.key, checkpoint_data(&cp))?;
                previous
            }
        };
        let target = match &cp.task_definition_arn {
            Some(t) => t.clone(),
            None => {
                let t = match &self.change {
                    Change::Image { container, image } => {
                        let (container, image) = (env.render(container)?, env.render(image)?);
                        let arn = ecs.register_with_image(&previous, &container, &image).await?;
                        run.log(&format!("registered {arn} ({container} → {image})"));
                        arn
                    }
                    Change::TaskDefinition(td) => ecs.resolve_task_definition(&env.render(td)?).await?,
                };
                cp.task_definition_arn = Some(t.clone());
                env.checkpoint(run.key, checkpoint_data(&cp))?;
                t
            }
        };
        let deployment = match &cp.deployment_id {
            Some(d) => {
                run.log(&format!("re-attaching to deployment {d}"));
                d.clone()
            }
            None => {
                let d = ecs.update(&target).await?;
                cp.deployment_id = Some(d.clone());
                env.checkpoint(run.key, checkpoint_data(&cp))?;
                run.log(&format!("updated {}/{} to {target} (deployment {d})", ecs.cluster, ecs.service));
                d
            }
        };
        let outputs = BTreeMap::from([
            ("task_definition_arn".to_string(), target.clone()),
            ("previous_task_definition_arn".to_string(), previous),
            ("deployment_id".to_string(), deployment),
        ]);
        // A failed rollout keeps its outputs: a custom rollback needs the previous ARN.
        let stable = ecs.wait_stable(run, &target).await.map_err(|mut f| {
            f.outputs.clone_from(&outputs);
            f
        })?;
        Ok(Outcome { outputs, summary: Some(format!("stable on {target}: {}", stable.progress())) })
    }
}

impl Action for DeployAction {
    fn describe(&self) -> String {
        let what = match &self.change {
            Change::Image { container, image } => format!("{} = {}", container.display(), image.display()),
            Change::TaskDefinition(td) => td.display(),
        };
        format!("deploy {} to ECS {}", what, self.target.describe())
    }

    fn default_timeout(&self) -> Option<Duration> {
        Some(ROLLOUT_TIMEOUT)
    }

    fn rollback_target(&self) -> Option<TargetDecl> {
        Some(self.target.rollback(TargetUse::Saves))
    }

    fn resumes_from_checkpoint(&self) -> bool {
        true
    }

    fn execute<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, StepResult> {
        Box::pin(self.run(run))
    }
}
