//! When a release may start: `windows:` (days and hours, in a time zone)
//! and `freezes:` (date ranges with a reason), as seeds 000 and 004 schedule
//! releases. Parsed with every problem at `file:line:col`; checked against a
//! given instant (the clock is the caller's), daylight-saving changes
//! included: a window's hours are wall-clock hours in its zone.

use jiff::Timestamp;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;

use super::diagnostic::{Diagnostic, Diagnostics};
use super::node::{Node, NodeKind};

#[derive(Debug, Clone)]
pub struct Window {
    pub days: Vec<Weekday>,
    pub from: Time,
    pub to: Time,
    pub zone: String,
    tz: TimeZone,
}

#[derive(Debug, Clone)]
pub struct Freeze {
    pub from: Date,
    /// Inclusive: the whole day.
    pub to: Date,
    pub zone: String,
    pub reason: String,
    tz: TimeZone,
}

#[derive(Debug, Clone, Default)]
pub struct Schedule {
    pub windows: Vec<Window>,
    pub freezes: Vec<Freeze>,
}

/// Why a release may not start now, and when it next may.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub why: String,
    pub next_opening: Option<String>,
}

const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

fn day_name(d: Weekday) -> &'static str {
    DAYS.iter().find(|(_, w)| *w == d).map_or("?", |(n, _)| n)
}

impl Window {
    fn describe(&self) -> String {
        let days: Vec<&str> = self.days.iter().map(|d| day_name(*d)).collect();
        format!("{} {}–{} {}", days.join(","), self.from.strftime("%H:%M"), self.to.strftime("%H:%M"), self.zone)
    }

    fn contains(&self, at: Timestamp) -> bool {
        let local = at.to_zoned_datetime(self.tz.clone());
        let t = local.time();
        self.days.contains(&local.weekday()) && t >= self.from && t < self.to
    }

    /// When the window opens on `date` (its zone's calendar), if it does that day.
    fn opening_on(&self, date: Date) -> Option<Timestamp> {
        if !self.days.contains(&date.weekday()) {
            return None;
        }
        // A start in a daylight-saving gap (02:30 on the spring-forward day)
        // is taken as the first instant after it, as a wall clock would.
        let opening = date.to_datetime(self.from).to_zoned_datetime(self.tz.clone()).ok()?.timestamp();
        // A window whose hours do not exist that day (02:00–03:00 then) does not open.
        self.contains(opening).then_some(opening)
    }
}

impl Freeze {
    fn contains(&self, at: Timestamp) -> bool {
        let day = at.to_zoned_datetime(self.tz.clone()).date();
        day >= self.from && day <= self.to
    }

    /// The first instant after the freeze.
    fn end(&self) -> Option<Timestamp> {
        let next = self.to.tomorrow().ok()?;
        Some(next.to_datetime(Time::midnight()).to_zoned_datetime(self.tz.clone()).ok()?.timestamp())
    }
}

impl Schedule {
    /// `Ok` when a release may start at `at`.
    pub fn check(&self, at: Timestamp) -> Result<(), Closed> {
        let Some(why) = self.closed_why(at) else { return Ok(()) };
        Err(Closed { why, next_opening: self.next_opening(at).map(|t| t.to_string()) })
    }

    fn closed_why(&self, at: Timestamp) -> Option<String> {
        if let Some(f) = self.freezes.iter().find(|f| f.contains(at)) {
            return Some(format!("in the freeze {} to {} ({}): {}", f.from, f.to, f.zone, f.reason));
        }
        if !self.windows.is_empty() && !self.windows.iter().any(|w| w.contains(at)) {
            let list: Vec<String> = self.windows.iter().map(Window::describe).collect();
            return Some(format!("outside the release windows ({})", list.join("; ")));
        }
        None
    }

    /// The first instant within the next 400 days when a release may start.
    fn next_opening(&self, after: Timestamp) -> Option<Timestamp> {
        let mut candidates: Vec<Timestamp> = self.freezes.iter().filter_map(Freeze::end).filter(|t| *t > after).collect();
        if self.windows.is_empty() {
            candidates.sort();
            return candidates.into_iter().find(|t| self.closed_why(*t).is_none());
        }
        for w in &self.windows {
            let Ok(start) = after.to_zoned_datetime(w.tz.clone()).date().yesterday() else { continue };
            let mut day = start;
            for _ in 0..400 {
                if let Some(t) = w.opening_on(day).filter(|t| *t > after) {
                    candidates.push(t);
                }
                let Ok(next) = day.tomorrow() else { break };
                day = next;
            }
        }
        candidates.sort();
        candidates.into_iter().find(|t| self.closed_why(*t).is_none())
    }
}

