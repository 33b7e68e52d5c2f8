//! The service as relctl sees it: connecting, reading its rollout, registering
//! task definitions, updating it, and waiting until it is stable.

use std::time::Duration;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{DeploymentRolloutState, Service, TaskDefinitionField};

use super::{SYSTEM, Target};
use crate::adapter::aws::{self, sdk_error};
use crate::step::{AdapterError, RemoteKind, StepEnv, StepFailure, StepRun};

/// A resolved target for one execution.
pub(super) struct Ecs {
    pub(super) client: Client,
    pub(super) cluster: String,
    pub(super) service: String,
    pub(super) poll: Duration,
}

impl Target {
    pub(super) async fn connect(&self, env: &dyn StepEnv) -> Result<Ecs, StepFailure> {
        let settings = aws::downcast(&self.aws);
        let client = Client::new(settings.config(env).await?);
        Ok(Ecs { client, cluster: env.render(&self.cluster)?, service: env.render(&self.service)?, poll: self.poll })
    }

    pub(super) fn describe(&self) -> String {
        format!("{}/{}", self.cluster.display(), self.service.display())
    }
}

/// The parts of a service's state the wait looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rollout {
    pub(super) primary_task_definition: String,
    pub(super) primary_id: String,
    pub(super) state: Option<DeploymentRolloutState>,
    pub(super) reason: Option<String>,
    pub(super) deployments: usize,
    pub(super) running: i32,
    pub(super) desired: i32,
    pub(super) events: Vec<String>,
    /// A deployment ECS gave up on (rolloutState FAILED, no longer PRIMARY):
    /// its task definition and why. The circuit breaker's rollback starts a
    /// new PRIMARY deployment of the last COMPLETED task definition and
    /// leaves the failed one ACTIVE.
    pub(super) failed: Vec<(String, String)>,
}

