//! A fake CloudWatch speaking the Query protocol (form-encoded POST, XML
//! answers) that aws-sdk-cloudwatch 1.99 uses, for what moto does not do:
//! DescribeAlarms pages. As the API reference says (DescribeAlarms):
//! `MaxRecords` is 1–100 (default 50) and a longer answer ends with a
//! `NextToken`; `AlarmNames` takes at most 100 names, more is a 400
//! ValidationError; `AlarmNamePrefix` cannot be combined with `AlarmNames`.
//! Here a page holds at most `page_size` alarms (smaller than AWS's, so a
//! handful of alarms spans pages).

use std::sync::{Arc, Mutex};

use super::http_server::{Request, Response, serve};

#[derive(Clone, Debug)]
pub struct Alarm {
    pub name: String,
    pub state: &'static str,
    pub composite: bool,
}

struct State {
    alarms: Vec<Alarm>,
    page_size: usize,
}

pub struct FakeCloudWatch {
    pub port: u16,
    state: Arc<Mutex<State>>,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl FakeCloudWatch {
    pub fn start(alarms: Vec<Alarm>, page_size: usize) -> FakeCloudWatch {
        let state = Arc::new(Mutex::new(State { alarms, page_size }));
        let s = state.clone();
        let (port, requests) = serve(Arc::new(move |r: &Request| handle(&s.lock().unwrap(), r)));
        FakeCloudWatch { port, state, requests }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set_state(&self, name: &str, state: &'static str) {
        for a in self.state.lock().unwrap().alarms.iter_mut().filter(|a| a.name == name) {
            a.state = state;
        }
    }

    /// The DescribeAlarms requests, as decoded forms.
    pub fn calls(&self) -> Vec<Vec<(String, String)>> {
        self.requests.lock().unwrap().iter().map(|r| form(&r.body)).collect()
    }
}

fn decode(s: &str) -> String {
    super::http_server::percent_decode(&s.replace('+', " "))
}

pub fn form(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn error(code: &str, message: &str) -> Response {
    Response::new(400).header("Content-Type", "text/xml").body(format!(
        "<ErrorResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>fake</RequestId></ErrorResponse>"
    ))
}

fn member(a: &Alarm) -> String {
    format!(
        "<member><AlarmName>{}</AlarmName><AlarmArn>arn:aws:cloudwatch:us-east-1:123456789012:alarm:{}</AlarmArn><StateValue>{}</StateValue><StateReason>{}</StateReason></member>",
        a.name,
        a.name,
        a.state,
        if a.state == "ALARM" { "Threshold Crossed" } else { "ok" }
    )
}

fn handle(s: &State, r: &Request) -> Response {
    let f = form(&r.body);
    let get = |k: &str| f.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let all = |prefix: &str| f.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, v)| v.clone()).collect::<Vec<_>>();
    if get("Action").as_deref() != Some("DescribeAlarms") {
        return error("InvalidAction", "only DescribeAlarms here");
    }
    let names = all("AlarmNames.member.");
    let prefix = get("AlarmNamePrefix");
    if names.len() > 100 {
        return error(
            "ValidationError",
            "1 validation error detected: Value at 'alarmNames' failed to satisfy constraint: Member must have length less than or equal to 100",
        );
    }
    if !names.is_empty() && prefix.is_some() {
        return error("InvalidParameterCombination", "AlarmNamePrefix and AlarmNames cannot be given together");
    }
    let max = get("MaxRecords").and_then(|m| m.parse::<usize>().ok()).unwrap_or(50);
    if !(1..=100).contains(&max) {
        return error("ValidationError", "MaxRecords must be between 1 and 100");
    }
    let types = all("AlarmTypes.member.");
    let wants = |a: &Alarm| {
        let kind = if a.composite { "CompositeAlarm" } else { "MetricAlarm" };
        let of_type = if types.is_empty() { kind == "MetricAlarm" } else { types.iter().any(|t| t == kind) };
        let by_name = match &prefix {
            Some(p) => a.name.starts_with(p.as_str()),
            None => names.is_empty() || names.contains(&a.name),
        };
        of_type && by_name
    };
    let matching: Vec<&Alarm> = s.alarms.iter().filter(|a| wants(a)).collect();
    let start: usize = get("NextToken").and_then(|t| t.strip_prefix("page-").and_then(|n| n.parse().ok())).unwrap_or(0);
    let size = max.min(s.page_size);
    let page: Vec<&Alarm> = matching.iter().skip(start).take(size).copied().collect();
    let next = (start + size < matching.len()).then(|| format!("<NextToken>page-{}</NextToken>", start + size));
    let metric: String = page.iter().filter(|a| !a.composite).map(|a| member(a)).collect();
    let composite: String = page.iter().filter(|a| a.composite).map(|a| member(a)).collect();
    Response::new(200).header("Content-Type", "text/xml").body(format!(
        "<DescribeAlarmsResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\"><DescribeAlarmsResult><MetricAlarms>{metric}</MetricAlarms><CompositeAlarms>{composite}</CompositeAlarms>{}</DescribeAlarmsResult><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></DescribeAlarmsResponse>",
        next.unwrap_or_default()
    ))
}
