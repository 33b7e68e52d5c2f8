//! `slack`: messages to the release channel, and automatic notices.
//!
//! Web API mode (a bot token): one parent message per run, kept updated in
//! place with the run's state and who decided; every `slack` step and every
//! notice goes into its thread. The parent's `ts` is journaled, so a resumed
//! run continues the same thread. Webhook mode: plain messages only.
//! Slack answers HTTP 200 with `{"ok":false,"error":...}`; that is a failure
//! naming the error. At most about one message per second goes to a channel
//! (Slack's limit for posting); updates of the parent are not paced, their
//! method has its own, far higher limit.

mod api;
mod approvals;
mod outbox;

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::remote::RemoteError;
use crate::event::{Event, RunState};
use crate::question::AnsweredBy;
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::expr::Template;
use crate::runbook::node::{Node, NodeKind};
use crate::step::PhaseName;
use crate::step::schema;
use crate::step::{
    Action, BoxFuture, Integration, IntegrationKind, Outcome, ParseContext, Settings, StepEnv, StepFailure, StepKind, StepResult,
    StepRun, StepSpec,
};

const SYSTEM: &str = "Slack";
const DEFAULT_API: &str = "https://slack.com/api";
const MIN_INTERVAL: Duration = Duration::from_millis(1100);
/// Names under which the thread is journaled (`IntegrationState`).
const THREAD_TS: &str = "thread_ts";
const THREAD_CHANNEL: &str = "thread_channel";
/// Who decided the go/no-go, journaled so a resumed run's parent still says it.
const DECIDED: &str = "decided";
/// How often answers to a question asked in Slack are read: two Tier 3
/// reads (about 50 a minute each) every 3 s stay well within the limit.
const DEFAULT_POLL: Duration = Duration::from_secs(3);
/// The least `poll` may be.
const MIN_POLL: Duration = Duration::from_millis(200);

/// How long a `slack` step waits for queued notices to go out before its
/// own message: as long as a notice may hold the release up.
const FLUSH_BEFORE_STEP: Duration = Duration::from_secs(5);

pub struct SlackIntegrationKind;
pub struct SlackKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    WebApi,
    Webhook,
}

#[derive(Debug)]
pub struct SlackSettings {
    mode: Mode,
    channel: Option<Template>,
    token: Option<Template>,
    webhook: Option<Template>,
    api_url: Option<Template>,
    notify: bool,
    /// When the last message went out, for the one-per-second pace.
    last_sent: tokio::sync::Mutex<Option<Instant>>,
    /// Held while the parent is found or created, so that steps running in
    /// parallel share one thread instead of each starting one.
    thread_lock: tokio::sync::Mutex<()>,
    /// Notices not sent yet (outbox.rs).
    outbox: outbox::Outbox,
    /// How often a question asked here is read for answers (`poll`).
    poll: Duration,
    /// Accounts looked up (users.info): why each may not answer, if so.
    accounts: tokio::sync::Mutex<std::collections::HashMap<String, Option<String>>>,
}

impl IntegrationKind for SlackIntegrationKind {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn parse(&self, node: &Node, cx: &mut dyn ParseContext) -> Option<Arc<dyn Integration>> {
        let keys = ["channel", "token", "webhook", "api_url", "notify", "poll"];
        let example = "e.g. `slack: { channel: \"#releases\", token: ${{ secrets.SLACK_BOT_TOKEN }} }`";
        let v = Settings::mapping(node, "slack", &keys, example, cx)?;
        let channel = v.template("channel", cx);
        let token = v.template("token", cx);
        let webhook = v.template("webhook", cx);
        let api_url = v.template("api_url", cx);
        let notify = v.flag("notify", false, cx);
        let poll = v.duration("poll", cx).unwrap_or(DEFAULT_POLL);
        if let Some(n) = v.get("poll")
            && !(MIN_POLL..=Duration::from_secs(60)).contains(&poll)
        {
            cx.diagnostics().push(
                Diagnostic::new(n.span, "`poll` is how often answers are read: from 200ms to 1m")
                    .hint("conversations.replies and reactions.get allow about 50 calls a minute (Tier 3)"),
            );
        }
        let mode = match (&token, &webhook) {
            (Some(_), None) => Mode::WebApi,
            (None, Some(_)) => Mode::Webhook,
            _ => {
                cx.diagnostics().push(
                    Diagnostic::new(node.span, "the `slack` settings need exactly one of `token` (Web API) or `webhook`")
                        .hint("a bot token keeps one updated message per run with a thread; a webhook posts plain messages"),
                );
                return None;
            }
        };
        if mode == Mode::WebApi && channel.is_none() {
            cx.diagnostics()
                .push(Diagnostic::new(node.span, "Web API mode needs a `channel`").hint("e.g. `channel: \"#releases\"`"));
            return None;
        }
        Some(Arc::new(SlackSettings {
            mode,
            channel,
            token,
            webhook,
            api_url,
            notify,
            last_sent: tokio::sync::Mutex::new(None),
            thread_lock: tokio::sync::Mutex::new(()),
            outbox: outbox::Outbox::default(),
            poll,
            accounts: tokio::sync::Mutex::default(),
        }))
    }

