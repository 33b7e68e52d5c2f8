//! Calls to remote systems (Jenkins, Slack, ...): one retry policy, one error
//! shape that names the system, the call and what to do next.
//!
//! Retried: 429 (after `Retry-After`, seconds or an HTTP date, capped), 502,
//! 503, 504, and connection failures, with jittered exponential backoff.
//! A request that may have reached the server and changed something (a build
//! trigger, a message post) is not retried blindly on a timeout or a lost
//! answer: the caller is told, and checks the remote state instead.

use std::time::{Duration, SystemTime};

use std::sync::OnceLock;

use backon::{ExponentialBuilder, Retryable};
use reqwest::{RequestBuilder, Response, StatusCode};

use crate::step::{AdapterError, RemoteKind, StepFailure};

/// Longest `Retry-After` honoured; a server asking for more is treated as down.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteError {
    pub system: &'static str,
    pub call: String,
    pub status: Option<u16>,
    pub message: String,
    /// True when the request may have been applied (sent, answer lost).
    pub maybe_applied: bool,
    /// No connection could be made.
    pub unreachable: bool,
    /// What to do about it, when the system knows better than the status.
    pub help: Option<String>,
    retry_after: Option<Duration>,
}

/// One line for a warning (a notice not sent): the error and its advice.
impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.system, self.call, self.message)?;
        match AdapterError::from(self.clone()).help() {
            Some(h) => write!(f, " ({h})"),
            None => Ok(()),
        }
    }
}

/// The step-level error: the kind follows the status (or how the
/// connection failed), and the advice stays apart from the message.
impl From<RemoteError> for AdapterError {
    fn from(e: RemoteError) -> Self {
        let kind = match e.status {
            Some(429 | 500 | 502 | 503 | 504) => RemoteKind::Transient,
            Some(401 | 403) => RemoteKind::Denied,
            Some(404) => RemoteKind::NotFound,
            Some(_) => RemoteKind::Rejected,
            None if e.unreachable => RemoteKind::Unreachable,
            None if e.maybe_applied => RemoteKind::MaybeApplied,
            None => RemoteKind::Transient,
        };
        AdapterError::Remote { system: e.system, call: e.call, message: e.message, kind, help: e.help }
    }
}

impl From<RemoteError> for StepFailure {
    fn from(e: RemoteError) -> Self {
        AdapterError::from(e).into()
    }
}

impl RemoteError {
    pub fn new(system: &'static str, call: impl Into<String>, status: Option<u16>, message: impl Into<String>) -> Self {
        RemoteError {
            system,
            call: call.into(),
            status,
            message: message.into(),
            maybe_applied: false,
            unreachable: false,
            help: None,
            retry_after: None,
        }
    }

    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    fn retryable(&self, idempotent: bool) -> bool {
        match self.status {
            Some(429 | 502 | 503 | 504) => true,
            Some(_) => false,
            None => idempotent || !self.maybe_applied,
        }
    }
}

/// Whether a request may be repeated without harm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    Safe,
    /// Repeated only when it surely did not reach the server (connect failure)
    /// or the server said so (429/503 and friends).
    OnlyIfNotApplied,
}

/// How long to wait before the next attempt, and how many attempts.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { attempts: 5, min_delay: Duration::from_millis(500), max_delay: Duration::from_secs(20) }
    }
}

/// Sends the request `make` builds, retrying per the policy. A non-success
/// status is returned as an error (except the statuses in `accept`). The
/// whole exchange, answer included, must fit in [`REQUEST_TIMEOUT`].
pub async fn send(
    system: &'static str,
    call: &str,
    repeat: Repeat,
    policy: RetryPolicy,
    accept: &[StatusCode],
    make: impl Fn() -> RequestBuilder,
) -> Result<Response, RemoteError> {
    send_within(system, call, repeat, policy, accept, Some(REQUEST_TIMEOUT), make).await
}

/// Like [`send`], for answers of unknown length (a console log of hundreds
/// of MiB arrives in one answer): no limit on the whole exchange, which a
/// slow link could never meet, so the client that `make` uses must bound
/// each wait for data with its `read_timeout`.
pub async fn send_streaming(
    system: &'static str,
    call: &str,
    repeat: Repeat,
    policy: RetryPolicy,
    make: impl Fn() -> RequestBuilder,
) -> Result<Response, RemoteError> {
    send_within(system, call, repeat, policy, &[], None, make).await
}

