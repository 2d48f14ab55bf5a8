//! The audit trail and the lock, as every step of a release uses them: record an event on behalf
//! of an actor, keep the lease, close the release.

use chrono::{DateTime, Utc};

use crate::ports::{ReleaseStore, StoreError};
use crate::release::{EventKind, Lease, Release, ReleaseEvent, ReleaseStatus};

/// Appends an event to a release's audit trail on behalf of `actor` (a function, a person).
pub async fn record(
    store: &dyn ReleaseStore,
    actor: &str,
    release_id: &str,
    at: DateTime<Utc>,
    kind: EventKind,
) -> Result<ReleaseEvent, StoreError> {
    store.append_event(ReleaseEvent::new(release_id, at, actor, kind)).await
}

/// Appends events on behalf of `actor` and, when given, stores `release` in the same atomic
/// write: a crash can never leave a decision recorded that the release did not act on.
pub async fn record_with(
    store: &dyn ReleaseStore,
    actor: &str,
    release_id: &str,
    release: Option<&mut Release>,
    at: DateTime<Utc>,
    kinds: Vec<EventKind>,
) -> Result<Vec<ReleaseEvent>, StoreError> {
    let events = kinds.into_iter().map(|kind| ReleaseEvent::new(release_id, at, actor, kind)).collect();
    store.append(events, release).await
}

/// The lease a release holds (or takes) from `now` on.
pub fn lease(release: &Release, now: DateTime<Utc>) -> Lease {
    Lease {
        service: release.service.clone(),
        environment: release.environment.clone(),
        holder: release.id.clone(),
        acquired_at: now,
        expires_at: release.plan.lock_lease().after(now),
    }
}

/// Renews the release's lock for another lease; `LockLost` if another release took it over.
/// Every step that touches a release's traffic or state keeps its lock this way.
pub async fn renew_lock(store: &dyn ReleaseStore, release: &Release, now: DateTime<Utc>) -> Result<(), StoreError> {
    store.acquire_lock(&lease(release, now), now).await.map_err(|e| match e {
        StoreError::LockHeld { .. } => StoreError::LockLost {
            service: release.service.clone(),
            environment: release.environment.clone(),
            release_id: release.id.clone(),
        },
        other => other,
    })
}

/// Closes a release for good: final status, the reason in the trail, the lock given back.
pub async fn close(
    store: &dyn ReleaseStore,
    actor: &str,
    release: &mut Release,
    status: ReleaseStatus,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    close_with(store, actor, release, status, reason, now, Vec::new()).await
}

/// [`close`], with `before` (what led to it) recorded in the same atomic write as the close.
pub async fn close_with(
    store: &dyn ReleaseStore,
    actor: &str,
    release: &mut Release,
    status: ReleaseStatus,
    reason: &str,
    now: DateTime<Utc>,
    mut before: Vec<EventKind>,
) -> Result<(), StoreError> {
    if !release.status.is_final() {
        release.status = status;
        release.closed_reason = Some(reason.to_string());
        release.updated_at = now;
        before.push(EventKind::Closed { status, reason: reason.to_string() });
        let id = release.id.clone();
        record_with(store, actor, &id, Some(release), now, before).await?;
    } else if !before.is_empty() {
        record_with(store, actor, &release.id, None, now, before).await?;
    }
    store.release_lock(&release.service, &release.environment, &release.id).await?;
    Ok(())
}
