//! A question asked in several places at once (`via: [terminal, slack]`):
//! the terminal prompt and the Slack thread race, every answer given is
//! journaled and judged (engine::ballots), and the first time the answers
//! decide the question, the other places stop asking. Unanswered by the
//! question's `timeout`, the answer is no.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::Engine;
use super::step_env::Handle;
use crate::engine::ballots::{Tally, refusal, tally};
use crate::event::{Event, now};
use crate::question::{Answer, AnsweredBy, Ballot, Question, Reply, Via};
use crate::step::Asker;

/// Stops the terminal prompt when the question is decided elsewhere, or
/// the run is interrupted while it waits (the future dropped).
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

type Prompt = tokio::task::JoinHandle<std::io::Result<Reply>>;

/// The answers standing now, in the order first seen.
#[derive(Default)]
struct Answers {
    /// Given here (the terminal, `--approve`): they stand until the end.
    here: Vec<Ballot>,
    /// Read from elsewhere at the last look.
    there: Vec<Ballot>,
    /// When each answer (by source) was first seen.
    first_seen: HashMap<String, u64>,
    seen: u64,
}

impl Answers {
    fn standing(&self) -> Vec<Ballot> {
        let mut all: Vec<Ballot> = self.here.iter().chain(&self.there).cloned().collect();
        all.sort_by_key(|b| self.first_seen.get(&b.source).copied().unwrap_or(u64::MAX));
        all
    }

    /// Notes an answer; true when it was not seen before.
    fn fresh(&mut self, b: &Ballot) -> bool {
        if self.first_seen.contains_key(&b.source) {
            return false;
        }
        self.seen += 1;
        self.first_seen.insert(b.source.clone(), self.seen);
        true
    }
}

impl Engine {
    fn asker(&self, via: Via) -> Option<&dyn Asker> {
        match via {
            Via::Terminal => None,
            Via::Slack => self.plan.runbook.integrations.get("slack").and_then(|i| i.asker()),
        }
    }

    /// A ballot given at this terminal (or with `--approve`) by the run's actor.
    fn here(&self, actor: &str, reply: &Reply, by: AnsweredBy, source: &str) -> Ballot {
        Ballot {
            person: Some(actor.to_string()),
            account: actor.to_string(),
            yes: reply.yes,
            comment: reply.comment.clone(),
            identity: self.cfg.identity,
            by,
            source: source.to_string(),
            refused: None,
        }
    }