    fn schema(&self) -> serde_json::Value {
        let s = schema::object(
            "where the run's messages go: a bot token (one message per run, with a thread) or a webhook",
            &[
                ("channel", schema::template("the channel, e.g. \"#releases\" (Web API mode)")),
                ("token", schema::template("a bot token, e.g. ${{ secrets.SLACK_BOT_TOKEN }}")),
                ("webhook", schema::template("an incoming webhook URL, e.g. ${{ secrets.SLACK_WEBHOOK }}")),
                ("api_url", schema::template("the Web API's base URL (default https://slack.com/api)")),
                ("notify", schema::flag("whether state changes, gates and the outcome are posted automatically", false)),
                (
                    "poll",
                    schema::duration(
                        "how often the answers to a question asked in Slack (`via: slack`) are read: 200ms to 1m, default 3s",
                    ),
                ),
            ],
            &[],
        );
        let mut s = schema::one_of_keys(s, &["token", "webhook"]);
        s["if"] = serde_json::json!({ "required": ["token"] });
        s["then"] = serde_json::json!({ "required": ["channel"] });
        s
    }
}

impl SlackSettings {
    fn parent_text(env: &dyn StepEnv, interrupted: bool, waiting: Option<&str>) -> String {
        let version = env.var("version").map(|v| format!(" {v}")).unwrap_or_default();
        let now = env.state();
        let mut state = now.label().to_string();
        let icon = match now {
            _ if interrupted => ":double_vertical_bar:",
            RunState::Released | RunState::ReleasedWithWarnings => ":white_check_mark:",
            RunState::RolledBack => ":leftwards_arrow_with_hook:",
            RunState::RollbackFailed => ":rotating_light:",
            RunState::Aborted => ":no_entry:",
            RunState::RollingBack | RunState::VerifyingRollback => ":warning:",
            RunState::Checklist | RunState::Execute | RunState::Validate | RunState::Finalize => ":rocket:",
        };
        if interrupted {
            state.push_str(" (interrupted: `relctl resume` continues it)");
        }
        if let Some(w) = waiting {
            state = format!(":hourglass: waiting at the gate{w}");
        }
        let decided = env.recorded("slack", DECIDED).map(|d| format!(" — {d}")).unwrap_or_default();
        env.redact(&format!(
            "{icon} *{}{version}*: {state}{decided} (run {} by {})",
            env.info().runbook,
            env.info().run_id,
            env.info().actor
        ))
    }

    /// The thread's parent message: created once per run, found again on resume.
    async fn thread(&self, env: &dyn StepEnv) -> Result<(String, String), RemoteError> {
        let _creating = self.thread_lock.lock().await;
        if let (Some(ts), Some(channel)) = (env.recorded("slack", THREAD_TS), env.recorded("slack", THREAD_CHANNEL)) {
            return Ok((channel, ts));
        }
        let channel = self.channel(env)?;
        let answer = self
            .api(env, "chat.postMessage", serde_json::json!({ "channel": channel, "text": Self::parent_text(env, false, None) }))
            .await?;
        let ts = answer.ts.ok_or_else(|| RemoteError::new(SYSTEM, "chat.postMessage", None, "no `ts` in the answer"))?;
        let channel = answer.channel.unwrap_or(channel);
        let journaled = |f: crate::step::StepFailure| RemoteError::new(SYSTEM, "chat.postMessage", None, f.message());
        env.record("slack", THREAD_TS, &ts).map_err(journaled)?;
        env.record("slack", THREAD_CHANNEL, &channel).map_err(journaled)?;
        Ok((channel, ts))
    }

    fn channel(&self, env: &dyn StepEnv) -> Result<String, RemoteError> {
        match &self.channel {
            Some(t) => env.render(t).map_err(|f| RemoteError::new(SYSTEM, "chat.postMessage", None, f.message())),
            None => Err(RemoteError::new(SYSTEM, "chat.postMessage", None, "no channel configured")),
        }
    }

