//! Slack's Web API and webhooks as relctl calls them: writes as JSON
//! POSTs, reads as GETs, answers checked for `ok`, rate limits waited out,
//! and every refusal turned into a message that says what to do.

use std::time::{Duration, Instant};

use serde::Deserialize;

use super::super::remote::{self, RemoteError, Repeat, RetryPolicy};
use super::{DEFAULT_API, MIN_INTERVAL, SYSTEM, SlackSettings};
use crate::step::StepEnv;

/// How a method takes its arguments.
enum Call {
    Post(serde_json::Value),
    Get(Vec<(String, String)>),
}

#[derive(Deserialize)]
pub(super) struct ApiAnswer {
    #[serde(default)]
    pub(super) ts: Option<String>,
    #[serde(default)]
    pub(super) channel: Option<String>,
}

fn advice(error: &str, answer: &serde_json::Value) -> String {
    // missing_scope names the scope it wanted (`needed`).
    if error == "missing_scope" {
        let needed = answer["needed"].as_str().unwrap_or("chat:write");
        return format!("give the Slack app the {needed} scope, then reinstall it to the workspace");
    }
    let text = match error {
        "channel_not_found" => "check `channel` under integrations.slack, and that the bot can see it",
        "not_in_channel" => "invite the bot to the channel (/invite @yourbot)",
        "invalid_auth" | "not_authed" | "token_revoked" | "account_inactive" => "check the bot token under integrations.slack",
        "msg_too_long" => "shorten the message",
        "is_archived" => "the channel is archived: pick another",
        "ratelimited" | "rate_limited" => "Slack kept refusing for the rate limit: post less often, or later",
        "thread_not_found" | "message_not_found" => "the run's message was deleted from the channel",
        _ => "see https://api.slack.com/methods for the error",
    };
    text.to_string()
}

/// What an incoming webhook's error means. Webhooks answer with an HTTP
/// status and the error as plain text (api.slack.com/messaging/webhooks,
/// "Handling errors"): all final, none worth sending again.
fn webhook_advice(body: &str) -> &'static str {
    match body.trim() {
        "invalid_payload" | "no_text" | "too_many_attachments" => "Slack could not read the message relctl sent: report it",
        "action_prohibited" => "a workspace admin restricted posting to the webhook's channel",
        "posting_to_general_channel_denied" => "only admins may post in #general: create a webhook for another channel",
        "channel_not_found" => "the webhook's channel was deleted: create a webhook for another channel and update the secret",
        "channel_is_archived" => "the webhook's channel is archived: unarchive it, or create a webhook for another channel",
        "no_service" | "no_service_id" | "no_team" | "team_disabled" | "invalid_token" => {
            "the webhook no longer exists (its app was removed, or it was deleted): create a new one and update the secret"
        }
        _ => "check the webhook URL (it may no longer exist)",
    }
}

/// A channel given by name, not by ID (`C…`, `G…`, `D…`): a private
/// channel can only be found by its ID.
fn named_channel(channel: &str) -> bool {
    let id = channel.len() >= 9
        && channel.starts_with(['C', 'G', 'D'])
        && channel.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    !id
}

/// How many times a post refused for the rate limit with HTTP 200
/// (`ok:false`, `ratelimited`) is sent again; each waits its Retry-After,
/// or 1, 2, 4 s… without one.
const RATE_LIMITED_ATTEMPTS: u32 = 5;

