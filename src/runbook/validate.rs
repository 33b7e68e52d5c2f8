//! Node tree → [`Runbook`], collecting every problem with its position.
//!
//! Checks: the top-level shape, unknown keys (with `did you mean`), wrong
//! types, bad durations, duplicate step ids, unknown or ambiguous step kinds,
//! and every `${{ }}` reference against the vars and step ids it names.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use super::constructs;
use super::diagnostic::{Diagnostic, Diagnostics, Span, suggest};
use super::duration::MAX_DURATION;
use super::expr::{Reference, Template};
use super::model::{Runbook, VarDef};
use super::node::{Node, NodeKind};
use crate::step::{Integration, ParseContext, PhaseName, Registry, Retry, Step, StepBody, StepKind, StepSpec, duration_setting};

pub const TOP_KEYS: &[&str] = &[
    "version",
    "name",
    "description",
    "vars",
    "people",
    "approvers",
    "integrations",
    "windows",
    "freezes",
    "state",
    "lock_after_rollback",
    "checklist",
    "execute",
    "validate",
    "rollback",
    "finalize",
];
pub const COMMON_KEYS: &[&str] = &["id", "name", "timeout", "retry", "when", "continue_on_failure", "idempotent"];

struct Validator<'r> {
    registry: &'r Registry,
    diagnostics: Diagnostics,
    groups: BTreeMap<String, Vec<String>>,
    /// Each reference with the position of the step it is in.
    references: Vec<(Reference, Span, Vec<usize>)>,
    ids: HashMap<String, Span>,
    id_positions: HashMap<String, Vec<usize>>,
    /// Where the step being validated runs: phase, then indexes (nested for `parallel`).
    position: Vec<usize>,
    integrations: BTreeMap<String, Arc<dyn Integration>>,
    /// The names under `people:` and their Slack ids, when the runbook has it.
    people: Option<BTreeMap<String, Option<String>>>,
}

