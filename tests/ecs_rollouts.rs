//! ECS rollouts the way ECS runs them (see the fake's notes in
//! tests/support/ecs.rs): the circuit breaker's own rollback as a new
//! deployment, the deployment alarms' bake time, services without rollout
//! states, and task lists that come in pages.

use crate::ecs::{DEPLOY, run, runbook};
use crate::support::ecs::{FakeEcs, Rollout};
use crate::support::*;

const OLD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/checkout:1";

#[test]
fn after_the_circuit_breaker_rolls_back_relctl_waits_for_that_rollback_instead_of_starting_another() {
    // The deploy fails, ECS starts its own rollback deployment (which
    // completes after 3 looks), and relctl's rollback step follows it.
    let ecs = FakeEcs::start(&[Rollout::RolledBackByEcs(2), Rollout::Completes(3)]);
    let sb = Sandbox::new();
    let r = run(&sb, &ecs, &runbook("ecs-cb-rollback", DEPLOY));
    r.expect_code(3);
    assert_eq!(ecs.calls("UpdateService").len(), 1, "only the deploy: ECS's rollback was not doubled");
    assert_eq!(ecs.primary(), (OLD.to_string(), 1));
    assert!(r.stdout.contains(&format!("prod/checkout is already deploying {OLD}; waiting for it")), "{}", r.stdout);
    assert_eq!(finished(&sb, "rollback.0")["status"], "succeeded");
}

#[test]
fn a_deployment_in_its_alarm_bake_time_is_not_called_stable_before_it_completes() {
    // Steady (one deployment, 2/2 running) from the first look, but ECS
    // keeps it IN_PROGRESS for three more while the alarms bake.
    let ecs = FakeEcs::start(&[Rollout::Bakes(3)]);
    let sb = Sandbox::new();
    let r = run(
        &sb,
        &ecs,
        &runbook(
            "ecs-bake",
            "execute:\n  - ecs.deploy: { cluster: prod, service: checkout, image: { container: app, image: \"registry/checkout:2.0.0\" }, poll: 20ms }\n",
        ),
    );
    r.expect_code(0);
    assert!(ecs.calls("DescribeServices").len() >= 5, "waited through the bake: {} looks", ecs.calls("DescribeServices").len());
    assert!(r.stdout.contains("running 2/2, IN_PROGRESS, 1 deployment(s)"), "{}", r.stdout);
}

#[test]
fn a_service_without_rollout_states_is_stable_on_one_deployment_all_running() {
    let ecs = FakeEcs::start(&[Rollout::Completes(3)]);
    ecs.without_rollout_state();
    let sb = Sandbox::new();
    let r = run(&sb, &ecs, &runbook("ecs-clb", DEPLOY));
    r.expect_code(0);
    assert!(r.stdout.contains("no rollout state"), "{}", r.stdout);
    assert_eq!(ecs.primary().1, 1);
}

#[test]
fn tasks_listed_in_pages_are_all_checked() {
    let ecs = FakeEcs::start(&[Rollout::Completes(1)]);
    ecs.page_tasks(1);
    ecs.set_unhealthy();
    let sb = Sandbox::new();
    let r = run(&sb, &ecs, &runbook("ecs-pages", "checklist:\n  - ecs.check: { cluster: prod, service: checkout }\n"));
    r.expect_code(1);
    let lists = ecs.calls("ListTasks");
    assert_eq!(lists.len(), 2, "two tasks, one a page: {lists:?}");
    assert_eq!(lists[1]["nextToken"], "tasks-1");
    let described: usize = ecs.calls("DescribeTasks").iter().map(|c| c["tasks"].as_array().map_or(0, Vec::len)).sum();
    assert!(described >= 2, "both tasks were looked at: {described}");
}
