//! The weekly policy review: what the week's gates decided, read from the audit trail, so that
//! teams tune thresholds with data. Gate failure rates per metric, checklist items that block or
//! are overridden, rollbacks and their time to restore, approvals, and rollbacks that look like
//! false positives. Plain Rust over events; the policy-review function and the CLI do the I/O.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::bounds::with_unit;
use crate::domain::checklist::Effect;
use crate::domain::decision::Action;
use crate::domain::gate::MetricOutcome;
pub use crate::release::week::ReviewWeek;
use crate::release::{EventKind, ReleaseEvent, ReleaseStatus};

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
    let mut by_release: BTreeMap<&str, Vec<&ReleaseEvent>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.at >= from && e.at < to) {
        by_release.entry(e.release_id.as_str()).or_default().push(e);
    }
    for trail in by_release.values_mut() {
        trail.sort_by_key(|e| (e.at, e.seq));
    }

    let mut outcomes = Outcomes::default();
    let mut metrics: BTreeMap<String, MetricStats> = BTreeMap::new();
    let mut checklist: BTreeMap<String, ItemStats> = BTreeMap::new();
    let mut overrides = Vec::new();
    let mut rollbacks = Vec::new();
    let mut approvals = ApprovalStats::default();
    let mut minutes_to_decide = Vec::new();
    let mut promoted_at: Vec<(&str, DateTime<Utc>)> = Vec::new();
    let mut likely_false_positives = Vec::new();

    for (&id, trail) in &by_release {
        let service = facts.get(id).map_or("", |f| f.service.as_str()).to_string();
        let mut failed_here: BTreeSet<String> = BTreeSet::new();
        let mut last_failing: Vec<String> = Vec::new();
        let mut rollback_metrics: Vec<String> = Vec::new();
        // Failing absolute bounds that the stable version breached just as much, in the last check.
        let mut last_shared: Vec<String> = Vec::new();
        let mut rollback_shared: Vec<String> = Vec::new();
        let mut ended = false;
        let mut pending: Option<(DateTime<Utc>, DateTime<Utc>, bool)> = None; // requested, expires, decided
        for e in trail {
            match &e.kind {
                EventKind::GateJudged { verdict, .. } => {
                    last_failing.clear();
                    last_shared.clear();
                    for m in &verdict.metrics {
                        let stats = metrics.entry(m.metric.clone()).or_default();
                        stats.checks += 1;
                        match m.outcome {
                            MetricOutcome::Fail | MetricOutcome::Critical => {
                                stats.failures += 1;
                                failed_here.insert(m.metric.clone());
                                last_failing.push(m.metric.clone());
                                if let Some(line) = shared_failure(m) {
                                    last_shared.push(line);
                                }
                            }
                            MetricOutcome::Inconclusive => stats.inconclusive += 1,
                            MetricOutcome::Pass => {}
                        }
                    }
                }
                EventKind::Decided(d) if d.action == Action::Rollback => {
                    rollback_metrics = last_failing.clone();
                    rollback_shared = last_shared.clone();
                }
                EventKind::ChecklistJudged(v) => {
                    for item in &v.items {
                        let stats = checklist.entry(item.id.clone()).or_default();
                        stats.judged += 1;
                        match item.effect {
                            Effect::Blocked => stats.blocked += 1,
                            Effect::Warning => stats.warned += 1,
                            Effect::Overridden => stats.overridden += 1,
                            Effect::Passed | Effect::Recorded => {}
                        }
                    }
                    for o in v.overrides.iter().filter(|o| o.accepted) {
                        overrides.push(OverrideUse {
                            release_id: id.to_string(),
                            item: o.request.item.clone(),
                            approver: o.request.approver.clone(),
                            justification: o.request.justification.clone(),
                            at: e.at,
                        });
                    }
                }
                EventKind::ApprovalRequested { expires_at, .. } => {
                    if let Some((_, expires, false)) = pending.take()
                        && expires <= now
                    {
                        approvals.expired += 1;
                    }
                    approvals.requested += 1;
                    pending = Some((e.at, *expires_at, false));
                }
                EventKind::ApprovalDecided { approved, .. } => {
                    if let Some((requested, _, decided)) = pending.as_mut() {
                        if !*decided {
                            minutes_to_decide.push((e.at - *requested).num_seconds() as f64 / 60.0);
                        }
                        *decided = true;
                    }
                    if *approved {
                        approvals.approved += 1;
                    } else {
                        approvals.rejected += 1;
                    }
                }
                EventKind::RolledBack(r) => {
                    for m in &rollback_metrics {
                        metrics.entry(m.clone()).or_default().rollbacks += 1;
                    }
                    rollbacks.push(RollbackSummary {
                        release_id: id.to_string(),
                        service: service.clone(),
                        reason: r.reason.clone(),
                        metrics: rollback_metrics.clone(),
                        time_to_restore_secs: r.time_to_restore_secs,
                        target_secs: r.target_secs,
                        within_target: r.within_target,
                    });
                    if !rollback_shared.is_empty() {
                        likely_false_positives.push(SuspectRollback {
                            release_id: id.to_string(),
                            service: service.clone(),
                            metrics: rollback_metrics.clone(),
                            evidence: format!("the stable version measured the same: {}", rollback_shared.join("; ")),
                        });
                    }
                }
                EventKind::Closed { status, .. } => {
                    ended = true;
                    match status {
                        ReleaseStatus::Promoted => {
                            outcomes.promoted += 1;
                            promoted_at.push((id, e.at));
                        }
                        ReleaseStatus::RolledBack => outcomes.rolled_back += 1,
                        ReleaseStatus::Blocked => outcomes.blocked += 1,
                        ReleaseStatus::Aborted => outcomes.aborted += 1,
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        if let Some((_, expires, false)) = pending
            && expires <= now.min(to)
        {
            approvals.expired += 1;
        }
        if !ended {
            outcomes.open += 1;
        }
        for metric in failed_here {
            metrics.entry(metric).or_default().releases_failed += 1;
        }
    }
    for stats in metrics.values_mut() {
        stats.failure_rate = if stats.checks == 0 { 0.0 } else { stats.failures as f64 / stats.checks as f64 };
    }

    // A gate rollback of a version that later went out unchanged and was promoted: the gate
    // stopped a release that turned out fine.
    for r in rollbacks.iter().filter(|r| !r.metrics.is_empty()) {
        if likely_false_positives.iter().any(|s: &SuspectRollback| s.release_id == r.release_id) {
            continue;
        }
        let Some(rolled) = facts.get(r.release_id.as_str()) else { continue };
        let rolled_at = by_release.get(r.release_id.as_str()).and_then(|t| t.last()).map_or(from, |e| e.at);
        let later = promoted_at.iter().find(|(id, at)| {
            *at > rolled_at
                && facts
                    .get(id)
                    .is_some_and(|f| f.service == rolled.service && f.environment == rolled.environment && f.version == rolled.version)
        });
        if let Some((id, _)) = later {
            likely_false_positives.push(SuspectRollback {
                release_id: r.release_id.clone(),
                service: r.service.clone(),
                metrics: r.metrics.clone(),
                evidence: format!("the same version {} was released again unchanged and promoted ({id})", rolled.version),
            });
        }
    }

    let median_time_to_restore_secs = median(rollbacks.iter().map(|r| r.time_to_restore_secs as f64).collect()).map(|m| m.round() as i64);
    approvals.median_minutes_to_decide = median(minutes_to_decide).map(|m| (m * 10.0).round() / 10.0);
    let mut review = WeeklyReview {
        week,
        from,
        to,
        releases: by_release.len(),
        outcomes,
        metrics,
        checklist,
        overrides,
        rollbacks,
        median_time_to_restore_secs,
        likely_false_positives,
        approvals,
        recommendations: Vec::new(),
    };
    review.recommendations = recommendations(&review);
    review
}

/// A failed absolute bound (`must`, `rollback_if`, `sustained`) where the baseline is within 5%
/// of the canary: the stable version would have failed it too, so the bound, not the release,
/// looks wrong (or the environment was bad for both).
fn shared_failure(m: &crate::domain::gate::MetricVerdict) -> Option<String> {
    use crate::domain::gate::Criterion;
    let (canary, baseline) = (m.canary?, m.baseline?);
    let absolute =
        m.checks.iter().any(|c| !c.held && matches!(c.criterion, Criterion::Must | Criterion::RollbackIf | Criterion::Sustained));
    let close = (canary.value - baseline.value).abs() <= 0.05 * baseline.value.abs().max(f64::EPSILON);
    (absolute && close).then(|| {
        let unit = m.unit.as_deref();
        format!("{} canary {} vs. baseline {}", m.metric, with_unit(canary.value, unit), with_unit(baseline.value, unit))
    })
}

fn percent(rate: f64) -> String {
    format!("{:.0}%", rate * 100.0)
}

fn recommendations(r: &WeeklyReview) -> Vec<String> {
    let mut out = Vec::new();
    for (name, m) in &r.metrics {
        let suspects = r.likely_false_positives.iter().filter(|s| s.metrics.contains(name)).count();
        if suspects > 0 {
            out.push(format!(
                "`{name}` caused {suspects} rollback(s) that look like false positives ({} of {} checks failed, {}): review its bound, or judge it against the baseline instead",
                m.failures, m.checks, percent(m.failure_rate)
            ));
        } else if m.checks >= 5 && m.failure_rate >= 0.2 {
            out.push(format!(
                "`{name}` failed {} of {} checks ({}) across {} release(s): confirm the regressions were real, or re-check the bound",
                m.failures,
                m.checks,
                percent(m.failure_rate),
                m.releases_failed
            ));
        }
        if m.checks > 0 && m.inconclusive * 5 >= m.checks {
            out.push(format!(
                "`{name}` had too little data in {} of {} checks: check its query and dimensions, or lower analysis.min_samples",
                m.inconclusive, m.checks
            ));
        }
    }
    for (item, i) in &r.checklist {
        if i.overridden >= 2 {
            out.push(format!(
                "checklist item `{item}` was overridden {} times: fix its evidence source, or make it `warn` if it should not block",
                i.overridden
            ));
        }
        if i.blocked >= 2 {
            out.push(format!(
                "checklist item `{item}` blocked {} releases: make sure teams can produce its evidence before they release",
                i.blocked
            ));
        }
    }
    let late: Vec<&RollbackSummary> = r.rollbacks.iter().filter(|b| b.within_target == Some(false)).collect();
    if !late.is_empty() {
        out.push(format!(
            "{} of {} rollbacks missed their restore target (slowest {}s): check the router's latency and retries",
            late.len(),
            r.rollbacks.len(),
            late.iter().map(|b| b.time_to_restore_secs).max().unwrap_or(0)
        ));
    }
    if r.approvals.expired > 0 {
        out.push(format!(
            "{} approval(s) expired undecided (each a rollback): route them to people on call, or lengthen the timeout",
            r.approvals.expired
        ));
    }
    out
}

impl WeeklyReview {
    /// The subject line (SNS allows 100 characters).
    /// The review as published: subject, report, and every figure as JSON.
    pub fn report(&self) -> crate::ports::ReviewReport {
        crate::ports::ReviewReport {
            subject: self.subject(),
            text: self.text(),
            review: serde_json::to_value(self).unwrap_or(serde_json::Value::Null),
        }
    }

    pub fn subject(&self) -> String {
        crate::domain::text::subject(&format!(
            "[rollgate] weekly review {}: {} releases, {} rolled back, {} blocked",
            self.week, self.releases, self.outcomes.rolled_back, self.outcomes.blocked
        ))
    }

    /// The report for people.
    pub fn text(&self) -> String {
        let mut out = vec![
            format!(
                "rollgate weekly review {} ({} to {})",
                self.week,
                self.from.format("%Y-%m-%d"),
                (self.to - Duration::days(1)).format("%Y-%m-%d")
            ),
            format!(
                "{} releases: {} promoted, {} rolled back, {} blocked, {} aborted, {} still open",
                self.releases,
                self.outcomes.promoted,
                self.outcomes.rolled_back,
                self.outcomes.blocked,
                self.outcomes.aborted,
                self.outcomes.open
            ),
        ];
        if !self.metrics.is_empty() {
            out.push("\nGate checks per metric (failed / checks, releases failed, rollbacks caused, no data):".into());
            for (name, m) in &self.metrics {
                out.push(format!(
                    "  {name}: {}/{} ({}), {} release(s), {} rollback(s), {} inconclusive",
                    m.failures,
                    m.checks,
                    percent(m.failure_rate),
                    m.releases_failed,
                    m.rollbacks,
                    m.inconclusive
                ));
            }
        }
        let noisy: Vec<_> = self.checklist.iter().filter(|(_, i)| i.blocked + i.warned + i.overridden > 0).collect();
        if !noisy.is_empty() {
            out.push("\nChecklist items that did not simply pass (blocked / warned / overridden of judged):".into());
            for (item, i) in noisy {
                out.push(format!("  {item}: {} / {} / {} of {}", i.blocked, i.warned, i.overridden, i.judged));
            }
        }
        if !self.overrides.is_empty() {
            out.push("\nOverrides:".into());
            for o in &self.overrides {
                out.push(format!("  {} `{}` by {}: {}", o.release_id, o.item, o.approver, o.justification));
            }
        }
        if !self.rollbacks.is_empty() {
            out.push(format!("\nRollbacks (median time to restore {}s):", self.median_time_to_restore_secs.unwrap_or(0)));
            for b in &self.rollbacks {
                let target = match (b.target_secs, b.within_target) {
                    (Some(t), Some(true)) => format!(" (target {t}s met)"),
                    (Some(t), _) => format!(" (target {t}s MISSED)"),
                    _ => String::new(),
                };
                out.push(format!("  {} {}: restored in {}s{target}; {}", b.service, b.release_id, b.time_to_restore_secs, b.reason));
            }
        }
        if !self.likely_false_positives.is_empty() {
            out.push("\nLikely false positives:".into());
            for s in &self.likely_false_positives {
                out.push(format!("  {} ({}): {}", s.release_id, s.metrics.join(", "), s.evidence));
            }
        }
        let a = &self.approvals;
        if a.requested > 0 {
            out.push(format!(
                "\nApprovals: {} requested, {} approvals, {} rejections, {} expired{}",
                a.requested,
                a.approved,
                a.rejected,
                a.expired,
                a.median_minutes_to_decide.map(|m| format!(", median {m} min to the first decision")).unwrap_or_default()
            ));
        }
        out.push(String::from(if self.recommendations.is_empty() { "\nNothing to tune this week." } else { "\nRecommendations:" }));
        out.extend(self.recommendations.iter().map(|r| format!("  - {r}")));
        out.join("\n")
    }
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
