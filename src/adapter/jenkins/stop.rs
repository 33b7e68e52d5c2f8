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

/// The whole stop (every POST and every look) ends within this, inside the
/// engine's 30 s for stopping a step: a Jenkins too slow to answer is
/// reported as such rather than cut off with nothing said.
const STOP_BUDGET: Duration = Duration::from_secs(25);

/// Looks at the build once, quickly: a failed look is "unknown", not the end.
const LOOK: RetryPolicy = RetryPolicy { attempts: 1, min_delay: Duration::from_millis(200), max_delay: Duration::from_secs(1) };

impl Jenkins {
    /// `/stop`, then `/term`, then `/kill`, each given `wait` to take effect,
    /// all within [`STOP_BUDGET`]. An error when the build is not seen to end.
    pub(super) async fn stop_confirmed(&self, build_url: &str, wait: Duration) -> Result<Stopped, RemoteError> {
        let budget = Instant::now() + STOP_BUDGET;
        let left = || budget.saturating_duration_since(Instant::now());
        if let Ok(Ok(Some(result))) = tokio::time::timeout(left(), self.ended(build_url)).await {
            return Ok(Stopped::AlreadyOver { result });
        }
        let mut tried = Vec::new();
        let mut trouble: Option<String> = None;
        for by in ["stop", "term", "kill"] {
            let call = format!("POST {}{by}", build_url.trim_start_matches(&self.base));
            // Asking twice is harmless, so it is retried like a read.
            let policy = RetryPolicy { attempts: 2, min_delay: Duration::from_millis(200), max_delay: Duration::from_secs(1) };
            let url = format!("{build_url}{by}");
            let post = self.post(&url, &call, Repeat::Safe, policy, &[StatusCode::NOT_FOUND], &[]);
            match tokio::time::timeout(left(), post).await {
                Err(_) => {
                    trouble = Some(format!("{call}: no answer within {}s", STOP_BUDGET.as_secs()));
                    break;
                }
                // Jenkins did not take this one: the next, stronger one may do.
                Ok(Err(e)) => {
                    trouble = Some(e.to_string());
                    continue;
                }
                Ok(Ok(r)) if r.status() == StatusCode::NOT_FOUND => {
                    if by == "stop" {
                        return Err(RemoteError::new(SYSTEM, &call, Some(404), "the build is not there to stop".to_string()));
                    }
                    // Not a Pipeline: there is nothing stronger than /stop.
                    break;
                }
                Ok(Ok(_)) => tried.push(format!("/{by}")),
            }
            let stage = Instant::now() + wait.min(left());
            loop {
                match tokio::time::timeout(left(), self.ended(build_url)).await {
                    Ok(Ok(Some(result))) => return Ok(Stopped::Ended { result, by }),
                    Ok(Err(e)) => trouble = Some(e.to_string()),
                    _ => {}
                }
                if Instant::now() >= stage {
                    break;
                }
                tokio::time::sleep(self.poll.min(Duration::from_millis(500)).min(left())).await;
            }
        }
        let call = format!("GET {}api/json", build_url.trim_start_matches(&self.base));
        let asked = if tried.is_empty() { "nothing Jenkins took".to_string() } else { tried.join(", ") };
        let why = trouble.map(|t| format!("; last problem: {t}")).unwrap_or_default();
        Err(RemoteError::new(
            SYSTEM,
            &call,
            None,
            format!(
                "the build is still running, or not seen to stop, after {asked} (waited up to {} after each){why}",
                crate::runbook::duration::format_duration(wait)
            ),
        )
        .with_help(format!("stop it in Jenkins ({build_url}) before anything else changes what it deploys")))
    }

    /// The build's result once it is over; `None` while it runs. One look.
    async fn ended(&self, build_url: &str) -> Result<Option<String>, RemoteError> {
        let call = format!("GET {}api/json", build_url.trim_start_matches(&self.base));
        let build: Build = self.get_json_with(&format!("{build_url}api/json?tree=building,result,duration"), &call, LOOK).await?;
        Ok(if build.building { None } else { build.result })
    }
}
