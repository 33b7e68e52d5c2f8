//! `jenkins`: trigger a job through Jenkins' remote access API, follow it
//! through the queue, stream its console, and pass or fail on its result.
//!
//! The trigger is sent once: a 303 means an identical item is already queued
//! and is followed, not re-triggered. The queue item and then the build
//! number are checkpointed in the journal the moment they are known (Jenkins
//! forgets a left queue item after five minutes), so a resumed run
//! re-attaches to the same build instead of starting another. A build relctl
//! stopped itself (timeout, Ctrl-C) is recorded as stopped: attaching to it
//! again could only report ABORTED, so the next attempt triggers afresh.
//!
//! The console goes to a file in the run directory exactly as Jenkins sent
//! it, except that secrets are masked, a block of whole lines at a time, so
//! memory stays flat whatever the log size.

mod checkpoint;
mod client;
mod follow;
mod stop;

use checkpoint::Progress;
use client::{Jenkins, QueueItem, absolute, failure, with_slash};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::remote::RetryPolicy;
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::duration::format_duration;
use crate::runbook::expr::Template;
use crate::runbook::node::{Node, NodeKind};
use crate::step::schema;
use crate::step::{
    Action, AdapterError, BoxFuture, Integration, IntegrationKind, Outcome, ParseContext, Settings, StepEnv, StepFailure,
    StepKind, StepResult, StepRun, StepSpec, template_map,
};

const SYSTEM: &str = "Jenkins";
const DEFAULT_POLL: Duration = Duration::from_secs(2);
/// How long a build gets to end after each of `/stop`, `/term`, `/kill`:
/// three of them stay within the engine's 30 s for stopping a step.
const DEFAULT_STOP_WAIT: Duration = Duration::from_secs(8);
/// How long a build (queue included) may take without `timeout:`; then it
/// is stopped and the step fails. Longer jobs say so in the runbook.
const BUILD_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// How often a dropped console stream is picked up again before the step fails.
const MAX_CONSOLE_RESUMES: u32 = 5;
/// Following a running build rides out a Jenkins restart of a few minutes.
const FOLLOW: RetryPolicy = RetryPolicy { attempts: 10, min_delay: Duration::from_secs(1), max_delay: Duration::from_secs(30) };
/// An answer of at least this much console means more is probably waiting:
/// ask again at once instead of after the poll interval.
const CONSOLE_BURST: u64 = 256 * 1024;
/// Longest console text held while waiting for the end of its line.
const MAX_PARTIAL_LINE: usize = 1 << 20;

pub struct JenkinsIntegrationKind;
pub struct JenkinsKind;

#[derive(Debug)]
pub struct JenkinsSettings {
    url: Template,
    user: Option<Template>,
    token: Option<Template>,
    poll: Duration,
    stop_wait: Duration,
    /// A CSRF crumb, once Jenkins asked for one: every later call of the run
    /// (the stop after a timeout included) sends it, with the session cookie
    /// it belongs to (the client keeps cookies).
    crumb: Arc<std::sync::Mutex<Option<(String, String)>>>,
}

impl Integration for JenkinsSettings {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn describe(&self) -> Vec<String> {
        vec![format!("jenkins: {} (polls every {})", self.url.display(), format_duration(self.poll))]
    }
}

impl IntegrationKind for JenkinsIntegrationKind {
    fn name(&self) -> &'static str {
        "jenkins"
    }

    fn parse(&self, node: &Node, cx: &mut dyn ParseContext) -> Option<Arc<dyn Integration>> {
        let example = "e.g. `jenkins: { url: https://jenkins.example.com, user: ..., token: ${{ secrets.JENKINS_TOKEN }} }`";
        let v = Settings::mapping(node, "jenkins", &["url", "user", "token", "poll", "stop_wait"], example, cx)?;
        let url = v.required("url", cx)?;
        let user = v.template("user", cx);
        let token = v.template("token", cx);
        let poll = v.duration("poll", cx).unwrap_or(DEFAULT_POLL);
        let stop_wait = v.duration("stop_wait", cx).unwrap_or(DEFAULT_STOP_WAIT);
        Some(Arc::new(JenkinsSettings { url, user, token, poll, stop_wait, crumb: Arc::default() }))
    }

    fn schema(&self) -> serde_json::Value {
        schema::object(
            "the Jenkins server `jenkins` steps trigger jobs on",
            &[
                ("url", schema::template("the Jenkins root URL")),
                ("user", schema::template("the user the API token belongs to")),
                ("token", schema::template("an API token, e.g. ${{ secrets.JENKINS_TOKEN }}")),
                ("poll", schema::duration("how often to look at a queued or running build (default 2s)")),
                ("stop_wait", schema::duration("how long a stopped build may take to end (default 8s)")),
            ],
            &["url"],
        )
    }
}

