//! Leaf contract: questions for humans, their answers, and the [`Prompter`]
//! that asks a person.
//!
//! The engine never reads stdin: it asks a [`Prompter`] (dialoguer in a
//! terminal, a script in tests) only when the run is interactive; the
//! approval policy in `engine::approval` decides everything else.

use serde::{Deserialize, Serialize};

/// Who or what gave an answer, as the journal records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AnsweredBy {
    /// A person at the terminal.
    Terminal,
    /// `--approve`.
    Flag,
    /// Nobody could answer (non-interactive without `--approve`, or not an approver).
    #[default]
    Policy,
    DryRun,
    /// A person in the run's Slack thread (a reaction or a reply).
    Slack,
}

/// How the answering person's name was established, as every decision
/// records it: a name anyone can type is not a verified identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Identity {
    /// Named by the CI system running relctl (GITHUB_ACTOR, GITLAB_USER_LOGIN, BUILD_USER_ID).
    Ci,
    /// The OS user at the terminal.
    Terminal,
    /// Given with `--as` or RELCTL_ACTOR: anyone can type any name.
    Asserted,
    /// A Slack member id, mapped to a person through `people:`: Slack
    /// authenticated them.
    Slack,
}

impl Identity {
    pub fn as_str(self) -> &'static str {
        match self {
            Identity::Ci => "ci",
            Identity::Terminal => "terminal",
            Identity::Asserted => "asserted",
            Identity::Slack => "slack",
        }
    }

    /// Established by a system, not typed by the person (`identity: verified`).
    pub fn verified(self) -> bool {
        matches!(self, Identity::Slack | Identity::Ci)
    }
}

/// Where a question is asked (`via:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// The terminal of whoever runs relctl.
    Terminal,
    /// The run's Slack thread.
    Slack,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Terminal => "terminal",
            Via::Slack => "slack",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuestionKind {
    Confirm,
    /// Go/no-go; carries the names of the validate checks that failed.
    Gate {
        failed_checks: Vec<String>,
        /// Checks that ran and passed (a `wait` is a bake, not a check).
        passed_checks: usize,
        /// The runbook lets CI go ahead over failed checks with a reason.
        allow_override: bool,
    },
    /// A step was started but not finished when the run stopped.
    RerunUnfinished,
    /// A step cut off when relctl was killed still has processes running:
    /// yes ends them, no waits for them.
    EndLeftover,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub kind: QuestionKind,
    pub id: Option<String>,
    pub text: String,
    pub approvers: Option<Vec<String>>,
    /// Unanswered this long, the answer is no (the prompt ends with
    /// `ErrorKind::TimedOut`).
    pub timeout: Option<std::time::Duration>,
    /// Where it is asked; the first valid answer wins.
    pub via: Vec<Via>,
    /// Distinct people whose yes it takes; one no decides.
    pub require: usize,
    /// Only answers whose identity a system established count.
    pub verified_only: bool,
    /// Whoever started the run, when they may not answer (`not_initiator`).
    pub not_from: Option<String>,
    /// Slack member ids of the people under `people:` (person → id).
    pub accounts: std::collections::BTreeMap<String, String>,
}

impl Question {
    /// A question for the terminal only, answered by one person.
    pub fn new(kind: QuestionKind, id: Option<String>, text: String) -> Question {
        Question {
            kind,
            id,
            text,
            approvers: None,
            timeout: None,
            via: vec![Via::Terminal],
            require: 1,
            verified_only: false,
            not_from: None,
            accounts: std::collections::BTreeMap::new(),
        }
    }

    /// Asked somewhere besides this terminal.
    pub fn elsewhere(&self) -> bool {
        self.via.iter().any(|v| *v != Via::Terminal)
    }

    pub fn failed_checks(&self) -> &[String] {
        match &self.kind {
            QuestionKind::Gate { failed_checks, .. } => failed_checks,
            _ => &[],
        }
    }
}

/// One person's answer to a question asked in several places, before it
/// is judged (engine::ballots): counted, or refused with a reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ballot {
    /// The person under `people:` (or the actor at the terminal); `None`
    /// for an account nobody listed.
    pub person: Option<String>,
    /// How they are known where they answered: a Slack member id, or the
    /// actor's name at the terminal.
    pub account: String,
    pub yes: bool,
    pub comment: Option<String>,
    pub identity: Identity,
    pub by: AnsweredBy,
    /// What this answer is, unique among the question's answers (a reply's
    /// `ts`, a reaction's name and user): an answer seen again is not new.
    pub source: String,
    /// Refused where it was given (a bot, a deactivated account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

impl AnsweredBy {
    /// Who answered, as a decision line says it: `by alice`, `by alice via --approve`.
    pub fn who(self, actor: &str) -> String {
        match self {
            AnsweredBy::Terminal => format!("by {actor}"),
            AnsweredBy::Flag => format!("by {actor} via --approve"),
            AnsweredBy::Policy => "by policy".to_string(),
            AnsweredBy::DryRun => "(dry run)".to_string(),
            AnsweredBy::Slack => format!("by {actor} in Slack"),
        }
    }

    /// [`AnsweredBy::who`], saying how the name was established when a
    /// person answered: `by alice (asserted)`.
    pub fn who_as(self, actor: &str, identity: Option<Identity>) -> String {
        match (self, identity) {
            (AnsweredBy::Terminal | AnsweredBy::Flag | AnsweredBy::Slack, Some(i)) => {
                format!("{} ({})", self.who(actor), i.as_str())
            }
            _ => self.who(actor),
        }
    }
}

/// What a person said at the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub yes: bool,
    pub comment: Option<String>,
}

/// The decision as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Answer {
    pub yes: bool,
    pub actor: String,
    pub by: AnsweredBy,
    pub comment: Option<String>,
    /// Why the answer is no without anyone saying so.
    pub reason: Option<String>,
    /// How the answerer's name was established, when not the run's own
    /// actor's (an answer from Slack).
    pub identity: Option<Identity>,
    /// The answers that decided a question asked in several places.
    pub approvals: Vec<Ballot>,
}

impl Answer {
    /// No, with why, nobody having said so (a timeout, a failure, policy).
    pub fn refused(actor: String, reason: impl Into<String>) -> Answer {
        Answer { actor, reason: Some(reason.into()), ..Answer::default() }
    }
}

/// Asks a person. Implementations may block; the engine calls them off the
/// async runtime. When `stop` is set (answered elsewhere), the prompt ends
/// with an error of kind `ErrorKind::Other` within a moment.
pub trait Prompter: Send + Sync {
    fn ask(&self, question: &Question, actor: &str, stop: &std::sync::atomic::AtomicBool) -> std::io::Result<Reply>;
}
