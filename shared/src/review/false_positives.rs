//! Rollbacks that look like false positives: the stable version breached the same absolute
//! bound, or the same version was released again unchanged and promoted.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::aggregate::Rollback;
use super::{ReleaseFacts, SuspectRollback};
use crate::domain::bounds::with_unit;
use crate::domain::gate::{Criterion, MetricVerdict};
use crate::release::ReleaseEvent;

/// The week's likely false positives: first the rollbacks whose failing bounds the stable
/// version breached too, then gate rollbacks of a version later promoted unchanged.
pub(super) fn likely_false_positives(
    rollbacks: &[Rollback],
    facts: &BTreeMap<&str, &ReleaseFacts>,
    by_release: &BTreeMap<&str, Vec<&ReleaseEvent>>,
    promoted_at: &[(&str, DateTime<Utc>)],
    from: DateTime<Utc>,
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
    for r in rollbacks.iter().map(|r| &r.summary).filter(|r| !r.metrics.is_empty()) {
        if suspects.iter().any(|s| s.release_id == r.release_id) {
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
            suspects.push(SuspectRollback {
                release_id: r.release_id.clone(),
                service: r.service.clone(),
                metrics: r.metrics.clone(),
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
