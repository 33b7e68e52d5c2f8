//! Leaf contract: questions for humans, their answers, and the [`Prompter`]
//! that asks a person.
//!
//! The engine never reads stdin: it asks a [`Prompter`] (dialoguer in a
//! terminal, a script in tests) only when the run is interactive; the
//! approval policy in `engine::approval` decides everything else.

use serde::{Deserialize, Serialize};

/// Who or what gave an answer, as the journal records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnsweredBy {
    /// A person at the terminal.
    Terminal,
    /// `--approve`.
    Flag,
    /// Nobody could answer (non-interactive without `--approve`, or not an approver).
    Policy,
    DryRun,
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
}

impl Identity {
    pub fn as_str(self) -> &'static str {
        match self {
            Identity::Ci => "ci",
            Identity::Terminal => "terminal",
            Identity::Asserted => "asserted",
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
}

impl AnsweredBy {
    /// Who answered, as a decision line says it: `by alice`, `by alice via --approve`.
    pub fn who(self, actor: &str) -> String {
        match self {
            AnsweredBy::Terminal => format!("by {actor}"),
            AnsweredBy::Flag => format!("by {actor} via --approve"),
            AnsweredBy::Policy => "by policy".to_string(),
            AnsweredBy::DryRun => "(dry run)".to_string(),
        }
    }

    /// [`AnsweredBy::who`], saying how the name was established when a
    /// person answered: `by alice (asserted)`.
    pub fn who_as(self, actor: &str, identity: Option<Identity>) -> String {
        match (self, identity) {
            (AnsweredBy::Terminal | AnsweredBy::Flag, Some(i)) => format!("{} ({})", self.who(actor), i.as_str()),
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub yes: bool,
    pub actor: String,
    pub by: AnsweredBy,
    pub comment: Option<String>,
    /// Why the answer is no without anyone saying so.
    pub reason: Option<String>,
}

/// Asks a person. Implementations may block; the engine calls them off the async runtime.
pub trait Prompter: Send + Sync {
    fn ask(&self, question: &Question, actor: &str) -> std::io::Result<Reply>;
}