async fn send_within(
    system: &'static str,
    call: &str,
    repeat: Repeat,
    policy: RetryPolicy,
    accept: &[StatusCode],
    total: Option<Duration>,
    make: impl Fn() -> RequestBuilder,
) -> Result<Response, RemoteError> {
    let attempt = || async {
        let request = match total {
            Some(limit) => make().timeout(limit),
            None => make(),
        };
        let response = request.send().await.map_err(|e| transport_error(system, call, &e))?;
        let status = response.status();
        if status.is_success() || status.is_redirection() || accept.contains(&status) {
            return Ok(response);
        }
        let retry_after = retry_after(&response);
        let body = response.text().await.unwrap_or_default();
        let mut err = RemoteError::new(system, call, Some(status.as_u16()), http_message(status, &body));
        err.retry_after = retry_after;
        Err(err)
    };
    let backoff = ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(policy.min_delay)
        .with_max_delay(policy.max_delay)
        .with_max_times(policy.attempts.saturating_sub(1));
    attempt
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(|e: &RemoteError| e.retryable(repeat == Repeat::Safe) && e.retry_after.is_none_or(|d| d <= MAX_RETRY_AFTER))
        // `dur` is None once the attempts are spent: a Retry-After must not
        // turn that into one more attempt (and a server that keeps answering
        // 429 into a loop without end).
        .adjust(|e: &RemoteError, dur| dur.map(|d| e.retry_after.unwrap_or(d)))
        .notify(|e: &RemoteError, dur| tracing::debug!("{e}; retrying in {dur:?}"))
        .await
}

fn transport_error(system: &'static str, call: &str, e: &reqwest::Error) -> RemoteError {
    let mut cause = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    let (maybe_applied, what) = if e.is_connect() {
        (false, "cannot connect")
    } else if e.is_timeout() {
        (true, "no answer in time")
    } else {
        (true, "the connection failed mid-request")
    };
    let mut err = RemoteError::new(system, call, None, format!("{what}: {cause}"));
    err.maybe_applied = maybe_applied;
    err.unreachable = e.is_connect();
    err
}

/// `HTTP 404 Not Found: <what the body says>`. Jenkins and proxies answer
/// errors with HTML pages: their text is kept, the markup is not.
pub fn http_message(status: StatusCode, body: &str) -> String {
    let snippet: String = visible_text(body).split_whitespace().collect::<Vec<_>>().join(" ").chars().take(200).collect();
    if snippet.is_empty() { format!("HTTP {status}") } else { format!("HTTP {status}: {snippet}") }
}

/// The text of an HTML page (tags, scripts and styles dropped); other text as it is.
fn visible_text(body: &str) -> String {
    let lower = body.trim_start().to_ascii_lowercase();
    if !(lower.starts_with('<') && (lower.contains("<html") || lower.contains("<body") || lower.contains("<!doctype"))) {
        return body.to_string();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        out.push(' ');
        let tag = rest[open + 1..].to_ascii_lowercase();
        let skip_to = ["script", "style", "head"]
            .iter()
            .find(|t| tag.starts_with(*t) && tag[t.len()..].starts_with(['>', ' ', '\t', '\n']))
            .map(|t| format!("</{t}"));
        let after = match skip_to.and_then(|end| tag.find(&end)) {
            Some(end) => open + 1 + end,
            None => open,
        };
        match rest[after..].find('>') {
            Some(close) => rest = &rest[after + close + 1..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.replace("&nbsp;", " ").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&")
}

/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    parse_retry_after(value, SystemTime::now())
}

pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().user_agent(concat!("relctl/", env!("CARGO_PKG_VERSION"))).connect_timeout(Duration::from_secs(10))
}

/// The one HTTP client (connection pool) of the process, for `http` steps and Slack.
pub fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| builder().build().expect("the HTTP client builds with default settings"))
}

/// For APIs whose redirects carry meaning (a Jenkins 303 names a queue item):
/// redirects are returned, not followed, and each wait for data is bounded
/// rather than the whole answer (a long console may take a while).
pub fn client_without_redirects() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        builder()
            .read_timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            // Jenkins ties a CSRF crumb to the session cookie issued with it.
            .cookie_store(true)
            .build()
            .expect("the HTTP client builds with default settings")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Sun, 22 Nov 2026 02:00:00 GMT").unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Sun, 22 Nov 2026 02:00:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Sun, 22 Nov 2026 01:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn html_error_pages_become_their_text() {
        let page = "<html><head><title>Error 404</title><style>h2 {}</style></head>\n<body><h2>HTTP ERROR 404 Not Found</h2>\n<p>URI: /job/x/build</p></body></html>";
        assert_eq!(http_message(StatusCode::NOT_FOUND, page), "HTTP 404 Not Found: HTTP ERROR 404 Not Found URI: /job/x/build");
        assert_eq!(http_message(StatusCode::BAD_GATEWAY, "upstream <down>"), "HTTP 502 Bad Gateway: upstream <down>");
        assert_eq!(http_message(StatusCode::CONFLICT, ""), "HTTP 409 Conflict");
    }

    #[test]
    fn a_post_that_may_have_landed_is_not_retried_blindly() {
        let mut e = RemoteError::new("Jenkins", "trigger", None, "timeout");
        e.maybe_applied = true;
        assert!(!e.retryable(false));
        assert!(e.retryable(true));
        assert!(RemoteError::new("Slack", "post", Some(503), "").retryable(false));
        assert!(!RemoteError::new("Slack", "post", Some(404), "").retryable(true));
    }
}
