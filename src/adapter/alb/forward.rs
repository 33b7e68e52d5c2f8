//! A listener's or rule's forward action, as relctl journals it before the
//! first shift and puts it back on `alb.rollback`: the target groups and
//! their weights, the stickiness, the action's order, and whether it was
//! written with a plain `TargetGroupArn`, exactly as ELBv2 described it.

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, TargetGroupStickinessConfig, TargetGroupTuple,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forward {
    pub order: Option<i32>,
    /// `TargetGroupArn` as described (a single target group).
    pub target_group_arn: Option<String>,
    /// `ForwardConfig`'s target groups and weights, when it had one.
    pub groups: Option<Vec<(String, Option<i32>)>>,
    /// `TargetGroupStickinessConfig`: enabled, duration in seconds.
    pub stickiness: Option<(bool, Option<i32>)>,
}

impl Forward {
    /// The forward action among `actions`, with its index; the others are
    /// left as they are (authentication before it, for example).
    pub fn find(actions: &[Action]) -> Option<(usize, Forward)> {
        let (i, a) = actions.iter().enumerate().find(|(_, a)| a.r#type() == Some(&ActionTypeEnum::Forward))?;
        let config = a.forward_config();
        Some((
            i,
            Forward {
                order: a.order(),
                target_group_arn: a.target_group_arn().map(str::to_string),
                groups: config.map(|c| {
                    c.target_groups().iter().map(|t| (t.target_group_arn().unwrap_or_default().to_string(), t.weight())).collect()
                }),
                stickiness: config
                    .and_then(ForwardActionConfig::target_group_stickiness_config)
                    .map(|s| (s.enabled().unwrap_or(false), s.duration_seconds())),
            },
        ))
    }

    /// `percent` of the traffic to `canary`, the rest to `stable`,
    /// keeping the action's order and stickiness.
    pub fn shifted(&self, stable: &str, canary: &str, percent: i32) -> Forward {
        Forward {
            order: self.order,
            target_group_arn: None,
            groups: Some(vec![(stable.to_string(), Some(100 - percent)), (canary.to_string(), Some(percent))]),
            stickiness: self.stickiness,
        }
    }

    /// Every target group and its weight (a plain forward has one, weight
    /// 1), by ARN: ELBv2 need not list them in the order they were sent.
    pub fn weights(&self) -> Vec<(String, i32)> {
        let mut w: Vec<(String, i32)> = match (&self.groups, &self.target_group_arn) {
            (Some(g), _) if !g.is_empty() => g.iter().map(|(a, w)| (a.clone(), w.unwrap_or(1))).collect(),
            (_, Some(a)) => vec![(a.clone(), 1)],
            _ => Vec::new(),
        };
        w.sort();
        w
    }

    /// The target groups carrying traffic now (weight above 0).
    pub fn live(&self) -> Vec<String> {
        self.weights().into_iter().filter(|(_, w)| *w > 0).map(|(a, _)| a).collect()
    }

    /// The weights as people read them: `blue 75, green 25`.
    pub fn describe(&self) -> String {
        self.weights().iter().map(|(arn, w)| format!("{} {w}", group_name(arn))).collect::<Vec<_>>().join(", ")
    }

    pub fn to_action(&self) -> Action {
        let config = self.groups.as_ref().map(|groups| {
            let tuples =
                groups.iter().map(|(arn, w)| TargetGroupTuple::builder().target_group_arn(arn).set_weight(*w).build()).collect();
            let sticky = self.stickiness.map(|(enabled, duration)| {
                TargetGroupStickinessConfig::builder().enabled(enabled).set_duration_seconds(duration).build()
            });
            ForwardActionConfig::builder().set_target_groups(Some(tuples)).set_target_group_stickiness_config(sticky).build()
        });
        Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .set_order(self.order)
            .set_target_group_arn(self.target_group_arn.clone())
            .set_forward_config(config)
            .build()
    }
}

/// A target group's name from its ARN (`…:targetgroup/NAME/ID`).
pub fn group_name(arn: &str) -> &str {
    arn.split_once(":targetgroup/").map_or(arn, |(_, rest)| rest.split('/').next().unwrap_or(rest))
}

/// `actions` with the forward action at `at` replaced. Other actions go back
/// as described; an OIDC one keeps its secret (`UseExistingClientSecret`:
/// ELBv2 never describes the secret, so it cannot be sent back).
pub fn replaced(actions: &[Action], at: usize, forward: &Forward) -> Vec<Action> {
    actions
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if i == at {
                return forward.to_action();
            }
            match a.authenticate_oidc_config() {
                Some(oidc) => {
                    let mut oidc = oidc.clone();
                    oidc.use_existing_client_secret = Some(true);
                    oidc.client_secret = None;
                    let mut a = a.clone();
                    a.authenticate_oidc_config = Some(oidc);
                    a
                }
                None => a.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shift_keeps_order_and_stickiness_and_splits_one_hundred() {
        let f =
            Forward { order: Some(2), target_group_arn: Some("blue".into()), groups: None, stickiness: Some((true, Some(60))) };
        let s = f.shifted("blue", "green", 25);
        assert_eq!(s.weights(), vec![("blue".into(), 75), ("green".into(), 25)]);
        assert_eq!((s.order, s.stickiness, s.target_group_arn.clone()), (Some(2), Some((true, Some(60))), None));
        assert_eq!(Forward::find(&[s.to_action()]).unwrap().1, s, "what is sent is what is read back");
    }

    #[test]
    fn target_groups_are_shown_by_name() {
        assert_eq!(group_name("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/blue/abc123"), "blue");
        assert_eq!(group_name("plain"), "plain");
    }
}
