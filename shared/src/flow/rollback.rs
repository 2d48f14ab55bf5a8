//! Rolling a release back: restore the stable version to 100%, verify it, close the release,
//! release the lock, record the reason and the time to restore, and tell people.
//!
//! If publishing fails, the rollback stands and the failure is recorded. If restoring traffic
//! fails, the release stays open and locked (nobody may start another release over it), the
//! notification says so loudly, and the caller retries.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::decision::Action;
use crate::domain::plan::NotificationEvent;
use crate::flow::notify::{announce, announced};
use crate::flow::traffic::{SwitchError, apply, hand_back};
use crate::flow::trail::{close, record, record_close, renew_lock};
use crate::ports::{Notifier, ReleaseStore, StoreError, TrafficRouter};
use crate::release::notification::{ReleaseNotification, Severity, end_event};
use crate::release::route::{RouteStage, RouteTarget, WeightChange, route_key};
use crate::release::{EventKind, Release, ReleaseEvent, ReleaseStatus, RollbackRecord};

/// Who writes these events in the audit trail.
pub const ACTOR: &str = "rollback-notifier";

#[derive(Clone, Debug)]
pub struct RollbackOutcome {
    pub release: Release,
    /// `None` when the release had already ended (a retried or late rollback).
    pub record: Option<RollbackRecord>,
    pub notified: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error("release {0} was not found; check the id")]
    ReleaseNotFound(String),
    #[error(
        "traffic of release {release_id} could not be restored to {stable}: {source}; the release stays open and locked until a retry succeeds"
    )]
    RestoreFailed {
        release_id: String,
        stable: String,
        #[source]
        source: SwitchError,
    },
    #[error(
        "release {release_id} lost the lock of {service} in {environment} to {holder} before it could roll back; rollgate left that release's traffic alone and closed {release_id} as aborted. Check the router: {release_id}'s canary may still be routed if {holder} never moved it"
    )]
    LockLost { release_id: String, service: String, environment: String, holder: String },
    #[error(
        "release {release_id} is closed, but the last write to its router (the seal that refuses writes of its stopped processes) failed: {source}; it keeps its lock until a retry or the sweeper makes that write"
    )]
    Unsealed {
        release_id: String,
        #[source]
        source: SwitchError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How hard the rollback tries to restore traffic before it gives up (and the caller retries).
#[derive(Clone, Copy, Debug)]
pub struct RestorePolicy {
    pub attempts: u32,
    pub first_backoff: Duration,
}

impl Default for RestorePolicy {
    fn default() -> Self {
        Self { attempts: 3, first_backoff: Duration::from_secs(1) }
    }
}

/// How a rollback ends the release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RollbackEnd {
    /// A gate, a rejection, an expired approval, a failed step, the sweeper.
    RolledBack,
    /// An operator stopped it (`rollgate abort`).
    Aborted,
}

