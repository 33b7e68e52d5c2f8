//! Questions asked in the run's Slack thread (`via: slack`), answered by
//! a reaction on the question (✅ yes, ❌ no) or a reply (`go`, `go:
//! <reason>`, `no-go: <reason>`). Nothing comes in: the answers are read
//! with the Web API (conversations.replies, reactions.get), and each
//! answerer's account is looked up once (users.info), so that a
//! deactivated account or a bot does not count. The question's messages
//! are journaled, so a resumed run asks again in the same thread and still
//! counts what was answered while relctl was down.

use std::collections::BTreeMap;
use std::time::Duration;

use super::super::remote::RemoteError;
use super::{SYSTEM, SlackSettings};
use crate::question::{AnsweredBy, Ballot, Identity, Question, QuestionKind};
use crate::step::{Asker, BoxFuture, StepEnv};

/// Replies read per page: Slack recommends no more than 200 (conversations.replies).
const PAGE: &str = "200";

fn recorded_name(key: &str) -> String {
    format!("question {key}")
}

/// A Slack `ts` as a number pair, to order and compare (never as a float:
/// docs say the part after the dot is a sequence).
fn ts_order(ts: &str) -> (u64, u64) {
    let (s, f) = ts.split_once('.').unwrap_or((ts, "0"));
    (s.parse().unwrap_or(0), f.parse().unwrap_or(0))
}

/// What a reply says: yes or no, and the rest of it as the reason.
/// A leading mention (`<@U0BOT> go`) is skipped; anything else is talk.
/// A gate takes `go` / `no-go`; a confirm also `yes` / `no`.
pub(super) fn parse_reply(text: &str, gate: bool) -> Option<(bool, Option<String>)> {
    let mut t = text.trim();
    while let Some(rest) = t.strip_prefix("<@") {
        t = rest.split_once('>').map_or("", |(_, r)| r).trim_start();
    }
    let lower = t.to_lowercase();
    let words = [("no-go", false), ("no go", false), ("nogo", false), ("go", true), ("yes", true), ("no", false)];
    for (word, yes) in words.into_iter().take(if gate { 4 } else { 6 }) {
        let Some(rest) = lower.strip_prefix(word) else { continue };
        let rest = &t[t.len() - rest.len()..];
        // The word alone, or the word, a separator and the reason: talk
        // that starts with the word ("go check the logs", "No critical
        // issues") is not an answer.
        if rest.trim_end_matches(['.', '!', ' ']).is_empty() {
            return Some((yes, None));
        }
        let after = rest.trim_start();
        let dash = rest.starts_with(' ').then_some(after).and_then(|a| a.strip_prefix(['-', '—', '–']));
        if let Some(reason) = after.strip_prefix(':').or(dash) {
            let reason = unescape(reason.trim());
            return Some((yes, Some(reason).filter(|r| !r.is_empty())));
        }
    }
    None
}

/// Slack escapes `&`, `<` and `>` in message text (messaging/formatting).
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// People's words, escaped again before relctl posts them: a reason must
/// not become live markup (`<!channel>`, a link) in relctl's own message.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// ✅ (or ✔️) is yes, ❌ is no; skin tones do not matter.
fn reaction_answer(name: &str) -> Option<bool> {
    match name.split("::").next().unwrap_or(name) {
        "white_check_mark" | "heavy_check_mark" => Some(true),
        "x" => Some(false),
        _ => None,
    }
}

fn question_text(q: &Question, again: bool) -> String {
    let gate = matches!(q.kind, QuestionKind::Gate { .. });
    let id = q.id.as_deref().map(|i| format!(" (`{i}`)")).unwrap_or_default();
    let mut lines = vec![format!(":question: {}*{}*{id}", if again { "Asked again (relctl resumed): " } else { "" }, q.text)];
    if let QuestionKind::Gate { failed_checks, passed_checks, .. } = &q.kind {
        lines.push(if failed_checks.is_empty() {
            format!("All {passed_checks} validation check(s) passed.")
        } else {
            format!(":x: {} validation check(s) FAILED: {}", failed_checks.len(), failed_checks.join(", "))
        });
    }
    let mut who = match &q.approvers {
        Some(a) => format!("Who may answer: {}", a.join(", ")),
        None => "Anyone under `people:` may answer".to_string(),
    };
    if q.require > 1 {
        who.push_str(&format!("; it takes {} people's yes, and one no decides", q.require));
    }
    if let Some(i) = &q.not_from {
        who.push_str(&format!("; not {i}, who started the run"));
    }
    lines.push(format!("{who}."));
    let (y, n) = if gate { ("GO", "NO-GO") } else { ("YES", "NO") };
    let (ry, rn) = if gate { ("go", "no-go") } else { ("yes", "no") };
    lines.push(format!(
        "React :white_check_mark: for {y} or :x: for {n}, or reply `{ry}`, `{ry}: <reason>` or `{rn}: <reason>`; you may change your answer until it closes."
    ));
    if !q.failed_checks().is_empty() {
        lines.push(format!("Going ahead over failed checks takes a reply with a reason: `{ry}: <reason>`."));
    }
    if let Some(t) = q.timeout {
        lines.push(format!("Unanswered within {}, the answer is {n}.", crate::runbook::duration::format_duration(t)));
    }
    lines.join("\n")
}

