//! `http`: one request and expectations on its status, body text, JSON
//! fields and latency. The usual health check, and a generic way to call
//! anything with an HTTP API.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::duration::format_duration;
use crate::runbook::expr::Template;
use crate::runbook::node::{Node, NodeKind};
use serde_json::json;

use crate::step::schema;
use crate::step::{
    Action, AdapterError, BoxFuture, Outcome, ParseContext, RemoteKind, Settings, StepFailure, StepKind, StepResult, StepRun,
    StepSpec, template_map,
};

pub struct HttpKind;

const SYSTEM: &str = "HTTP";
const KEYS: &[&str] = &["url", "method", "headers", "body", "expect"];
const EXPECT_KEYS: &[&str] = &["status", "body_contains", "json", "max_latency"];
const BODY_OUTPUT_LIMIT: usize = 4096;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct HttpAction {
    url: Template,
    method: reqwest::Method,
    headers: Vec<(String, Template)>,
    body: Option<Template>,
    status: Vec<u16>,
    body_contains: Option<Template>,
    json: Vec<(String, Template)>,
    max_latency: Option<Duration>,
}

impl StepKind for HttpKind {
    fn name(&self) -> &'static str {
        "http"
    }

    fn schema(&self) -> serde_json::Value {
        let status = json!({ "type": "integer", "minimum": 100, "maximum": 599 });
        let expect = schema::object(
            "what the answer must be",
            &[
                (
                    "status",
                    json!({ "anyOf": [status, { "type": "array", "items": status, "minItems": 1 }], "description": "the status code, or a list of acceptable ones (default 200)" }),
                ),
                ("body_contains", schema::template("text the body must contain")),
                (
                    "json",
                    json!({ "type": "object", "description": "field paths (nested or dotted) mapped to the values they must have" }),
                ),
                ("max_latency", schema::duration("the slowest acceptable answer")),
            ],
            &[],
        );
        let full = schema::object(
            "an HTTP request and what its answer must be",
            &[
                ("url", schema::template("the URL")),
                (
                    "method",
                    json!({ "type": "string", "pattern": "^[A-Za-z]+$", "default": "GET", "examples": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] }),
                ),
                ("headers", schema::template_map("request headers")),
                ("body", schema::template("the request body")),
                ("expect", expect),
            ],
            &["url"],
        );
        schema::short_or_full(json!({ "type": "string", "description": "a URL to GET, expecting 200" }), full)
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>> {
        let v = spec.value;
        // `http: https://host/health` is a GET expecting 200.
        if v.as_str().is_some() {
            let url = cx.template(v, "`http`")?;
            return Some(Arc::new(HttpAction::get(url)));
        }
        let example = "e.g. `http: { url: https://app/health, expect: { status: 200 } }` or `http: https://app/health`";
        let s = Settings::mapping(v, "http", KEYS, example, cx)?;
        let url = s.required("url", cx);
        let method = match s.get("method") {
            None => reqwest::Method::GET,
            Some(n) => match n.as_str().map(str::to_ascii_uppercase).and_then(|m| reqwest::Method::from_bytes(m.as_bytes()).ok())
            {
                Some(m) => m,
                None => {
                    cx.diagnostics()
                        .push(Diagnostic::new(n.span, "bad HTTP method").hint("GET, POST, PUT, PATCH, DELETE or HEAD"));
                    reqwest::Method::GET
                }
            },
        };
        let headers = template_map(s.get("headers"), "headers", "header", cx);
        let body = s.template("body", cx);
        let mut action = HttpAction { url: url?, method, headers, body, ..HttpAction::get(Template::literal("")) };
        if let Some(e) = s.get("expect") {
            parse_expect(e, &mut action, cx);
        }
        Some(Arc::new(action))
    }
}

fn parse_expect(e: &Node, action: &mut HttpAction, cx: &mut dyn ParseContext) {
    let Some(expect) = Settings::mapping(e, "expect", EXPECT_KEYS, "e.g. `expect: { status: 200, json: { status: ok } }`", cx)
    else {
        return;
    };
    if let Some(s) = expect.get("status") {
        let codes: Option<Vec<u16>> = match &s.kind {
            NodeKind::Int(i) => u16::try_from(*i).ok().map(|c| vec![c]),
            NodeKind::Seq(items) => items
                .iter()
                .map(|n| match n.kind {
                    NodeKind::Int(i) => u16::try_from(i).ok(),
                    _ => None,
                })
                .collect(),
            _ => None,
        };
        match codes.filter(|c| !c.is_empty() && c.iter().all(|c| (100..600).contains(c))) {
            Some(c) => action.status = c,
            None => cx.diagnostics().push(
                Diagnostic::new(s.span, "`status` must be an HTTP status code or a list of them")
                    .hint("e.g. `status: 200` or `status: [200, 204]`"),
            ),
        }
    }
    action.body_contains = expect.template("body_contains", cx);
    action.max_latency = expect.duration("max_latency", cx);
    if let Some(j) = e.get("json") {
        if j.as_map().is_none() {
            cx.diagnostics().push(
                Diagnostic::new(j.span, "`json` must map field paths to expected values")
                    .hint("e.g. `json: { status: healthy, checks.db: ok }`"),
            );
        }
        flatten_json(j, "", &mut action.json, cx);
    }
}