#[derive(Debug)]
struct JenkinsAction {
    settings: Arc<dyn Integration>,
    job: Template,
    params: Vec<(String, Template)>,
    allow_unstable: bool,
    stop_on_cancel: bool,
}

impl StepKind for JenkinsKind {
    fn name(&self) -> &'static str {
        "jenkins"
    }

    fn schema(&self) -> serde_json::Value {
        let full = schema::object(
            "a Jenkins job to build and follow to its result",
            &[
                ("job", schema::template("the job's path, folders included: deploy/checkout-prod")),
                ("params", schema::template_map("build parameters")),
                ("allow_unstable", schema::flag("whether an UNSTABLE build counts as a success", false)),
                ("stop_on_cancel", schema::flag("whether an interrupted run stops the build", true)),
            ],
            &["job"],
        );
        schema::short_or_full(schema::text("the job's path, built without parameters"), full)
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>> {
        let settings = cx.integration("jenkins");
        if settings.is_none() {
            cx.diagnostics().push(
                Diagnostic::new(spec.key.span, "a `jenkins` step needs `integrations: { jenkins: { url: ... } }`")
                    .hint("add the Jenkins URL and credentials under top-level `integrations:`"),
            );
        }
        let v = spec.value;
        let (job, params, allow_unstable, stop_on_cancel) = match &v.kind {
            NodeKind::Str(_) => (cx.template(v, "`jenkins`"), Vec::new(), false, true),
            NodeKind::Map(_) => {
                let keys = ["job", "params", "allow_unstable", "stop_on_cancel"];
                let example = "e.g. `jenkins: { job: deploy/checkout-prod, params: { VERSION: ... } }`";
                let s = Settings::mapping(v, "jenkins", &keys, example, cx)?;
                let job = s.required("job", cx);
                let params = template_map(s.get("params"), "params", "param", cx);
                let allow_unstable = s.flag("allow_unstable", false, cx);
                let stop_on_cancel = s.flag("stop_on_cancel", true, cx);
                (job, params, allow_unstable, stop_on_cancel)
            }
            _ => {
                cx.diagnostics().push(
                    Diagnostic::new(v.span, format!("`jenkins` takes a job path or a mapping, found {}", v.type_name()))
                        .hint("e.g. `jenkins: { job: deploy/checkout-prod, params: { VERSION: ... } }`"),
                );
                (None, Vec::new(), false, true)
            }
        };
        Some(Arc::new(JenkinsAction { settings: settings?, job: job?, params, allow_unstable, stop_on_cancel }))
    }
}

impl JenkinsAction {
    fn settings(&self) -> &JenkinsSettings {
        self.settings.settings()
    }

    fn connect(&self, env: &dyn StepEnv) -> Result<Jenkins, StepFailure> {
        let s = self.settings();
        let base = env.render(&s.url)?.trim_end_matches('/').to_string();
        let user = s.user.as_ref().map(|t| env.render(t)).transpose()?;
        let token = s.token.as_ref().map(|t| env.render(t)).transpose()?;
        let auth = match (user, token) {
            (Some(u), Some(t)) if !u.is_empty() && !t.is_empty() => Some((u, t)),
            (None, None) => None,
            (Some(u), Some(_)) if u.is_empty() => {
                return Err(AdapterError::refused("integrations.jenkins: `user` is empty")
                    .with_help("set it (or the variable it names)")
                    .into());
            }
            (Some(_), Some(_)) => {
                return Err(AdapterError::refused("integrations.jenkins: `token` is empty")
                    .with_help("set it (or the secret it names)")
                    .into());
            }
            _ => return Err(StepFailure::refused("integrations.jenkins needs both `user` and `token` (or neither)")),
        };
        Ok(Jenkins { base, auth, crumb: s.crumb.clone(), poll: s.poll })
    }

