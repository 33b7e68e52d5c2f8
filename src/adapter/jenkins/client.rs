//! Jenkins' remote access API as relctl uses it: the connection (base URL,
//! credentials, crumb), triggering, stopping, queue items, and what each
//! HTTP failure means for the person running the release.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

use super::super::remote::{self, RemoteError, Repeat, RetryPolicy};
use crate::step::StepFailure;

use super::{FOLLOW, SYSTEM};

/// A resolved connection: base URL and credentials for this run.
pub(super) struct Jenkins {
    pub(super) base: String,
    pub(super) auth: Option<(String, String)>,
    pub(super) crumb: Arc<std::sync::Mutex<Option<(String, String)>>>,
    pub(super) poll: Duration,
}

#[derive(Deserialize)]
pub(super) struct QueueItem {
    #[serde(default)]
    pub(super) cancelled: bool,
    #[serde(default)]
    pub(super) why: Option<String>,
    #[serde(default)]
    pub(super) executable: Option<Executable>,
}

#[derive(Deserialize)]
pub(super) struct Executable {
    pub(super) number: u64,
    pub(super) url: String,
}

#[derive(Deserialize)]
pub(super) struct Build {
    #[serde(default)]
    pub(super) building: bool,
    #[serde(default)]
    pub(super) result: Option<String>,
    #[serde(default)]
    pub(super) duration: u64,
}

/// The parts of `GET {job}/api/json` relctl reads: the parameter
/// definitions (Job.getAllProperties is exported inline as `property`; a
/// ParametersDefinitionProperty in it has `parameterDefinitions`) and the
/// recent builds with the queue item each came from (Run.getQueueId).
#[derive(Deserialize)]
struct JobInfo {
    #[serde(default)]
    property: Vec<serde_json::Value>,
    #[serde(default)]
    builds: Vec<BuildRef>,
}

#[derive(Deserialize)]
struct BuildRef {
    number: u64,
    url: String,
    #[serde(rename = "queueId", default)]
    queue_id: u64,
}

#[derive(Deserialize)]
pub(super) struct Crumb {
    pub(super) crumb: String,
    #[serde(rename = "crumbRequestField")]
    pub(super) field: String,
}

/// `deploy/checkout-prod` → `/job/deploy/job/checkout-prod`.
pub(super) fn job_path(job: &str) -> String {
    job.split('/').filter(|s| !s.is_empty()).map(|s| format!("/job/{}", encode_segment(s))).collect()
}

pub(super) fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The scheme and host of a URL (`https://ci.example.com:8443`).
pub(super) fn origin(url: &str) -> &str {
    let after = url.find("://").map_or(0, |i| i + 3);
    url[after..].find('/').map_or(url, |i| &url[..after + i])
}

/// A URL Jenkins gave (a queue item, a build) on the configured base's host.
/// Jenkins builds these from its own root URL, which behind a proxy is often
/// another host or plain http: following it as given would send the token
/// there. Only the path is taken.
pub(super) fn absolute(base: &str, url: &str) -> String {
    let path = if url.starts_with("http://") || url.starts_with("https://") { &url[origin(url).len()..] } else { url };
    format!("{}/{}", origin(base), path.trim_start_matches('/'))
}

pub(super) fn with_slash(url: &str) -> String {
    if url.ends_with('/') { url.to_string() } else { format!("{url}/") }
}

impl Jenkins {
    pub(super) fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
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

    pub(super) async fn get_json<T: for<'de> Deserialize<'de>>(&self, url: &str, call: &str) -> Result<T, RemoteError> {
        self.get_json_with(url, call, FOLLOW).await
    }