    /// Asks `q` everywhere its `via` says, until the answers decide it.
    /// `None` when it could be asked nowhere: the run stops, resumable
    /// (a chat outage is not a no-go).
    pub(super) async fn ask_around(&self, key: &str, q: &Question, actor: String, flag: Option<Reply>) -> Option<Answer> {
        let mut answers = Answers::default();
        if let Some(reply) = flag {
            let b = self.here(&actor, &reply, AnsweredBy::Flag, "--approve");
            self.judge(key, q, &mut answers, &b, None).await;
            answers.here.push(b);
        }
        if let Tally::Decided { yes, by } = tally(q, &answers.standing()) {
            return Some(decided(yes, by));
        }
        let handle = Handle(self);
        let askers = self.open_askers(key, q).await;
        let stop = Arc::new(AtomicBool::new(false));
        let _stop_guard = StopOnDrop(stop.clone());
        let mut prompt = self.terminal_prompt(q, &actor, &stop);
        if askers.is_empty() && prompt.is_none() {
            let label = q.id.clone().unwrap_or_else(|| q.text.clone());
            let stop = super::EngineError::NobodyToAsk { label, places: via_list(q), run_id: self.cfg.run_id.clone() };
            self.memory().halt.get_or_insert(stop);
            return None;
        }
        let deadline = q.timeout.map(|t| Instant::now() + t);
        let poll = askers.iter().map(|a| a.poll_interval()).min().unwrap_or(Duration::from_secs(1));
        let mut warned: BTreeSet<String> = BTreeSet::new();
        let verdict = loop {
            if let Tally::Decided { yes, by } = tally(q, &answers.standing()) {
                break Some((yes, by));
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                break None;
            }
            let nap = left.map_or(poll, |l| l.min(poll));
            tokio::select! {
                done = async { prompt.as_mut().expect("guarded").await }, if prompt.is_some() => {
                    prompt = None;
                    match done {
                        Ok(Ok(reply)) => {
                            let b = self.here(&actor, &reply, AnsweredBy::Terminal, "terminal");
                            self.judge(key, q, &mut answers, &b, None).await;
                            answers.here.push(b);
                        }
                        Ok(Err(e)) if super::decide::terminal_gone(&e) => {
                            let _ = self.cancel.send(true);
                            return std::future::pending::<Option<Answer>>().await;
                        }
                        // Unanswered there: the other places may still answer.
                        Ok(Err(_)) | Err(_) => {}
                    }
                }
                () = tokio::time::sleep(nap) => {
                    let mut there = Vec::new();
                    for asker in &askers {
                        let found = match asker.answers(key, q, &handle).await {
                            Ok(found) => found,
                            Err(e) => {
                                // A passing outage decides nothing: what stood stands.
                                if warned.insert(e.clone()) {
                                    let _ = self.emit(Event::Warning { message: format!("reading the answers: {e}") });
                                }
                                answers.there.iter().filter(|b| b.by == AnsweredBy::Slack).cloned().collect()
                            }
                        };
                        for b in first_seen_order(&answers, found) {
                            self.judge(key, q, &mut answers, &b, Some(*asker)).await;
                            there.push(b);
                        }
                    }
                    answers.there = there;
                }
            }
        };
        stop.store(true, Ordering::SeqCst);
        if let Some(p) = prompt {
            // The prompt sees the stop within 100 ms and gives the terminal back.
            let _ = p.await;
        }
        let answer = match verdict {
            Some((yes, by)) => decided(yes, by),
            None => unanswered(q, &answers, actor),
        };
        let closing = closing_line(&answer);
        for asker in &askers {
            if let Err(e) = asker.close(key, q, &closing, &handle).await {
                let _ = self.emit(Event::Warning { message: format!("closing the question: {e}") });
            }
        }
        Some(answer)
    }

    /// Asks the question in each place besides the terminal; a place it
    /// cannot be asked in is a warning (the others may still answer).
    async fn open_askers(&self, key: &str, q: &Question) -> Vec<&dyn Asker> {
        let mut askers: Vec<&dyn Asker> = Vec::new();
        for via in &q.via {
            let Some(asker) = self.asker(*via) else { continue };
            match asker.open(key, q, &Handle(self)).await {
                Ok(()) => askers.push(asker),
                Err(e) => {
                    let message = format!("the question could not be asked in {}: {e}", via.as_str());
                    let _ = self.emit(Event::Warning { message });
                }
            }
        }
        askers
    }

    /// Journals an answer seen for the first time, says where it was given
    /// whether it counts, and keeps it among the standing answers.
    async fn judge(&self, key: &str, q: &Question, answers: &mut Answers, b: &Ballot, asker: Option<&dyn Asker>) {
        if !answers.fresh(b) {
            return;
        }
        let refused = refusal(q, b);
        let _ = self.emit(Event::Answered { key: key.to_string(), ballot: b.clone(), refused: refused.clone(), at: now() });
        if let Some(asker) = asker {
            let said = match &refused {
                Some(why) => format!("not counted: {why}"),
                None => counted_line(q, b, answers),
            };
            if let Err(e) = asker.acknowledge(key, b, &said, &Handle(self)).await {
                let _ = self.emit(Event::Warning { message: format!("acknowledging an answer: {e}") });
            }
        }
    }

    /// The terminal's prompt, when this question is asked there and the
    /// person at it may answer.
    fn terminal_prompt(&self, q: &Question, actor: &str, stop: &Arc<AtomicBool>) -> Option<Prompt> {
        if !q.via.contains(&Via::Terminal) || !self.cfg.policy.interactive {
            return None;
        }
        let prompter = self.prompter.clone()?;
        let probe = self.here(actor, &Reply { yes: true, comment: Some("-".into()) }, AnsweredBy::Terminal, "probe");
        if let Some(why) = refusal(q, &probe) {
            let _ = self.emit(Event::Warning { message: format!("not asked at this terminal: {why}") });
            return None;
        }
        let (q, who, stop) = (q.clone(), actor.to_string(), stop.clone());
        Some(tokio::task::spawn_blocking(move || prompter.ask(&q, &who, &stop)))
    }
}