/// `windows:` and `freezes:` of a runbook root.
pub fn parse(root: &Node, diags: &mut Diagnostics) -> Schedule {
    let mut s = Schedule::default();
    if let Some(list) = root.get("windows") {
        for item in items(list, "windows", diags) {
            if let Some(w) = window(item, diags) {
                s.windows.push(w);
            }
        }
    }
    if let Some(list) = root.get("freezes") {
        for item in items(list, "freezes", diags) {
            if let Some(f) = freeze(item, diags) {
                s.freezes.push(f);
            }
        }
    }
    s
}

fn items<'n>(node: &'n Node, what: &str, diags: &mut Diagnostics) -> &'n [Node] {
    match &node.kind {
        NodeKind::Seq(items) => items,
        _ => {
            diags.push(Diagnostic::new(node.span, format!("`{what}` is a list, found {}", node.type_name())).hint(match what {
                "windows" => {
                    "e.g. `windows: [{ days: [mon, tue, wed, thu], from: \"09:00\", to: \"16:00\", zone: Europe/Berlin }]`"
                }
                _ => "e.g. `freezes: [{ from: 2026-12-20, to: 2027-01-04, reason: year-end freeze }]`",
            }));
            &[]
        }
    }
}

fn keys_only(node: &Node, allowed: &[&str], what: &str, diags: &mut Diagnostics) -> bool {
    let Some(map) = node.as_map() else {
        diags.push(Diagnostic::new(node.span, format!("a {what} is a mapping, found {}", node.type_name())));
        return false;
    };
    for (k, _) in map {
        if !allowed.contains(&k.name.as_str()) {
            diags.push(
                Diagnostic::new(k.span, format!("unknown key `{}` in a {what}", k.name))
                    .hint(format!("a {what} takes {}", allowed.join(", "))),
            );
        }
    }
    true
}

fn zone(node: &Node, diags: &mut Diagnostics) -> Option<(String, TimeZone)> {
    let Some(name) = node.get("zone").map_or(Some("UTC"), Node::as_str) else {
        diags.push(Diagnostic::new(node.span, "`zone` is a time zone name").hint("e.g. `zone: Europe/Berlin`"));
        return None;
    };
    match TimeZone::get(name) {
        Ok(tz) => Some((name.to_string(), tz)),
        Err(_) => {
            let span = node.get("zone").map_or(node.span, |n| n.span);
            diags.push(
                Diagnostic::new(span, format!("unknown time zone `{name}`"))
                    .hint("an IANA name, e.g. `Europe/Berlin`, `America/New_York`, `UTC`"),
            );
            None
        }
    }
}

fn window(node: &Node, diags: &mut Diagnostics) -> Option<Window> {
    if !keys_only(node, &["days", "from", "to", "zone"], "window", diags) {
        return None;
    }
    let mut days = Vec::new();
    match node.get("days").map(|n| &n.kind) {
        None => days = DAYS.iter().map(|(_, d)| *d).collect(),
        Some(NodeKind::Seq(list)) => {
            for d in list {
                match d.as_str().and_then(|s| DAYS.iter().find(|(n, _)| s.eq_ignore_ascii_case(n))) {
                    Some((_, w)) => days.push(*w),
                    None => diags.push(Diagnostic::new(d.span, "not a day").hint("days are mon, tue, wed, thu, fri, sat, sun")),
                }
            }
        }
        Some(_) => diags.push(Diagnostic::new(node.span, "`days` is a list").hint("e.g. `days: [mon, tue, wed, thu]`")),
    }
    let time = |key: &str, diags: &mut Diagnostics| -> Option<Time> {
        let Some(n) = node.get(key) else {
            diags.push(
                Diagnostic::new(node.span, format!("a window needs `{key}`")).hint("e.g. `from: \"09:00\", to: \"16:00\"`"),
            );
            return None;
        };
        let parsed = n.as_str().and_then(|s| Time::strptime("%H:%M", s).ok());
        if parsed.is_none() {
            diags.push(Diagnostic::new(n.span, format!("`{key}` is a time of day, HH:MM")).hint("quote it: `\"09:00\"`"));
        }
        parsed
    };
    let (from, to) = (time("from", diags), time("to", diags));
    let (zone_name, tz) = zone(node, diags)?;
    let (from, to) = (from?, to?);
    if from >= to {
        diags.push(
            Diagnostic::new(node.span, "a window's `from` must be before its `to`")
                .hint("a window across midnight is two windows, e.g. 22:00–23:59 and 00:00–02:00"),
        );
        return None;
    }
    Some(Window { days, from, to, zone: zone_name, tz })
}

