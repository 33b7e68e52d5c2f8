//! A fake Jenkins on loopback that follows the remote access API as
//! documented, including its failure modes, scriptable per job.
//!
//! - `POST {job}/build` / `{job}/buildWithParameters` → 201 with `Location`
//!   of `/queue/item/N/`; an identical item still waiting → 303 to it (no new
//!   item); unknown job → 404; disabled job → 409; a missing crumb, when
//!   crumbs are required → 403 "No valid crumb".
//! - `GET /queue/item/N/api/json`: a waiting item (`why`, no `executable`)
//!   for `queue_polls` polls, then a left item with `executable {number,url}`,
//!   or a cancelled one (`cancelled: true`, `why: null` as Jenkins does).
//! - `GET {job}/N/api/json`: `building`, `result`, `duration`.
//! - `GET {job}/N/logText/progressiveText?start=N`: the text from `start`,
//!   `X-Text-Size`, and `X-More-Data: true` while the build runs. The log
//!   "grows" by `piece` bytes per request, so a long log arrives in pieces.
//! - `POST {job}/N/stop` aborts the build; `POST /queue/cancelItem?id=N`
//!   cancels a waiting item.
//! - Basic auth on every request: missing or wrong → 403 (Jenkins does not
//!   challenge with 401). `restarting(n)`: the next n requests get 503.
//!
//! A build finishes once its whole log has been served and it is not held
//! (`hold`), with the job's result; a job without a result never finishes.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::json;

use super::http_server::{Request, Response, serve};

pub const USER: &str = "release-bot";
/// Distinctive, so a leak anywhere is found by a plain substring search.
pub const TOKEN: &str = "11e5f0c0ffee5ecre7a9b8c7d6e5f4a3b2";
pub const CRUMB: &str = "4f1c0ffee9d8c7b6a5";

/// How one job behaves.
#[derive(Clone, Debug)]
pub struct Job {
    /// Queue polls answered "waiting" before the item leaves the queue.
    pub queue_polls: usize,
    pub why: String,
    /// The item is cancelled (after `queue_polls` waiting polls) instead of starting.
    pub cancel: bool,
    /// `None`: the build never ends by itself.
    pub result: Option<&'static str>,
    pub console: Vec<u8>,
    /// Bytes the log grows by per `progressiveText` request.
    pub piece: usize,
    pub disabled: bool,
    pub first_build: u64,
}

impl Job {
    pub fn ending(result: &'static str) -> Job {
        Job {
            queue_polls: 0,
            why: "Waiting for next available executor".into(),
            cancel: false,
            result: Some(result),
            console: format!("Started by user {USER}\nBuilding...\nFinished: {result}\n").into_bytes(),
            piece: 1 << 20,
            disabled: false,
            first_build: 42,
        }
    }

    pub fn never_ending() -> Job {
        Job { result: None, console: b"Started\nstill deploying...\n".to_vec(), ..Job::ending("SUCCESS") }
    }

    pub fn queued(mut self, polls: usize, why: &str) -> Job {
        self.queue_polls = polls;
        self.why = why.into();
        self
    }

    pub fn cancelled(mut self) -> Job {
        self.cancel = true;
        self
    }

    pub fn console(mut self, text: impl Into<Vec<u8>>, piece: usize) -> Job {
        self.console = text.into();
        self.piece = piece;
        self
    }

    pub fn disabled(mut self) -> Job {
        self.disabled = true;
        self
    }
}

#[derive(Debug)]
struct QueueItem {
    job: String,
    params: String,
    polls: usize,
    cancelled: bool,
    build: Option<u64>,
}

#[derive(Debug)]
struct Build {
    console: Vec<u8>,
    piece: usize,
    revealed: usize,
    result: Option<String>,
}

