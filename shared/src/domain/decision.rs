//! What a release does next, from the plan, the step's history and the new verdict.
//!
//! The state machine only routes on [`Action`]; every rule lives here, so the local simulator
//! and the deployed functions decide the same way.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::duration::HumanDuration;
use crate::domain::gate::{GateOutcome, GateVerdict};
use crate::domain::plan::{InconclusivePolicy, Plan};
use crate::domain::policy::Freeze;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Keep the step; check again after `next_check_in_secs`.
    Bake,
    /// Move to `next_step` (through its approval, if the plan asks for one).
    Advance,
    /// The last step passed: make the new version stable.
    Promote,
    /// Restore the stable version.
    Rollback,
}

/// Where the release stands in its current step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepProgress {
    pub step: usize,
    /// When the step's weight was set (bake time counts from here).
    pub started_at: DateTime<Utc>,
    /// Outcomes of the step's earlier checks, oldest first.
    #[serde(default)]
    pub prior: Vec<GateOutcome>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub action: Action,
    pub step: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_step: Option<usize>,
    /// For `bake`: when to check again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_check_in_secs: Option<u64>,
    pub reason: String,
    pub bake_served_secs: u64,
    pub bake_required_secs: u64,
    pub consecutive_failures: u32,
    pub inconclusive_checks: u32,
}

/// Decides the next action. `verdict` is `None` for a plan without analysis (time-only bakes).
pub fn decide(plan: &Plan, progress: &StepProgress, verdict: Option<&GateVerdict>, now: DateTime<Utc>) -> Decision {
    let steps = &plan.traffic.steps;
    let step = progress.step.min(steps.len().saturating_sub(1));
    let required = steps.get(step).map_or(0, |s| s.bake.as_secs());
    let served = u64::try_from(now.signed_duration_since(progress.started_at).num_seconds().max(0)).unwrap_or(0);
    let analysis = plan.analysis_at(step);
    let analysis = analysis.as_deref();
    let interval = analysis.map_or(required, |a| a.interval.as_secs());
    let outcomes: Vec<GateOutcome> = progress.prior.iter().copied().chain(verdict.map(|v| v.outcome)).collect();
    let consecutive_failures = outcomes.iter().rev().take_while(|o| **o == GateOutcome::Fail).count() as u32;
    let inconclusive_checks = outcomes.iter().filter(|o| matches!(o, GateOutcome::Inconclusive | GateOutcome::Marginal)).count() as u32;
    let mut decision = Decision {
        action: Action::Bake,
        step,
        next_step: None,
        next_check_in_secs: None,
        reason: String::new(),
        bake_served_secs: served,
        bake_required_secs: required,
        consecutive_failures,
        inconclusive_checks,
    };
    let summary = verdict.map(|v| v.summary.clone()).unwrap_or_default();
    let needed_failures = analysis.map_or(1, |a| a.consecutive_failures.max(1));
    let max_inconclusive = analysis.map_or(0, |a| a.max_inconclusive);
    let policy = analysis.map_or(InconclusivePolicy::Fail, |a| a.on_inconclusive);

    // A rollback an earlier check of this step decided stands: the process that recorded it may
    // have stopped before the state machine saw the decision, and its retry must not overrule it.
    let prior = &progress.prior;
    let prior_failures = prior.iter().rev().take_while(|o| **o == GateOutcome::Fail).count() as u32;
    let prior_inconclusive = prior.iter().filter(|o| matches!(o, GateOutcome::Inconclusive | GateOutcome::Marginal)).count() as u32;
    if prior.contains(&GateOutcome::Critical) {
        return rollback(decision, "an earlier check of this step was critical; its rollback stands".into());
    }
    if analysis.is_some() && prior_failures >= needed_failures {
        return rollback(decision, format!("an earlier check of this step failed {prior_failures} time(s) in a row; its rollback stands"));
    }
    if analysis.is_some() && policy == InconclusivePolicy::Fail && prior_inconclusive > max_inconclusive {
        return rollback(
            decision,
            format!(
                "earlier checks of this step were inconclusive {prior_inconclusive} times, more than the {max_inconclusive} allowed; that rollback stands"
            ),
        );
    }

    let latest = verdict.map(|v| v.outcome);
    let mut passed = match latest {
        Some(GateOutcome::Critical) => return rollback(decision, format!("critical: {summary}")),
        Some(GateOutcome::Fail) if consecutive_failures >= needed_failures => {
            let times = if needed_failures > 1 { format!(" ({consecutive_failures} checks in a row)") } else { String::new() };
            return rollback(decision, format!("gate failed{times}: {summary}"));
        }
        Some(GateOutcome::Fail) => {
            decision.reason = format!("gate failed {consecutive_failures} of {needed_failures} times in a row; checking again: {summary}");
            false
        }
        Some(GateOutcome::Inconclusive | GateOutcome::Marginal) if inconclusive_checks > max_inconclusive => match policy {
            InconclusivePolicy::Fail => {
                return rollback(
                    decision,
                    format!("{inconclusive_checks} inconclusive checks, more than the {max_inconclusive} allowed: {summary}"),
                );
            }
            InconclusivePolicy::Hold => {
                // Every wait is bounded: a hold ends after max_hold (the step's bake by default).
                let held = held_for(&outcomes, served, interval);
                let max_hold = analysis.and_then(|a| a.max_hold).map_or(required, HumanDuration::as_secs);
                if held > max_hold {
                    return rollback(
                        decision,
                        format!(
                            "{inconclusive_checks} inconclusive checks: inconclusive for {}, longer than max_hold {}; failing closed: {summary}",
                            fmt_secs(held),
                            fmt_secs(max_hold)
                        ),
                    );
                }
                decision.reason = format!(
                    "holding: {inconclusive_checks} inconclusive checks and the plan says hold (inconclusive for {} of max_hold {}): {summary}",
                    fmt_secs(held),
                    fmt_secs(max_hold)
                );
                false
            }
            InconclusivePolicy::Pass => {
                decision.reason = format!("{inconclusive_checks} inconclusive checks; the plan treats that as a pass");
                true
            }
        },
        Some(GateOutcome::Inconclusive | GateOutcome::Marginal) => {
            decision.reason = format!("inconclusive ({inconclusive_checks} of {max_inconclusive} allowed); checking again: {summary}");
            false
        }
        Some(GateOutcome::Pass) | None => true,
    };
    // A step only advances on a passing check once its bake time is served.
    if served < required {
        if passed {
            decision.reason = format!("baking: {} of {} served", fmt_secs(served), fmt_secs(required));
        }
        passed = false;
        decision.next_check_in_secs = Some(interval.min(required - served).max(1));
    }
    if !passed {
        decision.next_check_in_secs.get_or_insert(interval.max(1));
        return decision;
    }
    if step + 1 >= steps.len() {
        decision.action = Action::Promote;
        decision.reason = format!("last step ({}%) baked {} and passed", steps.get(step).map_or(100, |s| s.weight), fmt_secs(served));
    } else {
        decision.action = Action::Advance;
        decision.next_step = Some(step + 1);
        decision.reason =
            format!("step {} ({}%) baked {} and passed; next {}%", step + 1, steps[step].weight, fmt_secs(served), steps[step + 1].weight);
    }
    decision
}

