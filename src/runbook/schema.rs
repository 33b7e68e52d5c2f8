//! The runbook format as a JSON Schema (draft 2020-12), for `relctl schema`
//! and editors (`# yaml-language-server: $schema=…`). Built from the same
//! registry validation uses, so every step kind and integration is in it
//! with the settings its parser reads.

use serde_json::{Map, Value, json};

use super::validate::{COMMON_KEYS, TOP_KEYS};
use crate::step::schema::{self as s, duration, flag, object, template};
use crate::step::{PhaseName, Registry};

pub const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// The whole schema, pretty enough to commit and diff.
pub fn document(registry: &Registry) -> Value {
    let mut defs = s::shared_defs();
    let mut plain = Vec::new();
    let mut validate = Vec::new();
    for (kind, schema) in variants(registry) {
        let def = format!("step_{kind}");
        let reference = json!({ "$ref": format!("#/$defs/{def}") });
        defs.insert(def, schema);
        // A gate belongs in validate, and never in a parallel block.
        if kind != "gate" {
            plain.push(reference.clone());
        }
        validate.push(reference);
    }
    for (key, schema) in common() {
        defs.insert(format!("common_{key}"), schema);
    }
    defs.insert("step".into(), json!({ "oneOf": plain }));
    defs.insert("validate_step".into(), json!({ "oneOf": validate }));
    defs.insert("steps".into(), steps("step"));
    let mut props = Map::new();
    props.insert("version".into(), json!({ "const": 1, "description": "the runbook format's version" }));
    props.insert(
        "name".into(),
        json!({ "type": "string", "pattern": "^[A-Za-z0-9_-]+$", "description": "names the lock and the run directory, e.g. checkout-release" }),
    );
    props.insert("description".into(), json!({ "type": "string" }));
    props.insert("vars".into(), vars());
    props.insert(
        "people".into(),
        json!({
            "type": "object",
            "description": "the people who answer questions; with it, every approver named must be one of them",
            "additionalProperties": { "anyOf": [{ "type": "null" }, object("a person", &[("slack", json!({ "type": "string", "pattern": "^[UW][A-Z0-9]+$", "description": "their Slack member id, e.g. U0ALICE" }))], &[])] },
        }),
    );
    props.insert(
        "approvers".into(),
        json!({ "type": "object", "description": "groups of people who may answer confirms and gates", "additionalProperties": names() }),
    );
    let integrations: Map<String, Value> = registry.integrations().iter().map(|k| (k.name().to_string(), k.schema())).collect();
    props.insert(
        "integrations".into(),
        json!({ "type": "object", "description": "settings for remote systems, shared by their steps", "properties": integrations, "additionalProperties": false }),
    );
    props.insert(
        "state".into(),
        json!({ "type": "string", "pattern": "^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", "description": "where the lock is shared between machines: s3://BUCKET/PREFIX (--state and RELCTL_STATE win over it)" }),
    );
    props.insert(
        "lock_after_rollback".into(),
        flag("after a rollback, leave the runbook locked (naming the rollback's reason) until a person releases it", false),
    );
    props.insert("windows".into(), windows());
    props.insert("freezes".into(), freezes());
    for phase in PhaseName::ALL {
        let schema = if phase == PhaseName::Validate { steps("validate_step") } else { json!({ "$ref": "#/$defs/steps" }) };
        props.insert(phase.as_str().into(), schema);
    }
    debug_assert!(props.keys().all(|k| TOP_KEYS.contains(&k.as_str())) && props.len() == TOP_KEYS.len());
    json!({
        "$schema": DIALECT,
        "title": "relctl runbook",
        "description": "A release runbook for relctl: checklist, execute, validate (with the go/no-go gate), rollback, finalize. See docs/runbook.md.",
        "type": "object",
        "required": ["version", "name"],
        "properties": props,
        "additionalProperties": false,
        "$defs": defs,
    })
}

