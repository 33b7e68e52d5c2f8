//! Asking people somewhere other than the terminal (the run's Slack
//! thread): an integration that can ask returns an [`Asker`], and the
//! engine posts a question through it, reads the answers given there, says
//! what became of each, and closes it. Judging the answers (who may, how
//! many it takes) stays in the engine.

use std::time::Duration;

use super::{BoxFuture, StepEnv};
use crate::question::{Ballot, Question};

pub trait Asker: Send + Sync {
    /// How long to wait between two reads of the answers.
    fn poll_interval(&self) -> Duration;

    /// Asks the question (again, after a resume: the answers given to the
    /// first asking still count). `key` names the question in the run.
    fn open<'a>(&'a self, key: &'a str, question: &'a Question, env: &'a dyn StepEnv) -> BoxFuture<'a, Result<(), String>>;

    /// Every answer standing now, in the order given: an answer taken back
    /// (a reaction removed) is no longer among them.
    fn answers<'a>(
        &'a self,
        key: &'a str,
        question: &'a Question,
        env: &'a dyn StepEnv,
    ) -> BoxFuture<'a, Result<Vec<Ballot>, String>>;

    /// Says where the answer was given what became of it.
    fn acknowledge<'a>(
        &'a self,
        key: &'a str,
        ballot: &'a Ballot,
        said: &'a str,
        env: &'a dyn StepEnv,
    ) -> BoxFuture<'a, Result<(), String>>;

    /// The question is decided: shown where it was asked, so nobody answers on.
    fn close<'a>(
        &'a self,
        key: &'a str,
        question: &'a Question,
        decision: &'a str,
        env: &'a dyn StepEnv,
    ) -> BoxFuture<'a, Result<(), String>>;
}
