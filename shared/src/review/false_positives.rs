//! Rollbacks that look like false positives: the stable version breached the same absolute
//! bound, or the same version (service, environment and version) was released again unchanged
//! and promoted, that week or in a later week of the review's window.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::aggregate::Rollback;
use super::input::{Kind, Trail};
use super::{ReleaseFacts, SuspectRollback};
use crate::domain::bounds::with_unit;
use crate::domain::gate::{Criterion, MetricVerdict};
use crate::release::ReleaseStatus;

/// Promotions of the review's whole window, by service, environment and version, oldest first:
/// what a rollback of any week is matched against, however many weeks later the version went
/// out again.
#[derive(Debug, Default)]
pub(super) struct Promotions<'a> {
    by_version: HashMap<Version<'a>, Vec<(DateTime<Utc>, &'a str)>>,
}

/// Service, environment and version.
type Version<'a> = (&'a str, &'a str, &'a str);

impl<'a> Promotions<'a> {
    /// Every `closed` event with status `promoted` in `trails` (each release's events of the
    /// window), under its release's facts; a release without facts cannot be matched.
    pub fn of(trails: &[(&'a str, &Trail)], facts: &'a BTreeMap<&'a str, ReleaseFacts>) -> Self {
        let mut by_version: HashMap<_, Vec<_>> = HashMap::new();
        for &(id, trail) in trails {
            let Some(f) = facts.get(id) else { continue };
            for e in &trail.events {
                if let Kind::Closed(ReleaseStatus::Promoted) = e.kind {
                    by_version.entry((f.service.as_str(), f.environment.as_str(), f.version.as_str())).or_default().push((e.at, id));
                }
            }
        }
        for promotions in by_version.values_mut() {
            promotions.sort();
        }
        Self { by_version }
    }

    /// The first promotion of `rolled`'s service, environment and version after `at`.
    fn after(&self, rolled: &ReleaseFacts, at: DateTime<Utc>) -> Option<&'a str> {
        let promotions = self.by_version.get(&(rolled.service.as_str(), rolled.environment.as_str(), rolled.version.as_str()))?;
        let first_later = promotions.partition_point(|(promoted, _)| *promoted <= at);
        promotions.get(first_later).map(|(_, id)| *id)
    }
}

/// A week's likely false positives: first the rollbacks whose failing bounds the stable
/// version breached too, then gate rollbacks of a version promoted unchanged later in the
/// review's window (that week or a later one).
pub(super) fn likely_false_positives(
    rollbacks: &[Rollback],
    facts: &BTreeMap<&str, ReleaseFacts>,
    promotions: &Promotions<'_>,
) -> Vec<SuspectRollback> {
    let mut suspects: Vec<SuspectRollback> = rollbacks
        .iter()
        .filter(|r| !r.shared_failures.is_empty())
        .map(|r| SuspectRollback {
            release_id: r.summary.release_id.clone(),
            service: r.summary.service.clone(),
            metrics: r.summary.metrics.clone(),
            evidence: format!("the stable version measured the same: {}", r.shared_failures.join("; ")),
        })
        .collect();

    // A gate rollback of a version that later went out unchanged and was promoted: the gate
    // stopped a release that turned out fine.
    for r in rollbacks.iter().filter(|r| !r.summary.metrics.is_empty() && r.shared_failures.is_empty()) {
        let Some(rolled) = facts.get(r.summary.release_id.as_str()) else { continue };
        if let Some(id) = promotions.after(rolled, r.at) {
            suspects.push(SuspectRollback {
                release_id: r.summary.release_id.clone(),
                service: r.summary.service.clone(),
                metrics: r.summary.metrics.clone(),
                evidence: format!("the same version {} was released again unchanged and promoted ({id})", rolled.version),
            });
        }
    }
    suspects
}

/// A failed absolute bound (`must`, `rollback_if`, `sustained`) where the baseline is within 5%
/// of the canary: the stable version would have failed it too, so the bound, not the release,
/// looks wrong (or the environment was bad for both).
pub(super) fn shared_failure(m: &MetricVerdict) -> Option<String> {
    let (canary, baseline) = (m.canary?, m.baseline?);
    let absolute =
        m.checks.iter().any(|c| !c.held && matches!(c.criterion, Criterion::Must | Criterion::RollbackIf | Criterion::Sustained));
    let close = (canary.value - baseline.value).abs() <= 0.05 * baseline.value.abs().max(f64::EPSILON);
    (absolute && close).then(|| {
        let unit = m.unit.as_deref();
        format!("{} canary {} vs. baseline {}", m.metric, with_unit(canary.value, unit), with_unit(baseline.value, unit))
    })
}
