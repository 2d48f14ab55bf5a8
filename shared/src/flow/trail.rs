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
    if !release.status.is_final() {
        release.status = status;
        release.closed_reason = Some(reason.to_string());
        release.updated_at = now;
        store.update_release(release).await?;
        record(store, actor, &release.id, now, EventKind::Closed { status, reason: reason.to_string() }).await?;
    }
    store.release_lock(&release.service, &release.environment, &release.id).await?;
    Ok(())
}