#[derive(Default)]
struct State {
    port: u16,
    jobs: HashMap<String, Job>,
    next_build: HashMap<String, u64>,
    queue: BTreeMap<u64, QueueItem>,
    builds: HashMap<(String, u64), Build>,
    next_item: u64,
    unavailable: usize,
    /// The next n console answers are cut off halfway (a dropped connection).
    drops: usize,
    crumbs: bool,
    hold: bool,
}

pub struct Jenkins {
    pub port: u16,
    state: Arc<Mutex<State>>,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Jenkins {
    pub fn start() -> Jenkins {
        let state = Arc::new(Mutex::new(State { next_item: 100, ..State::default() }));
        let s = state.clone();
        let (port, requests) = serve(Arc::new(move |r: &Request| handle(&mut s.lock().unwrap(), r)));
        state.lock().unwrap().port = port;
        Jenkins { port, state, requests }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `name` as in a runbook: `deploy/checkout-prod`.
    pub fn job(&self, name: &str, job: Job) {
        let mut s = self.state.lock().unwrap();
        s.next_build.insert(name.to_string(), job.first_build);
        s.jobs.insert(name.to_string(), job);
    }

    /// The next `n` requests get 503, as while Jenkins restarts.
    pub fn restarting(&self, n: usize) {
        self.state.lock().unwrap().unavailable = n;
    }

    /// The next `n` console answers break off halfway through.
    pub fn drop_console(&self, n: usize) {
        self.state.lock().unwrap().drops = n;
    }

    /// POSTs need a crumb from `/crumbIssuer` (CSRF protection with password auth).
    pub fn require_crumbs(&self) {
        self.state.lock().unwrap().crumbs = true;
    }

    /// While held, running builds do not finish (their log stays open).
    pub fn hold(&self, on: bool) {
        self.state.lock().unwrap().hold = on;
    }

    /// Puts an item in the queue as someone else's trigger would; returns its id.
    pub fn enqueue(&self, job: &str, params: &str) -> u64 {
        let mut s = self.state.lock().unwrap();
        enqueue(&mut s, job, params)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Trigger POSTs (`build` / `buildWithParameters`), whatever the answer.
    pub fn triggers(&self) -> Vec<Request> {
        self.requests().into_iter().filter(|r| r.method == "POST" && is_trigger(r.route())).collect()
    }

    /// Builds created, as (job, number).
    pub fn builds(&self) -> Vec<(String, u64)> {
        let mut b: Vec<_> = self.state.lock().unwrap().builds.keys().cloned().collect();
        b.sort();
        b
    }

    /// The result of a finished build; `None` while it runs.
    pub fn result_of(&self, job: &str, number: u64) -> Option<String> {
        let s = self.state.lock().unwrap();
        s.builds.get(&(job.to_string(), number)).filter(|b| finished(b, s.hold)).and_then(|b| b.result.clone())
    }

    pub fn stops(&self) -> Vec<Request> {
        self.requests().into_iter().filter(|r| r.method == "POST" && r.route().ends_with("/stop")).collect()
    }

    pub fn count(&self, pred: impl Fn(&Request) -> bool) -> usize {
        self.requests().iter().filter(|r| pred(r)).count()
    }

    pub fn console_requests(&self) -> usize {
        self.count(|r| r.route().ends_with("/logText/progressiveText"))
    }
}

fn is_trigger(route: &str) -> bool {
    route.ends_with("/build") || route.ends_with("/buildWithParameters")
}

fn enqueue(s: &mut State, job: &str, params: &str) -> u64 {
    s.next_item += 1;
    let id = s.next_item;
    s.queue.insert(id, QueueItem { job: job.into(), params: params.into(), polls: 0, cancelled: false, build: None });
    id
}

/// `Basic base64(user:token)`, to compare with what relctl sends.
pub fn basic(user: &str, token: &str) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{token}").into_bytes();
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `/job/a/job/b/rest...` → (`a/b`, rest segments).
fn split_job(route: &str) -> Option<(String, Vec<&str>)> {
    let segments: Vec<&str> = route.trim_matches('/').split('/').collect();
    let mut names = Vec::new();
    let mut i = 0;
    while i + 1 < segments.len() && segments[i] == "job" {
        names.push(decode(segments[i + 1]));
        i += 2;
    }
    if names.is_empty() {
        return None;
    }
    Some((names.join("/"), segments[i..].to_vec()))
}

fn html(status: u16, text: &str) -> Response {
    Response::new(status)
        .header("Content-Type", "text/html;charset=utf-8")
        .body(format!("<html><body><h2>{text}</h2></body></html>"))
}

fn not_found() -> Response {
    html(404, "Not Found")
}

#[expect(clippy::too_many_lines, reason = "one route table, read top to bottom like Jenkins' own URL map")]
fn handle(s: &mut State, r: &Request) -> Response {
    if s.unavailable > 0 {
        s.unavailable -= 1;
        return html(503, "Please wait while Jenkins is restarting ...").header("Retry-After", "0");
    }
    if r.header("authorization") != Some(basic(USER, TOKEN).as_str()) {
        // Jenkins answers 403 to anonymous or bad credentials; it does not challenge.
        return html(403, "Access Denied: release-bot is missing the Overall/Read permission or is not logged in")
            .header("X-You-Are-Authenticated-As", "anonymous");
    }
    let base = format!("http://127.0.0.1:{}", s.port);
    let route = r.route().to_string();
    if route == "/crumbIssuer/api/json" && r.method == "GET" {
        if !s.crumbs {
            return not_found();
        }
        return Response::json(
            200,
            &json!({"_class": "hudson.security.csrf.DefaultCrumbIssuer", "crumb": CRUMB, "crumbRequestField": "Jenkins-Crumb"}),
        );
    }
    if r.method == "POST" && s.crumbs && r.header("jenkins-crumb") != Some(CRUMB) {
        return html(403, "No valid crumb was included in the request");
    }
    if route == "/queue/cancelItem" && r.method == "POST" {
        let id: u64 = r.query("id").and_then(|v| v.parse().ok()).unwrap_or(0);
        return match s.queue.get_mut(&id) {
            Some(item) if item.build.is_none() => {
                item.cancelled = true;
                Response::new(204)
            }
            _ => not_found(),
        };
    }
    if let Some(rest) = route.strip_prefix("/queue/item/") {
        let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        if parts.len() != 3 || parts[1..] != ["api", "json"] || r.method != "GET" {
            return not_found();
        }
        let Some(id) = parts[0].parse::<u64>().ok() else { return not_found() };
        return queue_item(s, id, &base);
    }
    let Some((job, rest)) = split_job(&route) else { return not_found() };
    let Some(script) = s.jobs.get(&job).cloned() else { return not_found() };
    match (r.method.as_str(), rest.as_slice()) {
        ("POST", ["build" | "buildWithParameters"]) => {
            if script.disabled {
                return html(409, &format!("{job} is not buildable"));
            }
            let waiting = s
                .queue
                .iter()
                .find(|(_, q)| q.job == job && q.params == r.body && q.build.is_none() && !q.cancelled)
                .map(|(id, _)| *id);
            match waiting {
                // An identical item is already waiting: Jenkins does not queue a second one.
                Some(id) => Response::new(303).header("Location", format!("{base}/queue/item/{id}/")),
                None => {
                    let id = enqueue(s, &job, &r.body);
                    Response::new(201).header("Location", format!("{base}/queue/item/{id}/"))
                }
            }
        }
        ("GET", [n, "api", "json"]) => {
            let Ok(n) = n.parse::<u64>() else { return not_found() };
            let hold = s.hold;
            let Some(b) = s.builds.get(&(job.clone(), n)) else { return not_found() };
            let done = finished(b, hold);
            Response::json(
                200,
                &json!({
                    "_class": "hudson.model.FreeStyleBuild",
                    "number": n,
                    "url": format!("{base}{}/{n}/", job_route(&job)),
                    "building": !done,
                    "result": if done { b.result.clone() } else { None },
                    "duration": if done { 61_234 } else { 0 },
                }),
            )
        }
        ("GET", [n, "logText", "progressiveText"]) => {
            let Ok(n) = n.parse::<u64>() else { return not_found() };
            let hold = s.hold;
            let Some(b) = s.builds.get_mut(&(job.clone(), n)) else { return not_found() };
            b.revealed = (b.revealed + b.piece).min(b.console.len());
            let start = r.query("start").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0).min(b.revealed);
            let mut response = Response::new(200)
                .header("Content-Type", "text/plain;charset=UTF-8")
                .header("X-Text-Size", b.revealed.to_string())
                .body(b.console[start..b.revealed].to_vec());
            if !finished(b, hold) {
                response = response.header("X-More-Data", "true");
            }
            if s.drops > 0 && response.body.len() > 1 {
                s.drops -= 1;
                let half = response.body.len() / 2;
                response = response.header(super::http_server::DROP_AFTER, half.to_string());
            }
            response
        }
        ("POST", [n, "stop"]) => {
            let Ok(n) = n.parse::<u64>() else { return not_found() };
            let hold = s.hold;
            let Some(b) = s.builds.get_mut(&(job.clone(), n)) else { return not_found() };
            if !finished(b, hold) {
                b.console.extend_from_slice(format!("Aborted by {USER}\nFinished: ABORTED\n").as_bytes());
                b.revealed = b.console.len();
                b.result = Some("ABORTED".into());
            }
            Response::new(302).header("Location", format!("{base}{}/{n}/", job_route(&job)))
        }
        _ => not_found(),
    }
}

fn job_route(job: &str) -> String {
    job.split('/').map(|s| format!("/job/{s}")).collect()
}

fn finished(b: &Build, hold: bool) -> bool {
    let aborted = b.result.as_deref() == Some("ABORTED") && b.revealed == b.console.len();
    aborted || (b.result.is_some() && b.revealed == b.console.len() && !hold)
}

fn queue_item(s: &mut State, id: u64, base: &str) -> Response {
    let Some(item) = s.queue.get_mut(&id) else { return not_found() };
    let script = s.jobs.get(&item.job).cloned().expect("queued job exists");
    let task =
        json!({"_class": "hudson.model.FreeStyleProject", "name": item.job, "url": format!("{base}{}/", job_route(&item.job))});
    if item.cancelled {
        return Response::json(
            200,
            &json!({"_class": "hudson.model.Queue$LeftItem", "id": id, "cancelled": true, "why": null, "executable": null, "task": task}),
        );
    }
    if item.build.is_none() {
        if item.polls < script.queue_polls {
            item.polls += 1;
            return Response::json(
                200,
                &json!({"_class": "hudson.model.Queue$BuildableItem", "id": id, "blocked": false, "buildable": true, "stuck": false, "why": script.why, "task": task}),
            );
        }
        if script.cancel {
            item.cancelled = true;
            return Response::json(
                200,
                &json!({"_class": "hudson.model.Queue$LeftItem", "id": id, "cancelled": true, "why": null, "executable": null, "task": task}),
            );
        }
        let job = item.job.clone();
        let number = s.next_build.get(&job).copied().unwrap_or(1);
        s.next_build.insert(job.clone(), number + 1);
        item.build = Some(number);
        let result = script.result.map(str::to_string);
        s.builds
            .insert((job, number), Build { console: script.console.clone(), piece: script.piece.max(1), revealed: 0, result });
    }
    let item = &s.queue[&id];
    let number = item.build.unwrap();
    Response::json(
        200,
        &json!({
            "_class": "hudson.model.Queue$LeftItem",
            "id": id,
            "cancelled": false,
            "why": null,
            "executable": {"_class": "hudson.model.FreeStyleBuild", "number": number, "url": format!("{base}{}/{number}/", job_route(&item.job))},
            "task": task,
        }),
    )
}