/// `{ checks: { db: ok } }` and `{ checks.db: ok }` mean the same.
fn flatten_json(node: &Node, prefix: &str, out: &mut Vec<(String, Template)>, cx: &mut dyn ParseContext) {
    let Some(map) = node.as_map() else { return };
    for (k, v) in map {
        let path = if prefix.is_empty() { k.name.clone() } else { format!("{prefix}.{}", k.name) };
        match &v.kind {
            NodeKind::Map(_) => flatten_json(v, &path, out, cx),
            NodeKind::Seq(_) => cx.diagnostics().push(
                Diagnostic::new(v.span, "a JSON expectation is a single value")
                    .hint("address list items by index: `items.0.name: x`"),
            ),
            NodeKind::Null => out.push((path, Template::literal("null"))),
            _ => {
                if let Some(t) = cx.template(v, &format!("json `{path}`")) {
                    out.push((path, t));
                }
            }
        }
    }
}

impl HttpAction {
    fn get(url: Template) -> HttpAction {
        HttpAction {
            url,
            method: reqwest::Method::GET,
            headers: Vec::new(),
            body: None,
            status: vec![200],
            body_contains: None,
            json: Vec::new(),
            max_latency: None,
        }
    }

    async fn call(&self, run: &StepRun<'_>) -> StepResult {
        let url = run.env.render(&self.url)?;
        let what = format!("{} {url}", self.method);
        let mut req =
            super::remote::client().request(self.method.clone(), &url).timeout(run.step.timeout.unwrap_or(DEFAULT_TIMEOUT));
        for (k, t) in &self.headers {
            req = req.header(k, run.env.render(t)?);
        }
        if let Some(b) = &self.body {
            req = req.body(run.env.render(b)?);
        }
        let started = Instant::now();
        let response = req.send().await.map_err(|e| StepFailure::from(transport_error(&what, &e)))?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(|e| {
            StepFailure::from(AdapterError::remote(
                SYSTEM,
                what.clone(),
                RemoteKind::Transient,
                format!("reading the body failed: {e}"),
            ))
        })?;
        let latency = started.elapsed();
        let mut outputs = std::collections::BTreeMap::new();
        outputs.insert("status".to_string(), status.to_string());
        outputs.insert("latency_ms".to_string(), latency.as_millis().to_string());
        let mut cut = body.len().min(BODY_OUTPUT_LIMIT);
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        outputs.insert("body".to_string(), body[..cut].to_string());
        let mut problems = Vec::new();
        if !self.status.contains(&status) {
            let want: Vec<String> = self.status.iter().map(ToString::to_string).collect();
            problems.push(format!("status {status} (expected {})", want.join(" or ")));
        }
        if let Some(t) = &self.body_contains {
            let needle = run.env.render(t)?;
            if !body.contains(&needle) {
                problems.push(format!("body does not contain {needle:?}"));
            }
        }
        if !self.json.is_empty() {
            match serde_json::from_str::<serde_json::Value>(&body) {
                Err(e) => problems.push(format!("body is not JSON ({e})")),
                Ok(doc) => {
                    for (path, t) in &self.json {
                        let want = run.env.render(t)?;
                        match lookup(&doc, path) {
                            None => problems.push(format!("JSON field `{path}` is missing (expected {want:?})")),
                            Some(got) => {
                                let got = json_text(got);
                                if got != want {
                                    problems.push(format!("JSON field `{path}` is {got:?} (expected {want:?})"));
                                }
                            }
                        }
                    }
                }
            }
        }
        if let Some(max) = self.max_latency
            && latency > max
        {
            problems.push(format!("took {} (limit {})", format_duration(latency), format_duration(max)));
        }
        let summary = format!("HTTP {status} in {}", format_duration(latency));
        if problems.is_empty() {
            Ok(Outcome { outputs, summary: Some(summary) })
        } else {
            Err(StepFailure { error: AdapterError::Check(format!("{what}: {}", problems.join("; "))), outputs })
        }
    }
}

/// A request that got no answer: the kind says whether another attempt can
/// help, the advice stays apart from the message.
fn transport_error(what: &str, e: &reqwest::Error) -> AdapterError {
    let mut cause = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    let (kind, message, help) = if e.is_timeout() {
        (RemoteKind::Transient, format!("no answer in time ({cause})"), "check the service is up, or raise the step's `timeout`")
    } else if e.is_connect() {
        (
            RemoteKind::Unreachable,
            format!("could not connect ({cause})"),
            "check the URL and that the service is running and reachable from here",
        )
    } else {
        (RemoteKind::Transient, cause, "check the URL")
    };
    AdapterError::remote(SYSTEM, what, kind, message).with_help(help)
}

fn lookup<'a>(doc: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(doc, |v, part| match v {
        serde_json::Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => v.get(part),
    })
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Action for HttpAction {
    fn describe(&self) -> String {
        let mut d = format!("{} {}", self.method, self.url.display());
        let want: Vec<String> = self.status.iter().map(ToString::to_string).collect();
        d.push_str(&format!(" → {}", want.join("|")));
        if !self.json.is_empty() {
            let fields: Vec<String> = self.json.iter().map(|(k, v)| format!("{k}={}", v.display())).collect();
            d.push_str(&format!(" json {}", fields.join(",")));
        }
        d
    }

    fn dry_run_safe(&self) -> bool {
        self.method == reqwest::Method::GET || self.method == reqwest::Method::HEAD
    }

    /// The request's own limit (the whole exchange).
    fn default_timeout(&self) -> Option<Duration> {
        Some(DEFAULT_TIMEOUT)
    }

    fn execute<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, StepResult> {
        Box::pin(self.call(run))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_walk_objects_and_arrays() {
        let doc: serde_json::Value = serde_json::json!({"status": "healthy", "checks": [{"ok": true}], "n": 3});
        assert_eq!(lookup(&doc, "status").map(json_text).as_deref(), Some("healthy"));
        assert_eq!(lookup(&doc, "checks.0.ok").map(json_text).as_deref(), Some("true"));
        assert_eq!(lookup(&doc, "n").map(json_text).as_deref(), Some("3"));
        assert!(lookup(&doc, "missing.x").is_none());
    }
}