impl SlackSettings {
    /// Waits so that a channel gets at most about one message per second.
    pub(super) async fn pace(&self) -> tokio::sync::MutexGuard<'_, Option<Instant>> {
        let last = self.last_sent.lock().await;
        if let Some(t) = *last {
            let since = t.elapsed();
            if since < MIN_INTERVAL {
                tokio::time::sleep(MIN_INTERVAL.checked_sub(since).unwrap()).await;
            }
        }
        last
    }

    /// A write method: POST with a JSON body.
    pub(super) async fn api(&self, env: &dyn StepEnv, method: &str, body: serde_json::Value) -> Result<ApiAnswer, RemoteError> {
        let value = self.call(env, method, Call::Post(body)).await?;
        serde_json::from_value(value).map_err(|e| RemoteError::new(SYSTEM, method, None, format!("unexpected answer ({e})")))
    }

    /// A read method: GET with a query string and no body, as Slack's read
    /// methods take their arguments (conversations.replies, reactions.get
    /// and users.info ignore a JSON body and answer `invalid_arguments`;
    /// docs.slack.dev/apis/web-api "Pass arguments as GET querystring
    /// parameters").
    pub(super) async fn read(
        &self,
        env: &dyn StepEnv,
        method: &str,
        query: &[(&str, &str)],
    ) -> Result<serde_json::Value, RemoteError> {
        let query = query.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect();
        self.call(env, method, Call::Get(query)).await
    }

    async fn call(&self, env: &dyn StepEnv, method: &str, call: Call) -> Result<serde_json::Value, RemoteError> {
        let base = match &self.api_url {
            Some(t) => env.render(t).map_err(|f| RemoteError::new(SYSTEM, method, None, f.message()))?,
            None => DEFAULT_API.to_string(),
        };
        let token = match &self.token {
            Some(t) => env.render(t).map_err(|f| RemoteError::new(SYSTEM, method, None, f.message()))?,
            None => String::new(),
        };
        let url = format!("{}/{method}", base.trim_end_matches('/'));
        let send = || {
            // A post that may have landed is not repeated (no duplicate messages);
            // rewriting a message again, or reading, is harmless.
            let repeat = if method == "chat.postMessage" { Repeat::OnlyIfNotApplied } else { Repeat::Safe };
            remote::send(SYSTEM, method, repeat, RetryPolicy::default(), &[], || match &call {
                Call::Post(body) => remote::client().post(&url).bearer_auth(&token).json(body),
                Call::Get(query) => match reqwest::Url::parse_with_params(&url, query) {
                    Ok(u) => remote::client().get(u).bearer_auth(&token),
                    // Unparseable base: reqwest reports it as the call's error.
                    Err(_) => remote::client().get(&url).bearer_auth(&token),
                },
            })
        };
        let mut attempt = 0;
        loop {
            let response = if method == "chat.postMessage" {
                let mut last = self.pace().await;
                let response = send().await;
                *last = Some(Instant::now());
                response
            } else {
                send().await
            }?;
            let wait = remote::retry_after(&response);
            let text = response.text().await.map_err(|e| RemoteError::new(SYSTEM, method, None, e.to_string()))?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| RemoteError::new(SYSTEM, method, None, format!("unexpected answer ({e})")))?;
            if value["ok"].as_bool() == Some(true) {
                return Ok(value);
            }
            let error = value["error"].as_str().unwrap_or("unknown_error").to_string();
            // A rate limit can come as HTTP 200 with ok:false: nothing was
            // posted, so sending it again cannot duplicate it.
            attempt += 1;
            let pause = wait.unwrap_or(Duration::from_secs(1 << (attempt - 1)));
            if matches!(error.as_str(), "ratelimited" | "rate_limited")
                && attempt < RATE_LIMITED_ATTEMPTS
                && pause <= remote::MAX_RETRY_AFTER
            {
                tokio::time::sleep(pause).await;
                continue;
            }
            let channel = match &call {
                Call::Post(body) => body["channel"].as_str().unwrap_or_default().to_string(),
                Call::Get(query) => query.iter().find(|(k, _)| k == "channel").map(|(_, v)| v.clone()).unwrap_or_default(),
            };
            let help = if error == "channel_not_found" && named_channel(&channel) {
                format!(
                    "check `channel` under integrations.slack: the bot sees no channel `{channel}`; a private channel must be given by its ID (C… or G…, in the channel's details), and the bot invited to it"
                )
            } else {
                advice(&error, &value)
            };
            // Given up on a rate limit: a 429 in all but the status line.
            let status = if matches!(error.as_str(), "ratelimited" | "rate_limited") { 429 } else { 200 };
            return Err(RemoteError::new(SYSTEM, method, Some(status), format!("`{error}`")).with_help(help));
        }
    }

    pub(super) async fn webhook(&self, env: &dyn StepEnv, text: &str) -> Result<(), RemoteError> {
        let url = match &self.webhook {
            Some(t) => env.render(t).map_err(|f| RemoteError::new(SYSTEM, "webhook", None, f.message()))?,
            None => return Err(RemoteError::new(SYSTEM, "webhook", None, "no webhook configured")),
        };
        let body = serde_json::json!({ "text": text });
        let mut last = self.pace().await;
        let response = remote::send(SYSTEM, "POST webhook", Repeat::OnlyIfNotApplied, RetryPolicy::default(), &[], || {
            remote::client().post(&url).json(&body)
        })
        .await;
        *last = Some(Instant::now());
        drop(last);
        let answer = match response {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(e) if e.status.is_some() => {
                let help = webhook_advice(e.message.rsplit(": ").next().unwrap_or_default());
                return Err(e.with_help(help));
            }
            Err(e) => return Err(e),
        };
        if answer.trim() != "ok" {
            let error = answer.trim().chars().take(100).collect::<String>();
            return Err(
                RemoteError::new(SYSTEM, "POST webhook", Some(200), format!("`{error}`")).with_help(webhook_advice(&error))
            );
        }
        Ok(())
    }
}
