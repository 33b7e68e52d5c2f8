//! `ecs.deploy`, `ecs.check`, `ecs.rollback`: an ECS service's rollout.
//!
//! Deploy records the PRIMARY deployment's task definition (the rollback
//! target) in the journal before it changes anything, registers a new
//! revision when given an image, updates the service, and waits until it is
//! stable — stricter than `aws ecs wait services-stable`: the PRIMARY
//! deployment is on the target task definition, its rollout COMPLETED (where
//! ECS reports one), it is the only deployment, and running == desired. A
//! circuit-breaker FAILED rollout stops the wait at once with ECS's reason
//! and latest events; success is never reported while ECS is rolling back.
//! relctl never deregisters task definitions.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{DeploymentRolloutState, DesiredStatus, HealthStatus, Service, TaskDefinitionField};

use super::aws::{self, sdk_error};
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::expr::Template;
use crate::runbook::node::Node;
use crate::step::PhaseName;
use crate::step::{
    Action, BoxFuture, Integration, Outcome, ParseContext, StepEnv, StepFailure, StepKind, StepResult, StepRun, StepSpec,
    TargetDecl, TargetUse, check_keys, duration_setting, joined,
};

const SYSTEM: &str = "ECS";
const DEFAULT_POLL: Duration = Duration::from_secs(5);
/// How long a rollout (deploy or rollback) may take without `timeout:`:
/// three times the AWS CLI's `services-stable` waiter (40 polls 15 s apart).
const ROLLOUT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long `ecs.check` may wait for health checks without `timeout:`.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10 * 60);

pub struct DeployKind;
pub struct CheckKind;
pub struct RollbackKind;

/// The service a step acts on, and how often it looks at it.
#[derive(Debug)]
struct Target {
    aws: Arc<dyn Integration>,
    cluster: Template,
    service: Template,
    poll: Duration,
}

impl Target {
    /// The service as a rollback target: what ecs.deploy records and
    /// ecs.rollback restores.
    fn rollback(&self, uses: TargetUse) -> TargetDecl {
        TargetDecl { uses, system: "ecs", parts: vec![self.cluster.clone(), self.service.clone()], resource: joined }
    }
}

fn parse_target(spec: &StepSpec<'_>, kind: &str, extra: &[&str], cx: &mut dyn ParseContext) -> Option<Target> {
    let aws = aws::settings(cx, spec.key.span, kind);
    let v = spec.value;
    if v.as_map().is_none() {
        cx.diagnostics().push(
            Diagnostic::new(v.span, format!("`{kind}` takes a mapping, found {}", v.type_name()))
                .hint("e.g. `{ cluster: prod, service: checkout }`"),
        );
        return None;
    }
    let mut keys = vec!["cluster", "service", "poll"];
    keys.extend_from_slice(extra);
    check_keys(v, &keys, &format!("`{kind}`"), cx);
    let field = |name: &str, cx: &mut dyn ParseContext| match v.get(name) {
        Some(n) => cx.template(n, &format!("`{name}`")),
        None => {
            cx.diagnostics().push(Diagnostic::new(spec.key.span, format!("`{kind}` needs `{name}`")));
            None
        }
    };
    let cluster = field("cluster", cx);
    let service = field("service", cx);
    let poll = duration_setting(v.get("poll"), cx).unwrap_or(DEFAULT_POLL);
    Some(Target { aws: aws?, cluster: cluster?, service: service?, poll })
}

/// A resolved target for one execution.
struct Ecs {
    client: Client,
    cluster: String,
    service: String,
    poll: Duration,
}

impl Target {
    async fn connect(&self, env: &dyn StepEnv) -> Result<Ecs, StepFailure> {
        let settings = aws::downcast(&self.aws);
        let client = Client::new(settings.config(env).await?);
        Ok(Ecs { client, cluster: env.render(&self.cluster)?, service: env.render(&self.service)?, poll: self.poll })
    }

    fn describe(&self) -> String {
        format!("{}/{}", self.cluster.display(), self.service.display())
    }
}

/// The parts of a service's state the wait looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rollout {
    primary_task_definition: String,
    primary_id: String,
    state: Option<DeploymentRolloutState>,
    reason: Option<String>,
    deployments: usize,
    running: i32,
    desired: i32,
    events: Vec<String>,
}

impl Rollout {
    fn of(service: &Service) -> Option<Rollout> {
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
        })
    }

    fn progress(&self) -> String {
        let state = self.state.as_ref().map_or("no rollout state".to_string(), |s| s.as_str().to_string());
        format!("running {}/{}, {state}, {} deployment(s)", self.running, self.desired, self.deployments)
    }

    fn events_text(&self) -> String {
        if self.events.is_empty() { String::new() } else { format!("; latest events: {}", self.events.join(" | ")) }
    }
}

