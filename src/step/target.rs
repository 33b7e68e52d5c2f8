//! Rollback targets: what a deploy step changes and records before it does
//! (an ECS service's task definition, an S3 prefix's objects), named the same
//! way by the step that restores it.
//!
//! A step declares its target with [`TargetDecl`]; validation (for literal
//! names) and the plan (with vars resolved) check that every rollback step
//! restores something an execute step changes, so a typo'd cluster is an
//! error before the run, not "nothing to roll back" during it. At run time
//! both steps turn the same declaration into the same [`RollbackTarget`]
//! through [`TargetDecl::resolve`], so the name cannot drift between them.

use std::fmt;

use crate::runbook::expr::Template;

/// A resource on a system that a rollback can restore.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RollbackTarget {
    /// The integration that records it (`ecs`, `s3`).
    pub system: &'static str,
    /// `cluster/service`, `bucket/prefix/`.
    pub resource: String,
}

impl RollbackTarget {
    /// The name its saved state is journaled under, in `system`'s state.
    pub fn record_name(&self) -> String {
        format!("target:{}", self.resource)
    }

    /// The name relctl used before typed targets (`previous:cluster/service`,
    /// `backup:bucket/prefix/`), so a run journaled then still rolls back.
    pub fn legacy_record_name(&self) -> Option<String> {
        let word = match self.system {
            "ecs" => "previous",
            "s3" => "backup",
            _ => return None,
        };
        Some(format!("{word}:{}", self.resource))
    }
}

impl fmt::Display for RollbackTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.system, self.resource)
    }
}

/// Whether a step records a target before changing it, or restores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetUse {
    Saves,
    Restores,
}

/// A step's target as written: its parts are templates, resolved with this
/// run's values and joined by `resource`.
#[derive(Debug, Clone)]
pub struct TargetDecl {
    pub uses: TargetUse,
    pub system: &'static str,
    pub parts: Vec<Template>,
    /// Builds the resource name from the rendered parts (normalizing, e.g.
    /// an S3 prefix's trailing `/`).
    pub resource: fn(&[String]) -> String,
}

impl TargetDecl {
    /// The target with each part rendered by `render`.
    pub fn resolve<E>(&self, mut render: impl FnMut(&Template) -> Result<String, E>) -> Result<RollbackTarget, E> {
        let parts = self.parts.iter().map(&mut render).collect::<Result<Vec<_>, E>>()?;
        Ok(RollbackTarget { system: self.system, resource: (self.resource)(&parts) })
    }

    /// The target when every part is literal (known before any value is).
    pub fn literal(&self) -> Option<RollbackTarget> {
        if self.parts.iter().any(|t| t.references().next().is_some()) {
            return None;
        }
        self.resolve(|t| Ok::<_, ()>(t.display())).ok()
    }
}

/// Parts joined by `/`: `cluster/service`.
pub fn joined(parts: &[String]) -> String {
    parts.join("/")
}

/// Why `restore` matches no saved target, with the closest one if any.
pub fn unmatched(restore: &RollbackTarget, saved: &[(RollbackTarget, String)]) -> Option<(String, String)> {
    if saved.iter().any(|(t, _)| t == restore) {
        return None;
    }
    let same_system: Vec<&(RollbackTarget, String)> = saved.iter().filter(|(t, _)| t.system == restore.system).collect();
    let problem = format!("restores {restore}, which no step in `execute` changes, so there would be nothing to roll back");
    let hint = match crate::runbook::diagnostic::suggest(&restore.resource, same_system.iter().map(|(t, _)| t.resource.as_str()))
    {
        Some(h) => h,
        None if same_system.is_empty() => format!("no step in `execute` changes anything on {}", restore.system),
        None => {
            let changed: Vec<String> = same_system.iter().map(|(t, at)| format!("{} ({at})", t.resource)).collect();
            format!("`execute` changes {}", changed.join(", "))
        }
    };
    Some((problem, hint))
}
