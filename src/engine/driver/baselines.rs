//! Baselines: the level of a metric before the release, measured once just
//! before `execute` begins for every check that compares with it, and
//! journaled so a resumed run compares with the same value.

use super::step_env::Handle;
use super::{Engine, EngineError};
use crate::event::Event;
use crate::plan::PlannedStep;
use crate::step::{StepBody, StepRun};

impl Engine {
    /// Before the first change: every step that compares with the level
    /// before the release measures it now, once (a resume reads it back).
    pub(super) async fn capture_baselines(&self) -> Result<(), EngineError> {
        fn all(steps: &[PlannedStep], out: &mut Vec<PlannedStep>) {
            for p in steps {
                out.push(p.clone());
                all(&p.children, out);
            }
        }
        let mut steps = Vec::new();
        for stage in &self.plan.stages {
            all(&stage.steps, &mut steps);
            all(&stage.gates, &mut steps);
        }
        let handle = Handle(self);
        for planned in &steps {
            let StepBody::Action(action) = &planned.step.body else { continue };
            let run = StepRun { key: &planned.key, step: &planned.step, attempt: 1, env: &handle };
            for (name, measure) in action.baselines(&run) {
                let key = (crate::step::BASELINE.to_string(), name.clone());
                if self.memory().integration_state.contains_key(&key) {
                    continue;
                }
                let value = match measure.await {
                    Ok(v) => v.map_or_else(|| "none".to_string(), |v| v.to_string()),
                    Err(e) => {
                        self.emit(Event::Warning {
                            message: format!(
                                "no baseline for `{}`: {}; it will fail unless it allows no data",
                                planned.step.label(),
                                e.message()
                            ),
                        })?;
                        "none".to_string()
                    }
                };
                self.memory().integration_state.insert(key, value.clone());
                self.emit(Event::IntegrationState { integration: crate::step::BASELINE.into(), name, value })?;
            }
        }
        Ok(())
    }
}
