//! What a metric source returns for one check, and how far back a check reads.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::duration::HumanDuration;
use crate::domain::plan::{Analysis, HookRun, MetricGate};

/// One datapoint: CloudWatch's value of a metric for one period.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Datapoint {
    pub at: DateTime<Utc>,
    pub value: f64,
}

/// What a metric source returned for one metric.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricReading {
    pub canary: Vec<Datapoint>,
    /// Absent when the metric has no baseline query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Vec<Datapoint>>,
}

/// Everything read for one check, up to `now`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub now: DateTime<Utc>,
    /// When the step being judged began: no window reaches back before it (data from the
    /// previous weight does not judge this one), unless the analysis says `look_before_step`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    pub readings: BTreeMap<String, MetricReading>,
}

/// An alarm of the plan's `rollback_alarms`, as a check read it (judged in `domain::alarm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
    /// No alarm of that name exists (deleted, renamed, another account or region).
    Missing,
}

impl AlarmState {
    /// As CloudWatch writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
            AlarmState::Missing => "MISSING",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlarmReading {
    pub name: String,
    pub state: AlarmState,
    /// CloudWatch's `StateReason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the alarm entered its state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
}

/// The window a metric is judged over at each check: its own, the analysis's, or one interval.
pub fn window(analysis: &Analysis, metric: &MetricGate) -> HumanDuration {
    metric.window.or(analysis.window).unwrap_or(analysis.interval)
}

/// How far back a metric must be read: its window, or longer for a sustained condition.
pub fn lookback(analysis: &Analysis, metric: &MetricGate) -> HumanDuration {
    let window = window(analysis, metric);
    metric.sustained.as_ref().map_or(window, |s| s.duration.max(window))
}

/// The period of a metric's datapoints (default one minute).
pub fn period(metric: &MetricGate) -> u32 {
    u32::try_from(metric.query.period.unwrap_or(HumanDuration::from_secs(60)).as_secs()).unwrap_or(60)
}

/// How a hook answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookOutcome {
    Passed,
    /// It answered that the test failed (or answered something that is not a pass).
    Failed,
    /// No answer within its timeout, or it could not be reached: never a pass.
    NoAnswer,
}

/// One hook's run, as the trail keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HookResult {
    pub hook: String,
    pub run: HookRun,
    pub outcome: HookOutcome,
    pub output: String,
    pub took_ms: u64,
    pub timeout_secs: u64,
    pub at: DateTime<Utc>,
}

impl HookResult {
    pub fn passed(&self) -> bool {
        self.outcome == HookOutcome::Passed
    }

    /// One sentence: what the hook did and what it said.
    pub fn sentence(&self) -> String {
        let said = if self.output.is_empty() { String::new() } else { format!(": {}", self.output) };
        match self.outcome {
            HookOutcome::Passed => format!("hook `{}` passed{said}", self.hook),
            HookOutcome::Failed => format!("hook `{}` failed{said}", self.hook),
            HookOutcome::NoAnswer => format!("hook `{}` gave no answer within {}s{said}", self.hook, self.timeout_secs),
        }
    }
}
