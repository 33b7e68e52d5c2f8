//! Stopping a build, and making sure it stopped. Jenkins' `/stop` only asks:
//! a freestyle build's executor is interrupted (Executor.doStopBuild) and a
//! Pipeline's execution is interrupted on a timer thread (WorkflowRun
//! doStop), both answering at once, before anything stopped; a Pipeline
//! stuck in a step can ignore it. WorkflowRun has two stronger endpoints:
//! `/term` (ends every running step with FlowInterruptedException) and
//! `/kill` (drops the execution and finishes the build ABORTED). A freestyle
//! build has neither (404). So relctl asks, waits a bounded time for the
//! build to end, escalates, and reports what actually happened.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use super::super::remote::{RemoteError, Repeat, RetryPolicy};
use super::SYSTEM;
use super::client::{Build, Jenkins};

/// How one attempt went.
pub(super) enum Stopped {
    /// The build ended, with this result, after this endpoint.
    Ended { result: String, by: &'static str },
    /// It had already ended.
    AlreadyOver { result: String },
}

impl Stopped {
    pub(super) fn describe(&self, number: u64) -> String {
        match self {
            Stopped::Ended { result, by } => format!("#{number} stopped ({result} after /{by})"),
            Stopped::AlreadyOver { result } => format!("#{number} had already ended ({result})"),
        }
    }
}

impl Jenkins {
    /// `/stop`, then `/term`, then `/kill`, each given `wait` to take effect.
    /// An error when the build is still running after all of them.
    pub(super) async fn stop_confirmed(&self, build_url: &str, wait: Duration) -> Result<Stopped, RemoteError> {
        if let Some(result) = self.ended(build_url).await? {
            return Ok(Stopped::AlreadyOver { result });
        }
        let mut tried = Vec::new();
        for by in ["stop", "term", "kill"] {
            let call = format!("POST {}{by}", build_url.trim_start_matches(&self.base));
            // Asking twice is harmless, so it is retried like a read.
            let policy = RetryPolicy { attempts: 3, ..RetryPolicy::default() };
            let response =
                self.post(&format!("{build_url}{by}"), &call, Repeat::Safe, policy, &[StatusCode::NOT_FOUND], &[]).await?;
            if response.status() == StatusCode::NOT_FOUND {
                if by == "stop" {
                    return Err(RemoteError::new(SYSTEM, &call, Some(404), "the build is not there to stop".to_string()));
                }
                // Not a Pipeline: there is nothing stronger than /stop.
                break;
            }
            tried.push(format!("/{by}"));
            let deadline = Instant::now() + wait;
            loop {
                if let Some(result) = self.ended(build_url).await? {
                    return Ok(Stopped::Ended { result, by });
                }
                if Instant::now() >= deadline {
                    break;
                }
                tokio::time::sleep(self.poll.min(Duration::from_millis(500))).await;
            }
        }
        let call = format!("GET {}api/json", build_url.trim_start_matches(&self.base));
        Err(RemoteError::new(
            SYSTEM,
            &call,
            None,
            format!("the build is still running after {} (waited {}s after each)", tried.join(", "), wait.as_secs()),
        )
        .with_help(format!("stop it in Jenkins ({build_url}) before anything else changes what it deploys")))
    }

    /// The build's result once it is over; `None` while it runs.
    async fn ended(&self, build_url: &str) -> Result<Option<String>, RemoteError> {
        let call = format!("GET {}api/json", build_url.trim_start_matches(&self.base));
        let build: Build = self.get_json(&format!("{build_url}api/json?tree=building,result,duration"), &call).await?;
        Ok(if build.building { None } else { build.result })
    }
}
