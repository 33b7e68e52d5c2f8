//! Why a step did not succeed, typed by what went wrong. The variant decides
//! whether another attempt can help ([`AdapterError::retryable`]) and what to
//! do next ([`AdapterError::help`]); no caller searches a message for it.

/// How a remote system failed a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteKind {
    /// Throttled, timed out, a 5xx or a dropped connection: likely to pass later.
    Transient,
    /// No connection could be made at all.
    Unreachable,
    /// Credentials missing, expired or without the permission.
    Denied,
    /// What the call names does not exist there.
    NotFound,
    /// Any other refusal: the same request would be refused again.
    Rejected,
    /// The request may have been applied but its answer was lost: sending
    /// it again could do it twice (a second deploy).
    MaybeApplied,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    /// A remote system (Jenkins, Slack, an AWS service, an HTTP endpoint)
    /// refused, failed or could not be reached.
    #[error("{system}: {call}: {message}")]
    Remote {
        system: &'static str,
        call: String,
        message: String,
        kind: RemoteKind,
        /// Advice specific to the system, instead of the kind's.
        help: Option<String>,
    },
    /// What the step checks does not hold now (an alarm firing, unhealthy
    /// tasks, a health endpoint's answer); it may hold on a later attempt.
    #[error("{0}")]
    Check(String),
    /// A command exited non-zero or was killed.
    #[error("{0}")]
    Command(String),
    /// Trying again cannot help as things stand: bad input, a state that
    /// refuses the step (a deployment already in progress), a question
    /// answered no, a deadline passed.
    #[error("{message}")]
    Refused { message: String, help: Option<String> },
    /// The run's own record could not be written: the run must stop.
    #[error("{0}")]
    Journal(String),
    /// The step ran past its deadline and was stopped.
    #[error("timed out after {}", crate::runbook::duration::format_duration(*.0))]
    TimedOut(std::time::Duration),
}

impl AdapterError {
    pub fn refused(message: impl Into<String>) -> Self {
        AdapterError::Refused { message: message.into(), help: None }
    }

    pub fn remote(system: &'static str, call: impl Into<String>, kind: RemoteKind, message: impl Into<String>) -> Self {
        AdapterError::Remote { system, call: call.into(), message: message.into(), kind, help: None }
    }

    /// Whether the same step, tried again, may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            AdapterError::Remote { kind, .. } => matches!(kind, RemoteKind::Transient | RemoteKind::Unreachable),
            AdapterError::Check(_) | AdapterError::Command(_) | AdapterError::TimedOut(_) => true,
            AdapterError::Refused { .. } | AdapterError::Journal(_) => false,
        }
    }

    /// What kind of failure, as the journal records it: `check`, `command`,
    /// `refused`, `timed_out` (the step ran and said no), or `remote`,
    /// `journal` (it could not do its work).
    pub fn kind_name(&self) -> &'static str {
        match self {
            AdapterError::Remote { .. } => "remote",
            AdapterError::Check(_) => "check",
            AdapterError::Command(_) => "command",
            AdapterError::Refused { .. } => "refused",
            AdapterError::Journal(_) => "journal",
            AdapterError::TimedOut(_) => "timed_out",
        }
    }

    /// What to do next, shown under the failure.
    pub fn help(&self) -> Option<String> {
        match self {
            AdapterError::Remote { help: Some(h), .. } | AdapterError::Refused { help: Some(h), .. } => Some(h.clone()),
            AdapterError::Remote { kind, .. } => Some(
                match kind {
                    RemoteKind::Transient => "the service is busy, slow or failing; `retry:` on the step tries again later",
                    RemoteKind::Unreachable => {
                        "cannot connect: check the URL (or endpoint_url) and that the service is up and reachable from here"
                    }
                    RemoteKind::Denied => "check the credentials (token, profile, SSO login, role) and that they allow this call",
                    RemoteKind::NotFound => "check the name: it does not exist there (a typo, another region or account?)",
                    RemoteKind::MaybeApplied => {
                        "the request may have been applied: check the remote's state before running the step again"
                    }
                    RemoteKind::Rejected => return None,
                }
                .to_string(),
            ),
            AdapterError::Journal(_) => {
                Some("free space or fix permissions in the state dir, then `relctl resume` continues the run".into())
            }
            AdapterError::TimedOut(_) => Some("if it needs longer, raise the step's `timeout:`".into()),
            _ => None,
        }
    }

    /// The same error with `help` as its advice.
    #[must_use]
    pub fn with_help(self, text: impl Into<String>) -> Self {
        match self {
            AdapterError::Remote { system, call, message, kind, .. } => {
                AdapterError::Remote { system, call, message, kind, help: Some(text.into()) }
            }
            AdapterError::Refused { message, .. } => AdapterError::Refused { message, help: Some(text.into()) },
            other => other,
        }
    }

    /// The same error with its message changed by `f` (context added).
    #[must_use]
    pub fn map_message(self, f: impl FnOnce(String) -> String) -> Self {
        match self {
            AdapterError::Remote { system, call, message, kind, help } => {
                AdapterError::Remote { system, call, message: f(message), kind, help }
            }
            AdapterError::Check(m) => AdapterError::Check(f(m)),
            AdapterError::Command(m) => AdapterError::Command(f(m)),
            AdapterError::Refused { message, help } => AdapterError::Refused { message: f(message), help },
            AdapterError::Journal(m) => AdapterError::Journal(f(m)),
            AdapterError::TimedOut(d) => AdapterError::TimedOut(d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_may_change_is_retried() {
        let remote = |kind| AdapterError::remote("S3", "ListObjectsV2", kind, "x");
        assert!(remote(RemoteKind::Transient).retryable());
        assert!(remote(RemoteKind::Unreachable).retryable());
        assert!(!remote(RemoteKind::Denied).retryable());
        assert!(!remote(RemoteKind::NotFound).retryable());
        assert!(!remote(RemoteKind::Rejected).retryable());
        assert!(AdapterError::Check("alarm".into()).retryable());
        assert!(!AdapterError::refused("in progress").retryable());
        assert!(!AdapterError::Journal("disk full".into()).retryable());
    }

    #[test]
    fn advice_is_kept_out_of_the_message() {
        let e = AdapterError::remote("ECS", "DescribeServices prod/checkout", RemoteKind::Denied, "AccessDenied");
        assert_eq!(e.to_string(), "ECS: DescribeServices prod/checkout: AccessDenied");
        assert!(e.help().unwrap().contains("credentials"));
        let e = e.with_help("the role needs ecs:DescribeServices");
        assert_eq!(e.help().unwrap(), "the role needs ecs:DescribeServices");
    }
}