impl Ecs {
    fn call(&self, call: &str) -> String {
        format!("{call} {}/{}", self.cluster, self.service)
    }

    async fn service(&self) -> Result<Service, StepFailure> {
        let out = self
            .client
            .describe_services()
            .cluster(&self.cluster)
            .services(&self.service)
            .send()
            .await
            .map_err(|e| StepFailure::from(sdk_error(SYSTEM, &self.call("DescribeServices"), &e)))?;
        if let Some(f) = out.failures().first() {
            return Err(StepFailure::refused(format!(
                "{SYSTEM}: {}: {} — check the cluster and service names",
                self.call("DescribeServices"),
                f.reason().unwrap_or("not found")
            )));
        }
        out.services()
            .first()
            .cloned()
            .ok_or_else(|| StepFailure::refused(format!("{SYSTEM}: {}: no such service", self.call("DescribeServices"))))
    }

    async fn rollout(&self) -> Result<Rollout, StepFailure> {
        let service = self.service().await?;
        Rollout::of(&service).ok_or_else(|| {
            StepFailure::refused(format!("{SYSTEM}: {}: the service has no PRIMARY deployment", self.call("DescribeServices")))
        })
    }

    /// Containers of a task definition that have a health check.
    async fn health_checked_containers(&self, task_definition: &str) -> Result<Vec<String>, StepFailure> {
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
    async fn resolve_task_definition(&self, td: &str) -> Result<String, StepFailure> {
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
    async fn register_with_image(&self, current: &str, container: &str, image: &str) -> Result<String, StepFailure> {
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

    async fn update(&self, task_definition: &str) -> Result<String, StepFailure> {
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
    async fn wait_stable(&self, run: &StepRun<'_>, target: &str) -> Result<Rollout, StepFailure> {
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
    if node.as_map().is_none() {
        cx.diagnostics().push(
            Diagnostic::new(node.span, "`image` is a mapping")
                .hint("e.g. `image: { container: app, image: \"registry/app:${{ vars.version }}\" }`"),
        );
        return None;
    }
    check_keys(node, &["container", "image"], "`image`", cx);
    let (Some(c), Some(i)) = (node.get("container"), node.get("image")) else {
        cx.diagnostics().push(Diagnostic::new(node.span, "`image` needs `container` and `image`"));
        return None;
    };
    Some(Change::Image { container: cx.template(c, "`container`")?, image: cx.template(i, "`image`")? })
}

impl DeployAction {
    async fn run(&self, run: &StepRun<'_>) -> StepResult {
        let env = run.env;
        let ecs = self.target.connect(env).await?;
        let mut cp = env.checkpoint_of(run.key).unwrap_or_default();
        let previous = match cp.get("previous_task_definition_arn") {
            Some(p) => p.clone(),
            None => {
                let r = ecs.rollout().await?;
                if r.deployments > 1 || r.state == Some(DeploymentRolloutState::InProgress) {
                    return Err(StepFailure::refused(format!(
                        "{SYSTEM}: {}/{} already has a deployment in progress ({}); wait for it, then run again",
                        ecs.cluster,
                        ecs.service,
                        r.progress()
                    )));
                }
                // The rollback target, journaled before anything changes.
                let previous = r.primary_task_definition;
                let saved = self.target.rollback(TargetUse::Saves).resolve(|t| env.render(t))?;
                env.save_target(&saved, &previous)?;
                env.checkpoint(run.key, BTreeMap::from([("previous_task_definition_arn".to_string(), previous.clone())]))?;
                cp.insert("previous_task_definition_arn".into(), previous.clone());
                previous
            }
        };
        let target = match cp.get("task_definition_arn") {
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
                env.checkpoint(run.key, BTreeMap::from([("task_definition_arn".to_string(), t.clone())]))?;
                t
            }
        };
        let deployment = match cp.get("deployment_id") {
            Some(d) => {
                run.log(&format!("re-attaching to deployment {d}"));
                d.clone()
            }
            None => {
                let d = ecs.update(&target).await?;
                env.checkpoint(run.key, BTreeMap::from([("deployment_id".to_string(), d.clone())]))?;
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

#[derive(Debug)]
struct RollbackAction {
    target: Target,
    to: Option<Template>,
}

impl StepKind for RollbackKind {
    fn name(&self) -> &'static str {
        "ecs.rollback"
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
            problems.push(format!(
                "a deployment is already in progress ({}): someone else's rollout; wait for it to finish before releasing",
                r.progress()
            ));
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
