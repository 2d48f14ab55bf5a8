//! The weekly policy review: what the week's gates decided, read from the audit trail, so that
//! teams tune thresholds with data. Gate failure rates per metric, checklist items that block or
//! are overridden, rollbacks and their time to restore, approvals, and rollbacks that look like
//! false positives. Plain Rust over events; the policy-review function and the CLI do the I/O.
//!
//! A review reads the reviewed week and the weeks before it (the trend window, 4 by default, at
//! most 12), one event at a time: `input` keeps of each only what the review reads, so that a
//! window of a million events is never held as events. For each week it reads each release's
//! trail once per concern (`aggregate`: outcomes, gate checks and rollbacks, checklist items and
//! overrides, approvals), looks for likely false positives (`false_positives`: promotions
//! anywhere later in the window count) and computes the week's figures (`figures`); the trends
//! compare the reviewed week with the weeks before it. `report` words the recommendations and
//! the text, `emf` the figures as CloudWatch embedded metric format lines.

mod aggregate;
pub mod backtest;
pub mod emf;
mod false_positives;
mod figures;
mod input;
mod report;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use self::aggregate::Tally;
use self::false_positives::{Promotions, likely_false_positives};
pub use self::figures::{Direction, Figure, ServiceFigures, Trend, UNKNOWN, WeekFigures, WeekValue};
pub use self::input::ReviewInput;
use self::report::recommendations;
use crate::release::ReleaseEvent;
pub use crate::release::week::ReviewWeek;

/// What the review needs to know of a release beyond its events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseFacts {
    pub id: String,
    pub service: String,
    pub environment: String,
    pub version: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Outcomes {
    pub promoted: usize,
    pub rolled_back: usize,
    pub blocked: usize,
    pub aborted: usize,
    /// Releases with activity this week that had not ended by its close.
    pub open: usize,
}

