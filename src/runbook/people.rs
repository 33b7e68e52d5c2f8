//! `people:`: who may answer questions, and their accounts (a Slack user
//! id), so that an answer given elsewhere can be tied to a person.

use std::collections::BTreeMap;

use super::diagnostic::{Diagnostic, Diagnostics, suggest};
use super::model::Person;
use super::node::{Node, NodeKind};

/// `people:`: names, each with how to reach them (`slack: U0ALICE`).
pub fn parse(node: &Node, diagnostics: &mut Diagnostics) -> BTreeMap<String, Person> {
    let mut out = BTreeMap::new();
    let Some(map) = node.as_map() else {
        diagnostics.push(
            Diagnostic::new(node.span, format!("`people` maps names to their accounts, found {}", node.type_name()))
                .hint("e.g. `people: { alice: { slack: U0ALICE } }`"),
        );
        return out;
    };
    for (key, value) in map {
        let mut person = Person::default();
        match &value.kind {
            NodeKind::Null => {}
            NodeKind::Map(entries) => {
                for (k, n) in entries {
                    match (k.name.as_str(), n.as_str()) {
                        ("slack", Some(id)) if is_slack_user_id(id) => person.slack = Some(id.to_string()),
                        ("slack", _) => diagnostics.push(
                            Diagnostic::new(n.span, format!("`slack` of `{}` must be a Slack user id", key.name))
                                .hint("the member id from their Slack profile (⋮ → Copy member ID), e.g. U0ALICE"),
                        ),
                        (other, _) => {
                            let hint = suggest(other, ["slack"]).unwrap_or_else(|| "a person takes `slack`".into());
                            diagnostics
                                .push(Diagnostic::new(k.span, format!("unknown key `{other}` for `{}`", key.name)).hint(hint));
                        }
                    }
                }
            }
            _ => diagnostics.error(value.span, format!("`{}` must be a mapping, found {}", key.name, value.type_name())),
        }
        out.insert(key.name.clone(), person);
    }
    out
}

/// A Slack member id: `U` (or `W`, Enterprise Grid) and upper-case letters and digits.
fn is_slack_user_id(id: &str) -> bool {
    id.len() >= 3 && id.starts_with(['U', 'W']) && id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}
