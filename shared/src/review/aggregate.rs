//! Aggregation: what each release's trail adds to the week's counts. One function per concern
//! (outcomes, gate checks and the rollbacks they caused, checklist items and overrides,
//! approvals), each a pass over one release's events in order.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::{ApprovalStats, ItemStats, MetricStats, Outcomes, OverrideUse, RollbackSummary, median};
use crate::domain::checklist::Effect;
use crate::domain::decision::Action;
use crate::domain::gate::{GateOutcome, MetricOutcome};
use crate::release::{EventKind, ReleaseEvent, ReleaseStatus};

/// A rollback as read from the trail, with the failing absolute bounds the stable version
/// breached just as much in the check that decided it (evidence of a false positive).
#[derive(Clone, Debug)]
pub(super) struct Rollback {
    pub summary: RollbackSummary,
    /// When traffic was restored.
    pub at: DateTime<Utc>,
    pub shared_failures: Vec<String>,
}

/// The week's counts so far.
#[derive(Debug, Default)]
pub(super) struct Tally<'a> {
    pub outcomes: Outcomes,
    pub metrics: BTreeMap<String, MetricStats>,
    pub checklist: BTreeMap<String, ItemStats>,
    pub overrides: Vec<OverrideUse>,
    pub rollbacks: Vec<Rollback>,
    pub approvals: ApprovalTally,
    /// Each release's gate checks and checklist, for the week's rates.
    pub releases: Vec<ReleaseCounts<'a>>,
}

/// What one release's trail this week adds to the rates.
#[derive(Debug, Default)]
pub(super) struct ReleaseCounts<'a> {
    pub id: &'a str,
    pub gate_checks: usize,
    pub gate_checks_failed: usize,
    pub checklist_judged: bool,
    pub overridden: bool,
}

impl<'a> Tally<'a> {
    /// Adds release `id` (of `service`) from its trail, sorted oldest first. Approvals still
    /// pending are judged expired as of `now`, at most the week's end `to`.
    pub fn add_release(&mut self, id: &'a str, service: &str, trail: &[&ReleaseEvent], now: DateTime<Utc>, to: DateTime<Utc>) {
        self.outcome(trail);
        let (gate_checks, gate_checks_failed) = self.gates(id, service, trail);
        let (checklist_judged, overridden) = self.checklist(id, trail);
        self.releases.push(ReleaseCounts { id, gate_checks, gate_checks_failed, checklist_judged, overridden });
        self.approvals.add_release(trail, now, to);
    }

    /// Failure rates, once every release is in.
    pub fn finish_metrics(&mut self) {
        for stats in self.metrics.values_mut() {
            stats.failure_rate = if stats.checks == 0 { 0.0 } else { stats.failures as f64 / stats.checks as f64 };
        }
    }

    /// How the release ended this week (or that it is still open).
    fn outcome(&mut self, trail: &[&ReleaseEvent]) {
        let mut ended = false;
        for e in trail {
            if let EventKind::Closed { status, .. } = &e.kind {
                ended = true;
                match status {
                    ReleaseStatus::Promoted => self.outcomes.promoted += 1,
                    ReleaseStatus::RolledBack => self.outcomes.rolled_back += 1,
                    ReleaseStatus::Blocked => self.outcomes.blocked += 1,
                    ReleaseStatus::Aborted => self.outcomes.aborted += 1,
                    _ => {}
                }
            }
        }
        if !ended {
            self.outcomes.open += 1;
        }
    }

