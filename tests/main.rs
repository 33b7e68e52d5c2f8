//! One integration test binary (link time matters on two cores): every test
//! drives the real `relctl` binary against local files and loopback servers.

mod support;

mod alb;
mod architecture;
mod aws;
mod ci_mode;
mod cloudwatch;
mod ecs;
mod ecs_rollouts;
mod http_step;
mod init;
mod injection;
mod interrupt;
mod jenkins;
mod jenkins_api;
mod json_output;
mod leftover;
mod locate;
mod lock;
mod metrics;
mod people;
mod plan;
mod prometheus;
mod prompt_screen;
mod pty;
mod quickstart;
mod reports;
mod resume;
mod run_reports;
mod s3_copies;
mod schema;
mod secrets;
mod seed_runbooks;
mod shared_runs;
mod shared_state;
mod shell_integration;
mod slack;
mod slack_api;
mod slack_approvals;
mod step_mechanics;
mod terminal_output;
mod transitions;
mod validation;
mod windows;
