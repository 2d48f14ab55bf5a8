//! The weekly policy review: what the week's gates decided, read from the audit trail, so that
//! teams tune thresholds with data. Gate failure rates per metric, checklist items that block or
//! are overridden, rollbacks and their time to restore, approvals, and rollbacks that look like
//! false positives. Plain Rust over events; the policy-review function and the CLI do the I/O.
//!
//! `review` reads each release's trail once per concern (`aggregate`: outcomes, gate checks and
//! rollbacks, checklist items and overrides, approvals), then looks for likely false positives
//! (`false_positives`); `report` words the recommendations and the text.

mod aggregate;
pub mod backtest;
mod false_positives;
mod report;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use self::aggregate::Tally;
use self::false_positives::likely_false_positives;
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
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    (!values.is_empty()).then(|| crate::domain::gate::quantile(&values, 0.5))
}

/// Reviews `week` from its events (any order, any releases) and the facts of those releases.
pub fn review(week: ReviewWeek, events: &[ReleaseEvent], facts: &[ReleaseFacts], now: DateTime<Utc>) -> WeeklyReview {
    let (from, to) = (week.start(), week.end());
    let facts: BTreeMap<&str, &ReleaseFacts> = facts.iter().map(|f| (f.id.as_str(), f)).collect();
    let by_release = trails(events, from, to);

    let mut tally = Tally::default();
    for (&id, trail) in &by_release {
        let service = facts.get(id).map_or("", |f| f.service.as_str());
        tally.add_release(id, service, trail, now, to);
    }
    tally.finish_metrics();

    let likely_false_positives = likely_false_positives(&tally.rollbacks, &facts, &by_release, &tally.promoted_at, from);
    let rollbacks: Vec<RollbackSummary> = tally.rollbacks.into_iter().map(|r| r.summary).collect();
    let median_time_to_restore_secs = median(rollbacks.iter().map(|r| r.time_to_restore_secs as f64).collect()).map(|m| m.round() as i64);
    let mut review = WeeklyReview {
        week,
        from,
        to,
        releases: by_release.len(),
        outcomes: tally.outcomes,
        metrics: tally.metrics,
        checklist: tally.checklist,
        overrides: tally.overrides,
        rollbacks,
        median_time_to_restore_secs,
        likely_false_positives,
        approvals: tally.approvals.stats(),
        recommendations: Vec::new(),
    };
    review.recommendations = recommendations(&review);
    review
}

/// The events of `[from, to)` per release, each trail oldest first.
fn trails(events: &[ReleaseEvent], from: DateTime<Utc>, to: DateTime<Utc>) -> BTreeMap<&str, Vec<&ReleaseEvent>> {
    let mut by_release: BTreeMap<&str, Vec<&ReleaseEvent>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.at >= from && e.at < to) {
        by_release.entry(e.release_id.as_str()).or_default().push(e);
    }
    for trail in by_release.values_mut() {
        trail.sort_by_key(|e| (e.at, e.seq));
    }
    by_release
}

/// Reads the week's events and the facts of their releases, and reviews them.
pub async fn compile(
    index: &dyn crate::ports::WeeklyEvents,
    store: &dyn crate::ports::ReleaseStore,
    week: ReviewWeek,
    now: DateTime<Utc>,
) -> Result<WeeklyReview, crate::ports::StoreError> {
    let events = index.events_in_week(week).await?;
    let ids: BTreeSet<&str> = events.iter().map(|e| e.release_id.as_str()).collect();
    let mut facts = Vec::with_capacity(ids.len());
    for id in ids {
        // A release whose record has expired still counts; it only cannot be matched by version.
        if let Some(r) = store.release(id).await? {
            facts.push(ReleaseFacts { id: r.id, service: r.service, environment: r.environment, version: r.version });
        }
    }
    Ok(review(week, &events, &facts, now))
}

#[cfg(test)]
mod tests;
