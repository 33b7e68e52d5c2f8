//! A fake Slack on loopback: the Web API methods relctl uses
//! (`chat.postMessage`, `chat.update`, Bearer token) and an incoming webhook,
//! answering as Slack documents.
//!
//! - Web API errors are HTTP 200 with `{"ok":false,"error":"..."}`:
//!   `not_authed` / `invalid_auth` for a missing or wrong token,
//!   `channel_not_found` for an unknown channel (`chat.update` wants the
//!   channel id, as Slack does), `message_not_found` for an unknown `ts`, and
//!   any error scripted with [`Slack::fail_when`].
//! - Rate limits are HTTP 429 with `Retry-After` (seconds) and
//!   `{"ok":false,"error":"ratelimited"}`, or (`rate_limit_ok`) HTTP 200 with
//!   the same body, as Slack also answers (docs.slack.dev "Rate limits":
//!   "you may receive a `ratelimited` error with HTTP 200").
//! - A private channel (`#ops-private`, id `G0PRIV0001`) is not found by
//!   name with a bot token: `channel_not_found` (conversations: private
//!   channels are addressed by ID).
//! - The read methods (`conversations.replies`, `reactions.get`,
//!   `users.info`) are in slack_reads.rs; a test answers as a person with
//!   [`Slack::reply`] and [`Slack::react`].
//! - The webhook answers `ok` as plain text; an unknown hook `404 no_service`;
//!   its other failures are final HTTP statuses with the error as text
//!   (messaging/webhooks "Handling errors": 400 `invalid_payload`, 403
//!   `action_prohibited`, 404 `channel_not_found`, 410 `channel_is_archived`),
//!   scripted with `webhook_fails`.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::http_server::{Request, Response, serve};

/// Distinctive, so a leak anywhere is found by a plain substring search.
pub const TOKEN: &str = "xoxb-1234-5678-s3cr3tsl4ckt0k3n";
pub const CHANNEL_NAME: &str = "#releases";
pub const CHANNEL_ID: &str = "C123";
pub const PRIVATE_NAME: &str = "#ops-private";
pub const PRIVATE_ID: &str = "G0PRIV0001";
/// The secret part of the webhook URL.
pub const HOOK_PATH: &str = "/services/T0001/B0002/h00ks3cr3tXYZ";

/// The bot's ids, as auth.test would name them.
pub const BOT_USER: &str = "U0RELCTLBOT";
pub const BOT_ID: &str = "B0RELCTL";

#[derive(Clone, Debug)]
pub struct Message {
    /// Who posted it: `None` for relctl's bot.
    pub user: Option<String>,
    pub ts: String,
    pub channel: String,
    pub text: String,
    pub thread_ts: Option<String>,
    pub reply_broadcast: bool,
    /// Texts it was updated to, in order.
    pub updates: Vec<String>,
}

/// A workspace member, as users.info describes them.
#[derive(Clone, Debug, Default)]
pub struct Member {
    pub deleted: bool,
    pub is_bot: bool,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) messages: Vec<Message>,
    /// Reactions by message ts: (name, users in the order they reacted).
    pub(super) reactions: std::collections::BTreeMap<String, Vec<(String, Vec<String>)>>,
    pub(super) members: std::collections::BTreeMap<String, Member>,
    /// conversations.replies' most messages a page (Slack: limit, at most 1000).
    pub(super) page_size: usize,
    /// Method → (requests left to refuse with 429, Retry-After seconds).
    pub(super) method_limits: std::collections::BTreeMap<String, (usize, u64)>,
    next_ts: u64,
    rate_limited: usize,
    retry_after: u64,
    failures: Vec<(String, String)>,
    webhook: Vec<String>,
    /// Rate limits answered with HTTP 200 ok:false.
    rate_limited_ok: usize,
    webhook_failure: Option<(u16, String)>,
}