impl RollbackEnd {
    fn status(self) -> ReleaseStatus {
        match self {
            RollbackEnd::RolledBack => ReleaseStatus::RolledBack,
            RollbackEnd::Aborted => ReleaseStatus::Aborted,
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn roll_back(
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    notifier: &dyn Notifier,
    release_id: &str,
    reason: &str,
    ending: RollbackEnd,
    policy: RestorePolicy,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<RollbackOutcome, RollbackError> {
    let mut release = store.release(release_id).await?.ok_or_else(|| RollbackError::ReleaseNotFound(release_id.to_string()))?;
    if release.status.is_final() {
        // Already ended: a retried rollback whose answer was lost after the close, or a failure
        // after the release was closed. Finish what the close may have left: the lock, and the
        // announcement of how it ended.
        let (notified, _) = finish_close(store, router, notifier, &release, now()).await?;
        return Ok(RollbackOutcome { release, record: None, notified });
    }
    // One read of the trail serves the detection time, the notification's explanation, and an
    // operator's abort whose rollback failed: finished by anyone, the release ends aborted.
    let trail = store.events(&release.id).await?;
    let detected_at = detection_time(&trail).unwrap_or_else(&now);
    let abort = aborted_by(&trail).filter(|_| ending == RollbackEnd::RolledBack);
    let finished_reason;
    let (reason, ending) = match abort {
        Some(abort) => {
            finished_reason = format!("{abort} (the rollback finished later: {reason})");
            (finished_reason.as_str(), RollbackEnd::Aborted)
        }
        None => (reason, ending),
    };
    // Fenced twice: the lock is renewed (taken back if it merely expired) before, and every
    // route claim checks it in the same write, so another release's traffic is never moved.
    let owned = match renew_lock(store, &release, now()).await {
        Ok(()) => restore(store, router, &release, policy, &now).await,
        Err(e) => Err(SwitchError::Store(e)),
    };
    let restored = match owned {
        Ok(change) => change,
        Err(e @ (SwitchError::Store(StoreError::LockLost { .. }) | SwitchError::Superseded { .. })) => {
            // Closed meanwhile (this process was stopped while another rollback or the promotion
            // finished it, and sealed its route): nothing was lost; what the close may have left
            // (its announcement, its seal, then the lock) is finished here.
            if let Some(closed) = store.release(&release.id).await?.filter(|r| r.status.is_final()) {
                let (notified, _) = finish_close(store, router, notifier, &closed, now()).await?;
                return Ok(RollbackOutcome { release: closed, record: None, notified });
            }
            if matches!(e, SwitchError::Store(StoreError::LockLost { .. })) {
                return Err(lost_ownership(store, notifier, &mut release, reason, now()).await?);
            }
            return Err(restore_failed(store, notifier, &release, reason, ending, e, now()).await?);
        }
        Err(source) => return Err(restore_failed(store, notifier, &release, reason, ending, source, now()).await?),
    };
    let restored_at = now();
    let target_secs = release.plan.rollback.restore_within.map(|d| d.as_secs());
    let time_to_restore_secs = (restored_at - detected_at).num_seconds().max(0);
    let restore_record = RollbackRecord {
        reason: reason.to_string(),
        detected_at,
        restored_at,
        time_to_restore_secs,
        target_secs,
        within_target: target_secs.map(|t| time_to_restore_secs <= i64::try_from(t).unwrap_or(i64::MAX)),
        weight_change: restored.last().cloned(),
    };
    // The restored weight, the rollback and the close: one atomic write.
    let mut kinds: Vec<EventKind> = restored.iter().map(|c| EventKind::WeightChanged(c.clone())).collect();
    kinds.push(EventKind::RolledBack(restore_record.clone()));
    release.canary_weight = 0;
    let reason_text = format!("rolled back: {reason}");
    record_close(store, ACTOR, &mut release, ending.status(), &reason_text, restored_at, kinds).await?;

    let explanation = last_explanation(&trail);
    let notification =
        ReleaseNotification::new(NotificationEvent::RolledBack, &release, Some(reason.to_string()), explanation, restored_at);
    // The rollback stands whether or not the notification goes out; a failure is recorded.
    let notified = announce(store, notifier, ACTOR, &release, &notification).await?;
    // The seal, then the lock, last: a process stopped before this leaves the release to the
    // sweeper, which finds it by its lock and finishes what was not done.
    hand_back(store, router, &release, now()).await.map_err(|source| unsealed(&release, source))?;
    Ok(RollbackOutcome { release, record: Some(restore_record), notified })
}

/// The restore failed: recorded, announced loudly; the release stays open and locked.
async fn restore_failed(
    store: &dyn ReleaseStore,
    notifier: &dyn Notifier,
    release: &Release,
    reason: &str,
    ending: RollbackEnd,
    source: SwitchError,
    now: DateTime<Utc>,
) -> Result<RollbackError, StoreError> {
    let stable = release.stable_version.clone().unwrap_or_else(|| "the stable version".into());
    let text = format!(
        "ROLLBACK INCOMPLETE: traffic is NOT restored to {stable} ({source}); rollgate keeps retrying. Reason for the rollback: {reason}"
    );
    let failed =
        EventKind::RollbackFailed { reason: reason.to_string(), error: source.to_string(), aborted: ending == RollbackEnd::Aborted };
    record(store, ACTOR, &release.id, now, failed).await?;
    let headline = format!("rollback of {} {} in {} FAILED; traffic is still split", release.service, release.version, release.environment);
    announce(store, notifier, ACTOR, release, &urgent(release, &headline, text, now)).await?;
    Ok(RollbackError::RestoreFailed { release_id: release.id.clone(), stable, source })
}

fn unsealed(release: &Release, source: SwitchError) -> RollbackError {
    match source {
        SwitchError::Store(e) => RollbackError::Store(e),
        source => RollbackError::Unsealed { release_id: release.id.clone(), source },
    }
}

/// Finishes what the close of `release` may have left when its process stopped: the
/// announcement of its end, the seal of its route, then its lock (last, so that until then the
/// sweeper finds it). Returns whether it announced now and whether it gave the lock back now.
pub async fn finish_close(
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    notifier: &dyn Notifier,
    release: &Release,
    at: DateTime<Utc>,
) -> Result<(bool, bool), RollbackError> {
    let notified = announce_end(store, notifier, release, at).await?;
    let freed = hand_back(store, router, release, at).await.map_err(|source| unsealed(release, source))?;
    Ok((notified, freed))
}

/// Announces how a closed release ended (`rolled_back`, `promoted`, `blocked`) unless its trail
/// already records that notification: what a close whose process stopped before announcing
/// left undone. `true` if it was published now.
pub async fn announce_end(
    store: &dyn ReleaseStore,
    notifier: &dyn Notifier,
    release: &Release,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    if !release.status.is_final() {
        return Ok(false);
    }
    let trail = store.events(&release.id).await?;
    let Some(event) = end_event(release, &trail) else { return Ok(false) };
    if announced(&trail, event) {
        return Ok(false);
    }
    let reason = (event != NotificationEvent::Promoted).then(|| release.closed_reason.clone()).flatten();
    let explanation = if event == NotificationEvent::RolledBack { last_explanation(&trail) } else { Vec::new() };
    let notification = ReleaseNotification::new(event, release, reason, explanation, at);
    announce(store, notifier, ACTOR, release, &notification).await
}

async fn restore(
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    release: &Release,
    policy: RestorePolicy,
    now: &impl Fn() -> DateTime<Utc>,
) -> Result<Vec<WeightChange>, SwitchError> {
    let route = RouteTarget::for_release(release, release.step).ok_or_else(|| SwitchError::NoStableVersion(release.id.clone()))?;
    // Every router write of a release follows its claim of the route: a route this release never
    // claimed carries nothing of it, and is not its to touch (another version may serve there).
    let key = route_key(&route.router, &route.service, &route.environment);
    if store.route(&key).await?.is_none_or(|claimed| claimed.release_id != release.id) {
        return Ok(Vec::new());
    }
    let mut last = None;
    for attempt in 0..policy.attempts.max(1) {
        if attempt > 0 {
            tokio::time::sleep(policy.first_backoff * 2u32.pow(attempt - 1)).await;
        }
        // A rollback must win over a stale writer of this release: on a route conflict it
        // re-reads the route and claims it again. Never once the lock is someone else's.
        match apply(store, router, &route, 0, RouteStage::Rollback, now()).await {
            Ok(changes) => return Ok(changes),
            // Not ours any more, or sealed by the close: retrying cannot help.
            Err(e @ (SwitchError::Store(StoreError::LockLost { .. }) | SwitchError::Superseded { .. })) => return Err(e),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(SwitchError::NoStableVersion(release.id.clone())))
}

/// Another release holds the lock: record it, close this release without touching traffic,
/// and alert loudly. The returned error stops the execution on the alarm path.
async fn lost_ownership(
    store: &dyn ReleaseStore,
    notifier: &dyn Notifier,
    release: &mut Release,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<RollbackError, StoreError> {
    let holder = store
        .lock(&release.service, &release.environment)
        .await?
        .map_or_else(|| "no release (the lock is free again)".to_string(), |l| format!("release {}", l.holder));
    let lost = RollbackError::LockLost {
        release_id: release.id.clone(),
        service: release.service.clone(),
        environment: release.environment.clone(),
        holder,
    };
    let failed = EventKind::RollbackFailed { reason: reason.to_string(), error: lost.to_string(), aborted: false };
    record(store, ACTOR, &release.id, now, failed).await?;
    let headline = format!(
        "{} {} in {} could not roll back: it lost its lock; traffic was not touched",
        release.service, release.version, release.environment
    );
    announce(store, notifier, ACTOR, release, &urgent(release, &headline, lost.to_string(), now)).await?;
    close(store, ACTOR, release, ReleaseStatus::Aborted, &format!("lock lost before the rollback ({reason})"), now).await?;
    Ok(lost)
}

/// A critical `rolled_back` notification for a rollback that did not happen: `URGENT: <headline>.`
/// before the usual summary, `reason` as its reason.
fn urgent(release: &Release, headline: &str, reason: String, at: DateTime<Utc>) -> ReleaseNotification {
    let mut loud = ReleaseNotification::new(NotificationEvent::RolledBack, release, Some(reason), Vec::new(), at);
    loud.severity = Severity::Critical;
    loud.summary = format!("URGENT: {headline}. {}", loud.summary);
    loud
}

/// The reason of an operator's abort whose rollback failed, if the trail records one.
fn aborted_by(trail: &[ReleaseEvent]) -> Option<&str> {
    trail.iter().rev().find_map(|e| match &e.kind {
        EventKind::RollbackFailed { reason, aborted: true, .. } => Some(reason.as_str()),
        _ => None,
    })
}

/// When the failure was detected: the latest rollback decision, if the gate made one, or when
/// an alarm that stops the release went to ALARM.
fn detection_time(trail: &[ReleaseEvent]) -> Option<DateTime<Utc>> {
    trail.iter().rev().find_map(|e| match &e.kind {
        EventKind::Decided(d) if d.action == Action::Rollback => Some(e.at),
        EventKind::AlarmRaised(alarm) => Some(alarm.since.unwrap_or(e.at)),
        _ => None,
    })
}

/// The last verdict's metric sentences, for the notification's "why".
fn last_explanation(trail: &[ReleaseEvent]) -> Vec<String> {
    trail
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::GateJudged { verdict, .. } => Some(verdict.metrics.iter().map(|m| m.sentence.clone()).collect()),
            _ => None,
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