pub fn validate(root: &Node, path: &Path, source: &str, registry: &Registry) -> Result<Runbook, Vec<Diagnostic>> {
    let mut v = Validator {
        registry,
        diagnostics: Diagnostics::default(),
        groups: BTreeMap::new(),
        references: Vec::new(),
        ids: HashMap::new(),
        id_positions: HashMap::new(),
        position: Vec::new(),
        integrations: BTreeMap::new(),
        people: None,
    };
    let Some(map) = root.as_map() else {
        return Err(vec![
            Diagnostic::new(root.span, format!("a runbook is a mapping, found {}", root.type_name()))
                .hint("start with `version: 1` and `name: ...`"),
        ]);
    };
    for (k, _) in map {
        if !TOP_KEYS.contains(&k.name.as_str()) {
            let hint = suggest(&k.name, TOP_KEYS.iter().copied())
                .unwrap_or_else(|| format!("top-level keys are {}", TOP_KEYS.join(", ")));
            v.diagnostics.push(Diagnostic::new(k.span, format!("unknown key `{}`", k.name)).hint(hint));
        }
    }
    match root.get("version") {
        None => v.diagnostics.push(Diagnostic::new(Span::new(1, 1, 1), "missing `version`").hint("add `version: 1`")),
        Some(n) if n.kind == NodeKind::Int(1) => {}
        Some(n) => {
            v.diagnostics.push(Diagnostic::new(n.span, "unsupported runbook version").hint("this relctl reads `version: 1`"));
        }
    }
    let name = match root.get("name") {
        None => {
            v.diagnostics.push(Diagnostic::new(Span::new(1, 1, 1), "missing `name`").hint("add `name: my-service-release`"));
            String::new()
        }
        Some(n) => match n.as_str() {
            Some(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') => s.to_string(),
            _ => {
                v.diagnostics.push(
                    Diagnostic::new(n.span, "`name` must be letters, digits, `-` or `_`")
                        .hint("it names the lock and the run directory, e.g. `checkout-release`"),
                );
                String::new()
            }
        },
    };
    let description = root.get("description").and_then(|n| v.string(n, "`description`"));
    let vars = root.get("vars").map(|n| v.vars(n)).unwrap_or_default();
    let people = root.get("people").map(|n| super::people::parse(n, &mut v.diagnostics));
    v.people = people.as_ref().map(|p| p.iter().map(|(k, v)| (k.clone(), v.slack.clone())).collect());
    let people = people.unwrap_or_default();
    if let Some(n) = root.get("approvers") {
        v.groups = v.approver_groups(n);
    }
    if let Some(n) = root.get("integrations") {
        v.integrations(n);
    }
    let schedule = super::schedule::parse(root, &mut v.diagnostics);
    let (state, lock_after_rollback) = v.shared_state(root);
    let mut phases = BTreeMap::new();
    for phase in PhaseName::ALL {
        if let Some(n) = root.get(phase.as_str()) {
            v.position = vec![phase as usize];
            let steps = v.steps(n, phase);
            phases.insert(phase, steps);
        }
    }
    let mut secrets: Vec<String> = v
        .references
        .iter()
        .filter_map(|(r, _, _)| match r {
            Reference::Secret(name) => Some(name.clone()),
            _ => None,
        })
        .collect();
    secrets.sort();
    secrets.dedup();
    v.position.clear();
    v.check_references(&vars);
    super::rollback_targets::check(&phases, &mut v.diagnostics);
    if v.diagnostics.is_empty() {
        Ok(Runbook {
            name,
            description,
            path: path.to_path_buf(),
            source: source.to_string(),
            vars,
            approvers: v.groups,
            people,
            phases,
            secrets,
            integrations: v.integrations,
            schedule,
            state,
            lock_after_rollback,
        })
    } else {
        Err(v.diagnostics.into_vec())
    }
}

impl Validator<'_> {
    /// `state:` (a shared location) and `lock_after_rollback:`.
    fn shared_state(&mut self, root: &Node) -> (Option<crate::state::Location>, bool) {
        let state = root.get("state").and_then(|n| match n.as_str().map(crate::state::Location::parse) {
            Some(Ok(l)) => Some(l),
            Some(Err(e)) => {
                self.diagnostics
                    .push(Diagnostic::new(n.span, e).hint("the shared state: `state: s3://acme-release-state/checkout`"));
                None
            }
            None => {
                self.diagnostics.error(n.span, format!("`state` must be a string, found {}", n.type_name()));
                None
            }
        });
        let lock_after_rollback = root.get("lock_after_rollback").is_some_and(|n| self.bool(n, "`lock_after_rollback`"));
        (state, lock_after_rollback)
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Str(s) => Some(s.clone()),
            _ => {
                self.diagnostics.error(node.span, format!("{what} must be a string, found {}", node.type_name()));
                None
            }
        }
    }

    fn bool(&mut self, node: &Node, what: &str) -> bool {
        match node.kind {
            NodeKind::Bool(b) => b,
            _ => {
                self.diagnostics.push(
                    Diagnostic::new(node.span, format!("{what} must be true or false, found {}", node.type_name()))
                        .hint("write `true` or `false`"),
                );
                false
            }
        }
    }

    fn vars(&mut self, node: &Node) -> Vec<VarDef> {
        let Some(map) = node.as_map() else {
            self.diagnostics
                .error(node.span, format!("`vars` must be a mapping of names to defaults, found {}", node.type_name()));
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in map {
            let mut def = VarDef { name: key.name.clone(), default: None, required: false, description: None };
            match &value.kind {
                NodeKind::Map(entries) => {
                    for (k, n) in entries {
                        match k.name.as_str() {
                            "default" if matches!(n.kind, NodeKind::Seq(_) | NodeKind::Map(_)) => {
                                self.diagnostics.error(
                                    n.span,
                                    format!("the default of var `{}` must be a single value, found {}", key.name, n.type_name()),
                                );
                            }
                            "default" => def.default = n.scalar_text(),
                            "required" => def.required = self.bool(n, "`required`"),
                            "description" => def.description = self.string(n, "`description`"),
                            other => {
                                let hint = suggest(other, ["default", "required", "description"])
                                    .unwrap_or_else(|| "a var takes default, required, description".into());
                                self.diagnostics.push(
                                    Diagnostic::new(k.span, format!("unknown key `{other}` in var `{}`", key.name)).hint(hint),
                                );
                            }
                        }
                    }
                }
                NodeKind::Seq(_) => {
                    self.diagnostics.error(value.span, format!("var `{}` must be a scalar or a mapping, found a list", key.name));
                }
                NodeKind::Null => {}
                _ => def.default = value.scalar_text(),
            }
            out.push(def);
        }
        out
    }

    fn integrations(&mut self, node: &Node) {
        let Some(map) = node.as_map() else {
            self.diagnostics.push(
                Diagnostic::new(node.span, format!("`integrations` must be a mapping, found {}", node.type_name()))
                    .hint("e.g. `integrations: { jenkins: { url: ... } }`"),
            );
            return;
        };
        for (key, value) in map {
            match self.registry.integration(&key.name) {
                Some(kind) => {
                    if let Some(i) = kind.parse(value, self) {
                        self.integrations.insert(key.name.clone(), i);
                    }
                }
                None => {
                    let names: Vec<&str> = self.registry.integration_names().collect();
                    let hint = suggest(&key.name, names.iter().copied())
                        .unwrap_or_else(|| format!("known integrations: {}", names.join(", ")));
                    self.diagnostics.push(Diagnostic::new(key.span, format!("unknown integration `{}`", key.name)).hint(hint));
                }
            }
        }
    }

    fn approver_groups(&mut self, node: &Node) -> BTreeMap<String, Vec<String>> {
        let mut groups = BTreeMap::new();
        let Some(map) = node.as_map() else {
            self.diagnostics.push(
                Diagnostic::new(node.span, "`approvers` must map group names to lists of people")
                    .hint("e.g. `release_managers: [alice, bob]`"),
            );
            return groups;
        };
        for (key, value) in map {
            if let Some(names) = self.name_list(value) {
                groups.insert(key.name.clone(), names);
            }
        }
        groups
    }

    fn name_list(&mut self, node: &Node) -> Option<Vec<String>> {
        match &node.kind {
            NodeKind::Seq(items) => {
                let mut names = Vec::new();
                for item in items {
                    match item.scalar_text() {
                        // With `people:`, a name must be one of them: a typo would be an approver nobody is.
                        Some(s) if self.people.as_ref().is_some_and(|p| !p.contains_key(&s)) => {
                            let known: Vec<String> = self.people.iter().flat_map(BTreeMap::keys).cloned().collect();
                            let hint = suggest(&s, known.iter().map(String::as_str))
                                .unwrap_or_else(|| format!("add them under `people:` ({})", known.join(", ")));
                            self.diagnostics.push(Diagnostic::new(item.span, format!("`{s}` is not in `people`")).hint(hint));
                        }
                        Some(s) => names.push(s),
                        None => self.diagnostics.error(item.span, format!("expected a name, found {}", item.type_name())),
                    }
                }
                Some(names)
            }
            _ => {
                self.diagnostics.error(node.span, format!("expected a list of names, found {}", node.type_name()));
                None
            }
        }
    }

    fn step(&mut self, node: &Node, phase: PhaseName) -> Option<Step> {
        let Some(map) = node.as_map() else {
            self.diagnostics.push(
                Diagnostic::new(node.span, format!("a step must be a mapping, found {}", node.type_name()))
                    .hint("e.g. `- run: ./deploy.sh`"),
            );
            return None;
        };
        let id = node.get("id").and_then(|n| {
            let s =
                n.scalar_text().filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
            if s.is_none() {
                self.diagnostics
                    .push(Diagnostic::new(n.span, "a step id is letters, digits, `-` or `_`").hint("e.g. `id: deploy-backend`"));
            }
            s
        });
        if let (Some(id), Some(n)) = (&id, node.get("id")) {
            if let Some(first) = self.ids.get(id) {
                self.diagnostics.push(
                    Diagnostic::new(n.span, format!("duplicate step id `{id}`"))
                        .hint(format!("already used on line {}; ids must be unique in a runbook", first.line)),
                );
            } else {
                self.ids.insert(id.clone(), n.span);
                self.id_positions.insert(id.clone(), self.position.clone());
            }
        }
        let name = node.get("name").and_then(|n| self.string(n, "`name`"));
        let timeout = duration_setting(node.get("timeout"), self);
        let retry = node.get("retry").map_or_else(Retry::once, |n| self.retry(n));
        let when = node.get("when").and_then(|n| self.template(n, "`when`"));
        let continue_on_failure = node.get("continue_on_failure").is_some_and(|n| self.bool(n, "`continue_on_failure`"));
        let idempotent = node.get("idempotent").is_some_and(|n| self.bool(n, "`idempotent`"));
        let is_kind = |name: &str| constructs::find(name).is_some() || self.registry.get(name).is_some();
        let kinds: Vec<_> = map.iter().filter(|(k, _)| is_kind(&k.name)).collect();
        let kind_names: Vec<&str> = constructs::CONSTRUCTS.iter().map(|(n, _)| *n).chain(self.registry.names()).collect();
        if kinds.len() > 1 {
            let names: Vec<_> = kinds.iter().map(|(k, _)| format!("`{}`", k.name)).collect();
            self.diagnostics.push(
                Diagnostic::new(kinds[1].0.span, format!("a step has one kind, this one has {}", names.join(" and ")))
                    .hint("split it into separate steps"),
            );
            return None;
        }
        let Some((kind_key, kind_value)) = kinds.first().copied() else {
            let unknown: Vec<_> = map.iter().filter(|(k, _)| !COMMON_KEYS.contains(&k.name.as_str())).collect();
            if let Some((k, _)) = unknown.first() {
                let hint = suggest(&k.name, kind_names.iter().copied())
                    .unwrap_or_else(|| format!("step kinds are {}", kind_names.join(", ")));
                self.diagnostics.push(Diagnostic::new(k.span, format!("unknown step kind `{}`", k.name)).hint(hint));
            } else {
                self.diagnostics.push(
                    Diagnostic::new(map.first().map_or(node.span, |(k, _)| k.span), "step has no kind")
                        .hint(format!("add one of {}", kind_names.join(", "))),
                );
            }
            return None;
        };
        let adapter: Option<&'static dyn StepKind> = self.registry.get(&kind_key.name);
        let (kind_name, sibling_keys) = match constructs::find(&kind_key.name) {
            Some(c) => c,
            None => {
                let k = adapter?;
                (k.name(), k.sibling_keys())
            }
        };
        for (k, _) in map {
            let name = k.name.as_str();
            if name != kind_key.name && !COMMON_KEYS.contains(&name) && !sibling_keys.contains(&name) {
                let known: Vec<&str> = COMMON_KEYS.iter().chain(sibling_keys).copied().collect();
                let hint = suggest(name, known.iter().copied())
                    .unwrap_or_else(|| format!("a `{kind_name}` step takes {}", known.join(", ")));
                self.diagnostics
                    .push(Diagnostic::new(k.span, format!("unknown key `{name}` in a `{kind_name}` step")).hint(hint));
            }
        }
        let spec = StepSpec { key: kind_key, value: kind_value, step: node, phase };
        let body = match adapter {
            Some(k) if constructs::find(kind_name).is_none() => StepBody::Action(k.parse(&spec, self)?),
            _ => constructs::parse(kind_name, &spec, self)?,
        };
        // A decision that can be skipped or ignored is no decision: no-go and
        // refusals must always count.
        let question = match &body {
            StepBody::Gate(_) => Some("a `gate`"),
            StepBody::Confirm(_) => Some("a `confirm`"),
            _ => None,
        };
        for (key, forbidden) in [("when", body.is_gate()), ("continue_on_failure", question.is_some())] {
            if let (true, Some(what), Some((k, _))) = (forbidden, question, map.iter().find(|(k, _)| k.name == key)) {
                self.diagnostics.push(
                    Diagnostic::new(k.span, format!("{what} cannot have `{key}`"))
                        .hint("a no-go or a refusal must always count; use `when` on a confirm to ask it only sometimes"),
                );
            }
        }
        Some(Step { id, name, kind: kind_name, body, timeout, retry, when, continue_on_failure, idempotent, span: kind_key.span })
    }

    fn retry(&mut self, node: &Node) -> Retry {
        let mut retry = Retry { attempts: 1, delay: std::time::Duration::from_secs(1), backoff: 1.0 };
        let Some(map) = node.as_map() else {
            self.diagnostics.push(
                Diagnostic::new(node.span, format!("`retry` must be a mapping, found {}", node.type_name()))
                    .hint("e.g. `retry: { attempts: 3, delay: 5s }`"),
            );
            return retry;
        };
        for (k, n) in map {
            match k.name.as_str() {
                "attempts" => match n.kind {
                    NodeKind::Int(i) if (1..=100).contains(&i) => retry.attempts = i as u32,
                    _ => self.diagnostics.push(
                        Diagnostic::new(n.span, "`attempts` must be a whole number from 1 to 100")
                            .hint("it counts every try, the first included"),
                    ),
                },
                "delay" => retry.delay = duration_setting(Some(n), self).unwrap_or(retry.delay),
                "backoff" => match n.kind {
                    NodeKind::Int(i) if (1..=10).contains(&i) => retry.backoff = i as f64,
                    NodeKind::Float(f) if (1.0..=10.0).contains(&f) => retry.backoff = f,
                    _ => self.diagnostics.push(
                        Diagnostic::new(n.span, "`backoff` must be a number from 1 to 10 (the delay's multiplier)")
                            .hint("2 doubles the pause after each try"),
                    ),
                },
                other => {
                    let hint = suggest(other, ["attempts", "delay", "backoff"])
                        .unwrap_or_else(|| "retry takes attempts, delay, backoff".into());
                    self.diagnostics.push(Diagnostic::new(k.span, format!("unknown key `{other}` in `retry`")).hint(hint));
                }
            }
        }
        // The longest pause must fit in a week, like any duration a runbook writes.
        let longest = retry.delay.as_secs_f64() * retry.backoff.powi(retry.attempts.saturating_sub(2) as i32);
        if longest > MAX_DURATION.as_secs_f64() {
            self.diagnostics.push(
                Diagnostic::new(node.span, "the last retry would wait longer than a week (168h)")
                    .hint("lower `delay`, `backoff` or `attempts`"),
            );
            retry.backoff = 1.0;
        }
        retry
    }

    fn check_references(&mut self, vars: &[VarDef]) {
        let references = std::mem::take(&mut self.references);
        for (reference, span, at) in references {
            match &reference {
                Reference::Var(name) if !vars.iter().any(|v| &v.name == name) => {
                    let hint = suggest(name, vars.iter().map(|v| v.name.as_str()))
                        .unwrap_or_else(|| format!("declare it under `vars:` or pass --var {name}=VALUE"));
                    self.diagnostics.push(Diagnostic::new(span, format!("unknown var `{name}`")).hint(hint));
                }
                Reference::StepOutput { step, .. } if !self.ids.contains_key(step) => {
                    let hint = suggest(step, self.ids.keys().map(String::as_str))
                        .unwrap_or_else(|| "give the step an `id:` to refer to its outputs".into());
                    self.diagnostics.push(Diagnostic::new(span, format!("unknown step id `{step}`")).hint(hint));
                }
                Reference::StepOutput { .. } if at.is_empty() => {
                    self.diagnostics.push(
                        Diagnostic::new(span, "integration settings cannot use step outputs")
                            .hint("use vars, env or secrets here"),
                    );
                }
                Reference::StepOutput { step, .. } => {
                    if let Some(problem) = order_problem(&self.id_positions[step], &at) {
                        self.diagnostics.push(
                            Diagnostic::new(span, format!("step `{step}` {problem}, so its outputs are not there yet"))
                                .hint("refer only to steps that finish before this one"),
                        );
                    }
                }
                _ => {}
            }
        }
    }
}

