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

mod check;
mod deploy;
mod rollback;
mod service;

use std::sync::Arc;
use std::time::Duration;

use super::aws;
use crate::runbook::expr::Template;
use crate::step::schema;
use crate::step::{Integration, ParseContext, Settings, StepSpec, TargetDecl, TargetUse, joined};

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

/// The settings every ECS step shares, with the kind's own.
fn target_schema(description: &str, extra: &[(&str, serde_json::Value)]) -> serde_json::Value {
    let mut props = vec![
        ("cluster", schema::template("the cluster's name or ARN")),
        ("service", schema::template("the service's name")),
        ("poll", schema::duration("how often to look at the rollout (default 5s)")),
    ];
    props.extend(extra.iter().cloned());
    schema::object(description, &props, &["cluster", "service"])
}

fn parse_target(spec: &StepSpec<'_>, kind: &str, extra: &[&str], cx: &mut dyn ParseContext) -> Option<Target> {
    let aws = aws::settings(cx, spec.key.span, kind);
    let mut keys = vec!["cluster", "service", "poll"];
    keys.extend_from_slice(extra);
    let v = Settings::mapping(spec.value, kind, &keys, "e.g. `{ cluster: prod, service: checkout }`", cx)?;
    let cluster = v.required("cluster", cx);
    let service = v.required("service", cx);
    let poll = v.duration("poll", cx).unwrap_or(DEFAULT_POLL);
    Some(Target { aws: aws?, cluster: cluster?, service: service?, poll })
}
