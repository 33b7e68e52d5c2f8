//! JSON Schema (draft 2020-12) pieces a step kind or integration describes
//! its settings with, for `relctl schema` and the editors that read it.
//!
//! A kind's schema says what its parser accepts, no more: the agreement test
//! (tests/schema.rs) holds the two together on the shipped runbooks and the
//! invalid fixtures. Checks a schema cannot express (references between
//! steps, a week's maximum, time zone names) stay relctl's alone.

use serde_json::{Map, Value, json};

/// A string (or other scalar) that may hold `${{ }}` expressions.
pub fn template(description: &str) -> Value {
    json!({ "$ref": "#/$defs/template", "description": description })
}

/// A string only (a command, a job path).
pub fn text(description: &str) -> Value {
    json!({ "type": "string", "minLength": 1, "description": description })
}

/// One template or a list of them.
pub fn templates(description: &str) -> Value {
    json!({ "$ref": "#/$defs/templates", "description": description })
}

/// Names mapped to templates (`env:`, `headers:`, `params:`).
pub fn template_map(description: &str) -> Value {
    json!({ "$ref": "#/$defs/template_map", "description": description })
}

/// `500ms`, `5s`, `10m`, `1h30m`.
pub fn duration(description: &str) -> Value {
    json!({ "$ref": "#/$defs/duration", "description": description })
}

pub fn flag(description: &str, default: bool) -> Value {
    json!({ "type": "boolean", "default": default, "description": description })
}

/// A whole number in `min..=max`.
pub fn count(description: &str, min: i64, max: i64, default: i64) -> Value {
    json!({ "type": "integer", "minimum": min, "maximum": max, "default": default, "description": description })
}

/// A closed mapping: only `properties`, those in `required` present.
pub fn object(description: &str, properties: &[(&str, Value)], required: &[&str]) -> Value {
    let props: Map<String, Value> = properties.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect();
    let mut o = json!({ "type": "object", "description": description, "properties": props, "additionalProperties": false });
    if !required.is_empty() {
        o["required"] = json!(required);
    }
    o
}

/// Exactly one of `keys` present (`names` or `prefix`, `image` or `task_definition`).
pub fn one_of_keys(mut schema: Value, keys: &[&str]) -> Value {
    schema["oneOf"] = Value::Array(keys.iter().map(|k| json!({ "required": [k] })).collect());
    schema
}

/// A short form (`http: URL`) or the full mapping.
pub fn short_or_full(short: Value, full: Value) -> Value {
    Value::Object(Map::from_iter([("oneOf".to_string(), Value::Array(vec![short, full]))]))
}

/// The shared definitions the pieces above refer to.
pub fn shared_defs() -> Map<String, Value> {
    let mut defs = Map::new();
    defs.insert(
        "template".into(),
        json!({ "type": ["string", "number", "boolean"], "description": "text; may use ${{ vars.X }}, ${{ secrets.X }}, ${{ steps.ID.outputs.X }}, ${{ env.X }}" }),
    );
    defs.insert(
        "templates".into(),
        json!({ "anyOf": [{ "$ref": "#/$defs/template" }, { "type": "array", "items": { "$ref": "#/$defs/template" } }] }),
    );
    defs.insert("template_map".into(), json!({ "type": "object", "additionalProperties": { "$ref": "#/$defs/template" } }));
    defs.insert(
        "duration".into(),
        json!({ "type": "string", "pattern": "^\\s*([0-9]+(ms|s|m|h))+\\s*$", "description": "a duration: 500ms, 5s, 10m, 1h30m (at most 168h)", "examples": ["30s", "10m", "1h30m"] }),
    );
    defs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_of_keys_requires_exactly_one() {
        let s = one_of_keys(object("", &[("a", flag("", false)), ("b", flag("", false))], &[]), &["a", "b"]);
        assert_eq!(s["oneOf"][1]["required"][0], "b");
        assert_eq!(s["additionalProperties"], false);
    }
}
