//! Aggregation: what each release's trail adds to the week's counts. One function per concern
//! (outcomes, gate checks and the rollbacks they caused, checklist items and overrides,
//! approvals), each a pass over what the review kept of one release's events ([`super::input`]),
//! in order.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::input::{Entry, Kind, Name, Names};
use super::{ApprovalStats, ItemStats, MetricStats, Outcomes, OverrideUse, RollbackSummary, median};
use crate::domain::checklist::Effect;
use crate::domain::gate::MetricOutcome;
use crate::release::ReleaseStatus;

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
    /// Adds release `id` (of `service`) from its trail, sorted oldest first, whose names are in
    /// `names`. Approvals still pending are judged expired as of `now`, at most the week's end `to`.
    pub fn add_release(&mut self, id: &'a str, service: &str, trail: &[Entry], names: &Names, now: DateTime<Utc>, to: DateTime<Utc>) {
        self.outcome(trail);
        let (gate_checks, gate_checks_failed) = self.gates(id, service, trail, names);
        let (checklist_judged, overridden) = self.checklist(id, trail, names);
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
    fn outcome(&mut self, trail: &[Entry]) {
        let mut ended = false;
        for e in trail {
            if let Kind::Closed(status) = &e.kind {
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
    fn gates(&mut self, id: &str, service: &str, trail: &[Entry], names: &Names) -> (usize, usize) {
        let (mut checks, mut failed) = (0, 0);
        let mut failed_here: Vec<Name> = Vec::new();
        let mut last_failing: Vec<Name> = Vec::new();
        let mut rollback_metrics: Vec<Name> = Vec::new();
        // Failing absolute bounds that the stable version breached just as much, in the last check.
        let mut last_shared: Vec<&str> = Vec::new();
        let mut rollback_shared: Vec<&str> = Vec::new();
        for e in trail {
            match &e.kind {
                Kind::GateJudged { failed: check_failed, metrics } => {
                    checks += 1;
                    failed += usize::from(*check_failed);
                    last_failing.clear();
                    last_shared.clear();
                    for m in metrics {
                        let Some(stats) = entry(&mut self.metrics, names.get(m.metric)) else { continue };
                        stats.checks += 1;
                        match m.outcome {
                            MetricOutcome::Fail | MetricOutcome::Critical => {
                                stats.failures += 1;
                                if !failed_here.contains(&m.metric) {
                                    failed_here.push(m.metric);
                                }
                                last_failing.push(m.metric);
                                if let Some(line) = &m.shared_failure {
                                    last_shared.push(line);
                                }
                            }
                            MetricOutcome::Inconclusive => stats.inconclusive += 1,
                            MetricOutcome::Pass => {}
                        }
                    }
                }
                Kind::RollbackDecided => {
                    rollback_metrics.clone_from(&last_failing);
                    rollback_shared.clone_from(&last_shared);
                }
                Kind::RolledBack(r) => {
                    for &m in &rollback_metrics {
                        if let Some(stats) = entry(&mut self.metrics, names.get(m)) {
                            stats.rollbacks += 1;
                        }
                    }
                    self.rollbacks.push(Rollback {
                        summary: RollbackSummary {
                            release_id: id.to_string(),
                            service: service.to_string(),
                            reason: r.reason.clone(),
                            metrics: rollback_metrics.iter().map(|&m| names.get(m).to_string()).collect(),
                            time_to_restore_secs: r.time_to_restore_secs,
                            target_secs: r.target_secs,
                            within_target: r.within_target,
                        },
                        at: e.at,
                        shared_failures: rollback_shared.iter().map(|line| line.to_string()).collect(),
                    });
                }
                _ => {}
            }
        }
        for metric in failed_here {
            if let Some(stats) = entry(&mut self.metrics, names.get(metric)) {
                stats.releases_failed += 1;
            }
        }
        (checks, failed)
    }

    /// Each checklist item's effects, and the overrides that were accepted. Returns whether the
    /// release's checklist was judged, and whether an override let it through.
    fn checklist(&mut self, id: &str, trail: &[Entry], names: &Names) -> (bool, bool) {
        let (mut judged, mut overridden) = (false, false);
        for e in trail {
            let Kind::ChecklistJudged(v) = &e.kind else { continue };
            judged = true;
            for &(item, effect) in &v.items {
                let Some(stats) = entry(&mut self.checklist, names.get(item)) else { continue };
                stats.judged += 1;
                match effect {
                    Effect::Blocked => stats.blocked += 1,
                    Effect::Warning => stats.warned += 1,
                    Effect::Overridden => stats.overridden += 1,
                    Effect::Passed | Effect::Recorded => {}
                }
            }
            for o in &v.overrides {
                overridden = true;
                self.overrides.push(OverrideUse {
                    release_id: id.to_string(),
                    item: o.item.clone(),
                    approver: o.approver.clone(),
                    justification: o.justification.clone(),
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
    fn add_release(&mut self, trail: &[Entry], now: DateTime<Utc>, to: DateTime<Utc>) {
        let mut pending: Option<(DateTime<Utc>, DateTime<Utc>, bool)> = None; // requested, expires, decided
        for e in trail {
            match &e.kind {
                Kind::ApprovalRequested { expires_at } => {
                    if let Some((_, expires, false)) = pending.take()
                        && expires <= now
                    {
                        self.stats.expired += 1;
                    }
                    self.stats.requested += 1;
                    pending = Some((e.at, *expires_at, false));
                }
                Kind::ApprovalDecided { approved } => {
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
