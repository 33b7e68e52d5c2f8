//! The fake Jenkins' URL map. Each behaviour cites where the real one comes
//! from (jenkinsci/jenkins core unless said otherwise).

use serde_json::json;

use super::super::http_server::{DROP_AFTER, Request, Response};
use super::{Build, CRUMB, State, TOKEN, USER, basic, enqueue, split_job};

/// The name Jenkins' winstone gives its session cookie: `JSESSIONID.` and 8
/// random hex characters, new at each start (war/.../executable/Main.java).
const SESSION_COOKIE: &str = "JSESSIONID.5eed1e55";

fn html(status: u16, text: &str) -> Response {
    Response::new(status)
        .header("Content-Type", "text/html;charset=utf-8")
        .body(format!("<html><body><h2>{text}</h2></body></html>"))
}

fn not_found() -> Response {
    html(404, "Not Found")
}

fn session_of(r: &Request) -> Option<String> {
    let cookies = r.header("cookie")?;
    cookies.split(';').map(str::trim).find_map(|c| c.strip_prefix(&format!("{SESSION_COOKIE}=")).map(str::to_string))
}

/// Authentication, then CSRF, the way Jenkins' filters run before any route.
fn refuse(s: &mut State, r: &Request) -> Option<Response> {
    match r.header("authorization") {
        // HudsonAuthenticationEntryPoint: anonymous without Overall/Read → 403.
        None => {
            return Some(
                html(403, "Authentication required")
                    .header("X-You-Are-Authenticated-As", "anonymous")
                    .header("X-Required-Permission", "hudson.model.Hudson.Read"),
            );
        }
        // BasicHeaderProcessor: "Invalid password/token for user" → Spring's
        // BasicAuthenticationEntryPoint: 401 with a Basic challenge.
        Some(h) if h != basic(USER, TOKEN) => {
            return Some(html(401, "Unauthorized").header("WWW-Authenticate", "Basic realm=\"Jenkins\""));
        }
        Some(_) => {}
    }
    // CrumbFilter checks POSTs only; DefaultCrumbIssuer binds the crumb to
    // the session (SECURITY-626, 2.176.2): a crumb from another session fails.
    if r.method == "POST" && s.crumbs {
        let valid = r.header("jenkins-crumb") == Some(CRUMB) && session_of(r).is_some() && session_of(r) == s.session;
        if !valid {
            return Some(html(403, "No valid crumb was included in the request"));
        }
    }
    None
}

