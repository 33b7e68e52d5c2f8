//! The adapters: one file per system or kind of work, each implementing the
//! step contract in [`crate::step`]. They know nothing of the engine or the
//! UI: a step gets a [`crate::step::StepRun`] and returns an outcome.
//!
//! Adding a kind is a new file and one line in [`registry`]; engine code
//! does not change.

pub mod alb;
pub mod aws;
pub mod cloudwatch;
pub mod cloudwatch_metric;
pub mod ecs;
pub mod http;
pub mod jenkins;
pub mod prometheus;
pub mod remote;
pub mod s3;
pub mod shell;
pub mod slack;
pub mod threshold;
pub mod wait;

use crate::step::Registry;

/// Every built-in step kind and integration.
pub fn registry() -> Registry {
    Registry::new(
        vec![
            &shell::RunKind,
            &http::HttpKind,
            &wait::WaitKind,
            &jenkins::JenkinsKind,
            &slack::SlackKind,
            &s3::PromoteKind,
            &s3::RollbackKind,
            &s3::CheckKind,
            &cloudwatch::AlarmsKind,
            &cloudwatch_metric::MetricKind,
            &prometheus::PrometheusKind,
            &ecs::DeployKind,
            &ecs::CheckKind,
            &ecs::RollbackKind,
            &alb::ShiftKind,
            &alb::RollbackKind,
        ],
        vec![&jenkins::JenkinsIntegrationKind, &slack::SlackIntegrationKind, &aws::AwsIntegrationKind],
    )
}
