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

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

use super::remote::{self, RemoteError, Repeat, RetryPolicy};
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::duration::format_duration;
use crate::runbook::expr::Template;
use crate::runbook::node::{Node, NodeKind};
use crate::step::{
    Action, AdapterError, BoxFuture, Integration, IntegrationKind, Outcome, ParseContext, RemoteKind, StepEnv, StepFailure,
    StepKind, StepResult, StepRun, StepSpec, check_keys, duration_setting,
};

const SYSTEM: &str = "Jenkins";
const DEFAULT_POLL: Duration = Duration::from_secs(2);
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
/// Checkpoint keys.
const QUEUE_URL: &str = "queue_url";
const BUILD_NUMBER: &str = "build_number";
const BUILD_URL: &str = "build_url";
const STOPPED_BUILD: &str = "stopped_build";
const CANCELLED_ITEM: &str = "cancelled_item";

pub struct JenkinsIntegrationKind;
pub struct JenkinsKind;

#[derive(Debug)]
pub struct JenkinsSettings {
    url: Template,
    user: Option<Template>,
    token: Option<Template>,
    poll: Duration,
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
        if node.as_map().is_none() {
            cx.diagnostics()
                .push(Diagnostic::new(node.span, "`jenkins` settings must be a mapping").hint(
                    "e.g. `jenkins: { url: https://jenkins.example.com, user: ..., token: ${{ secrets.JENKINS_TOKEN }} }`",
                ));
            return None;
        }
        check_keys(node, &["url", "user", "token", "poll"], "the `jenkins` settings", cx);
        let Some(url) = node.get("url") else {
            cx.diagnostics().push(Diagnostic::new(node.span, "the `jenkins` settings need a `url`").hint("the Jenkins base URL"));
            return None;
        };
        let url = cx.template(url, "`url`")?;
        let user = node.get("user").and_then(|n| cx.template(n, "`user`"));
        let token = node.get("token").and_then(|n| cx.template(n, "`token`"));
        let poll = duration_setting(node.get("poll"), cx).unwrap_or(DEFAULT_POLL);
        Some(Arc::new(JenkinsSettings { url, user, token, poll, crumb: Arc::default() }))
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
                check_keys(v, &["job", "params", "allow_unstable", "stop_on_cancel"], "a `jenkins` step", cx);
                let job = match v.get("job") {
                    Some(j) => cx.template(j, "`job`"),
                    None => {
                        cx.diagnostics().push(
                            Diagnostic::new(spec.key.span, "a `jenkins` step needs a `job`")
                                .hint("e.g. `job: deploy/checkout-prod`"),
                        );
                        None
                    }
                };
                let mut params = Vec::new();
                if let Some(p) = v.get("params") {
                    match p.as_map() {
                        Some(map) => {
                            for (k, n) in map {
                                if let Some(t) = cx.template(n, &format!("param `{}`", k.name)) {
                                    params.push((k.name.clone(), t));
                                }
                            }
                        }
                        None => cx.diagnostics().error(p.span, "`params` must map parameter names to values"),
                    }
                }
                let flag = |name: &str, default: bool, cx: &mut dyn ParseContext| match v.get(name).map(|n| &n.kind) {
                    None => default,
                    Some(NodeKind::Bool(b)) => *b,
                    Some(_) => {
                        cx.diagnostics().error(v.get(name).map_or(v.span, |n| n.span), format!("`{name}` must be true or false"));
                        default
                    }
                };
                let allow_unstable = flag("allow_unstable", false, cx);
                let stop_on_cancel = flag("stop_on_cancel", true, cx);
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

/// A resolved connection: base URL and credentials for this run.
struct Jenkins {
    base: String,
    auth: Option<(String, String)>,
    crumb: Arc<std::sync::Mutex<Option<(String, String)>>>,
    poll: Duration,
}

#[derive(Deserialize)]
struct QueueItem {
    #[serde(default)]
    cancelled: bool,
    #[serde(default)]
    why: Option<String>,
    #[serde(default)]
    executable: Option<Executable>,
}

#[derive(Deserialize)]
struct Executable {
    number: u64,
    url: String,
}

#[derive(Deserialize)]
struct Build {
    #[serde(default)]
    building: bool,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    duration: u64,
}

#[derive(Deserialize)]
struct Crumb {
    crumb: String,
    #[serde(rename = "crumbRequestField")]
    field: String,
}

/// `deploy/checkout-prod` → `/job/deploy/job/checkout-prod`.
pub fn job_path(job: &str) -> String {
    job.split('/').filter(|s| !s.is_empty()).map(|s| format!("/job/{}", encode_segment(s))).collect()
}

fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The scheme and host of a URL (`https://ci.example.com:8443`).
fn origin(url: &str) -> &str {
    let after = url.find("://").map_or(0, |i| i + 3);
    url[after..].find('/').map_or(url, |i| &url[..after + i])
}

/// A URL Jenkins gave (a queue item, a build) on the configured base's host.
/// Jenkins builds these from its own root URL, which behind a proxy is often
/// another host or plain http: following it as given would send the token
/// there. Only the path is taken.
fn absolute(base: &str, url: &str) -> String {
    let path = if url.starts_with("http://") || url.starts_with("https://") { &url[origin(url).len()..] } else { url };
    format!("{}/{}", origin(base), path.trim_start_matches('/'))
}

fn with_slash(url: &str) -> String {
    if url.ends_with('/') { url.to_string() } else { format!("{url}/") }
}

impl Jenkins {
    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let mut r = remote::client_without_redirects().request(method, url);
        if let Some((user, token)) = &self.auth {
            // Sent up front: Jenkins answers 403, not a 401 challenge.
            r = r.basic_auth(user, Some(token));
        }
        if let Some((field, value)) = self.crumb.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref() {
            r = r.header(field.as_str(), value.as_str());
        }
        r
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(&self, url: &str, call: &str) -> Result<T, RemoteError> {
        let r = remote::send(SYSTEM, call, Repeat::Safe, FOLLOW, &[], || self.request(reqwest::Method::GET, url)).await?;
        let text = r.text().await.map_err(|e| RemoteError::new(SYSTEM, call, None, format!("reading the answer failed: {e}")))?;
        serde_json::from_str(&text).map_err(|e| RemoteError::new(SYSTEM, call, None, format!("unexpected answer ({e})")))
    }