/// No by the question's timeout, saying how many approvals it had.
fn unanswered(q: &Question, answers: &Answers, actor: String) -> Answer {
    let given = match tally(q, &answers.standing()) {
        Tally::Open { yes } if !yes.is_empty() => format!(": {} of {} approvals ({})", yes.len(), q.require, yes.join(", ")),
        _ => String::new(),
    };
    let after = q.timeout.map(crate::runbook::duration::format_duration).unwrap_or_default();
    Answer::refused(actor, format!("unanswered for {after}{given}"))
}

/// The answers of one read, those seen before first. Among the new ones
/// the noes come after the yeses: a reaction carries no time, so when a
/// person's ✅ and their `no-go` are first seen together (a resume reads
/// everything given while relctl was down at once), their no stands.
fn first_seen_order(answers: &Answers, found: Vec<Ballot>) -> Vec<Ballot> {
    let (mut seen, mut new): (Vec<Ballot>, Vec<Ballot>) =
        found.into_iter().partition(|b| answers.first_seen.contains_key(&b.source));
    new.sort_by_key(|b| !b.yes);
    seen.append(&mut new);
    seen
}

fn via_list(q: &Question) -> String {
    q.via.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
}

/// What a counted answer's acknowledgement says.
fn counted_line(q: &Question, b: &Ballot, answers: &Answers) -> String {
    let person = b.person.clone().unwrap_or_default();
    let word = answer_word(q, b.yes);
    let comment = b.comment.as_deref().map(|c| format!(": {c}")).unwrap_or_default();
    let progress = match tally(q, &answers.standing().into_iter().chain([b.clone()]).collect::<Vec<_>>()) {
        Tally::Open { yes } if b.yes => format!(" ({} of {} approvals so far)", yes.len(), q.require),
        _ => String::new(),
    };
    format!("{person}: {word} recorded{comment}{progress}")
}

fn answer_word(q: &Question, yes: bool) -> &'static str {
    match (&q.kind, yes) {
        (crate::question::QuestionKind::Gate { .. }, true) => "GO",
        (crate::question::QuestionKind::Gate { .. }, false) => "NO-GO",
        (_, true) => "YES",
        (_, false) => "NO",
    }
}

fn decided(yes: bool, by: Vec<Ballot>) -> Answer {
    let actor = by.iter().filter_map(|b| b.person.clone()).collect::<Vec<_>>().join(", ");
    let comment = match by.as_slice() {
        [one] => one.comment.clone(),
        many => {
            let c: Vec<String> =
                many.iter().filter_map(|b| Some(format!("{}: {}", b.person.as_deref()?, b.comment.as_deref()?))).collect();
            (!c.is_empty()).then(|| c.join("; "))
        }
    };
    // Several answers: the weakest identity among them is what the record can promise.
    let identity = by.iter().map(|b| b.identity).find(|i| !i.verified()).or_else(|| by.first().map(|b| b.identity));
    Answer { yes, actor, by: by.first().map_or(AnsweredBy::Policy, |b| b.by), comment, reason: None, identity, approvals: by }
}

/// How the question closed, as shown where it was asked.
fn closing_line(answer: &Answer) -> String {
    let word = if answer.yes { "approved" } else { "refused" };
    match (&answer.reason, answer.approvals.is_empty()) {
        (Some(r), _) => format!("Closed: {word}: {r}"),
        (None, false) => {
            let who: Vec<String> = answer
                .approvals
                .iter()
                .map(|b| format!("{} ({})", b.person.as_deref().unwrap_or("?"), b.identity.as_str()))
                .collect();
            let comment = answer.comment.as_deref().map(|c| format!(": {c}")).unwrap_or_default();
            format!("Closed: {word} by {}{comment}", who.join(", "))
        }
        (None, true) => format!("Closed: {word}"),
    }
}