/// `decision` during a deploy freeze of the platform's policy: a step that would advance (or a
/// release that would be promoted) holds its weight instead, and is checked again at its
/// interval (sooner if the freeze ends first); checks go on, and a failure still rolls back.
pub fn hold_for_freeze(mut decision: Decision, freeze: &Freeze, interval_secs: u64, now: DateTime<Utc>) -> Decision {
    if !matches!(decision.action, Action::Advance | Action::Promote) {
        return decision;
    }
    let until_end = u64::try_from((freeze.to - now).num_seconds().max(1)).unwrap_or(1);
    decision.reason =
        format!("holding: deploys are frozen until {} ({}); {}", freeze.to.format("%Y-%m-%d %H:%M UTC"), freeze.reason, decision.reason);
    decision.action = Action::Bake;
    decision.next_step = None;
    decision.next_check_in_secs = Some(interval_secs.max(1).min(until_end));
    decision
}

/// How long the step has gone without a passing check, at most: since its last passing (or
/// critical) check, or since it started. Check times are not recorded, so each check of the
/// current run counts a full interval (checks are at most an interval apart; one landing on the
/// end of the bake comes sooner), capped by the time the step has baked. It errs long, the side
/// that ends a hold sooner.
fn held_for(outcomes: &[GateOutcome], served: u64, interval: u64) -> u64 {
    let run =
        outcomes.iter().rev().take_while(|o| matches!(o, GateOutcome::Inconclusive | GateOutcome::Marginal | GateOutcome::Fail)).count();
    u64::try_from(run).unwrap_or(u64::MAX).saturating_mul(interval).min(served)
}

fn rollback(mut decision: Decision, reason: String) -> Decision {
    decision.action = Action::Rollback;
    decision.next_check_in_secs = None;
    decision.reason = reason;
    decision
}

fn fmt_secs(secs: u64) -> String {
    crate::HumanDuration::from_secs(secs).to_string()
}

#[cfg(test)]
mod tests;