/// One metric's record over the week's checks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricStats {
    pub checks: usize,
    pub failures: usize,
    pub inconclusive: usize,
    /// Distinct releases where it failed at least once.
    pub releases_failed: usize,
    /// Rollbacks it caused (it failed in the check that decided the rollback).
    pub rollbacks: usize,
    pub failure_rate: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemStats {
    pub judged: usize,
    pub blocked: usize,
    pub warned: usize,
    pub overridden: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OverrideUse {
    pub release_id: String,
    pub item: String,
    pub approver: String,
    pub justification: String,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RollbackSummary {
    pub release_id: String,
    pub service: String,
    pub reason: String,
    /// Metrics that failed in the check that decided it (empty for other causes).
    pub metrics: Vec<String>,
    pub time_to_restore_secs: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_target: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuspectRollback {
    pub release_id: String,
    pub service: String,
    pub metrics: Vec<String>,
    /// Why it looks like a false positive.
    pub evidence: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ApprovalStats {
    pub requested: usize,
    pub approved: usize,
    pub rejected: usize,
    /// Requests nobody decided before they expired (each a rejection).
    pub expired: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_minutes_to_decide: Option<f64>,
}

/// The week's report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeeklyReview {
    pub week: ReviewWeek,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub releases: usize,
    pub outcomes: Outcomes,
    pub metrics: BTreeMap<String, MetricStats>,
    pub checklist: BTreeMap<String, ItemStats>,
    pub overrides: Vec<OverrideUse>,
    pub rollbacks: Vec<RollbackSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_time_to_restore_secs: Option<i64>,
    pub likely_false_positives: Vec<SuspectRollback>,
    pub approvals: ApprovalStats,
    /// What to look at, worded as actions.
    pub recommendations: Vec<String>,
    /// This week's figures per service and environment (what the function publishes as metrics).
    #[serde(default)]
    pub services: Vec<ServiceFigures>,
    /// The fleet's figures of each week compared, oldest first, this week last.
    #[serde(default)]
    pub history: Vec<WeekFigures>,
    /// Each figure this week beside the previous weeks, and which way it moved.
    #[serde(default)]
    pub trends: Vec<Trend>,
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    (!values.is_empty()).then(|| crate::domain::gate::quantile(&values, 0.5))
}

/// How many weeks before the reviewed one its trends compare with, unless told otherwise.
pub const DEFAULT_PREVIOUS_WEEKS: usize = 4;
/// The most previous weeks a review reads: the history it reads is bounded.
pub const MAX_PREVIOUS_WEEKS: usize = 12;

/// The weeks a review of `week` reads, oldest first and `week` last: `previous` weeks before it
/// (at most [`MAX_PREVIOUS_WEEKS`]; fewer when the calendar starts earlier).
pub fn window(week: ReviewWeek, previous: usize) -> Vec<ReviewWeek> {
    let start = week.start();
    let mut weeks: Vec<ReviewWeek> = (1..=previous.min(MAX_PREVIOUS_WEEKS) as i64)
        .rev()
        .filter_map(|k| start.checked_sub_signed(Duration::weeks(k)).map(ReviewWeek::containing))
        .collect();
    weeks.push(week);
    weeks
}

/// Reviews `week` beside its `previous` weeks from their events (any order, any releases; events
/// outside the window are ignored) and the facts of those releases: [`ReviewInput::review`] of
/// the events added one by one.
pub fn review(week: ReviewWeek, previous: usize, events: &[ReleaseEvent], facts: &[ReleaseFacts], now: DateTime<Utc>) -> WeeklyReview {
    let mut input = ReviewInput::new(week, previous);
    for e in events {
        input.add(e);
    }
    input.review(facts, now)
}

impl ReviewInput {
    /// Reviews the week beside the weeks before it from the events added and the facts of their
    /// releases. A release missing from `facts` takes its service, environment and version from
    /// its `admitted` event when the window holds it.
    pub fn review(&self, facts: &[ReleaseFacts], now: DateTime<Utc>) -> WeeklyReview {
        let (week, to) = (self.week, self.week.end());
        let mut trails: Vec<(&str, &input::Trail)> = self.releases.iter().map(|(id, trail)| (id.as_str(), trail)).collect();
        trails.sort_unstable_by_key(|&(id, _)| id);
        let mut known: BTreeMap<&str, ReleaseFacts> = facts.iter().map(|f| (f.id.as_str(), f.clone())).collect();
        for &(id, trail) in &trails {
            if !known.contains_key(id)
                && let Some(f) = self.admitted(id, trail)
            {
                known.insert(id, f);
            }
        }
        let promotions = Promotions::of(&trails, &known);

        let mut history = Vec::with_capacity(self.weeks.len());
        let mut reviewed = None;
        for (i, &w) in self.weeks.iter().enumerate() {
            let (start, end) = (w.start(), w.end());
            let mut tally = Tally::default();
            for &(id, trail) in trails.iter().filter(|(_, trail)| trail.active & (1 << i) != 0) {
                // Each trail is sorted by time: the week's events are one slice of it (empty
                // when the release did nothing the tally reads that week).
                let first = trail.events.partition_point(|e| e.at < start);
                let last = trail.events.partition_point(|e| e.at < end);
                let service = known.get(id).map_or("", |f| f.service.as_str());
                tally.add_release(id, service, &trail.events[first..last], &self.names, now, end);
            }
            let suspects = likely_false_positives(&tally.rollbacks, &known, &promotions);
            let (figures, services) = figures::week_figures(w, &tally, &suspects, &known);
            history.push(figures);
            if w == week {
                reviewed = Some((tally, suspects, services));
            }
        }
        let (mut tally, likely_false_positives, services) = reviewed.unwrap_or_default();
        tally.finish_metrics();
        let releases = tally.releases.len();
        let rollbacks: Vec<RollbackSummary> = tally.rollbacks.into_iter().map(|r| r.summary).collect();
        let median_time_to_restore_secs =
            median(rollbacks.iter().map(|r| r.time_to_restore_secs as f64).collect()).map(|m| m.round() as i64);
        let trends = figures::trends(&history);
        let mut review = WeeklyReview {
            week,
            from: week.start(),
            to,
            releases,
            outcomes: tally.outcomes,
            metrics: tally.metrics,
            checklist: tally.checklist,
            overrides: tally.overrides,
            rollbacks,
            median_time_to_restore_secs,
            likely_false_positives,
            approvals: tally.approvals.stats(),
            recommendations: Vec::new(),
            services,
            history,
            trends,
        };
        review.recommendations = recommendations(&review);
        review
    }
}

/// Reads the events of `week` and its `previous` weeks (one query of the `by-week` index per
/// week, a page at a time, each event cut down to what the review reads as it comes) and the
/// facts of releases whose admission is not among them, and reviews them.
pub async fn compile(
    index: &dyn crate::ports::WeeklyEvents,
    store: &dyn crate::ports::ReleaseStore,
    week: ReviewWeek,
    previous: usize,
    now: DateTime<Utc>,
) -> Result<WeeklyReview, crate::ports::StoreError> {
    let mut input = ReviewInput::new(week, previous);
    for w in input.weeks().to_vec() {
        index.visit_events_in_week(w, &mut |e| input.add(&e)).await?;
    }
    let mut unknown: Vec<&str> = input.releases_not_admitted().collect();
    unknown.sort_unstable();
    let mut facts = Vec::with_capacity(unknown.len());
    for id in unknown {
        // A release whose record has expired still counts; it only cannot be matched by version.
        if let Some(r) = store.release(id).await? {
            facts.push(ReleaseFacts { id: r.id, service: r.service, environment: r.environment, version: r.version });
        }
    }
    Ok(input.review(&facts, now))
}

#[cfg(test)]
mod tests;