    /// Every metric check, and each rollback with the metrics that failed in the check that
    /// decided it. Returns the release's gate checks and how many failed.
    fn gates(&mut self, id: &str, service: &str, trail: &[&ReleaseEvent]) -> (usize, usize) {
        let (mut checks, mut failed) = (0, 0);
        let mut failed_here: BTreeSet<String> = BTreeSet::new();
        let mut last_failing: Vec<String> = Vec::new();
        let mut rollback_metrics: Vec<String> = Vec::new();
        // Failing absolute bounds that the stable version breached just as much, in the last check.
        let mut last_shared: Vec<String> = Vec::new();
        let mut rollback_shared: Vec<String> = Vec::new();
        for e in trail {
            match &e.kind {
                EventKind::GateJudged { verdict, .. } => {
                    checks += 1;
                    failed += usize::from(matches!(verdict.outcome, GateOutcome::Fail | GateOutcome::Critical));
                    last_failing.clear();
                    last_shared.clear();
                    for m in &verdict.metrics {
                        let Some(stats) = entry(&mut self.metrics, &m.metric) else { continue };
                        stats.checks += 1;
                        match m.outcome {
                            MetricOutcome::Fail | MetricOutcome::Critical => {
                                stats.failures += 1;
                                failed_here.insert(m.metric.clone());
                                last_failing.push(m.metric.clone());
                                if let Some(line) = super::false_positives::shared_failure(m) {
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
                EventKind::RolledBack(r) => {
                    for m in &rollback_metrics {
                        self.metrics.entry(m.clone()).or_default().rollbacks += 1;
                    }
                    self.rollbacks.push(Rollback {
                        summary: RollbackSummary {
                            release_id: id.to_string(),
                            service: service.to_string(),
                            reason: r.reason.clone(),
                            metrics: rollback_metrics.clone(),
                            time_to_restore_secs: r.time_to_restore_secs,
                            target_secs: r.target_secs,
                            within_target: r.within_target,
                        },
                        at: e.at,
                        shared_failures: rollback_shared.clone(),
                    });
                }
                _ => {}
            }
        }
        for metric in failed_here {
            self.metrics.entry(metric).or_default().releases_failed += 1;
        }
        (checks, failed)
    }

    /// Each checklist item's effects, and the overrides that were accepted. Returns whether the
    /// release's checklist was judged, and whether an override let it through.
    fn checklist(&mut self, id: &str, trail: &[&ReleaseEvent]) -> (bool, bool) {
        let (mut judged, mut overridden) = (false, false);
        for e in trail {
            let EventKind::ChecklistJudged(v) = &e.kind else { continue };
            judged = true;
            for item in &v.items {
                let Some(stats) = entry(&mut self.checklist, &item.id) else { continue };
                stats.judged += 1;
                match item.effect {
                    Effect::Blocked => stats.blocked += 1,
                    Effect::Warning => stats.warned += 1,
                    Effect::Overridden => stats.overridden += 1,
                    Effect::Passed | Effect::Recorded => {}
                }
            }
            for o in v.overrides.iter().filter(|o| o.accepted) {
                overridden = true;
                self.overrides.push(OverrideUse {
                    release_id: id.to_string(),
                    item: o.request.item.clone(),
                    approver: o.request.approver.clone(),
                    justification: o.request.justification.clone(),
                    at: e.at,
                });
            }
        }
        (judged, overridden)
    }
}

/// The entry of `key`, allocating the key only the first time (a week has a million checks and a
/// handful of metric names). `None` cannot happen: the entry is made first.
fn entry<'m, V: Default>(map: &'m mut BTreeMap<String, V>, key: &str) -> Option<&'m mut V> {
    if !map.contains_key(key) {
        map.insert(key.to_string(), V::default());
    }
    map.get_mut(key)
}

/// Approval requests, their decisions and expiries, and the time to the first decision.
#[derive(Debug, Default)]
pub(super) struct ApprovalTally {
    stats: ApprovalStats,
    minutes_to_decide: Vec<f64>,
}

impl ApprovalTally {
    fn add_release(&mut self, trail: &[&ReleaseEvent], now: DateTime<Utc>, to: DateTime<Utc>) {
        let mut pending: Option<(DateTime<Utc>, DateTime<Utc>, bool)> = None; // requested, expires, decided
        for e in trail {
            match &e.kind {
                EventKind::ApprovalRequested { expires_at, .. } => {
                    if let Some((_, expires, false)) = pending.take()
                        && expires <= now
                    {
                        self.stats.expired += 1;
                    }
                    self.stats.requested += 1;
                    pending = Some((e.at, *expires_at, false));
                }
                EventKind::ApprovalDecided { approved, .. } => {
                    if let Some((requested, _, decided)) = pending.as_mut() {
                        if !*decided {
                            self.minutes_to_decide.push((e.at - *requested).num_seconds() as f64 / 60.0);
                        }
                        *decided = true;
                    }
                    if *approved {
                        self.stats.approved += 1;
                    } else {
                        self.stats.rejected += 1;
                    }
                }
                _ => {}
            }
        }
        if let Some((_, expires, false)) = pending
            && expires <= now.min(to)
        {
            self.stats.expired += 1;
        }
    }

    /// The counts, with the median time to the first decision (to a tenth of a minute).
    pub fn stats(self) -> ApprovalStats {
        ApprovalStats { median_minutes_to_decide: median(self.minutes_to_decide).map(|m| (m * 10.0).round() / 10.0), ..self.stats }
    }
}