    /// Fetches a CSRF crumb, once, after a 403 that asks for one (password auth).
    async fn fetch_crumb(&self) -> Result<(), RemoteError> {
        let url = format!("{}/crumbIssuer/api/json", self.base);
        let crumb: Crumb = self.get_json(&url, "GET /crumbIssuer/api/json").await?;
        *self.crumb.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((crumb.field, crumb.crumb));
        Ok(())
    }

    /// POSTs the trigger and returns the queue item URL.
    async fn trigger(&self, job: &str, params: &[(String, String)]) -> Result<String, RemoteError> {
        let path = job_path(job);
        let endpoint = if params.is_empty() { "build" } else { "buildWithParameters" };
        let url = format!("{}{path}/{endpoint}", self.base);
        let call = format!("POST {path}/{endpoint}");
        let send = || {
            remote::send(SYSTEM, &call, Repeat::OnlyIfNotApplied, RetryPolicy::default(), &[StatusCode::FORBIDDEN], || {
                self.request(reqwest::Method::POST, &url).form(params)
            })
        };
        let mut response = send().await.map_err(|e| explain_trigger(e, job))?;
        if response.status() == StatusCode::FORBIDDEN {
            let body = response.text().await.unwrap_or_default();
            let forbidden = RemoteError::new(SYSTEM, &call, Some(403), remote::http_message(StatusCode::FORBIDDEN, &body));
            // A missing crumb is the one 403 worth another try: nothing was queued.
            if !body.to_ascii_lowercase().contains("no valid crumb")
                || self.crumb.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_some()
            {
                return Err(explain(forbidden, job));
            }
            self.fetch_crumb().await.map_err(|e| explain(e, job))?;
            response = send().await.map_err(|e| explain_trigger(e, job))?;
            if response.status() == StatusCode::FORBIDDEN {
                let body = response.text().await.unwrap_or_default();
                return Err(explain(
                    RemoteError::new(SYSTEM, &call, Some(403), remote::http_message(StatusCode::FORBIDDEN, &body)),
                    job,
                ));
            }
        }
        let status = response.status();
        let location = response.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
        match (status.as_u16(), location) {
            (201 | 303, Some(loc)) if loc.contains("/queue/item/") => Ok(with_slash(&absolute(&self.base, &loc))),
            (code, location) => Err(RemoteError::new(
                SYSTEM,
                &call,
                Some(code),
                format!(
                    "HTTP {code}{}: Jenkins named no queue item for the build, so relctl cannot follow it — \
                     look at {job} in Jenkins (it may have started) before running the step again",
                    location.map(|l| format!(" to {l}")).unwrap_or_default()
                ),
            )),
        }
    }

