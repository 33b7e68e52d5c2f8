//! `wait`: a pause, e.g. the bake time before validation reads metrics.

use std::sync::Arc;
use std::time::Duration;

use super::{Action, BoxFuture, Outcome, ParseContext, StepKind, StepResult, StepRun, StepSpec, duration_setting};
use crate::runbook::duration::format_duration;

pub struct WaitKind;

#[derive(Debug)]
struct WaitAction {
    duration: Duration,
}

impl StepKind for WaitKind {
    fn name(&self) -> &'static str {
        "wait"
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>> {
        let duration = duration_setting(Some(spec.value), cx)?;
        Some(Arc::new(WaitAction { duration }))
    }
}

impl Action for WaitAction {
    fn describe(&self) -> String {
        format!("wait {}", format_duration(self.duration))
    }

    fn execute<'a>(&'a self, _run: &'a StepRun<'a>) -> BoxFuture<'a, StepResult> {
        Box::pin(async move {
            tokio::time::sleep(self.duration).await;
            Ok(Outcome { summary: Some(format!("waited {}", format_duration(self.duration))), ..Outcome::default() })
        })
    }
}
