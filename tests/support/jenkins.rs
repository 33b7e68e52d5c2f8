//! A fake Jenkins on loopback that follows the remote access API as the
//! real one behaves (read from jenkinsci/jenkins core, stapler and
//! workflow-job; the routes file cites each), scriptable per job.
//!
//! - `GET {job}/api/json`: `property[].parameterDefinitions[].name` (the
//!   job's parameters) and `builds[] {number,url,queueId}`.
//! - `POST {job}/build` on a job with parameters → 400 "Nothing is
//!   submitted"; `POST {job}/buildWithParameters` on one without → 400 "X is
//!   not parameterized"; unknown parameters are ignored, missing ones take
//!   their defaults. Success → 201 with `Location` of `/queue/item/N/`; an
//!   identical item still waiting → 303 to it. Unknown job → 404; disabled
//!   job → 409.
//! - `GET /queue/item/N/api/json`: a waiting item (`why`, no `executable`)
//!   for `queue_polls` polls, then a left item with `executable`, or a
//!   cancelled one. A left item is forgotten after 5 minutes
//!   (`forget_left_items`): then 404.
//! - `POST /queue/cancelItem?id=N`: 204 for a waiting item, 500 for one that
//!   already left the queue, 404 for an unknown or forgotten one.
//! - `GET {job}/N/logText/progressiveText?start=N`: the log from byte
//!   `start` (0 when past the end), each LF sent as CRLF, console notes
//!   passed raw; `X-Text-Size` is the log's length in bytes (an offset of
//!   the file, not of the answer); `X-More-Data: true` while it runs.
//! - `POST {job}/N/stop` only asks: the build ends on a later look. A
//!   Pipeline build can resist it (`pipeline(resists)`): `/term` ends one
//!   that resists once, `/kill` one that resists twice; a freestyle build
//!   has no `/term` or `/kill` (404).
//! - Basic auth on every request: none → 403, wrong → 401 with
//!   `WWW-Authenticate`. `require_crumbs` (password auth; API tokens are
//!   exempt): POSTs need the crumb of the session whose cookie they carry.
//!   `restarting(n)`: the next n requests get 503.
//!
//! A build finishes once its whole log has been served and it is not held
//! (`hold`), with the job's result; a job without a result never finishes.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use super::http_server::{Request, serve};

#[path = "jenkins_routes.rs"]
mod routes;

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
    /// Parameter definitions; none: the job takes no parameters.
    pub params: Vec<String>,
    /// A Pipeline (WorkflowRun: has /term and /kill) rather than freestyle.
    pub pipeline: bool,
    /// How many of /stop, /term a Pipeline build ignores (3: even /kill).
    pub resists: u8,
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
            params: vec!["VERSION".into(), "KEY".into()],
            pipeline: false,
            resists: 0,
        }
    }

    pub fn with_params(mut self, names: &[&str]) -> Job {
        self.params = names.iter().map(ToString::to_string).collect();
        self
    }

    /// A Pipeline job whose builds ignore the first `resists` of /stop, /term.
    pub fn pipeline(mut self, resists: u8) -> Job {
        self.pipeline = true;
        self.resists = resists;
        self
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
    /// Left the queue more than 5 minutes ago: Jenkins no longer knows it.
    forgotten: bool,
}

#[derive(Debug)]
struct Build {
    console: Vec<u8>,
    piece: usize,
    revealed: usize,
    result: Option<String>,
    queue_id: u64,
    pipeline: bool,
    resists: u8,
    /// A stop that took: looks at the build before it shows as ended.
    aborting: Option<u8>,
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
    /// The next n trigger POSTs get 503.
    unavailable_triggers: usize,
    /// A cancel arrives just as the item leaves the queue.
    start_before_cancel: bool,
    /// The next n console answers are cut off halfway (a dropped connection).
    drops: usize,
    /// Every nth console answer is cut off (0: none).
    drop_every: usize,
    console_answers: usize,
    crumbs: bool,
    /// The session the crumb was issued to (its cookie value).
    session: Option<String>,
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
        let (port, requests) = serve(Arc::new(move |r: &Request| routes::handle(&mut s.lock().unwrap(), r)));
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

    /// The next `n` triggers get 503, as while Jenkins restarts.
    pub fn restarting_at_trigger(&self, n: usize) {
        self.state.lock().unwrap().unavailable_triggers = n;
    }

    /// The item leaves the queue (its build starts) just before a cancel for it arrives.
    pub fn start_before_cancel(&self) {
        self.state.lock().unwrap().start_before_cancel = true;
    }

    /// Every `n`th console answer breaks off halfway through, for the whole build.
    pub fn drop_console_every(&self, n: usize) {
        self.state.lock().unwrap().drop_every = n;
    }

    /// The next `n` console answers break off halfway through.
    pub fn drop_console(&self, n: usize) {
        self.state.lock().unwrap().drops = n;
    }

    /// POSTs need a crumb from `/crumbIssuer`, sent with the session cookie
    /// it was issued with (CSRF protection with password auth).
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

    /// Five minutes pass: every item that left the queue is forgotten.
    pub fn forget_left_items(&self) {
        for item in self.state.lock().unwrap().queue.values_mut() {
            item.forgotten |= item.build.is_some() || item.cancelled;
        }
    }

    /// Every waiting item leaves the queue and its build starts, whether or
    /// not anyone is looking (as executors free up).
    pub fn start_waiting_items(&self) {
        let mut s = self.state.lock().unwrap();
        let ids: Vec<u64> = s.queue.iter().filter(|(_, q)| q.build.is_none() && !q.cancelled).map(|(id, _)| *id).collect();
        for id in ids {
            routes::start_build(&mut s, id);
        }
    }

    /// POSTs to a build's `stop`, `term` or `kill`, in order.
    pub fn stop_calls(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST")
            .filter_map(|r| r.route().rsplit('/').next().filter(|e| ["stop", "term", "kill"].contains(e)).map(str::to_string))
            .collect()
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
        s.builds.get(&(job.to_string(), number)).filter(|b| routes::finished(b, s.hold)).and_then(|b| b.result.clone())
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
    s.queue.insert(
        id,
        QueueItem { job: job.into(), params: params.into(), polls: 0, cancelled: false, build: None, forgotten: false },
    );
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
    super::http_server::percent_decode(segment)
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