    /// Asks Jenkins to stop a running build.
    async fn stop(&self, build_url: &str) -> Result<(), RemoteError> {
        let call = format!("POST {}stop", build_url.trim_start_matches(&self.base));
        // Stopping twice is harmless, so it is retried like a read.
        remote::send(SYSTEM, &call, Repeat::Safe, RetryPolicy { attempts: 3, ..RetryPolicy::default() }, &[], || {
            self.request(reqwest::Method::POST, &format!("{build_url}stop"))
        })
        .await
        .map(|_| ())
    }

    /// Takes a waiting item out of the queue. Jenkins before 2.x answers 404
    /// even when it worked (JENKINS-21311), so a 404 is not an error here.
    async fn cancel_item(&self, queue_url: &str) -> Result<(), RemoteError> {
        let id = queue_url.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
        let url = format!("{}/queue/cancelItem?id={id}", self.base);
        let call = format!("POST /queue/cancelItem?id={id}");
        remote::send(
            SYSTEM,
            &call,
            Repeat::Safe,
            RetryPolicy { attempts: 3, ..RetryPolicy::default() },
            &[StatusCode::NOT_FOUND],
            || self.request(reqwest::Method::POST, &url),
        )
        .await
        .map(|_| ())
    }
}

/// Like [`explain`], and a trigger whose answer was lost may have queued a
/// build anyway: say so rather than let someone trigger a second deploy.
fn explain_trigger(e: RemoteError, job: &str) -> RemoteError {
    let e = explain(e, job);
    if e.status.is_none() && e.maybe_applied {
        return e
            .with_help(format!("the build may have been queued anyway: look at {job} in Jenkins before running the step again"));
    }
    e
}

/// Jenkins' own advice for an HTTP failure.
fn explain(e: RemoteError, job: &str) -> RemoteError {
    let advice = match e.status {
        Some(404) => format!("no job `{job}` at this Jenkins: check the job path (folders separated by `/`)"),
        Some(401 | 403) => {
            "Jenkins refused the credentials: check `user` and the API `token` under integrations.jenkins (and that the user may build the job)"
                .into()
        }
        Some(409) => format!("job `{job}` cannot be built (it is disabled?): enable it in Jenkins"),
        Some(400 | 500) if e.message.contains("is not parameterized") => {
            format!("job `{job}` takes no parameters: remove `params`")
        }
        Some(503) => "Jenkins is restarting or overloaded and did not come back: wait, then resume".into(),
        _ => return e,
    };
    e.with_help(advice)
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(failure)`
fn failure(e: RemoteError) -> StepFailure {
    StepFailure::from(e)
}

impl JenkinsAction {
    fn settings(&self) -> &JenkinsSettings {
        self.settings.as_any().downcast_ref().expect("jenkins settings")
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
                return Err(StepFailure::refused("integrations.jenkins: `user` is empty: set it (or the variable it names)"));
            }
            (Some(_), Some(_)) => {
                return Err(StepFailure::refused("integrations.jenkins: `token` is empty: set it (or the secret it names)"));
            }
            _ => return Err(StepFailure::refused("integrations.jenkins needs both `user` and `token` (or neither)")),
        };
        Ok(Jenkins { base, auth, crumb: s.crumb.clone(), poll: s.poll })
    }

    async fn run(&self, run: &StepRun<'_>) -> StepResult {
        let env = run.env;
        let jenkins = self.connect(env)?;
        let job = env.render(&self.job)?;
        let checkpoint = env.checkpoint_of(run.key).unwrap_or_default();
        // An empty value is a cleared one (checkpoints are only ever added to).
        let recorded = |key: &str| checkpoint.get(key).map(String::as_str).filter(|v| !v.is_empty());
        let stopped = recorded(BUILD_NUMBER).is_some() && recorded(BUILD_NUMBER) == recorded(STOPPED_BUILD);
        let (number, build_url) = match (recorded(BUILD_NUMBER), recorded(BUILD_URL)) {
            (Some(n), Some(url)) if !stopped => {
                run.log(&format!("re-attaching to {job} #{n} (recorded before the interruption)"));
                (n.parse().unwrap_or(0), url.to_string())
            }
            _ => {
                let waiting =
                    recorded(QUEUE_URL).filter(|q| recorded(BUILD_NUMBER).is_none() && recorded(CANCELLED_ITEM) != Some(q));
                let queue_url = match waiting {
                    Some(q) => {
                        run.log(&format!("following {q} (queued before the interruption)"));
                        q.to_string()
                    }
                    None => {
                        if stopped {
                            run.log(&format!(
                                "{job} #{} was stopped when the step was cancelled; triggering a new build",
                                recorded(BUILD_NUMBER).unwrap_or_default()
                            ));
                        } else if recorded(QUEUE_URL).is_some() {
                            run.log(&format!(
                                "{job} was taken out of the queue when the step was cancelled; triggering it again"
                            ));
                        }
                        let params = self.params.iter().map(|(k, t)| Ok((k.clone(), env.render(t)?))).collect::<Result<
                            Vec<_>,
                            StepFailure,
                        >>(
                        )?;
                        let queue_url = jenkins.trigger(&job, &params).await.map_err(failure)?;
                        // The build of an earlier attempt, if any, is no longer this step's.
                        env.checkpoint(
                            run.key,
                            BTreeMap::from([
                                (QUEUE_URL.to_string(), queue_url.clone()),
                                (BUILD_NUMBER.to_string(), String::new()),
                                (BUILD_URL.to_string(), String::new()),
                            ]),
                        )?;
                        run.log(&format!("triggered {job}; queued as {queue_url}"));
                        queue_url
                    }
                };
                let (number, url) = self.wait_for_queue(run, &jenkins, &job, &queue_url).await?;
                env.checkpoint(
                    run.key,
                    BTreeMap::from([(BUILD_NUMBER.to_string(), number.to_string()), (BUILD_URL.to_string(), url.clone())]),
                )?;
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
                    let stopped = match self.abort(run).await {
                        Ok(()) => "the build was stopped so that nothing runs alongside the rollback".to_string(),
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

    async fn wait_for_queue(
        &self,
        run: &StepRun<'_>,
        jenkins: &Jenkins,
        job: &str,
        queue_url: &str,
    ) -> Result<(u64, String), StepFailure> {
        let url = format!("{queue_url}api/json");
        let call = format!("GET {}api/json", queue_url.trim_start_matches(&jenkins.base));
        let mut last_why = None;
        loop {
            let item: QueueItem = match jenkins.get_json(&url, &call).await {
                Ok(item) => item,
                Err(e) if e.status == Some(404) => {
                    return Err(StepFailure::from(AdapterError::Remote {
                        system: SYSTEM,
                        call,
                        message: "the queue item is gone (Jenkins forgets items 5 minutes after they leave the queue)".into(),
                        kind: RemoteKind::NotFound,
                        help: Some(format!("find the build of {job} in the Jenkins UI")),
                    }));
                }
                Err(e) => return Err(failure(explain(e, job))),
            };
            if item.cancelled {
                // A cancelled item no longer says why it waited; the last reason seen is
                // usually why someone cancelled it (no executor, a blocked resource).
                let why = match item.why.or(last_why) {
                    Some(why) => format!("it was waiting because: {why}"),
                    None => "no reason given".into(),
                };
                return Err(StepFailure::from(
                    AdapterError::refused(format!(
                        "{SYSTEM}: {call}: the queued build of {job} was cancelled in Jenkins ({why})"
                    ))
                    .with_help("trigger it again when Jenkins can run it"),
                ));
            }
            if let Some(exe) = item.executable {
                return Ok((exe.number, with_slash(&absolute(&jenkins.base, &exe.url))));
            }
            if item.why != last_why {
                if let Some(why) = &item.why {
                    run.log(&format!("waiting in the queue: {why}"));
                }
                last_why = item.why;
            }
            tokio::time::sleep(jenkins.poll).await;
        }
    }

    /// Follows `progressiveText` until Jenkins says there is no more, writing
    /// the console to a file in the run directory and to the step's output,
    /// a chunk at a time (constant memory whatever the log size).
    async fn stream_console(
        &self,
        run: &StepRun<'_>,
        jenkins: &Jenkins,
        job: &str,
        number: u64,
        build_url: &str,
    ) -> Result<(), StepFailure> {
        let file = match run.env.run_dir() {
            Some(dir) => {
                let name = format!("{}-{}-{number}.console.log", run.key, job.replace('/', "_"));
                // From the start again on a re-attach: the file ends up whole either way.
                Some(std::io::BufWriter::new(
                    std::fs::File::create(dir.join(name))
                        .map_err(|e| StepFailure::from(AdapterError::Journal(format!("cannot write the console log: {e}"))))?,
                ))
            }
            None => None,
        };
        let mut console = Console { run, file, partial: Vec::new() };
        let call = format!("GET {}logText/progressiveText", build_url.trim_start_matches(&jenkins.base));
        let mut start: u64 = 0;
        let mut dropped = 0;
        loop {
            let url = format!("{build_url}logText/progressiveText?start={start}");
            let mut response =
                remote::send_streaming(SYSTEM, &call, Repeat::Safe, FOLLOW, || jenkins.request(reqwest::Method::GET, &url))
                    .await
                    .map_err(|e| failure(explain(e, job)))?;
            let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            let more = header("X-More-Data").is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let next: Option<u64> = header("X-Text-Size").and_then(|v| v.parse().ok());
            let mut received = 0u64;
            let broken = loop {
                match response.chunk().await {
                    Ok(Some(chunk)) => {
                        received += chunk.len() as u64;
                        console.push(&chunk)?;
                    }
                    Ok(None) => break None,
                    Err(e) => break Some(e),
                }
            };
            if let Some(e) = broken {
                // The connection dropped mid-answer: ask again from the first
                // byte that did not arrive, a few times, before giving up.
                dropped += 1;
                if dropped > MAX_CONSOLE_RESUMES {
                    return Err(StepFailure::from(AdapterError::remote(
                        SYSTEM,
                        call,
                        RemoteKind::Transient,
                        format!("the console stream kept breaking ({e})"),
                    )));
                }
                start += received;
                tokio::time::sleep(jenkins.poll).await;
                continue;
            }
            start = next.unwrap_or(start + received);
            if !more {
                break;
            }
            // A build still writing its log: ask again after the poll interval,
            // at once when a big answer suggests more is already there.
            if received < CONSOLE_BURST {
                tokio::time::sleep(jenkins.poll).await;
            }
        }
        console.finish()
    }

    async fn wait_for_result(&self, jenkins: &Jenkins, build_url: &str, job: &str, number: u64) -> Result<Build, StepFailure> {
        let url = format!("{build_url}api/json?tree=building,result,duration");
        let call = format!("GET {}api/json", build_url.trim_start_matches(&jenkins.base));
        loop {
            let build: Build = jenkins.get_json(&url, &call).await.map_err(|e| failure(explain(e, job)))?;
            if !build.building && build.result.is_some() {
                return Ok(build);
            }
            tracing::debug!("{job} #{number} still building");
            tokio::time::sleep(jenkins.poll.min(Duration::from_millis(500))).await;
        }
    }
}

/// Where the console goes: the step's output (a block of whole lines per
/// event) and the file, both with secrets masked.
struct Console<'a, 'r> {
    run: &'a StepRun<'r>,
    file: Option<std::io::BufWriter<std::fs::File>>,
    /// The start of a line whose end has not arrived yet.
    partial: Vec<u8>,
}

impl Console<'_, '_> {
    fn push(&mut self, chunk: &[u8]) -> Result<(), StepFailure> {
        self.partial.extend_from_slice(chunk);
        let cut = match self.partial.iter().rposition(|b| *b == b'\n') {
            Some(end) => end + 1,
            // A line without end in sight (progress bars, binary output) goes on
            // in pieces, cut between characters, so memory stays bounded.
            None if self.partial.len() > MAX_PARTIAL_LINE => {
                let mut cut = MAX_PARTIAL_LINE;
                while cut > MAX_PARTIAL_LINE - 4 && (self.partial[cut] & 0xC0) == 0x80 {
                    cut -= 1;
                }
                cut
            }
            None => return Ok(()),
        };
        let block: Vec<u8> = self.partial.drain(..cut).collect();
        self.write(&block)
    }

    fn write(&mut self, block: &[u8]) -> Result<(), StepFailure> {
        let text = String::from_utf8_lossy(block);
        let masked = self.run.env.redact(&text);
        if let Some(f) = self.file.as_mut() {
            // Unchanged text is written as received, so the file is byte for byte
            // what Jenkins has (invalid UTF-8 included).
            let bytes = if masked == text { block } else { masked.as_bytes() };
            f.write_all(bytes)
                .map_err(|e| StepFailure::from(AdapterError::Journal(format!("cannot write the console log: {e}"))))?;
        }
        let shown = masked.strip_suffix('\n').unwrap_or(&masked);
        self.run.log(shown.strip_suffix('\r').unwrap_or(shown));
        Ok(())
    }

    fn finish(mut self) -> Result<(), StepFailure> {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.write(&rest)?;
        }
        if let Some(mut f) = self.file.take() {
            f.flush().map_err(|e| StepFailure::from(AdapterError::Journal(format!("cannot write the console log: {e}"))))?;
        }
        Ok(())
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
        Box::pin(async move {
            if !self.stop_on_cancel {
                return Ok(());
            }
            let Some(checkpoint) = run.env.checkpoint_of(run.key) else { return Ok(()) };
            let jenkins = self.connect(run.env).map_err(|f| f.message())?;
            let recorded = |key: &str| checkpoint.get(key).filter(|v| !v.is_empty()).cloned();
            let mut build = recorded(BUILD_NUMBER).zip(recorded(BUILD_URL));
            if build.is_none()
                && let Some(queue_url) = checkpoint.get(QUEUE_URL).filter(|q| recorded(CANCELLED_ITEM).as_ref() != Some(q))
            {
                // Still queued: take it out, or a build would start that nobody watches.
                jenkins.cancel_item(queue_url).await.map_err(|e| e.to_string())?;
                run.env
                    .checkpoint(run.key, BTreeMap::from([(CANCELLED_ITEM.to_string(), queue_url.clone())]))
                    .map_err(|f| f.message())?;
                run.log(&format!("took {queue_url} out of the Jenkins queue"));
                // It may have left the queue just before: then stop its build.
                let call = format!("GET {}api/json", queue_url.trim_start_matches(&jenkins.base));
                let item: Option<QueueItem> = jenkins.get_json(&format!("{queue_url}api/json"), &call).await.ok();
                build =
                    item.and_then(|i| i.executable).map(|e| (e.number.to_string(), with_slash(&absolute(&jenkins.base, &e.url))));
                if let Some((n, url)) = &build {
                    run.env
                        .checkpoint(
                            run.key,
                            BTreeMap::from([(BUILD_NUMBER.to_string(), n.clone()), (BUILD_URL.to_string(), url.clone())]),
                        )
                        .map_err(|f| f.message())?;
                }
            }
            let Some((number, url)) = build else { return Ok(()) };
            if recorded(STOPPED_BUILD) == Some(number.clone()) {
                return Ok(());
            }
            jenkins.stop(&url).await.map_err(|e| e.to_string())?;
            // Recorded so that a retry or a resume starts a new build instead of
            // re-attaching to one that can only end ABORTED.
            run.env
                .checkpoint(run.key, BTreeMap::from([(STOPPED_BUILD.to_string(), number.clone())]))
                .map_err(|f| f.message())?;
            run.log(&format!("asked Jenkins to stop #{number}: {url}"));
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_become_job_segments() {
        assert_eq!(job_path("deploy/checkout-prod"), "/job/deploy/job/checkout-prod");
        assert_eq!(job_path("/a b/"), "/job/a%20b");
    }

    #[test]
    fn queue_urls_are_made_absolute_with_a_slash() {
        assert_eq!(with_slash(&absolute("http://j:8080", "/queue/item/7")), "http://j:8080/queue/item/7/");
        assert_eq!(with_slash(&absolute("http://j", "http://j/queue/item/7/")), "http://j/queue/item/7/");
        // Another host (Jenkins' root URL) never gets the token: only the path is kept.
        assert_eq!(
            absolute("https://ci.example.com/jenkins", "http://evil:9/jenkins/job/a/1/"),
            "https://ci.example.com/jenkins/job/a/1/"
        );
    }
}