    pub(super) async fn get_json_with<T: for<'de> Deserialize<'de>>(
        &self,
        url: &str,
        call: &str,
        policy: RetryPolicy,
    ) -> Result<T, RemoteError> {
        let r = remote::send(SYSTEM, call, Repeat::Safe, policy, &[], || self.request(reqwest::Method::GET, url)).await?;
        let text = r.text().await.map_err(|e| RemoteError::new(SYSTEM, call, None, format!("reading the answer failed: {e}")))?;
        serde_json::from_str(&text).map_err(|e| RemoteError::new(SYSTEM, call, None, format!("unexpected answer ({e})")))
    }

    /// Fetches a CSRF crumb after a 403 that asks for one (password auth).
    pub(super) async fn fetch_crumb(&self) -> Result<(), RemoteError> {
        let url = format!("{}/crumbIssuer/api/json", self.base);
        let crumb: Crumb = self.get_json(&url, "GET /crumbIssuer/api/json").await?;
        *self.crumb.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((crumb.field, crumb.crumb));
        Ok(())
    }

    /// POSTs `form` to `url`. Jenkins' CSRF filter answers a POST without a
    /// valid crumb with 403 "No valid crumb was included in the request"
    /// (CrumbFilter); that is the one 403 worth another try: a crumb is
    /// fetched (it is bound to the session cookie the client keeps,
    /// DefaultCrumbIssuer since 2.176.2) and the POST sent once more. API
    /// tokens are exempt (ApiCrumbExclusion, 2.96), so with one this never
    /// happens. `accept` are statuses the caller reads itself.
    pub(super) async fn post(
        &self,
        url: &str,
        call: &str,
        repeat: Repeat,
        policy: RetryPolicy,
        accept: &[StatusCode],
        form: &[(String, String)],
    ) -> Result<reqwest::Response, RemoteError> {
        let mut statuses = accept.to_vec();
        statuses.push(StatusCode::FORBIDDEN);
        let send =
            || remote::send(SYSTEM, call, repeat, policy, &statuses, || self.request(reqwest::Method::POST, url).form(form));
        let forbidden = |body: &str| RemoteError::new(SYSTEM, call, Some(403), remote::http_message(StatusCode::FORBIDDEN, body));
        let response = send().await?;
        if response.status() != StatusCode::FORBIDDEN {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        if !body.to_ascii_lowercase().contains("no valid crumb") {
            return Err(forbidden(&body));
        }
        self.fetch_crumb().await?;
        let response = send().await?;
        if response.status() == StatusCode::FORBIDDEN {
            return Err(forbidden(&response.text().await.unwrap_or_default()));
        }
        Ok(response)
    }

    /// The names of the job's parameters; empty when it takes none.
    pub(super) async fn job_parameters(&self, job: &str) -> Result<Vec<String>, RemoteError> {
        let path = job_path(job);
        let url = format!("{}{path}/api/json?tree=property[parameterDefinitions[name]]", self.base);
        let info: JobInfo = self.get_json(&url, &format!("GET {path}/api/json")).await?;
        Ok(info
            .property
            .iter()
            .filter_map(|p| p.get("parameterDefinitions")?.as_array())
            .flatten()
            .filter_map(|d| Some(d.get("name")?.as_str()?.to_string()))
            .collect())
    }

    /// The build that queue item `id` became, found among the job's recent
    /// builds (the last 100) by the queue id each build keeps: Jenkins
    /// forgets a left queue item five minutes after it left.
    pub(super) async fn build_of_item(&self, job: &str, id: u64) -> Result<Option<(u64, String)>, RemoteError> {
        let path = job_path(job);
        let url = format!("{}{path}/api/json?tree=builds[number,url,queueId]", self.base);
        let info: JobInfo = self.get_json(&url, &format!("GET {path}/api/json")).await?;
        Ok(info.builds.into_iter().find(|b| b.queue_id == id).map(|b| (b.number, with_slash(&absolute(&self.base, &b.url)))))
    }

    /// POSTs the trigger and returns the queue item URL. A job with
    /// parameters is triggered with `buildWithParameters` (missing ones take
    /// their defaults), one without with `build`: each of them answers 400 on
    /// the other kind of job (ParameterizedJobMixIn.doBuild submits a form
    /// that is not there: "Nothing is submitted"; doBuildWithParameters: "X
    /// is not parameterized").
    pub(super) async fn trigger(
        &self,
        job: &str,
        params: &[(String, String)],
        parameterized: bool,
    ) -> Result<String, RemoteError> {
        let path = job_path(job);
        let endpoint = if parameterized { "buildWithParameters" } else { "build" };
        let url = format!("{}{path}/{endpoint}", self.base);
        let call = format!("POST {path}/{endpoint}");
        let response = self
            .post(&url, &call, Repeat::OnlyIfNotApplied, RetryPolicy::default(), &[], params)
            .await
            .map_err(|e| explain_trigger(e, job))?;
        let status = response.status();
        let location = response.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
        match (status.as_u16(), location) {
            (201 | 303, Some(loc)) if loc.contains("/queue/item/") => Ok(with_slash(&absolute(&self.base, &loc))),
            (code, location) => Err(RemoteError::new(
                SYSTEM,
                &call,
                Some(code),
                format!(
                    "HTTP {code}{}: Jenkins named no queue item for the build, so relctl cannot follow it",
                    location.map(|l| format!(" to {l}")).unwrap_or_default()
                ),
            )
            .with_help(format!("look at {job} in Jenkins (it may have started) before running the step again"))),
        }
    }

    /// Takes a waiting item out of the queue; false when it was not waiting
    /// any more. Queue.doCancelItem answers 204 for a waiting item, 500
    /// "Could not cancel run for id N" for one that already left the queue
    /// (a build that just started), 404 once that is forgotten too (and
    /// Jenkins before 2.211 answered 404 even when it worked, JENKINS-21311).
    pub(super) async fn cancel_item(&self, queue_url: &str) -> Result<bool, RemoteError> {
        let id = queue_url.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
        let url = format!("{}/queue/cancelItem?id={id}", self.base);
        let call = format!("POST /queue/cancelItem?id={id}");
        let accept = [StatusCode::NOT_FOUND, StatusCode::INTERNAL_SERVER_ERROR];
        let policy = RetryPolicy { attempts: 3, ..RetryPolicy::default() };
        let response = self.post(&url, &call, Repeat::Safe, policy, &accept, &[]).await?;
        Ok(!accept.contains(&response.status()))
    }
}

/// Like [`explain`], and a trigger whose answer was lost may have queued a
/// build anyway: say so rather than let someone trigger a second deploy.
pub(super) fn explain_trigger(e: RemoteError, job: &str) -> RemoteError {
    let e = explain(e, job);
    if e.status.is_none() && e.maybe_applied {
        return e
            .with_help(format!("the build may have been queued anyway: look at {job} in Jenkins before running the step again"));
    }
    e
}

/// Jenkins' own advice for an HTTP failure.
pub(super) fn explain(e: RemoteError, job: &str) -> RemoteError {
    let advice = match e.status {
        Some(404) => format!("no job `{job}` at this Jenkins: check the job path (folders separated by `/`)"),
        Some(401 | 403) => {
            "Jenkins refused the credentials: check `user` and the API `token` under integrations.jenkins (and that the user may build the job)"
                .into()
        }
        Some(409) => format!("job `{job}` cannot be built (it is disabled?): enable it in Jenkins"),
        Some(400) if e.message.contains("is not parameterized") => format!("job `{job}` takes no parameters: remove `params`"),
        Some(400) if e.message.contains("Nothing is submitted") => {
            format!("job `{job}` has parameters now: run the step again (relctl reads them before triggering)")
        }
        Some(503) => "Jenkins is restarting or overloaded and did not come back: wait, then resume".into(),
        _ => return e,
    };
    e.with_help(advice)
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(failure)`
pub(super) fn failure(e: RemoteError) -> StepFailure {
    StepFailure::from(e)
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