    async fn run(&self, run: &StepRun<'_>) -> StepResult {
        let env = run.env;
        let jenkins = self.connect(env)?;
        let job = env.render(&self.job)?;
        let progress = Progress::read(env.checkpoint_of(run.key).as_ref())?;
        let stopped = progress.build_was_stopped();
        let (number, build_url) = match &progress.build {
            Some((n, url)) if !stopped => {
                run.log(&format!("re-attaching to {job} #{n} (recorded before the interruption)"));
                (*n, url.clone())
            }
            _ => {
                let queue_url = match progress.waiting_item() {
                    Some(q) => {
                        run.log(&format!("following {q} (queued before the interruption)"));
                        q.to_string()
                    }
                    None => {
                        if let (true, Some((n, _))) = (stopped, &progress.build) {
                            run.log(&format!("{job} #{n} was stopped when the step was cancelled; triggering a new build"));
                        } else if progress.queue_url.is_some() {
                            run.log(&format!(
                                "{job} was taken out of the queue when the step was cancelled; triggering it again"
                            ));
                        }
                        let params = self.params.iter().map(|(k, t)| Ok((k.clone(), env.render(t)?))).collect::<Result<
                            Vec<_>,
                            StepFailure,
                        >>(
                        )?;
                        let defined = jenkins.job_parameters(&job).await.map_err(|e| failure(client::explain(e, &job)))?;
                        check_params(&job, &params, &defined)?;
                        let queue_url = jenkins.trigger(&job, &params, !defined.is_empty()).await.map_err(failure)?;
                        env.checkpoint(run.key, Progress::triggered(&queue_url))?;
                        run.log(&format!("triggered {job}; queued as {queue_url}"));
                        queue_url
                    }
                };
                let (number, url) = self.wait_for_queue(run, &jenkins, &job, &queue_url).await?;
                env.checkpoint(run.key, Progress::started(number, &url))?;
                run.log(&format!("{job} #{number} started: {url}"));
                (number, url)
            }
        };
        let followed = async {
            self.stream_console(run, &jenkins, &job, number, &build_url).await?;
            self.wait_for_result(&jenkins, &build_url, &job, number).await
        };
        let build = match followed.await {
            Ok(b) => b,
            Err(mut f) => {
                // Losing sight of a running build must not let the rollback run
                // alongside it: stop it first (unless the runbook says not to).
                if self.stop_on_cancel {
                    let stopped = match self.stop_build(run).await {
                        Ok(Some(how)) => format!("{how}, so that nothing runs alongside the rollback"),
                        Ok(None) => "the build was not running".to_string(),
                        Err(e) => format!("stopping the build failed too ({e}): check it in Jenkins"),
                    };
                    f.error = f.error.map_message(|m| format!("{m}; {stopped}"));
                }
                return Err(f);
            }
        };
        let result = build.result.unwrap_or_default();
        let outputs = BTreeMap::from([
            ("build_number".to_string(), number.to_string()),
            ("build_url".to_string(), build_url.clone()),
            ("result".to_string(), result.clone()),
            ("duration".to_string(), format_duration(Duration::from_millis(build.duration))),
        ]);
        let summary = format!("{job} #{number}: {result} in {}", format_duration(Duration::from_millis(build.duration)));
        match result.as_str() {
            "SUCCESS" => Ok(Outcome { outputs, summary: Some(summary) }),
            "UNSTABLE" if self.allow_unstable => Ok(Outcome { outputs, summary: Some(summary) }),
            other => Err(StepFailure {
                error: AdapterError::Refused {
                    message: summary,
                    help: Some(format!(
                        "see {build_url}console{}",
                        if other == "UNSTABLE" { " (allow_unstable: true accepts it)" } else { "" }
                    )),
                },
                outputs,
            }),
        }
    }
}

impl Action for JenkinsAction {
    fn describe(&self) -> String {
        let mut d = format!("build {}", self.job.display());
        if !self.params.is_empty() {
            let p: Vec<String> = self.params.iter().map(|(k, v)| format!("{k}={}", v.display())).collect();
            d.push_str(&format!(" with {}", p.join(" ")));
        }
        d
    }

    fn resumes_from_checkpoint(&self) -> bool {
        true
    }

    fn default_timeout(&self) -> Option<Duration> {
        Some(BUILD_TIMEOUT)
    }

    fn execute<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, StepResult> {
        Box::pin(self.run(run))
    }

    fn abort<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { self.stop_build(run).await.map(|_| ()) })
    }
}