impl Rollout {
    pub(super) fn of(service: &Service) -> Option<Rollout> {
        let primary = service.deployments().iter().find(|d| d.status() == Some("PRIMARY"))?;
        Some(Rollout {
            primary_task_definition: primary.task_definition().unwrap_or_default().to_string(),
            primary_id: primary.id().unwrap_or_default().to_string(),
            state: primary.rollout_state().cloned(),
            reason: primary.rollout_state_reason().map(str::to_string),
            deployments: service.deployments().len(),
            running: service.running_count(),
            desired: service.desired_count(),
            events: service.events().iter().take(3).filter_map(|e| e.message().map(str::to_string)).collect(),
            failed: service
                .deployments()
                .iter()
                .filter(|d| d.status() != Some("PRIMARY") && d.rollout_state() == Some(&DeploymentRolloutState::Failed))
                .map(|d| {
                    (
                        d.task_definition().unwrap_or_default().to_string(),
                        d.rollout_state_reason().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
        })
    }

    pub(super) fn progress(&self) -> String {
        let state = self.state.as_ref().map_or("no rollout state".to_string(), |s| s.as_str().to_string());
        format!("running {}/{}, {state}, {} deployment(s)", self.running, self.desired, self.deployments)
    }

    pub(super) fn events_text(&self) -> String {
        if self.events.is_empty() { String::new() } else { format!("; latest events: {}", self.events.join(" | ")) }
    }
}

impl Ecs {
    pub(super) fn call(&self, call: &str) -> String {
        format!("{call} {}/{}", self.cluster, self.service)
    }

    pub(super) async fn service(&self) -> Result<Service, StepFailure> {
        let out = self
            .client
            .describe_services()
            .cluster(&self.cluster)
            .services(&self.service)
            .send()
            .await
            .map_err(|e| StepFailure::from(sdk_error(SYSTEM, &self.call("DescribeServices"), &e)))?;
        if let Some(f) = out.failures().first() {
            return Err(StepFailure::from(
                AdapterError::remote(
                    SYSTEM,
                    self.call("DescribeServices"),
                    RemoteKind::NotFound,
                    f.reason().unwrap_or("not found"),
                )
                .with_help("check the cluster and service names"),
            ));
        }
        out.services()
            .first()
            .cloned()
            .ok_or_else(|| StepFailure::refused(format!("{SYSTEM}: {}: no such service", self.call("DescribeServices"))))
    }

    pub(super) async fn rollout(&self) -> Result<Rollout, StepFailure> {
        let service = self.service().await?;
        Rollout::of(&service).ok_or_else(|| {
            StepFailure::refused(format!("{SYSTEM}: {}: the service has no PRIMARY deployment", self.call("DescribeServices")))
        })
    }

    /// Containers of a task definition that have a health check.
    pub(super) async fn health_checked_containers(&self, task_definition: &str) -> Result<Vec<String>, StepFailure> {
        let out = self
            .client
            .describe_task_definition()
            .task_definition(task_definition)
            .send()
            .await
            .map_err(|e| StepFailure::from(sdk_error(SYSTEM, &format!("DescribeTaskDefinition {task_definition}"), &e)))?;
        Ok(out
            .task_definition()
            .map(|td| {
                td.container_definitions()
                    .iter()
                    .filter(|c| c.health_check().is_some())
                    .filter_map(|c| c.name().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Full ARN of a task definition given as `family:rev`, `family` or an ARN.
    pub(super) async fn resolve_task_definition(&self, td: &str) -> Result<String, StepFailure> {
        let out = self
            .client
            .describe_task_definition()
            .task_definition(td)
            .send()
            .await
            .map_err(|e| StepFailure::from(sdk_error(SYSTEM, &format!("DescribeTaskDefinition {td}"), &e)))?;
        out.task_definition()
            .and_then(|t| t.task_definition_arn())
            .map(str::to_string)
            .ok_or_else(|| StepFailure::refused(format!("{SYSTEM}: DescribeTaskDefinition {td}: no ARN in the answer")))
    }

    /// Registers a copy of `current` with `container`'s image replaced.
    pub(super) async fn register_with_image(&self, current: &str, container: &str, image: &str) -> Result<String, StepFailure> {
        let call = format!("DescribeTaskDefinition {current}");
        let out = self
            .client
            .describe_task_definition()
            .task_definition(current)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(|e| StepFailure::from(sdk_error(SYSTEM, &call, &e)))?;
        let tags = out.tags.filter(|t| !t.is_empty());
        let td = out.task_definition.ok_or_else(|| StepFailure::refused(format!("{SYSTEM}: {call}: empty answer")))?;
        let mut containers = td.container_definitions.clone().unwrap_or_default();
        let names: Vec<String> = containers.iter().filter_map(|c| c.name.clone()).collect();
        let Some(c) = containers.iter_mut().find(|c| c.name.as_deref() == Some(container)) else {
            return Err(StepFailure::refused(format!(
                "{SYSTEM}: task definition {current} has no container `{container}` (it has {})",
                names.join(", ")
            )));
        };
        c.image = Some(image.to_string());
        let family = td.family.clone().unwrap_or_default();
        let out = self
            .client
            .register_task_definition()
            .set_family(td.family)
            .set_task_role_arn(td.task_role_arn)
            .set_execution_role_arn(td.execution_role_arn)
            .set_network_mode(td.network_mode)
            .set_container_definitions(Some(containers))
            .set_volumes(td.volumes)
            .set_placement_constraints(td.placement_constraints)
            .set_requires_compatibilities(td.requires_compatibilities)
            .set_cpu(td.cpu)
            .set_memory(td.memory)
            .set_pid_mode(td.pid_mode)
            .set_ipc_mode(td.ipc_mode)
            .set_proxy_configuration(td.proxy_configuration)
            .set_inference_accelerators(td.inference_accelerators)
            .set_ephemeral_storage(td.ephemeral_storage)
            .set_runtime_platform(td.runtime_platform)
            .set_enable_fault_injection(td.enable_fault_injection)
            .set_tags(tags)
            .send()
            .await
            .map_err(|e| StepFailure::from(sdk_error(SYSTEM, &format!("RegisterTaskDefinition {family}"), &e)))?;
        out.task_definition()
            .and_then(|t| t.task_definition_arn())
            .map(str::to_string)
            .ok_or_else(|| StepFailure::refused(format!("{SYSTEM}: RegisterTaskDefinition {family}: no ARN in the answer")))
    }

    pub(super) async fn update(&self, task_definition: &str) -> Result<String, StepFailure> {
        let out = self
            .client
            .update_service()
            .cluster(&self.cluster)
            .service(&self.service)
            .task_definition(task_definition)
            .send()
            .await
            .map_err(|e| StepFailure::from(sdk_error(SYSTEM, &self.call("UpdateService"), &e)))?;
        let primary = out.service().and_then(Rollout::of);
        Ok(primary.map(|p| p.primary_id).unwrap_or_default())
    }

    /// Waits until the service runs `target` and nothing else, reporting
    /// progress; fails at once when the rollout fails or ECS rolls back.
    pub(super) async fn wait_stable(&self, run: &StepRun<'_>, target: &str) -> Result<Rollout, StepFailure> {
        let mut last = String::new();
        loop {
            let r = self.rollout().await?;
            if r.state == Some(DeploymentRolloutState::Failed) {
                return Err(StepFailure::refused(format!(
                    "{SYSTEM}: the rollout of {}/{} FAILED: {}{}",
                    self.cluster,
                    self.service,
                    r.reason.clone().unwrap_or_else(|| "no reason given".into()),
                    r.events_text()
                )));
            }
            if r.primary_task_definition != target
                && let Some((failed, reason)) = r.failed.iter().find(|(td, _)| td == target)
            {
                return Err(StepFailure::refused(format!(
                    "{SYSTEM}: the rollout of {failed} to {}/{} FAILED ({reason}); ECS's circuit breaker is rolling it back to {} (deployment {}){}",
                    self.cluster,
                    self.service,
                    r.primary_task_definition,
                    r.primary_id,
                    r.events_text()
                )));
            }
            if r.primary_task_definition != target {
                return Err(StepFailure::refused(format!(
                    "{SYSTEM}: {}/{} is now deploying {} instead of {target} (a circuit-breaker rollback, or someone else's deployment){}",
                    self.cluster,
                    self.service,
                    r.primary_task_definition,
                    r.events_text()
                )));
            }
            let progress = r.progress();
            if progress != last {
                run.log(&progress);
                last = progress;
            }
            let completed = matches!(r.state, None | Some(DeploymentRolloutState::Completed));
            if completed && r.deployments == 1 && r.running == r.desired {
                return Ok(r);
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}
