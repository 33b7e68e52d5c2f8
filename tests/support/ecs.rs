//! A fake ECS that speaks the real wire protocol (JSON 1.1 with
//! `X-Amz-Target`), so the real aws-sdk-ecs talks to it, and — unlike moto —
//! moves deployments along: a new PRIMARY deployment starts IN_PROGRESS next
//! to the old one (ACTIVE) and, poll by poll, completes, fails with a reason,
//! is rolled back by the circuit breaker, bakes, or never finishes.
//!
//! As the ECS developer guide describes them:
//! - circuit-breaker rollback ("deployment-circuit-breaker"): the failed
//!   deployment turns FAILED and ACTIVE, and a new PRIMARY deployment of the
//!   last COMPLETED task definition starts IN_PROGRESS;
//! - deployment alarms' bake time ("deployment-alarm-failure"): after the
//!   new tasks are steady the deployment stays IN_PROGRESS for the bake;
//! - a service behind a Classic Load Balancer, or created before rollout
//!   states existed, has no `rolloutState` at all;
//! - ListTasks answers at most `maxResults` (≤ 100) ARNs a page with a
//!   `nextToken`; DescribeTasks takes at most 100 tasks.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::http_server::{Request, Response, serve};

const ACCOUNT: &str = "123456789012";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rollout {
    /// Completes after this many DescribeServices calls.
    Completes(u32),
    /// The circuit breaker marks it FAILED after this many calls.
    Fails(u32),
    /// FAILED after this many calls, and ECS starts a new deployment of the
    /// previous task definition (which goes as the next rollout says).
    RolledBackByEcs(u32),
    /// Steady after the first call, then IN_PROGRESS for this many more
    /// (the deployment alarms' bake time), then COMPLETED.
    Bakes(u32),
    /// Never finishes.
    Stuck,
}

#[derive(Clone, Debug)]
struct Deployment {
    id: String,
    status: &'static str,
    task_definition: String,
    running: i32,
    rollout: &'static str,
    reason: String,
    polls: u32,
}

#[derive(Debug)]
struct State {
    cluster: String,
    service: String,
    desired: i32,
    deployments: Vec<Deployment>,
    task_definitions: Vec<Value>,
    next_deployment: u32,
    /// How each new deployment goes, in order; the last one repeats.
    rollouts: Vec<Rollout>,
    rollout: Rollout,
    unhealthy: bool,
    starting: bool,
    events: Vec<String>,
    /// No `rolloutState` in any deployment.
    without_states: bool,
    /// ListTasks page size (AWS: maxResults, at most 100).
    task_page: usize,
}

pub struct FakeEcs {
    pub port: u16,
    state: Arc<Mutex<State>>,
    requests: Arc<Mutex<Vec<Request>>>,
}

fn td_arn(family: &str, revision: i64) -> String {
    format!("arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/{family}:{revision}")
}