#[derive(Clone)]
pub struct Slack {
    pub port: u16,
    state: Arc<Mutex<State>>,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Slack {
    pub fn start() -> Slack {
        let state = Arc::new(Mutex::new(State { next_ts: 100, page_size: 1000, ..State::default() }));
        let s = state.clone();
        let (port, requests) = serve(Arc::new(move |r: &Request| handle(&mut s.lock().unwrap(), r)));
        Slack { port, state, requests }
    }

    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.port)
    }

    pub fn webhook_url(&self) -> String {
        format!("http://127.0.0.1:{}{HOOK_PATH}", self.port)
    }

    /// The next `n` requests get 429 with `Retry-After: secs`.
    pub fn rate_limit(&self, n: usize, secs: u64) {
        let mut s = self.state.lock().unwrap();
        s.rate_limited = n;
        s.retry_after = secs;
    }

    /// The next `n` Web API requests get HTTP 200 `{"ok":false,"error":"ratelimited"}`.
    pub fn rate_limit_ok(&self, n: usize) {
        self.state.lock().unwrap().rate_limited_ok = n;
    }

    /// Every webhook post fails with this status and error text.
    pub fn webhook_fails(&self, status: u16, error: &str) {
        self.state.lock().unwrap().webhook_failure = Some((status, error.into()));
    }

    /// A `chat.postMessage` whose text contains `needle` answers `ok:false` with `error`.
    pub fn fail_when(&self, needle: &str, error: &str) {
        self.state.lock().unwrap().failures.push((needle.into(), error.into()));
    }

    /// A workspace member users.info knows.
    pub fn add_member(&self, user: &str, member: Member) {
        self.state.lock().unwrap().members.insert(user.into(), member);
    }

    /// `user` replies in the thread of `thread_ts`; the reply's ts.
    pub fn reply(&self, user: &str, thread_ts: &str, text: &str) -> String {
        let mut s = self.state.lock().unwrap();
        s.next_ts += 1;
        let ts = format!("1700000000.{:06}", s.next_ts);
        let channel = s.messages.iter().find(|m| m.ts == thread_ts).map(|m| m.channel.clone()).expect("no such thread");
        s.messages.push(Message {
            user: Some(user.into()),
            ts: ts.clone(),
            channel,
            text: text.into(),
            thread_ts: Some(thread_ts.into()),
            reply_broadcast: false,
            updates: Vec::new(),
        });
        ts
    }

    /// `user` adds the reaction `name` (`white_check_mark`, `x`) to the message `ts`.
    pub fn react(&self, user: &str, ts: &str, name: &str) {
        let mut s = self.state.lock().unwrap();
        let list = s.reactions.entry(ts.into()).or_default();
        match list.iter_mut().find(|(n, _)| n == name) {
            Some((_, users)) if !users.iter().any(|u| u == user) => users.push(user.into()),
            Some(_) => {}
            None => list.push((name.into(), vec![user.into()])),
        }
    }

    /// `user` takes their reaction `name` off the message `ts`.
    pub fn unreact(&self, user: &str, ts: &str, name: &str) {
        let mut s = self.state.lock().unwrap();
        if let Some(list) = s.reactions.get_mut(ts) {
            for (n, users) in list.iter_mut() {
                if n == name {
                    users.retain(|u| u != user);
                }
            }
            list.retain(|(_, users)| !users.is_empty());
        }
    }

    /// conversations.replies answers at most `n` messages a page.
    pub fn page_size(&self, n: usize) {
        self.state.lock().unwrap().page_size = n;
    }

    /// The next `n` calls of `method` get 429 with `Retry-After: secs`.
    pub fn rate_limit_method(&self, method: &str, n: usize, secs: u64) {
        self.state.lock().unwrap().method_limits.insert(method.into(), (n, secs));
    }

    /// The first message whose text contains `needle`, waiting up to 20 s for it.
    pub fn wait_for_message(&self, needle: &str) -> Message {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if let Some(m) = self.messages().into_iter().find(|m| m.text.contains(needle)) {
                return m;
            }
            assert!(std::time::Instant::now() < until, "no message with {needle:?} in {:#?}", self.messages());
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Answers each question relctl asks in Slack as a person would, until
    /// dropped: `(words in the question, member id, answer)`, the answer a
    /// reaction (`:white_check_mark:`, `:x:`) or a reply's text (`go`).
    pub fn answering(&self, rules: &[(&str, &str, &str)]) -> Answering {
        let rules: Vec<(String, String, String)> =
            rules.iter().map(|(w, u, a)| ((*w).to_string(), (*u).to_string(), (*a).to_string())).collect();
        let (slack, stop) = (self.clone(), Arc::new(std::sync::atomic::AtomicBool::new(false)));
        let done = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut answered = std::collections::BTreeSet::new();
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                for m in slack.messages().into_iter().filter(|m| m.user.is_none() && m.text.starts_with(":question:")) {
                    let Some((_, who, answer)) = rules.iter().find(|(w, _, _)| m.text.contains(w.as_str())) else { continue };
                    if !answered.insert(m.ts.clone()) {
                        continue;
                    }
                    if let Some(name) = answer.strip_prefix(':').and_then(|a| a.strip_suffix(':')) {
                        slack.react(who, &m.ts, name);
                    } else {
                        slack.reply(who, m.thread_ts.as_deref().unwrap_or(&m.ts), answer);
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        });
        Answering { stop, thread: Some(thread) }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Every message posted, in order.
    pub fn messages(&self) -> Vec<Message> {
        self.state.lock().unwrap().messages.clone()
    }

    /// Messages that are not thread replies.
    pub fn parents(&self) -> Vec<Message> {
        self.messages().into_iter().filter(|m| m.thread_ts.is_none()).collect()
    }

    /// Replies in the thread of `ts`, in order.
    pub fn replies(&self, ts: &str) -> Vec<Message> {
        self.messages().into_iter().filter(|m| m.thread_ts.as_deref() == Some(ts)).collect()
    }

    pub fn webhook_texts(&self) -> Vec<String> {
        self.state.lock().unwrap().webhook.clone()
    }
}

/// People answering in Slack (see [`Slack::answering`]) until dropped.
pub struct Answering {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub(super) fn api(value: &Value) -> Response {
    Response::json(200, value)
}

pub(super) fn error(e: &str) -> Response {
    api(&json!({"ok": false, "error": e}))
}

pub(super) fn channel_id(name: &str) -> Option<&'static str> {
    match name {
        CHANNEL_NAME | "releases" | CHANNEL_ID => Some(CHANNEL_ID),
        // A private channel is found by its ID only.
        PRIVATE_ID => Some(PRIVATE_ID),
        _ => None,
    }
}

fn handle(s: &mut State, r: &Request) -> Response {
    if s.rate_limited > 0 {
        s.rate_limited -= 1;
        return Response::json(429, &json!({"ok": false, "error": "ratelimited"}))
            .header("Retry-After", s.retry_after.to_string());
    }
    if r.route() == HOOK_PATH {
        if r.method != "POST" {
            return Response::text(405, "invalid_method");
        }
        let Some(text) = serde_json::from_str::<Value>(&r.body).ok().and_then(|v| v["text"].as_str().map(str::to_string)) else {
            return Response::text(400, "invalid_payload");
        };
        if let Some((status, e)) = &s.webhook_failure {
            return Response::text(*status, e);
        }
        s.webhook.push(text);
        return Response::new(200).header("Content-Type", "text/html").body("ok");
    }
    if r.route().starts_with("/services/") {
        return Response::text(404, "no_service");
    }
    let Some(method) = r.route().strip_prefix("/api/") else { return Response::text(404, "not found") };
    let method = method.to_string();
    match r.header("authorization") {
        None => return error("not_authed"),
        Some(a) if a != format!("Bearer {TOKEN}") => return error("invalid_auth"),
        Some(_) => {}
    }
    if s.rate_limited_ok > 0 {
        s.rate_limited_ok -= 1;
        return error("ratelimited");
    }
    if let Some((left, secs)) = s.method_limits.get_mut(&method)
        && *left > 0
    {
        *left -= 1;
        return Response::json(429, &json!({"ok": false, "error": "ratelimited"})).header("Retry-After", secs.to_string());
    }
    if let Some(answer) = super::slack_reads::handle(s, &method, r) {
        return answer;
    }
    let Ok(body) = serde_json::from_str::<Value>(&r.body) else { return error("invalid_json") };
    let text = body["text"].as_str().unwrap_or_default().to_string();
    match method.as_str() {
        "chat.postMessage" => {
            let Some(channel) = body["channel"].as_str().and_then(channel_id) else { return error("channel_not_found") };
            if text.is_empty() {
                return error("no_text");
            }
            if let Some((_, e)) = s.failures.iter().find(|(needle, _)| text.contains(needle.as_str())) {
                return error(&e.clone());
            }
            let thread_ts = body["thread_ts"].as_str().map(str::to_string);
            if let Some(t) = &thread_ts
                && !s.messages.iter().any(|m| &m.ts == t && m.thread_ts.is_none())
            {
                return error("thread_not_found");
            }
            s.next_ts += 1;
            let ts = format!("1700000000.{:06}", s.next_ts);
            s.messages.push(Message {
                user: None,
                ts: ts.clone(),
                channel: channel.into(),
                text: text.clone(),
                thread_ts,
                reply_broadcast: body["reply_broadcast"].as_bool().unwrap_or(false),
                updates: Vec::new(),
            });
            api(&json!({"ok": true, "channel": channel, "ts": ts, "message": {"type": "message", "text": text, "ts": ts}}))
        }
        "chat.update" => {
            // chat.update takes the channel id only.
            if !matches!(body["channel"].as_str(), Some(CHANNEL_ID | PRIVATE_ID)) {
                return error("channel_not_found");
            }
            let ts = body["ts"].as_str().unwrap_or_default().to_string();
            let Some(m) = s.messages.iter_mut().find(|m| m.ts == ts) else { return error("message_not_found") };
            m.updates.push(text.clone());
            api(&json!({"ok": true, "channel": body["channel"], "ts": ts, "text": text}))
        }
        _ => error("unknown_method"),
    }
}