fn steps(item: &str) -> Value {
    json!({ "type": ["array", "null"], "items": { "$ref": format!("#/$defs/{item}") } })
}

fn names() -> Value {
    json!({ "type": "array", "items": { "type": ["string", "number", "boolean"] } })
}

fn vars() -> Value {
    let full = object(
        "a var with settings",
        &[
            ("default", json!({ "type": ["string", "number", "boolean", "null"] })),
            ("required", flag("whether the run needs it given with --var", false)),
            ("description", json!({ "type": "string" })),
        ],
        &[],
    );
    json!({
        "type": "object",
        "description": "values the runbook uses as ${{ vars.NAME }}, set with --var NAME=VALUE",
        "additionalProperties": { "anyOf": [{ "type": ["string", "number", "boolean", "null"] }, full] },
    })
}

/// `mon`…`sun`, in any case, as validation reads them.
fn day() -> Value {
    let any_case =
        |d: &str| d.chars().map(|c| format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())).collect::<String>();
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    json!({ "type": "string", "pattern": format!("^({})$", days.map(any_case).join("|")) })
}

fn windows() -> Value {
    let time = |what: &str| json!({ "type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "description": what });
    let window = object(
        "days and hours a release may start in",
        &[
            ("days", json!({ "type": "array", "items": day(), "description": "mon … sun (default: every day)" })),
            ("from", time("opening, HH:MM wall-clock time in `zone`")),
            ("to", time("closing, HH:MM")),
            ("zone", zone()),
        ],
        &["from", "to"],
    );
    json!({ "type": "array", "items": window, "description": "a release may start inside any of these" })
}

fn freezes() -> Value {
    let date = |what: &str| json!({ "type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "description": what });
    let freeze = object(
        "whole days no release may start on",
        &[
            ("from", date("first day, YYYY-MM-DD")),
            ("to", date("last day, inclusive")),
            ("reason", json!({ "type": "string", "pattern": "\\S", "description": "why: shown to whoever is refused" })),
            ("zone", zone()),
        ],
        &["from", "to", "reason"],
    );
    json!({ "type": "array", "items": freeze, "description": "a release may never start inside one of these" })
}

fn zone() -> Value {
    json!({ "type": "string", "default": "UTC", "description": "an IANA time zone, e.g. Europe/Berlin" })
}

/// One closed mapping per step kind: the kind key, its siblings and the
/// common settings the kind allows.
fn variants(registry: &Registry) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    let questions = [
        ("confirm", "a yes/no question for a person; no fails the step", false),
        ("gate", "the go/no-go decision; asked after every validate check", true),
    ];
    for (name, what, gate) in questions {
        let mut siblings =
            vec![("approvers", json!({ "anyOf": [{ "type": "string", "description": "a group under `approvers:`" }, names()] }))];
        if gate {
            siblings
                .push(("allow_override", flag("whether CI may go ahead over failed checks with --approve ID --reason", false)));
        }
        siblings.push((
            "not_initiator",
            flag("four eyes: whoever started the run may not answer (asked only at the terminal, the run stops there for another approver)", false),
        ));
        let place = json!({ "enum": ["terminal", "slack"] });
        siblings.push((
            "via",
            json!({
                "description": "where it is asked; the first answer that counts decides (slack: the run's thread, needs people: and a timeout)",
                "default": ["terminal"],
                "anyOf": [place.clone(), { "type": "array", "items": place, "minItems": 1 }],
            }),
        ));
        siblings.push((
            "require",
            json!({ "type": "integer", "minimum": 1, "maximum": 20, "default": 1,
                    "description": "distinct people whose yes it takes (more than 1 needs via: slack); one no decides" }),
        ));
        siblings.push((
            "identity",
            json!({ "enum": ["any", "verified"], "default": "any",
                    "description": "verified: only answers whose identity Slack or the CI system established count, not --as or the OS user" }),
        ));
        // A decision that can be skipped or ignored is no decision.
        let forbidden: &[&str] = if gate { &["when", "continue_on_failure"] } else { &["continue_on_failure"] };
        out.push((name, variant(name, template(what), &siblings, forbidden)));
    }
    let parallel = json!({ "type": "array", "items": { "$ref": "#/$defs/step" }, "description": "steps run at once (no gate)" });
    out.push(("parallel", variant("parallel", parallel, &[], &[])));
    out.push(("canary", variant("canary", canary(registry), &[], &[])));
    for kind in registry.kinds() {
        out.push((kind.name(), variant(kind.name(), kind.schema(), &kind.sibling_schema(), &[])));
    }
    out
}

/// `canary`: an ALB rollout in steps, with bakes watching metric checks.
fn canary(registry: &Registry) -> Value {
    let arn = |d: &str| json!({ "type": "string", "description": d });
    let traffic = object(
        "the listener (or rule) and the two target groups",
        &[
            ("alb_listener", arn("the listener's ARN")),
            ("rule", arn("a listener rule's ARN, to shift it instead of the default action")),
            ("stable", arn("the stable (blue) target group's ARN")),
            ("canary", arn("the canary (green) target group's ARN")),
        ],
        &["alb_listener", "stable", "canary"],
    );
    let checks: Vec<Value> = registry
        .kinds()
        .iter()
        .filter(|k| ["prometheus", "cloudwatch.metric"].contains(&k.name()))
        .map(|k| object(&format!("a `{}` check", k.name()), &[(k.name(), k.schema())], &[k.name()]))
        .collect();
    object(
        "shift traffic to the canary in steps, baking between them while the checks watch; the first failure rolls back",
        &[
            ("traffic", traffic),
            (
                "steps",
                json!({ "type": "array", "minItems": 1, "items": { "type": "integer", "minimum": 1, "maximum": 100 },
                              "description": "rising percentages of traffic on the canary, e.g. [5, 25, 50, 100]" }),
            ),
            ("bake", crate::step::schema::duration("how long each step is watched before the next")),
            (
                "checks",
                json!({ "type": "array", "items": { "oneOf": checks }, "description": "metric checks watched during every bake" }),
            ),
            ("every", crate::step::schema::duration("how often the checks look during a bake (default 15s)")),
        ],
        &["traffic", "steps", "bake"],
    )
}

fn variant(kind: &str, value: Value, siblings: &[(&str, Value)], forbidden: &[&str]) -> Value {
    let mut props: Vec<(&str, Value)> = COMMON_KEYS
        .iter()
        .filter(|k| !forbidden.contains(k))
        .map(|k| (*k, json!({ "$ref": format!("#/$defs/common_{k}") })))
        .collect();
    props.push((kind, value));
    props.extend(siblings.iter().cloned());
    let mut v = object(&format!("a `{kind}` step"), &props, &[kind]);
    v["title"] = json!(kind);
    v
}

fn common() -> Vec<(&'static str, Value)> {
    let retry = object(
        "try again after a failure",
        &[
            ("attempts", s::count("every try, the first included", 1, 100, 1)),
            ("delay", duration("the pause before the second try (default 1s)")),
            (
                "backoff",
                json!({ "type": "number", "minimum": 1, "maximum": 10, "default": 1, "description": "the pause's multiplier after each try" }),
            ),
        ],
        &[],
    );
    let common = vec![
        (
            "id",
            json!({ "type": ["string", "integer"], "pattern": "^[A-Za-z0-9_-]+$", "description": "names the step in --approve, outputs and the journal" }),
        ),
        ("name", json!({ "type": "string", "description": "what progress and reports call the step" })),
        ("timeout", duration("the longest the step may take")),
        ("retry", retry),
        ("when", template("run the step only when this is true")),
        ("continue_on_failure", flag("whether the phase goes on after this step fails", false)),
        ("idempotent", flag("whether a resume may run the step again after an interruption without asking", false)),
    ];
    debug_assert!(common.iter().map(|(k, _)| *k).eq(COMMON_KEYS.iter().copied()));
    common
}
