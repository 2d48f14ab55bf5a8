//! Judging metric gates: canary (and baseline) datapoints against a plan's metric criteria.
//!
//! Plain Rust: the caller reads the datapoints (a `MetricSource`) and passes them in. Every
//! verdict carries, per metric, the values, the bound, the window, the sample counts and one
//! sentence a person can read.
//!
//! One metric is judged by concern (`metric` puts them together): the critical tier and the
//! absolute bounds (`thresholds`), the sustained condition (`sustained`), the bounds against
//! the baseline (`baseline`) and the statistical comparison (`compare`). A value that is not a
//! finite number, read or derived, never makes a metric pass (`series`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::bounds::format_number;
pub use crate::domain::observation::{Datapoint, MetricReading, Observation, lookback, period};
use crate::domain::plan::Analysis;

mod baseline;
mod compare;
mod metric;
mod score;
mod series;
mod sustained;
mod thresholds;
pub(crate) mod wire;

pub use compare::{Classification, ComparisonDetail};
pub use score::Score;
pub(crate) use series::quantile;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricOutcome {
    Pass,
    Inconclusive,
    Fail,
    /// Rolls back at once (critical tier or a sustained condition).
    Critical,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateOutcome {
    Pass,
    /// The score is between the marginal and the pass threshold: keep baking.
    Marginal,
    Inconclusive,
    Fail,
    Critical,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    MinSamples,
    /// Every datapoint judged, and every mean taken of them, is a finite number.
    Finite,
    Must,
    RollbackIf,
    Sustained,
    Baseline,
    Compare,
}

/// One criterion as judged: the bound, what was observed, whether it held.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CriterionCheck {
    pub criterion: Criterion,
    pub held: bool,
    /// The rule, e.g. `error_rate < 1%`.
    pub bound: String,
    /// What was seen, e.g. `1.8% (n=15)`.
    pub observed: String,
    /// The statistic behind a `compare` criterion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistic: Option<ComparisonDetail>,
}

/// A summary of one side's datapoints in the window.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SideSummary {
    /// Mean of the finite datapoints in the window (not finite when their sum overflows).
    #[serde(with = "wire::number")]
    pub value: f64,
    pub samples: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricVerdict {
    pub metric: String,
    pub outcome: MetricOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<SideSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<SideSummary>,
    pub checks: Vec<CriterionCheck>,
    /// One sentence a person can read.
    pub sentence: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateVerdict {
    pub outcome: GateOutcome,
    pub judged_at: DateTime<Utc>,
    pub metrics: Vec<MetricVerdict>,
    /// The weighted score of the statistical comparisons, when the plan has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<Score>,
    pub summary: String,
    /// The plan's `rollback_alarms` as this check read them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<crate::domain::observation::AlarmReading>,
    /// The step's hooks that ran at this check, with what they said.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<crate::domain::observation::HookResult>,
}

/// A verdict's summary once it took in more than its metrics (alarms, hooks): what went wrong
/// (`trouble`) leads; a check where nothing did keeps what it said (if it `counts`) and adds
/// `fine`. A metric failure stays after the trouble; a fine metrics summary gives way to it.
pub(crate) fn joined_summary(before: &str, counts: bool, metrics_fine: bool, trouble: Option<String>, fine: String) -> String {
    match (trouble, counts) {
        (None, false) => fine,
        (None, true) => format!("{before}; {fine}"),
        (Some(trouble), false) => trouble,
        (Some(trouble), true) if metrics_fine => trouble,
        (Some(trouble), true) => format!("{trouble}; {before}"),
    }
}

impl GateVerdict {
    /// A passing verdict with nothing judged yet: the start of a check that judges no metrics
    /// (alarms and hooks only).
    pub fn empty(now: DateTime<Utc>) -> Self {
        Self {
            outcome: GateOutcome::Pass,
            judged_at: now,
            metrics: Vec::new(),
            score: None,
            summary: String::new(),
            alarms: Vec::new(),
            hooks: Vec::new(),
        }
    }
}

/// Judges every metric of the analysis against what was observed.
pub fn judge(analysis: &Analysis, observation: &Observation) -> GateVerdict {
    let metrics: Vec<MetricVerdict> =
        analysis.metrics.iter().map(|m| metric::judge_metric(analysis, m, observation.readings.get(&m.name), observation)).collect();
    let mut outcome = metrics.iter().map(|m| m.outcome).max().map_or(GateOutcome::Pass, |worst| match worst {
        MetricOutcome::Pass => GateOutcome::Pass,
        MetricOutcome::Inconclusive => GateOutcome::Inconclusive,
        MetricOutcome::Fail => GateOutcome::Fail,
        MetricOutcome::Critical => GateOutcome::Critical,
    });
    let score = score::score(analysis, &metrics);
    let mut notes: Vec<String> = metrics.iter().filter(|m| m.outcome != MetricOutcome::Pass).map(|m| m.sentence.clone()).collect();
    if let (Some(score), Some(thresholds)) = (&score, &analysis.score) {
        // Metrics the comparison classified High or Low, which only the score acts on.
        let shifted: Vec<String> = metrics
            .iter()
            .filter(|m| m.outcome == MetricOutcome::Pass && m.checks.iter().any(|c| c.criterion == Criterion::Compare && !c.held))
            .map(|m| m.sentence.clone())
            .collect();
        let zeroed = score.zeroed_by.as_ref().map(|m| format!(" (critical metric {m} shifted)")).unwrap_or_default();
        let verdict = if score.value >= thresholds.pass {
            None
        } else if score.value >= thresholds.marginal {
            Some((
                GateOutcome::Marginal,
                format!(
                    "score {} is marginal (pass {}, marginal {})",
                    format_number(score.value),
                    format_number(thresholds.pass),
                    format_number(thresholds.marginal)
                ),
            ))
        } else {
            Some((
                GateOutcome::Fail,
                format!("score {}{zeroed} < marginal {}", format_number(score.value), format_number(thresholds.marginal)),
            ))
        };
        if let Some((score_outcome, text)) = verdict {
            outcome = outcome.max(score_outcome);
            notes.push(if shifted.is_empty() { text } else { format!("{text}: {}", shifted.join("; ")) });
        }
    }
    let summary = if notes.is_empty() { format!("all {} metrics within bounds", metrics.len()) } else { notes.join("; ") };
    GateVerdict { outcome, judged_at: observation.now, metrics, score, summary, alarms: Vec::new(), hooks: Vec::new() }
}

#[cfg(test)]
mod tests;
