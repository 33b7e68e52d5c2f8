//! The fake Slack's read methods, answering as Slack documents them
//! (docs.slack.dev/reference/methods, and the method specs mirrored in
//! slack-ruby/slack-api-ref):
//!
//! - They take their arguments as a query string (or a form body). A JSON
//!   body is not read, so its arguments are missing: conversations.replies
//!   answers `invalid_arguments`, reactions.get `no_item_specified`,
//!   users.info `user_not_found` (as reported against the live API in
//!   rneatherway/gh-slack#74).
//! - conversations.replies wants a channel id and the parent's `ts`
//!   (`thread_not_found` otherwise); `oldest` is exclusive unless
//!   `inclusive`; pages are cut by `limit` and the test's page size, with
//!   an opaque `next_cursor`; every page starts with the parent (some
//!   reports say only the first does: a client must not rely on either);
//!   the last page has no `response_metadata`. Messages relctl's bot posted
//!   carry `user` (the bot user) and `bot_id`, with no `subtype`.
//! - reactions.get takes `timestamp` (not `ts`); without `full=true` its
//!   `users` lists may be cut short while `count` stays whole.
//! - users.info knows the members a test added; `deleted` and `is_bot`
//!   are as added.

use serde_json::{Value, json};

use super::http_server::Response;
use super::http_server::{Request, percent_decode};
use super::slack::{BOT_ID, BOT_USER, Message, State, api, channel_id, error};

/// A read method's arguments: the query string, else a form body.
fn arg(r: &Request, name: &str) -> Option<String> {
    if let Some(v) = r.query(name) {
        return Some(percent_decode(&v.replace('+', " ")));
    }
    let form = r.header("content-type").is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return None;
    }
    r.body
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| percent_decode(&v.replace('+', " ")))
}

fn order(ts: &str) -> (u64, u64) {
    let (s, f) = ts.split_once('.').unwrap_or((ts, "0"));
    (s.parse().unwrap_or(0), f.parse().unwrap_or(0))
}

fn message_json(m: &Message) -> Value {
    let mut v = json!({ "type": "message", "ts": m.ts, "text": m.text });
    match &m.user {
        Some(u) => v["user"] = json!(u),
        None => {
            v["user"] = json!(BOT_USER);
            v["bot_id"] = json!(BOT_ID);
        }
    }
    if let Some(t) = &m.thread_ts {
        v["thread_ts"] = json!(t);
    }
    v
}

/// The read methods; `None` for any other method.
pub(super) fn handle(s: &mut State, method: &str, r: &Request) -> Option<Response> {
    Some(match method {
        "conversations.replies" => replies(s, r),
        "reactions.get" => reactions(s, r),
        "users.info" => match arg(r, "user").and_then(|u| s.members.get(&u).map(|m| (u, m.clone()))) {
            None => error("user_not_found"),
            Some((id, m)) => api(&json!({"ok": true, "user": {
                "id": id, "name": id.to_lowercase(), "real_name": id, "deleted": m.deleted, "is_bot": m.is_bot,
                "profile": { "display_name": "", "real_name": id }
            }})),
        },
        _ => return None,
    })
}

fn replies(s: &State, r: &Request) -> Response {
    let (Some(channel), Some(ts)) = (arg(r, "channel"), arg(r, "ts")) else {
        return api(&json!({"ok": false, "error": "invalid_arguments",
            "response_metadata": {"messages": ["[ERROR] missing required field: channel", "[ERROR] missing required field: ts"]}}));
    };
    // conversations.* take a channel id only.
    if !matches!(channel_id(&channel), Some(id) if id == channel) {
        return error("channel_not_found");
    }
    let Some(parent) = s.messages.iter().find(|m| m.ts == ts && m.thread_ts.is_none()) else { return error("thread_not_found") };
    let oldest = arg(r, "oldest").unwrap_or_else(|| "0".into());
    let inclusive = arg(r, "inclusive").is_some_and(|v| v == "true" || v == "1");
    let after = |m: &&Message| if inclusive { order(&m.ts) >= order(&oldest) } else { order(&m.ts) > order(&oldest) };
    let replies: Vec<&Message> =
        s.messages.iter().filter(|m| m.thread_ts.as_deref() == Some(ts.as_str())).filter(after).collect();
    let limit = arg(r, "limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(1000).clamp(1, 1000).min(s.page_size);
    let start = match arg(r, "cursor") {
        None => 0,
        Some(c) => match c.strip_prefix("bmV4dF90czo").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) if n <= replies.len() => n,
            _ => return error("invalid_cursor"),
        },
    };
    let end = (start + limit).min(replies.len());
    let mut messages = vec![message_json(parent)];
    messages.extend(replies[start..end].iter().map(|m| message_json(m)));
    let mut answer = json!({"ok": true, "messages": messages, "has_more": end < replies.len()});
    if end < replies.len() {
        answer["response_metadata"] = json!({ "next_cursor": format!("bmV4dF90czo{end}") });
    }
    api(&answer)
}

fn reactions(s: &State, r: &Request) -> Response {
    let (Some(channel), Some(ts)) = (arg(r, "channel"), arg(r, "timestamp")) else { return error("no_item_specified") };
    if channel_id(&channel).is_none_or(|id| id != channel) {
        return error("channel_not_found");
    }
    let Some(m) = s.messages.iter().find(|m| m.ts == ts) else { return error("message_not_found") };
    let full = arg(r, "full").is_some_and(|v| v == "true" || v == "1");
    let mut message = message_json(m);
    if let Some(list) = s.reactions.get(&ts).filter(|l| !l.is_empty()) {
        let shown: Vec<Value> = list
            .iter()
            .map(|(name, users)| {
                let listed: Vec<&String> = if full { users.iter().collect() } else { users.iter().take(1).collect() };
                json!({ "name": name, "count": users.len(), "users": listed })
            })
            .collect();
        message["reactions"] = json!(shown);
    }
    api(&json!({"ok": true, "type": "message", "channel": channel, "message": message}))
}
