//! policy-review: a weekly EventBridge schedule runs it on Monday morning. It reads the past
//! week's decisions from the audit trail (the table's `by-week` index), reviews them (gate
//! failure rates, overrides, likely false positives, rollback times, approvals) and publishes
//! the report on the release topic, with each figure's trend over the weeks before it (4 by
//! default; `{"previous_weeks": 8}`, at most 12). Then it writes the week's figures per service
//! and environment as CloudWatch embedded metric format lines (namespace `Rollgate/Review`) to
//! `metrics`, which `main` points at stdout: Lambda ships stdout to CloudWatch Logs, which
//! extracts the metrics. `{"week": "2026-W47"}` reviews a given week instead.

use chrono::{DateTime, Utc};
use rollgate::boundary::{ErrorName, TaskError};
use rollgate::ports::{ReleaseStore, ReviewPublisher, WeeklyEvents};
use rollgate::review::{DEFAULT_PREVIOUS_WEEKS, MAX_PREVIOUS_WEEKS, ReviewWeek, Trend, compile};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewOutput {
    pub week: ReviewWeek,
    pub releases: usize,
    pub rolled_back: usize,
    pub likely_false_positives: usize,
    pub recommendations: Vec<String>,
    /// Each figure this week beside the previous weeks, and which way it moved.
    pub trends: Vec<Trend>,
    /// The embedded metric format lines written (one per service and environment).
    pub metric_lines: usize,
}

fn invalid(message: impl Into<String>) -> TaskError {
    TaskError::new(ErrorName::InvalidRequest, message)
}

/// The week to review: `week` when given, else the week before the schedule's `time`.
fn week_of(event: &serde_json::Value, now: DateTime<Utc>) -> Result<ReviewWeek, TaskError> {
    if let Some(week) = event.get("week") {
        let text = week.as_str().ok_or_else(|| invalid("week: must be a string like \"2026-W47\""))?;
        return text.parse().map_err(|e| invalid(format!("week: {e}")));
    }
    match event.get("time").and_then(|t| t.as_str()) {
        Some(time) => DateTime::parse_from_rfc3339(time)
            .map(|t| ReviewWeek::before(t.with_timezone(&Utc)))
            .map_err(|e| invalid(format!("time: `{time}` is not an RFC 3339 time ({e})"))),
        None if event.as_object().is_some_and(|o| o.is_empty()) || event.is_null() => Ok(ReviewWeek::before(now)),
        None => Err(invalid("send an EventBridge scheduled event (with `time`), `{\"week\": \"2026-W47\"}`, or `{}` for last week")),
    }
}

/// How many weeks before the reviewed one the trends compare with: `previous_weeks`, else 4.
fn previous_weeks_of(event: &serde_json::Value) -> Result<usize, TaskError> {
    match event.get("previous_weeks") {
        None => Ok(DEFAULT_PREVIOUS_WEEKS),
        Some(n) => n
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n <= MAX_PREVIOUS_WEEKS)
            .ok_or_else(|| invalid(format!("previous_weeks: must be a whole number from 0 to {MAX_PREVIOUS_WEEKS}, not {n}"))),
    }
}

/// Reviews the week, publishes the report, then hands each EMF line to `metrics` (after the
/// report went out, so that a run Lambda retries after a failed publish writes them once).
pub async fn handler(
    event: serde_json::Value,
    index: &dyn WeeklyEvents,
    store: &dyn ReleaseStore,
    publisher: &dyn ReviewPublisher,
    metrics: &(dyn Fn(&str) + Sync),
) -> Result<ReviewOutput, TaskError> {
    let now = Utc::now();
    let week = week_of(&event, now)?;
    let previous = previous_weeks_of(&event)?;
    let review = compile(index, store, week, previous, now).await?;
    // Publishing is the job's whole point: a failure fails the run, which Lambda retries.
    publisher
        .publish_review(&review.report())
        .await
        .map_err(|e| TaskError::new(if e.transient { ErrorName::Transient } else { ErrorName::PublishFailed }, e.to_string()))?;
    let lines = review.emf_lines();
    for line in &lines {
        metrics(line);
    }
    tracing::info!(week = %week, releases = review.releases, metric_lines = lines.len(), "published the weekly review");
    Ok(ReviewOutput {
        week,
        releases: review.releases,
        rolled_back: review.outcomes.rolled_back,
        likely_false_positives: review.likely_false_positives.len(),
        recommendations: review.recommendations,
        trends: review.trends,
        metric_lines: lines.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }

    #[test]
    fn the_schedule_reviews_the_week_before_its_time() {
        let scheduled = serde_json::json!({"detail-type": "Scheduled Event", "source": "aws.events", "time": "2026-11-23T08:00:00Z"});
        assert_eq!(week_of(&scheduled, now()).map(|w| w.to_string()).ok(), Some("2026-W47".into()));
        assert_eq!(week_of(&serde_json::json!({"week": "2026-W40"}), now()).map(|w| w.to_string()).ok(), Some("2026-W40".into()));
        assert_eq!(week_of(&serde_json::json!({}), now()).map(|w| w.to_string()).ok(), Some("2026-W47".into()));
        for bad in [
            serde_json::json!({"week": 47}),
            serde_json::json!({"week": "47"}),
            serde_json::json!({"time": "monday"}),
            serde_json::json!({"x": 1}),
        ] {
            assert!(matches!(week_of(&bad, now()), Err(TaskError { name: ErrorName::InvalidRequest, .. })), "{bad}");
        }
    }

    #[test]
    fn the_trend_window_is_four_weeks_unless_told_and_at_most_twelve() {
        assert_eq!(previous_weeks_of(&serde_json::json!({})).ok(), Some(4));
        assert_eq!(previous_weeks_of(&serde_json::json!({"previous_weeks": 0})).ok(), Some(0));
        assert_eq!(previous_weeks_of(&serde_json::json!({"previous_weeks": 12})).ok(), Some(12));
        for bad in [
            serde_json::json!({"previous_weeks": 13}),
            serde_json::json!({"previous_weeks": -1}),
            serde_json::json!({"previous_weeks": "4"}),
        ] {
            let err = previous_weeks_of(&bad).err();
            assert!(err.is_some_and(|e| e.name == ErrorName::InvalidRequest && e.to_string().contains("from 0 to 12")), "{bad}");
        }
    }
}