fn freeze(node: &Node, diags: &mut Diagnostics) -> Option<Freeze> {
    if !keys_only(node, &["from", "to", "reason", "zone"], "freeze", diags) {
        return None;
    }
    let date = |key: &str, diags: &mut Diagnostics| -> Option<Date> {
        let Some(n) = node.get(key) else {
            diags.push(
                Diagnostic::new(node.span, format!("a freeze needs `{key}`")).hint("e.g. `from: 2026-12-20, to: 2027-01-04`"),
            );
            return None;
        };
        let parsed = n.as_str().and_then(|s| s.parse::<Date>().ok());
        if parsed.is_none() {
            diags.push(Diagnostic::new(n.span, format!("`{key}` is a date, YYYY-MM-DD")));
        }
        parsed
    };
    let (from, to) = (date("from", diags), date("to", diags));
    let reason = match node.get("reason").and_then(Node::as_str) {
        Some(r) if !r.trim().is_empty() => r.to_string(),
        _ => {
            diags.push(Diagnostic::new(node.span, "a freeze needs a `reason`").hint("say why, e.g. `reason: year-end freeze`"));
            String::new()
        }
    };
    let (zone_name, tz) = zone(node, diags)?;
    let (from, to) = (from?, to?);
    if from > to {
        diags.push(Diagnostic::new(node.span, "a freeze's `from` must not be after its `to`"));
        return None;
    }
    Some(Freeze { from, to, zone: zone_name, reason, tz })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(yaml: &str) -> Schedule {
        let root = super::super::node::parse(yaml).unwrap();
        let mut d = Diagnostics::default();
        let s = parse(&root, &mut d);
        assert!(d.is_empty(), "{:?}", d.into_vec());
        s
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_window_in_its_own_zone_and_the_next_opening_when_closed() {
        let s = schedule("windows:\n  - { days: [tue, wed, thu], from: \"09:00\", to: \"16:00\", zone: Europe/Berlin }\n");
        // Tuesday 2026-12-01 10:00 in Berlin is 09:00 UTC.
        assert!(s.check(at("2026-12-01T09:00:00Z")).is_ok());
        let closed = s.check(at("2026-12-01T15:30:00Z")).unwrap_err();
        assert!(closed.why.contains("outside the release windows (tue,wed,thu 09:00–16:00 Europe/Berlin)"), "{closed:?}");
        assert_eq!(closed.next_opening.as_deref(), Some("2026-12-02T08:00:00Z"));
        // Friday evening: next Tuesday.
        let closed = s.check(at("2026-12-04T18:00:00Z")).unwrap_err();
        assert_eq!(closed.next_opening.as_deref(), Some("2026-12-08T08:00:00Z"));
    }

    #[test]
    fn windows_follow_daylight_saving_time() {
        let s = schedule("windows:\n  - { days: [sun], from: \"02:00\", to: \"03:00\", zone: Europe/Berlin }\n");
        // 2027-03-28 (Sunday): 02:00 does not exist in Berlin; the window does
        // not open that day, so the next opening is the Sunday after (CEST, UTC+2).
        let closed = s.check(at("2027-03-27T12:00:00Z")).unwrap_err();
        assert_eq!(closed.next_opening.as_deref(), Some("2027-04-04T00:00:00Z"));
        // 2026-10-25 (Sunday): 02:00–03:00 happens twice; both are inside.
        assert!(s.check(at("2026-10-25T00:30:00Z")).is_ok(), "first 02:30 (CEST)");
        assert!(s.check(at("2026-10-25T01:30:00Z")).is_ok(), "second 02:30 (CET)");
        // And a winter Sunday is 01:00 UTC.
        assert!(s.check(at("2026-11-01T01:00:00Z")).is_ok());
    }

    #[test]
    fn a_freeze_closes_even_an_open_window_until_the_day_after_it() {
        let s = schedule(
            "windows:\n  - { days: [mon, tue, wed, thu, fri], from: \"09:00\", to: \"17:00\", zone: UTC }\nfreezes:\n  - { from: 2026-12-21, to: 2027-01-04, reason: year-end freeze }\n",
        );
        let closed = s.check(at("2026-12-22T10:00:00Z")).unwrap_err();
        assert!(closed.why.contains("in the freeze 2026-12-21 to 2027-01-04 (UTC): year-end freeze"), "{closed:?}");
        assert_eq!(closed.next_opening.as_deref(), Some("2027-01-05T09:00:00Z"));
        assert!(s.check(at("2027-01-05T09:00:00Z")).is_ok());
    }

    #[test]
    fn every_problem_is_reported_where_it_is() {
        let root = super::super::node::parse(
            "windows:\n  - { days: [mon, funday], from: \"9am\", to: \"16:00\", zone: Mars/Olympus }\nfreezes:\n  - { from: 2026-13-01, to: 2026-12-31 }\n",
        )
        .unwrap();
        let mut d = Diagnostics::default();
        parse(&root, &mut d);
        let messages: Vec<String> =
            d.into_vec().into_iter().map(|d| format!("{}:{} {}", d.span.line, d.span.col, d.message)).collect();
        let all = messages.join("\n");
        for want in [
            "not a day",
            "`from` is a time of day",
            "unknown time zone `Mars/Olympus`",
            "`from` is a date",
            "a freeze needs a `reason`",
        ] {
            assert!(all.contains(want), "{want} in:\n{all}");
        }
    }
}