impl SlackSettings {
    fn failed(method: &str, f: &crate::step::StepFailure) -> String {
        RemoteError::new(SYSTEM, method, None, f.message()).to_string()
    }

    /// The question's messages, oldest first.
    fn asked(env: &dyn StepEnv, key: &str) -> Vec<String> {
        env.recorded("slack", &recorded_name(key))
            .map(|v| v.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// Every reply in the run's thread after `after`, following the cursor.
    async fn replies(
        &self,
        env: &dyn StepEnv,
        channel: &str,
        parent: &str,
        after: &str,
    ) -> Result<Vec<serde_json::Value>, RemoteError> {
        let mut out: BTreeMap<(u64, u64), serde_json::Value> = BTreeMap::new();
        let mut cursor = String::new();
        // Bounded: a thread of 50 pages of 200 is no release thread.
        for _ in 0..50 {
            let mut query = vec![("channel", channel), ("ts", parent), ("oldest", after), ("limit", PAGE)];
            if !cursor.is_empty() {
                query.push(("cursor", cursor.as_str()));
            }
            let page = self.read(env, "conversations.replies", &query).await?;
            for m in page["messages"].as_array().into_iter().flatten() {
                let ts = m["ts"].as_str().unwrap_or_default();
                // The parent may come again on every page: known by its ts, not its place.
                if ts != parent && ts_order(ts) > ts_order(after) {
                    out.insert(ts_order(ts), m.clone());
                }
            }
            cursor = page["response_metadata"]["next_cursor"].as_str().unwrap_or_default().to_string();
            if cursor.is_empty() {
                break;
            }
        }
        Ok(out.into_values().collect())
    }

    /// Why an account's answer cannot count, from users.info (looked up
    /// once per account and run); `None` when it may.
    async fn account_refusal(&self, env: &dyn StepEnv, user: &str) -> Option<String> {
        if let Some(known) = self.accounts.lock().await.get(user) {
            return known.clone();
        }
        let refusal = match self.read(env, "users.info", &[("user", user)]).await {
            Ok(v) if v["user"]["deleted"].as_bool() == Some(true) => Some(format!("{user} is a deactivated Slack account")),
            Ok(v) if v["user"]["is_bot"].as_bool() == Some(true) => Some(format!("{user} is a bot")),
            Ok(_) => None,
            Err(e) if e.message.contains("user_not_found") => Some(format!("Slack knows no user {user}")),
            // Not known now (no users:read scope, an outage): Slack did
            // authenticate whoever posted; ask again next time.
            Err(_) => return None,
        };
        self.accounts.lock().await.insert(user.to_string(), refusal.clone());
        refusal
    }

    async fn read_answers(&self, key: &str, q: &Question, env: &dyn StepEnv) -> Result<Vec<Ballot>, RemoteError> {
        let asked = Self::asked(env, key);
        let (Some(first), Some(channel), Some(parent)) =
            (asked.first(), env.recorded("slack", super::THREAD_CHANNEL), env.recorded("slack", super::THREAD_TS))
        else {
            return Ok(Vec::new());
        };
        let people: BTreeMap<&str, &str> = q.accounts.iter().map(|(p, id)| (id.as_str(), p.as_str())).collect();
        let mut found: Vec<(String, bool, Option<String>, String)> = Vec::new();
        for m in self.replies(env, &channel, &parent, first).await? {
            // Bots' messages (relctl's own among them) answer nothing.
            if m.get("bot_id").is_some_and(|b| !b.is_null()) || m["subtype"].as_str() == Some("bot_message") {
                continue;
            }
            let (Some(user), Some(text), Some(ts)) = (m["user"].as_str(), m["text"].as_str(), m["ts"].as_str()) else { continue };
            if let Some((yes, comment)) = parse_reply(text, matches!(q.kind, QuestionKind::Gate { .. })) {
                // An edited reply is a new answer (journaled again), not a silent change.
                let edited = m["edited"]["ts"].as_str().map(|e| format!(" edited {e}")).unwrap_or_default();
                found.push((user.to_string(), yes, comment, format!("reply {ts}{edited}")));
            }
        }
        for ts in &asked {
            let v = self.read(env, "reactions.get", &[("channel", &channel), ("timestamp", ts), ("full", "true")]).await?;
            for r in v["message"]["reactions"].as_array().into_iter().flatten() {
                let name = r["name"].as_str().unwrap_or_default();
                let Some(yes) = reaction_answer(name) else { continue };
                for user in r["users"].as_array().into_iter().flatten().filter_map(|u| u.as_str()) {
                    found.push((user.to_string(), yes, None, format!("reaction {name} by {user} on {ts}")));
                }
            }
        }
        let mut out = Vec::new();
        for (user, yes, comment, source) in found {
            let person = people.get(user.as_str()).map(|p| (*p).to_string());
            let refused = if person.is_some() { self.account_refusal(env, &user).await } else { None };
            out.push(Ballot {
                account: if person.is_some() { user.clone() } else { format!("Slack user {user}") },
                person,
                yes,
                comment,
                identity: Identity::Slack,
                by: AnsweredBy::Slack,
                source,
                refused,
            });
        }
        Ok(out)
    }
}

impl Asker for SlackSettings {
    fn poll_interval(&self) -> Duration {
        self.poll
    }

    fn open<'a>(&'a self, key: &'a str, q: &'a Question, env: &'a dyn StepEnv) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let (channel, parent) = self.thread(env).await.map_err(|e| e.to_string())?;
            let asked = Self::asked(env, key);
            let body = serde_json::json!({
                "channel": channel, "thread_ts": parent, "reply_broadcast": true,
                "text": env.redact(&question_text(q, !asked.is_empty())),
            });
            let posted = match self.api(env, "chat.postMessage", body).await {
                Ok(p) => p,
                // Asked before the run stopped: its answers are still read.
                Err(e) if !asked.is_empty() => {
                    env.warn(&format!("the question was not posted again ({e}); answers to the earlier post still count"));
                    return Ok(());
                }
                Err(e) => return Err(e.to_string()),
            };
            let ts = posted.ts.ok_or_else(|| format!("{SYSTEM} chat.postMessage: no `ts` in the answer"))?;
            let all = asked.into_iter().chain([ts]).collect::<Vec<_>>().join(",");
            env.record("slack", &recorded_name(key), &all).map_err(|f| Self::failed("chat.postMessage", &f))
        })
    }

    fn answers<'a>(&'a self, key: &'a str, q: &'a Question, env: &'a dyn StepEnv) -> BoxFuture<'a, Result<Vec<Ballot>, String>> {
        Box::pin(async move { self.read_answers(key, q, env).await.map_err(|e| e.to_string()) })
    }

    fn acknowledge<'a>(
        &'a self,
        _key: &'a str,
        ballot: &'a Ballot,
        said: &'a str,
        env: &'a dyn StepEnv,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let user = ballot.account.trim_start_matches("Slack user ");
            self.post(env, &format!("<@{user}> {}", escape(said)), false).await.map_err(|e| e.to_string())
        })
    }

    fn close<'a>(
        &'a self,
        key: &'a str,
        q: &'a Question,
        decision: &'a str,
        env: &'a dyn StepEnv,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let Some(channel) = env.recorded("slack", super::THREAD_CHANNEL) else { return Ok(()) };
            let asked = Self::asked(env, key);
            for (i, ts) in asked.iter().enumerate() {
                let text = format!("{}\n*{}*", question_text(q, i > 0), escape(decision));
                let body = serde_json::json!({ "channel": channel, "ts": ts, "text": env.redact(&text) });
                self.api(env, "chat.update", body).await.map_err(|e| e.to_string())?;
            }
            self.post(env, &format!("*{}*", escape(decision)), false).await.map_err(|e| e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_reply, reaction_answer};

    #[test]
    fn replies_say_yes_or_no_and_why() {
        assert_eq!(parse_reply("go", true), Some((true, None)));
        assert_eq!(
            parse_reply("Go: probe is flaky, seen in INC-42", true),
            Some((true, Some("probe is flaky, seen in INC-42".into())))
        );
        assert_eq!(parse_reply("Go!", true), Some((true, None)));
        assert_eq!(parse_reply("no-go: latency &gt; 2s", true), Some((false, Some("latency > 2s".into()))));
        assert_eq!(parse_reply("go check the logs before we decide", true), None, "talk is not an answer");
        assert_eq!(parse_reply("no-go latency doubled", true), None, "a reason follows a separator");
        assert_eq!(parse_reply("yes, but hold until 5pm", false), None);
        assert_eq!(parse_reply("No critical issues found", false), None);
        assert_eq!(parse_reply("<@U0BOT> nogo - error rate", true), Some((false, Some("error rate".into()))));
        assert_eq!(parse_reply("NO GO", true), Some((false, None)));
        assert_eq!(parse_reply("good morning", true), None, "a word that starts with go is not go");
        assert_eq!(parse_reply("nothing to add", true), None);
        assert_eq!(parse_reply("going to check", true), None);
        assert_eq!(parse_reply("no problem, go ahead", true), None, "a gate takes go / no-go, not a chatty no");
        assert_eq!(parse_reply("yes", false), Some((true, None)));
        assert_eq!(parse_reply("no: login fails", false), Some((false, Some("login fails".into()))));
    }

    #[test]
    fn a_reason_goes_back_to_slack_as_text_not_markup() {
        let (_, reason) = parse_reply("no-go: ping &lt;!channel&gt; now", true).unwrap();
        assert_eq!(super::escape(&reason.unwrap()), "ping &lt;!channel&gt; now");
    }

    #[test]
    fn check_marks_are_yes_and_a_cross_is_no() {
        assert_eq!(reaction_answer("white_check_mark"), Some(true));
        assert_eq!(reaction_answer("heavy_check_mark::skin-tone-3"), Some(true));
        assert_eq!(reaction_answer("x"), Some(false));
        assert_eq!(reaction_answer("+1"), None);
    }
}