#[expect(clippy::too_many_lines, reason = "one route table, read top to bottom like Jenkins' own URL map")]
pub(super) fn handle(s: &mut State, r: &Request) -> Response {
    let trigger = r.method == "POST" && super::is_trigger(r.route());
    if s.unavailable > 0 || (trigger && s.unavailable_triggers > 0) {
        if trigger && s.unavailable_triggers > 0 {
            s.unavailable_triggers -= 1;
        } else {
            s.unavailable -= 1;
        }
        return html(503, "Please wait while Jenkins is restarting ...").header("Retry-After", "0");
    }
    if let Some(refused) = refuse(s, r) {
        return refused;
    }
    let base = format!("http://127.0.0.1:{}", s.port);
    let route = r.route().to_string();
    if route == "/crumbIssuer/api/json" && r.method == "GET" {
        if !s.crumbs {
            return not_found();
        }
        // A new session unless the request carries one (SECURITY-1491: the
        // issuer always creates a session).
        let session = session_of(r).unwrap_or_else(|| format!("node0{}", s.queue.len() + 17));
        s.session = Some(session.clone());
        return Response::json(
            200,
            &json!({"_class": "hudson.security.csrf.DefaultCrumbIssuer", "crumb": CRUMB, "crumbRequestField": "Jenkins-Crumb"}),
        )
        .header("Set-Cookie", format!("{SESSION_COOKIE}={session}; Path=/; HttpOnly"));
    }
    if route == "/queue/cancelItem" && r.method == "POST" {
        // Queue.doCancelItem: getItem(id) also finds left items (for 5
        // minutes); LeftItem.leave() cannot cancel, so those get 500.
        let id: u64 = r.query("id").and_then(|v| v.parse().ok()).unwrap_or(0);
        if s.start_before_cancel && s.queue.get(&id).is_some_and(|q| q.build.is_none()) {
            start_build(s, id);
        }
        return match s.queue.get_mut(&id) {
            Some(item) if item.forgotten => html(404, &format!("Provided id ({id}) not found")),
            Some(item) if item.build.is_none() && !item.cancelled => {
                item.cancelled = true;
                Response::new(204)
            }
            Some(_) => html(500, &format!("Could not cancel run for id {id}")),
            None => html(404, &format!("Provided id ({id}) not found")),
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
        ("GET", ["api", "json"]) => {
            // Job.getAllProperties is exported inline as `property`;
            // ParametersDefinitionProperty.getParameterDefinitions; Run.getQueueId.
            let mut property = vec![json!({"_class": "com.sonyericsson.rebuild.RebuildSettings"})];
            if !script.params.is_empty() {
                let defs: Vec<_> = script
                    .params
                    .iter()
                    .map(|n| json!({"_class": "hudson.model.StringParameterDefinition", "name": n, "type": "StringParameterDefinition"}))
                    .collect();
                property.push(json!({"_class": "hudson.model.ParametersDefinitionProperty", "parameterDefinitions": defs}));
            }
            let mut builds: Vec<_> = s.builds.iter().filter(|((j, _), _)| *j == job).collect();
            builds.sort_by_key(|((_, n), _)| std::cmp::Reverse(*n));
            let builds: Vec<_> = builds
                .into_iter()
                .map(|((_, n), b)| json!({"number": n, "url": format!("{base}{}/{n}/", job_route(&job)), "queueId": b.queue_id}))
                .collect();
            Response::json(
                200,
                &json!({"_class": "hudson.model.FreeStyleProject", "name": job, "property": property, "builds": builds}),
            )
        }
        ("POST", [endpoint @ ("build" | "buildWithParameters")]) => {
            // ParameterizedJobMixIn: not buildable → 409.
            if script.disabled {
                return html(409, &format!("{job} is not buildable"));
            }
            let parameterized = !script.params.is_empty();
            if *endpoint == "build" && parameterized {
                // doBuild → ParametersDefinitionProperty._doBuild →
                // getSubmittedForm (stapler RequestImpl) without a `json` field.
                return html(400, if r.body.is_empty() { "Nothing is submitted" } else { "This page expects a form submission" });
            }
            if *endpoint == "buildWithParameters" && !parameterized {
                return html(400, &format!("{job} is not parameterized"));
            }
            // buildWithParameters reads only the job's own definitions:
            // unknown names are ignored, missing ones take their defaults.
            let params: String = r
                .body
                .split('&')
                .filter(|kv| script.params.iter().any(|p| kv.split('=').next() == Some(p.as_str())))
                .collect::<Vec<_>>()
                .join("&");
            let waiting = s
                .queue
                .iter()
                .find(|(_, q)| q.job == job && q.params == params && q.build.is_none() && !q.cancelled)
                .map(|(id, _)| *id);
            match waiting {
                // An identical item is already waiting: not queued twice (303).
                Some(id) => Response::new(303).header("Location", format!("{base}/queue/item/{id}/")),
                None => {
                    let id = enqueue(s, &job, &params);
                    Response::new(201).header("Location", format!("{base}/queue/item/{id}/"))
                }
            }
        }
        ("GET", [n, "api", "json"]) => {
            let Ok(n) = n.parse::<u64>() else { return not_found() };
            let hold = s.hold;
            let Some(b) = s.builds.get_mut(&(job.clone(), n)) else { return not_found() };
            // A stop that took shows after a look or two: it was asynchronous.
            if let Some(left) = b.aborting {
                if left == 0 {
                    abort(b);
                } else {
                    b.aborting = Some(left - 1);
                }
            }
            let done = finished(b, hold);
            Response::json(
                200,
                &json!({
                    "_class": if b.pipeline { "org.jenkinsci.plugins.workflow.job.WorkflowRun" } else { "hudson.model.FreeStyleBuild" },
                    "number": n,
                    "url": format!("{base}{}/{n}/", job_route(&job)),
                    "building": !done,
                    "result": if done { b.result.clone() } else { None },
                    "duration": if done { 61_234 } else { 0 },
                    "queueId": b.queue_id,
                }),
            )
        }
        ("GET", [n, "logText", "progressiveText"]) => {
            let Ok(n) = n.parse::<u64>() else { return not_found() };
            let hold = s.hold;
            let Some(b) = s.builds.get_mut(&(job.clone(), n)) else { return not_found() };
            b.revealed = (b.revealed + b.piece).min(b.console.len());
            // stapler LargeText.doProgressTextImpl: a start past the end
            // restarts at 0 ("text rolled over"); X-Text-Size is the file's
            // length; LineEndNormalizingWriter sends LF as CRLF.
            let mut start = r.query("start").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
            if start > b.revealed {
                start = 0;
            }
            let mut response = Response::new(200)
                .header("Content-Type", "text/plain;charset=UTF-8")
                .header("X-Text-Size", b.revealed.to_string())
                .body(crlf(&b.console[start..b.revealed]));
            if !finished(b, hold) {
                response = response.header("X-More-Data", "true");
            }
            s.console_answers += 1;
            let periodic = s.drop_every > 0 && s.console_answers.is_multiple_of(s.drop_every);
            if (s.drops > 0 || periodic) && response.body.len() > 1 {
                s.drops = s.drops.saturating_sub(1);
                let half = response.body.len() / 2;
                response = response.header(DROP_AFTER, half.to_string());
            }
            response
        }
        ("POST", [n, what @ ("stop" | "term" | "kill")]) => {
            let Ok(n) = n.parse::<u64>() else { return not_found() };
            let hold = s.hold;
            let Some(b) = s.builds.get_mut(&(job.clone(), n)) else { return not_found() };
            // Freestyle builds have only doStop (AbstractBuild); doTerm and
            // doKill are WorkflowRun's.
            if *what != "stop" && !b.pipeline {
                return not_found();
            }
            if !finished(b, hold) && b.aborting.is_none() {
                let level = match *what {
                    "stop" => 0,
                    "term" => 1,
                    _ => 2,
                };
                if b.resists <= level {
                    if *what == "kill" {
                        // doKill finishes the build at once, ABORTED.
                        abort(b);
                    } else {
                        // Executor.interrupt / a timer thread: it ends a little later.
                        b.aborting = Some(1);
                    }
                }
            }
            // forwardToPreviousPage: a redirect, before anything has stopped.
            Response::new(302).header("Location", format!("{base}{}/{n}/", job_route(&job)))
        }
        _ => not_found(),
    }
}

fn abort(b: &mut Build) {
    b.aborting = None;
    b.console.extend_from_slice(format!("Aborted by {USER}\nFinished: ABORTED\n").as_bytes());
    b.revealed = b.console.len();
    b.result = Some("ABORTED".into());
}

/// Each LF not already after a CR becomes CRLF.
fn crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32);
    let mut prev = 0u8;
    for &b in bytes {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

fn job_route(job: &str) -> String {
    job.split('/').map(|s| format!("/job/{s}")).collect()
}

pub(super) fn finished(b: &Build, hold: bool) -> bool {
    let aborted = b.result.as_deref() == Some("ABORTED") && b.revealed == b.console.len();
    aborted || (b.result.is_some() && b.revealed == b.console.len() && !hold)
}

/// The item leaves the queue: its build starts.
pub(super) fn start_build(s: &mut State, id: u64) {
    let Some(item) = s.queue.get_mut(&id) else { return };
    let script = s.jobs.get(&item.job).cloned().expect("queued job exists");
    let job = item.job.clone();
    let number = s.next_build.get(&job).copied().unwrap_or(1);
    s.next_build.insert(job.clone(), number + 1);
    item.build = Some(number);
    let result = script.result.map(str::to_string);
    s.builds.insert(
        (job, number),
        Build {
            console: script.console.clone(),
            piece: script.piece.max(1),
            revealed: 0,
            result,
            queue_id: id,
            pipeline: script.pipeline,
            resists: script.resists,
            aborting: None,
        },
    );
}

fn queue_item(s: &mut State, id: u64, base: &str) -> Response {
    // Queue.leftItems expires 5 minutes after an item left: then 404.
    let Some(item) = s.queue.get_mut(&id).filter(|i| !i.forgotten) else { return not_found() };
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
        start_build(s, id);
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