/// Why a step at `def` cannot have produced outputs for a step at `user`
/// (positions are phase, then indexes), or `None` when it has.
fn order_problem(def: &[usize], user: &[usize]) -> Option<&'static str> {
    let phase = |p: &[usize]| PhaseName::ALL[p[0]];
    if user.starts_with(def) {
        return Some(if def.len() == user.len() { "is this step" } else { "contains this step" });
    }
    if phase(def) == PhaseName::Rollback && phase(user) == PhaseName::Finalize {
        return Some("is a rollback step, which never runs before finalize");
    }
    let common = def.iter().zip(user).take_while(|(a, b)| a == b).count();
    if common >= 2 {
        return Some("runs at the same time as this one (same `parallel` block)");
    }
    (def[common] > user[common]).then_some("runs after this one")
}

impl ParseContext for Validator<'_> {
    fn diagnostics(&mut self) -> &mut Diagnostics {
        &mut self.diagnostics
    }

    fn template(&mut self, node: &Node, what: &str) -> Option<Template> {
        let Some(text) = node.scalar_text() else {
            self.diagnostics.error(node.span, format!("{what} must be a string, found {}", node.type_name()));
            return None;
        };
        match Template::parse(&text, node.span, node.text_col) {
            Ok(t) => {
                let at = self.position.clone();
                self.references.extend(t.references().map(|(r, s)| (r.clone(), s, at.clone())));
                Some(t)
            }
            Err(errors) => {
                for e in errors {
                    self.diagnostics.push(e);
                }
                None
            }
        }
    }

    fn approvers(&mut self, node: &Node) -> Option<Vec<String>> {
        match &node.kind {
            NodeKind::Str(group) => match self.groups.get(group) {
                Some(names) => Some(names.clone()),
                None => {
                    let hint = suggest(group, self.groups.keys().map(String::as_str))
                        .unwrap_or_else(|| "define it under top-level `approvers:`, or list names here".into());
                    self.diagnostics.push(Diagnostic::new(node.span, format!("unknown approver group `{group}`")).hint(hint));
                    None
                }
            },
            _ => self.name_list(node),
        }
    }

    fn integration(&self, name: &str) -> Option<Arc<dyn Integration>> {
        self.integrations.get(name).cloned()
    }

    fn people(&self) -> Option<&BTreeMap<String, Option<String>>> {
        self.people.as_ref()
    }

    fn steps(&mut self, node: &Node, phase: PhaseName) -> Vec<Step> {
        match &node.kind {
            NodeKind::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, n)| {
                    self.position.push(i);
                    let step = self.step(n, phase);
                    self.position.pop();
                    step
                })
                .collect(),
            NodeKind::Null => Vec::new(),
            _ => {
                self.diagnostics.push(
                    Diagnostic::new(
                        node.span,
                        format!("`{}` must be a list of steps, found {}", phase.as_str(), node.type_name()),
                    )
                    .hint("each step starts with `- `"),
                );
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::order_problem;

    #[test]
    fn outputs_flow_forward_only() {
        assert_eq!(order_problem(&[1, 0], &[1, 1]), None);
        assert_eq!(order_problem(&[1, 0], &[3, 0]), None, "rollback uses execute outputs");
        assert!(order_problem(&[1, 2], &[1, 1]).unwrap().contains("after"));
        assert!(order_problem(&[2, 0], &[1, 0]).unwrap().contains("after"));
        assert!(order_problem(&[3, 0], &[4, 0]).unwrap().contains("rollback"));
        assert!(order_problem(&[1, 2, 0], &[1, 2, 1]).unwrap().contains("same time"));
        assert!(order_problem(&[1, 2], &[1, 2, 1]).unwrap().contains("contains"));
        assert!(order_problem(&[1, 2], &[1, 2]).unwrap().contains("is this step"));
        assert_eq!(order_problem(&[1, 1], &[1, 2, 0]), None);
    }
}