impl JenkinsAction {
    /// Takes the step's item out of the queue, or stops its build and waits
    /// until Jenkins says it ended; what happened, or `None` when nothing
    /// was running.
    async fn stop_build(&self, run: &StepRun<'_>) -> Result<Option<String>, String> {
        if !self.stop_on_cancel {
            return Ok(None);
        }
        let Some(data) = run.env.checkpoint_of(run.key) else { return Ok(None) };
        let progress = Progress::read(Some(&data)).map_err(|f| f.message())?;
        let jenkins = self.connect(run.env).map_err(|f| f.message())?;
        let mut build = progress.build.clone();
        if let Some(queue_url) = progress.waiting_item() {
            // Still queued: take it out, or a build would start that nobody watches.
            if jenkins.cancel_item(queue_url).await.map_err(|e| e.to_string())? {
                run.env.checkpoint(run.key, Progress::cancelled(queue_url)).map_err(|f| f.message())?;
                run.log(&format!("took {queue_url} out of the Jenkins queue"));
                return Ok(None);
            }
            // It had left the queue just before (Jenkins answers 500 to the
            // cancel; 404 once it forgot the item): find its build and stop it.
            let job = run.env.render(&self.job).map_err(|f| f.message())?;
            let Some((n, url)) = left_item_build(&jenkins, &job, queue_url).await? else {
                run.env.checkpoint(run.key, Progress::cancelled(queue_url)).map_err(|f| f.message())?;
                return Ok(None);
            };
            run.env.checkpoint(run.key, Progress::started(n, &url)).map_err(|f| f.message())?;
            build = Some((n, url));
        }
        let Some((number, url)) = build else { return Ok(None) };
        if progress.stopped_build == Some(number) {
            return Ok(None);
        }
        let stopped = jenkins.stop_confirmed(&url, self.settings().stop_wait).await.map_err(|e| e.to_string())?;
        // Recorded so that a retry or a resume starts a new build instead of
        // re-attaching to one that can only end ABORTED.
        run.env.checkpoint(run.key, Progress::stopped(number)).map_err(|f| f.message())?;
        let how = stopped.describe(number);
        run.log(&format!("{how}: {url}"));
        Ok(Some(how))
    }
}

/// Jenkins ignores parameters a job does not define (buildWithParameters
/// only reads its own definitions) and takes the default for missing ones:
/// a misspelt `VERSON` would deploy the default version. Caught here.
fn check_params(job: &str, params: &[(String, String)], defined: &[String]) -> Result<(), StepFailure> {
    if !params.is_empty() && defined.is_empty() {
        return Err(AdapterError::refused(format!("job `{job}` takes no parameters, but the step gives `params`"))
            .with_help("remove `params`, or add the parameters to the job in Jenkins")
            .into());
    }
    let unknown: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).filter(|k| !defined.iter().any(|d| d == k)).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let closest = |k: &str| defined.iter().min_by_key(|d| strsim::levenshtein(k, d)).filter(|d| strsim::levenshtein(k, d) <= 3);
    let named: Vec<String> = unknown
        .iter()
        .map(|k| match closest(k) {
            Some(d) => format!("`{k}` (did you mean `{d}`?)"),
            None => format!("`{k}`"),
        })
        .collect();
    Err(AdapterError::refused(format!("job `{job}` has no parameter {}; Jenkins would ignore it", named.join(", ")))
        .with_help(format!("its parameters are: {}", defined.join(", ")))
        .into())
}

/// The build a queue item that can no longer be cancelled became. A left
/// item can show no build for a moment; a forgotten one (404) is found
/// among the job's recent builds by its queue id. `None`: it was cancelled
/// (by someone else) and never became a build.
async fn left_item_build(jenkins: &Jenkins, job: &str, queue_url: &str) -> Result<Option<(u64, String)>, String> {
    let call = format!("GET {}api/json", queue_url.trim_start_matches(&jenkins.base));
    let id = queue_url.trim_end_matches('/').rsplit('/').next().and_then(|i| i.parse::<u64>().ok()).unwrap_or_default();
    let lost =
        || format!("{SYSTEM}: {queue_url} left the queue, but relctl cannot find the build it became: check {job} in Jenkins");
    for _ in 0..10 {
        match jenkins.get_json::<QueueItem>(&format!("{queue_url}api/json"), &call).await {
            Ok(item) if item.cancelled => return Ok(None),
            Ok(QueueItem { executable: Some(e), .. }) => {
                return Ok(Some((e.number, with_slash(&absolute(&jenkins.base, &e.url)))));
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(300)).await,
            Err(e) if e.status == Some(404) => {
                return jenkins.build_of_item(job, id).await.map_err(|e| e.to_string())?.ok_or_else(lost).map(Some);
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(lost())
}
