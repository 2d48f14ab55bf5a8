//! Step hooks (`steps[].hooks`): smoke and load tests that gate a step like its metrics. What a
//! hook is sent, what its answer means, and how a check's verdict takes it in. Calling the hook
//! is a port's work (`ports::HookRunner`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::gate::{GateOutcome, GateVerdict};
use crate::domain::plan::{Hook, HookRun};

pub use crate::domain::observation::{HookOutcome, HookResult};
use crate::domain::text::clip;

/// The longest output kept from a hook, in characters (the trail item and the reason stay small).
pub const MAX_OUTPUT_CHARS: usize = 500;

/// What a hook is sent (the Lambda function's event, the HTTP request's body, with `input` added
/// for a Lambda hook): which release, which step, and when in it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HookContext {
    pub hook: String,
    pub run: HookRun,
    pub release_id: String,
    pub service: String,
    pub environment: String,
    pub version: String,
    pub stable_version: Option<String>,
    /// The step, counted from 1 as people count.
    pub step: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_name: Option<String>,
    /// The step's weight: the canary's share once the step is set (before it, for `before_shift`).
    pub weight: u32,
}

/// A hook's answer, as the port read it.
#[derive(Clone, Debug, PartialEq)]
pub struct HookAnswer {
    pub outcome: HookOutcome,
    /// What the test said (its `output`, an error, the HTTP answer), cut to `MAX_OUTPUT_CHARS`.
    pub output: String,
    pub took_ms: u64,
}

impl HookAnswer {
    pub fn new(outcome: HookOutcome, output: &str, took: std::time::Duration) -> Self {
        Self { outcome, output: clip(output.trim(), MAX_OUTPUT_CHARS), took_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX) }
    }
}

/// `hook`'s run: what it answered, ended at `at`.
pub fn result(hook: &Hook, answer: HookAnswer, at: DateTime<Utc>) -> HookResult {
    HookResult {
        hook: hook.name.clone(),
        run: hook.run,
        outcome: answer.outcome,
        output: answer.output,
        took_ms: answer.took_ms,
        timeout_secs: hook.timeout.as_secs(),
        at,
    }
}

/// Why a step's hooks stop it, if any failed: their sentences, in the plan's order.
pub fn failures(results: &[HookResult]) -> Option<String> {
    let failed: Vec<String> = results.iter().filter(|r| !r.passed()).map(HookResult::sentence).collect();
    (!failed.is_empty()).then(|| failed.join("; "))
}

/// `verdict` (or, for a step that judges no metrics, a verdict of its own) with the hooks that
/// ran at this check: a hook that failed or gave no answer is critical (the step rolls back now,
/// with the hook's output leading the summary); a passed one is listed.
pub fn with_hooks(verdict: Option<GateVerdict>, results: &[HookResult], now: DateTime<Utc>) -> GateVerdict {
    let mut verdict = verdict.unwrap_or_else(|| GateVerdict::empty(now));
    let metrics_fine = verdict.outcome == GateOutcome::Pass;
    if results.iter().any(|r| !r.passed()) {
        verdict.outcome = GateOutcome::Critical;
    }
    let passed = results.iter().filter(|r| r.passed()).count();
    let counts = !verdict.summary.is_empty();
    let fine = format!("{passed} hook(s) passed");
    verdict.summary = crate::domain::gate::joined_summary(&verdict.summary, counts, metrics_fine, failures(results), fine);
    verdict.hooks.extend(results.iter().cloned());
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::duration::HumanDuration;

    fn hook(name: &str) -> Hook {
        Hook { name: name.into(), run: HookRun::EveryCheck, lambda: None, http: None, timeout: HumanDuration::from_secs(30) }
    }

    fn result(name: &str, outcome: HookOutcome, output: &str) -> HookResult {
        super::result(&hook(name), HookAnswer::new(outcome, output, std::time::Duration::from_millis(1200)), Utc::now())
    }

    #[test]
    fn a_failed_or_silent_hook_is_critical_and_its_output_leads_the_summary() {
        let now = Utc::now();
        let passing = with_hooks(None, &[result("smoke", HookOutcome::Passed, "40/40 ok")], now);
        assert_eq!(passing.outcome, GateOutcome::Pass);
        assert_eq!(passing.summary, "1 hook(s) passed");
        assert_eq!(passing.hooks.len(), 1);

        let failing = with_hooks(
            Some(GateVerdict { summary: "error_rate 0.2 < 1".into(), ..GateVerdict::empty(now) }),
            &[result("smoke", HookOutcome::Passed, ""), result("load", HookOutcome::Failed, "p95 4.2 s at 200 rps")],
            now,
        );
        assert_eq!(failing.outcome, GateOutcome::Critical);
        assert_eq!(failing.summary, "hook `load` failed: p95 4.2 s at 200 rps");

        let silent = with_hooks(None, &[result("smoke", HookOutcome::NoAnswer, "")], now);
        assert_eq!(silent.outcome, GateOutcome::Critical);
        assert_eq!(silent.summary, "hook `smoke` gave no answer within 30s");
    }

    #[test]
    fn output_is_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_OUTPUT_CHARS + 10);
        let answer = HookAnswer::new(HookOutcome::Failed, &long, std::time::Duration::ZERO);
        assert_eq!(answer.output.chars().count(), MAX_OUTPUT_CHARS);
        assert!(answer.output.ends_with('…'));
    }
}