impl FakeEcs {
    /// Cluster `prod`, service `checkout` (2 tasks) stable on `checkout:1`
    /// (container `app`, image `registry/checkout:1.0.0`).
    pub fn start(rollouts: &[Rollout]) -> FakeEcs {
        let td = json!({
            "taskDefinitionArn": td_arn("checkout", 1), "family": "checkout", "revision": 1, "status": "ACTIVE",
            "networkMode": "awsvpc", "cpu": "256", "memory": "512", "requiresCompatibilities": ["FARGATE"],
            "executionRoleArn": format!("arn:aws:iam::{ACCOUNT}:role/exec"),
            "containerDefinitions": [
                {"name": "app", "image": "registry/checkout:1.0.0", "essential": true, "portMappings": [{"containerPort": 8080}],
                 "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost:8080/health"], "interval": 10}},
                {"name": "sidecar", "image": "registry/envoy:1.30", "essential": false}
            ]
        });
        let state = State {
            cluster: "prod".into(),
            service: "checkout".into(),
            desired: 2,
            deployments: vec![Deployment {
                id: "ecs-svc/1".into(),
                status: "PRIMARY",
                task_definition: td_arn("checkout", 1),
                running: 2,
                rollout: "COMPLETED",
                reason: String::new(),
                polls: 0,
            }],
            task_definitions: vec![td],
            next_deployment: 2,
            rollouts: rollouts.to_vec(),
            rollout: Rollout::Stuck,
            unhealthy: false,
            starting: false,
            events: vec!["(service checkout) has reached a steady state.".into()],
            without_states: false,
            task_page: 100,
        };
        let state = Arc::new(Mutex::new(state));
        let s = state.clone();
        let (port, requests) = serve(Arc::new(move |r: &Request| handle(&mut s.lock().unwrap(), r)));
        FakeEcs { port, state, requests }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The service is called `name` (in cluster `prod`), not `checkout`.
    pub fn named(self, name: &str) -> FakeEcs {
        self.state.lock().unwrap().service = name.into();
        self
    }

    /// Someone else's rollout is under way.
    pub fn start_foreign_rollout(&self) {
        let mut s = self.state.lock().unwrap();
        s.rollouts.insert(0, Rollout::Stuck);
        let td = td_arn("checkout", 1);
        start_deployment(&mut s, td);
    }

    /// Deployments carry no `rolloutState` (a Classic Load Balancer service).
    pub fn without_rollout_state(&self) {
        self.state.lock().unwrap().without_states = true;
    }

    /// ListTasks answers at most `n` ARNs a page.
    pub fn page_tasks(&self, n: usize) {
        self.state.lock().unwrap().task_page = n;
    }

    pub fn set_unhealthy(&self) {
        self.state.lock().unwrap().unhealthy = true;
    }

    /// Tasks run, but their health checks have not passed yet (UNKNOWN).
    pub fn set_starting(&self) {
        self.state.lock().unwrap().starting = true;
    }

    /// (PRIMARY task definition, number of deployments).
    pub fn primary(&self) -> (String, usize) {
        let s = self.state.lock().unwrap();
        let p = s.deployments.iter().find(|d| d.status == "PRIMARY").unwrap();
        (p.task_definition.clone(), s.deployments.len())
    }

    /// The operations called, in order (`UpdateService`, ...).
    pub fn calls(&self, op: &str) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.header("x-amz-target").is_some_and(|t| t.ends_with(&format!(".{op}"))))
            .map(|r| serde_json::from_str(&r.body).unwrap_or(Value::Null))
            .collect()
    }

    pub fn task_definition(&self, arn: &str) -> Value {
        let s = self.state.lock().unwrap();
        s.task_definitions.iter().find(|t| t["taskDefinitionArn"] == arn).cloned().unwrap_or(Value::Null)
    }
}

fn start_deployment(s: &mut State, task_definition: String) -> String {
    s.rollout =
        if s.rollouts.len() > 1 { s.rollouts.remove(0) } else { s.rollouts.first().copied().unwrap_or(Rollout::Completes(1)) };
    for d in &mut s.deployments {
        d.status = "ACTIVE";
    }
    let id = format!("ecs-svc/{}", s.next_deployment);
    s.next_deployment += 1;
    s.deployments.insert(
        0,
        Deployment {
            id: id.clone(),
            status: "PRIMARY",
            task_definition,
            running: 0,
            rollout: "IN_PROGRESS",
            reason: String::new(),
            polls: 0,
        },
    );
    s.events.insert(0, format!("(service checkout) has started 2 tasks: deployment {id}."));
    id
}