    /// Posts into the run's thread (Web API) or as a plain message (webhook).
    pub async fn post(&self, env: &dyn StepEnv, text: &str, broadcast: bool) -> Result<(), RemoteError> {
        let text = env.redact(text);
        match self.mode {
            Mode::Webhook => self.webhook(env, &text).await,
            Mode::WebApi => {
                let (channel, ts) = self.thread(env).await?;
                let mut body = serde_json::json!({ "channel": channel, "thread_ts": ts, "text": text });
                if broadcast {
                    body["reply_broadcast"] = serde_json::Value::Bool(true);
                }
                self.api(env, "chat.postMessage", body).await.map(|_| ())
            }
        }
    }

    async fn update_parent(&self, env: &dyn StepEnv, interrupted: bool, waiting: Option<&str>) -> Result<(), RemoteError> {
        if self.mode != Mode::WebApi {
            return Ok(());
        }
        let (Some(ts), Some(channel)) = (env.recorded("slack", THREAD_TS), env.recorded("slack", THREAD_CHANNEL)) else {
            return Ok(());
        };
        self.api(
            env,
            "chat.update",
            serde_json::json!({ "channel": channel, "ts": ts, "text": Self::parent_text(env, interrupted, waiting) }),
        )
        .await
        .map(|_| ())
    }

    /// Reacts to a milestone, then sends whatever notices are queued (this
    /// one, and any an earlier milestone could not send in time).
    async fn notice(&self, event: &Event, env: &dyn StepEnv) -> Result<(), RemoteError> {
        let reacted = self.react(event, env).await;
        let flushed = self.flush(env).await;
        reacted.and(flushed)
    }

    async fn react(&self, event: &Event, env: &dyn StepEnv) -> Result<(), RemoteError> {
        let name = env.info().runbook.clone();
        let version = env.var("version").map(|v| format!(" {v}")).unwrap_or_default();
        match event {
            Event::RunStarted { actor, .. } if self.notify => {
                self.notify_post(env, &format!("Release of {name}{version} started by {actor}"), false);
                Ok(())
            }
            Event::RunResumed { actor, state, .. } => {
                let updated = self.update_parent(env, false, None).await;
                if self.notify {
                    self.notify_post(env, &format!("Run resumed by {actor} in {}", state.label()), false);
                }
                updated
            }
            Event::StateEntered { state, .. } => {
                // The notice matters more than the parent's text: send it even
                // when the update failed, then report the first failure.
                let updated = self.update_parent(env, false, None).await;
                let posted = match state {
                    RunState::RollingBack if self.notify => {
                        self.notify_post(env, &format!(":warning: ROLLBACK INITIATED for {name}{version}"), true);
                        Ok(())
                    }
                    RunState::RolledBack | RunState::RollbackFailed if self.notify => {
                        let how = if *state == RunState::RolledBack {
                            "Rollback complete and verified"
                        } else {
                            ":rotating_light: ROLLBACK FAILED: a human is needed"
                        };
                        self.notify_post(env, &format!("{how} for {name}{version}"), true);
                        Ok(())
                    }
                    RunState::Released | RunState::ReleasedWithWarnings if self.notify => {
                        self.notify_post(env, &format!(":white_check_mark: {name}{version} released"), true);
                        Ok(())
                    }
                    RunState::Aborted if self.notify => {
                        self.notify_post(env, &format!("Release of {name}{version} aborted: nothing was changed"), false);
                        Ok(())
                    }
                    _ => Ok(()),
                };
                updated.and(posted)
            }
            Event::GateWaiting { question, gate, approvers, .. } => {
                let who = approvers.as_ref().map(|a| format!(" ({})", a.join(", "))).unwrap_or_default();
                if *gate {
                    self.update_parent(env, false, Some(&who)).await?;
                }
                if !self.notify {
                    return Ok(());
                }
                let what = if *gate { "Waiting for go/no-go" } else { "Waiting for a confirmation" };
                self.notify_post(env, &format!("{what}{who}: {question}"), false);
                Ok(())
            }
            Event::Decision { gate: true, approved, actor, by, comment, reason, .. } => {
                let verdict = if *approved { "GO" } else { "NO-GO" };
                let who = match by {
                    AnsweredBy::Policy => "policy".to_string(),
                    _ => actor.clone(),
                };
                let why = comment.clone().or_else(|| reason.clone()).map(|c| format!(": {c}")).unwrap_or_default();
                if self.mode == Mode::WebApi {
                    env.record("slack", DECIDED, &format!("{verdict} by {who}"))
                        .map_err(|f| RemoteError::new(SYSTEM, "chat.update", None, f.message()))?;
                }
                let updated = self.update_parent(env, false, None).await;
                if self.notify {
                    self.notify_post(env, &format!("{verdict} by {who}{why}"), false);
                }
                updated
            }
            Event::Interrupted { .. } => self.update_parent(env, true, None).await,
            _ => Ok(()),
        }
    }
}

