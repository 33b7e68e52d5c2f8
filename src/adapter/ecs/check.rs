//! `ecs.check`: running = desired, every running task on the PRIMARY task
//! definition and passing its health checks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ecs::types::{DeploymentRolloutState, DesiredStatus, HealthStatus};

use super::service::Ecs;
use super::{CHECK_TIMEOUT, CheckKind, SYSTEM, Target, parse_target, target_schema};
use crate::adapter::aws::sdk_error;
use crate::step::PhaseName;
use crate::step::{Action, AdapterError, BoxFuture, Outcome, ParseContext, StepFailure, StepKind, StepResult, StepRun, StepSpec};

#[derive(Debug)]
struct CheckAction {
    target: Target,
    /// In the checklist, someone else's rollout is a refusal, not a race.
    refuse_in_progress: bool,
}

impl StepKind for CheckKind {
    fn name(&self) -> &'static str {
        "ecs.check"
    }

    fn schema(&self) -> serde_json::Value {
        target_schema("check that a service's rollout completed and its tasks are running and healthy", &[])
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>> {
        let target = parse_target(spec, "ecs.check", &[], cx)?;
        Some(Arc::new(CheckAction { target, refuse_in_progress: spec.phase == PhaseName::Checklist }))
    }
}

impl CheckAction {
    async fn run(&self, run: &StepRun<'_>) -> StepResult {
        let ecs = self.target.connect(run.env).await?;
        let r = ecs.rollout().await?;
        let mut problems = Vec::new();
        if self.refuse_in_progress && (r.deployments > 1 || r.state == Some(DeploymentRolloutState::InProgress)) {
            // Someone else's rollout: a refusal, not a check to try again.
            return Err(AdapterError::refused(format!(
                "{SYSTEM}: {}/{}: a deployment is already in progress ({})",
                ecs.cluster,
                ecs.service,
                r.progress()
            ))
            .with_help("someone else's rollout: wait for it to finish before releasing")
            .into());
        }
        if r.state == Some(DeploymentRolloutState::Failed) {
            problems.push(format!("the last rollout FAILED: {}", r.reason.clone().unwrap_or_default()));
        }
        if r.running != r.desired {
            problems.push(format!("running {} of {} desired tasks", r.running, r.desired));
        }
        let tasks = self.tasks(&ecs).await?;
        let off: Vec<String> = tasks
            .iter()
            .filter(|t| t.task_definition != r.primary_task_definition)
            .map(|t| format!("{} on {}", short(&t.arn), t.task_definition))
            .collect();
        if !off.is_empty() {
            problems.push(format!("tasks not on the PRIMARY task definition: {}", off.join(", ")));
        }
        let unhealthy: Vec<String> =
            tasks.iter().filter(|t| t.health == Some(HealthStatus::Unhealthy)).map(|t| short(&t.arn)).collect();
        if !unhealthy.is_empty() {
            problems.push(format!("UNHEALTHY tasks: {}", unhealthy.join(", ")));
        }
        // Where the task definition has container health checks, the tasks
        // must pass them: UNKNOWN (still starting) is not healthy yet.
        let checked = ecs.health_checked_containers(&r.primary_task_definition).await?;
        let pending: Vec<String> = tasks
            .iter()
            .flat_map(|t| {
                checked.iter().filter_map(move |name| {
                    let status = t.containers.iter().find(|(n, _)| n == name).and_then(|(_, h)| h.clone());
                    (status != Some(HealthStatus::Healthy)).then(|| {
                        let s = status.as_ref().map_or("UNKNOWN", HealthStatus::as_str);
                        format!("{} container {name} is {s}", short(&t.arn))
                    })
                })
            })
            .filter(|p| !p.contains("UNHEALTHY") || unhealthy.is_empty())
            .collect();
        if !pending.is_empty() {
            problems.push(format!("health checks not passing: {}", pending.join(", ")));
        }
        if !problems.is_empty() {
            return Err(StepFailure::check(format!(
                "{SYSTEM}: {}/{}: {}{}",
                ecs.cluster,
                ecs.service,
                problems.join("; "),
                r.events_text()
            )));
        }
        let outputs = BTreeMap::from([
            ("task_definition_arn".to_string(), r.primary_task_definition.clone()),
            ("running".to_string(), r.running.to_string()),
        ]);
        Ok(Outcome { outputs, summary: Some(format!("healthy on {}: {}", short(&r.primary_task_definition), r.progress())) })
    }

    /// The service's running tasks.
    async fn tasks(&self, ecs: &Ecs) -> Result<Vec<RunningTask>, StepFailure> {
        let mut arns: Vec<String> = Vec::new();
        let mut token = None;
        loop {
            let page = ecs
                .client
                .list_tasks()
                .cluster(&ecs.cluster)
                .service_name(&ecs.service)
                .desired_status(DesiredStatus::Running)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| StepFailure::from(sdk_error(SYSTEM, &ecs.call("ListTasks"), &e)))?;
            arns.extend(page.task_arns().iter().cloned());
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for chunk in arns.chunks(100) {
            let described = ecs
                .client
                .describe_tasks()
                .cluster(&ecs.cluster)
                .set_tasks(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| StepFailure::from(sdk_error(SYSTEM, &ecs.call("DescribeTasks"), &e)))?;
            for t in described.tasks() {
                // Only tasks meant to be running count; stopping ones are on their way out.
                if t.last_status() == Some("RUNNING") {
                    out.push(RunningTask {
                        arn: t.task_arn().unwrap_or_default().to_string(),
                        task_definition: t.task_definition_arn().unwrap_or_default().to_string(),
                        health: t.health_status().cloned(),
                        containers: t
                            .containers()
                            .iter()
                            .map(|c| (c.name().unwrap_or_default().to_string(), c.health_status().cloned()))
                            .collect(),
                    });
                }
            }
        }
        Ok(out)
    }
}

struct RunningTask {
    arn: String,
    task_definition: String,
    health: Option<HealthStatus>,
    containers: Vec<(String, Option<HealthStatus>)>,
}

fn short(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or(arn).to_string()
}

impl Action for CheckAction {
    fn describe(&self) -> String {
        format!("check ECS {} is healthy and stable", self.target.describe())
    }

    fn default_timeout(&self) -> Option<Duration> {
        Some(CHECK_TIMEOUT)
    }

    fn dry_run_safe(&self) -> bool {
        true
    }

    fn execute<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, StepResult> {
        Box::pin(self.run(run))
    }
}