/// One DescribeServices: the PRIMARY deployment moves one step.
fn advance(s: &mut State) {
    let rollout = s.rollout;
    let desired = s.desired;
    let Some(p) = s.deployments.iter_mut().find(|d| d.status == "PRIMARY") else { return };
    if p.rollout != "IN_PROGRESS" {
        return;
    }
    p.polls += 1;
    match rollout {
        Rollout::Completes(n) if p.polls >= n => {
            p.running = desired;
            p.rollout = "COMPLETED";
            s.deployments.retain(|d| d.status == "PRIMARY");
            s.events.insert(0, "(service checkout) has reached a steady state.".into());
        }
        Rollout::Completes(_) => p.running = (p.running + 1).min(desired - 1),
        Rollout::Fails(n) if p.polls >= n => {
            p.rollout = "FAILED";
            p.reason = "ECS deployment circuit breaker: tasks failed to start.".into();
            s.events.insert(0, "(service checkout) task 1a2b stopped: Essential container in task exited".into());
        }
        Rollout::RolledBackByEcs(n) if p.polls >= n => {
            p.rollout = "FAILED";
            p.reason = "ECS deployment circuit breaker: tasks failed to start.".into();
            let failed = p.id.clone();
            // The last COMPLETED deployment is what ECS rolls back to, as a new deployment.
            let Some(old) = s.deployments.iter().find(|d| d.status == "ACTIVE" && d.rollout == "COMPLETED").cloned() else {
                return;
            };
            s.events.insert(0, format!("(service checkout) (deployment {failed}) deployment failed: tasks failed to start."));
            start_deployment(s, old.task_definition.clone());
            s.events.insert(0, format!("(service checkout) rolling back to deployment {}", old.id));
        }
        Rollout::Bakes(n) => {
            p.running = desired;
            if p.polls > n {
                p.rollout = "COMPLETED";
                s.events.insert(0, "(service checkout) deployment completed.".into());
            } else if p.polls == 1 {
                s.events.insert(0, "(service checkout) has reached a steady state.".into());
            }
            s.deployments.retain(|d| d.status == "PRIMARY");
        }
        _ => {}
    }
}

fn deployment_json(d: &Deployment, desired: i32, without_states: bool) -> Value {
    let mut v = json!({
        "id": d.id, "status": d.status, "taskDefinition": d.task_definition, "desiredCount": desired,
        "runningCount": d.running, "pendingCount": desired - d.running, "failedTasks": 0,
        "createdAt": 1_767_225_600.0, "updatedAt": 1_767_225_660.5, "launchType": "FARGATE",
        "rolloutState": d.rollout, "rolloutStateReason": d.reason,
    });
    if without_states {
        let o = v.as_object_mut().unwrap();
        o.remove("rolloutState");
        o.remove("rolloutStateReason");
    }
    v
}

fn service_json(s: &State) -> Value {
    let running: i32 = s.deployments.iter().map(|d| d.running).sum::<i32>().min(s.desired.max(0) * 2);
    let primary_running = s.deployments.iter().find(|d| d.status == "PRIMARY").map_or(0, |d| d.running);
    let stable = s.deployments.len() == 1;
    json!({
        "serviceArn": format!("arn:aws:ecs:us-east-1:{ACCOUNT}:service/{}/{}", s.cluster, s.service),
        "serviceName": s.service, "clusterArn": format!("arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/{}", s.cluster),
        "status": "ACTIVE", "desiredCount": s.desired,
        "runningCount": if stable { primary_running } else { running },
        "pendingCount": 0,
        "taskDefinition": s.deployments.iter().find(|d| d.status == "PRIMARY").map(|d| d.task_definition.clone()),
        "deployments": s.deployments.iter().map(|d| deployment_json(d, s.desired, s.without_states)).collect::<Vec<_>>(),
        "events": s.events.iter().enumerate().map(|(i, m)| json!({"id": format!("e{i}"), "createdAt": 1_767_225_600.0, "message": m})).collect::<Vec<_>>(),
    })
}

fn error(kind: &str, message: &str) -> Response {
    Response::json(400, &json!({"__type": kind, "message": message})).header("x-amzn-errortype", kind)
}