impl Integration for SlackSettings {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn describe(&self) -> Vec<String> {
        let target = self.channel.as_ref().map_or_else(|| "the webhook's channel".to_string(), Template::display);
        let mut lines = vec![match self.mode {
            Mode::WebApi => {
                format!("slack: Web API, {target}: one message per run kept up to date, steps and notices in its thread")
            }
            Mode::Webhook => "slack: webhook mode: plain messages only (no thread, no updates)".to_string(),
        }];
        if self.notify {
            lines.push("slack: automatic notices: start, gate waiting, decision, rollback, result".into());
        }
        lines
    }

    fn on_event<'a>(&'a self, event: &'a Event, env: &'a dyn StepEnv) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { self.notice(event, env).await.map_err(|e| e.to_string()) })
    }

    /// Web API mode reads answers in the thread; a webhook cannot.
    fn asker(&self) -> Option<&dyn crate::step::Asker> {
        (self.mode == Mode::WebApi).then_some(self as &dyn crate::step::Asker)
    }
}

#[derive(Debug)]
struct SlackAction {
    settings: Arc<dyn Integration>,
    text: Template,
    broadcast: bool,
    phase: PhaseName,
}

impl StepKind for SlackKind {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn schema(&self) -> serde_json::Value {
        let full = schema::object(
            "a message to the run's Slack thread",
            &[
                ("text", schema::template("the message")),
                ("broadcast", schema::flag("whether the thread reply is also sent to the channel", false)),
            ],
            &["text"],
        );
        schema::short_or_full(schema::text("the message"), full)
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>> {
        let settings = cx.integration("slack");
        if settings.is_none() {
            cx.diagnostics().push(
                Diagnostic::new(spec.key.span, "a `slack` step needs `integrations: { slack: { ... } }`")
                    .hint("add `channel` and a `token` (or a `webhook`) under top-level `integrations:`"),
            );
        }
        let v = spec.value;
        let (text, broadcast) = match &v.kind {
            NodeKind::Str(_) => (cx.template(v, "`slack`"), false),
            NodeKind::Map(_) => {
                let s =
                    Settings::mapping(v, "slack", &["text", "broadcast"], "e.g. `slack: { text: ..., broadcast: true }`", cx)?;
                (s.required("text", cx), s.flag("broadcast", false, cx))
            }
            _ => {
                cx.diagnostics().push(
                    Diagnostic::new(v.span, format!("`slack` takes a message or a mapping, found {}", v.type_name()))
                        .hint("e.g. `slack: \"Deployment window started\"`"),
                );
                (None, false)
            }
        };
        Some(Arc::new(SlackAction { settings: settings?, text: text?, broadcast, phase: spec.phase }))
    }
}

impl Action for SlackAction {
    fn describe(&self) -> String {
        format!("post \"{}\"{}", self.text.display(), if self.broadcast { " (also to the channel)" } else { "" })
    }

    fn execute<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, StepResult> {
        Box::pin(async move {
            let settings: &SlackSettings = self.settings.settings();
            let text = run.env.render(&self.text)?;
            // Notices queued before this message go first; if they still
            // cannot, this message is tried anyway and reports for itself.
            let _ = tokio::time::timeout(FLUSH_BEFORE_STEP, settings.flush(run.env)).await;
            match settings.post(run.env, &text, self.broadcast).await {
                Ok(()) => Ok(Outcome { summary: Some("posted".into()), ..Outcome::default() }),
                // A chat outage must not fail a rollback or turn a release into
                // one (in validate a failed post would count as a failed check).
                Err(e) if matches!(self.phase, PhaseName::Validate | PhaseName::Rollback | PhaseName::Finalize) => {
                    run.env.warn(&format!("message not posted: {e}"));
                    Ok(Outcome { summary: Some("not posted (warning)".into()), ..Outcome::default() })
                }
                // Slack's own refusals (`channel_not_found`, ...) come with
                // HTTP 200: Rejected, the same on a retry.
                Err(e) => Err(StepFailure::from(e)),
            }
        })
    }
}