fn handle(s: &mut State, r: &Request) -> Response {
    let op = r.header("x-amz-target").and_then(|t| t.rsplit('.').next()).unwrap_or("").to_string();
    let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    if body["cluster"].as_str().is_some_and(|c| c != s.cluster) {
        return error("ClusterNotFoundException", "Cluster not found.");
    }
    let ok = |v: Value| Response::json(200, &v).header("Content-Type", "application/x-amz-json-1.1");
    match op.as_str() {
        "DescribeServices" => {
            if body["services"][0] != s.service.as_str() {
                let arn = format!(
                    "arn:aws:ecs:us-east-1:{ACCOUNT}:service/{}/{}",
                    s.cluster,
                    body["services"][0].as_str().unwrap_or("")
                );
                return ok(json!({"services": [], "failures": [{"arn": arn, "reason": "MISSING"}]}));
            }
            advance(s);
            ok(json!({"services": [service_json(s)], "failures": []}))
        }
        "UpdateService" => {
            if body["service"] != s.service.as_str() {
                return error("ServiceNotFoundException", "Service not found.");
            }
            if let Some(td) = body["taskDefinition"].as_str() {
                let Some(arn) = find_td(s, td).and_then(|t| t["taskDefinitionArn"].as_str().map(str::to_string)) else {
                    return error("InvalidParameterException", "Unable to describe task definition.");
                };
                let primary = s.deployments.iter().find(|d| d.status == "PRIMARY").map(|d| d.task_definition.clone());
                if primary.as_deref() != Some(arn.as_str()) {
                    start_deployment(s, arn);
                }
            }
            ok(json!({"service": service_json(s)}))
        }
        "DescribeTaskDefinition" => match find_td(s, body["taskDefinition"].as_str().unwrap_or("")) {
            Some(td) => ok(json!({"taskDefinition": td, "tags": [{"key": "team", "value": "payments"}]})),
            None => error("ClientException", "Unable to describe task definition."),
        },
        "RegisterTaskDefinition" => {
            let family = body["family"].as_str().unwrap_or("").to_string();
            let revision = s.task_definitions.iter().filter(|t| t["family"] == family.as_str()).count() as i64 + 1;
            let mut td = body.clone();
            td["taskDefinitionArn"] = json!(td_arn(&family, revision));
            td["revision"] = json!(revision);
            td["status"] = json!("ACTIVE");
            let tags = td.as_object_mut().and_then(|o| o.remove("tags")).unwrap_or(json!([]));
            s.task_definitions.push(td.clone());
            ok(json!({"taskDefinition": td, "tags": tags}))
        }
        "ListTasks" => {
            let arns: Vec<String> = s
                .deployments
                .iter()
                .flat_map(|d| {
                    (0..d.running)
                        .map(move |i| format!("arn:aws:ecs:us-east-1:{ACCOUNT}:task/prod/{}-{i}", d.id.replace('/', "-")))
                })
                .collect();
            let max = body["maxResults"].as_u64().map_or(100, |m| m as usize).min(s.task_page);
            let start: usize = body["nextToken"].as_str().and_then(|t| t.strip_prefix("tasks-")?.parse().ok()).unwrap_or(0);
            let page: Vec<&String> = arns.iter().skip(start).take(max).collect();
            let mut answer = json!({"taskArns": page});
            if start + max < arns.len() {
                answer["nextToken"] = json!(format!("tasks-{}", start + max));
            }
            ok(answer)
        }
        "DescribeTasks" => {
            if body["tasks"].as_array().is_some_and(|t| t.len() > 100) {
                return error("InvalidParameterException", "Tasks cannot be longer than 100.");
            }
            let tasks: Vec<Value> = body["tasks"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|arn| {
                    let arn = arn.as_str()?;
                    let dep = s.deployments.iter().find(|d| arn.contains(&d.id.replace('/', "-")))?;
                    Some(json!({
                        "taskArn": arn, "taskDefinitionArn": dep.task_definition, "lastStatus": "RUNNING",
                        "desiredStatus": "RUNNING", "startedBy": dep.id,
                        "healthStatus": if s.unhealthy { "UNHEALTHY" } else if s.starting { "UNKNOWN" } else { "HEALTHY" },
                        "containers": [
                            {"name": "app", "lastStatus": "RUNNING", "healthStatus": if s.unhealthy { "UNHEALTHY" } else if s.starting { "UNKNOWN" } else { "HEALTHY" }},
                            {"name": "sidecar", "lastStatus": "RUNNING", "healthStatus": "UNKNOWN"}
                        ],
                        "createdAt": 1_767_225_600.0
                    }))
                })
                .collect();
            ok(json!({"tasks": tasks, "failures": []}))
        }
        other => error("UnknownOperationException", &format!("fake ECS does not implement {other}")),
    }
}

/// `family`, `family:rev` or an ARN.
fn find_td<'a>(s: &'a State, name: &str) -> Option<&'a Value> {
    let name = name.rsplit('/').next().unwrap_or(name);
    match name.split_once(':') {
        Some((family, rev)) => s
            .task_definitions
            .iter()
            .find(|t| t["family"] == family && t["revision"].as_i64().map(|r| r.to_string()).as_deref() == Some(rev)),
        None => s.task_definitions.iter().filter(|t| t["family"] == name).max_by_key(|t| t["revision"].as_i64()),
    }
}
