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

/// Takes `lease`'s lock if it is free, already the holder's, or expired with a holder that was
/// never stored (an admission stopped half-way). A stored release whose lease expired is the
/// sweeper's to finish: an open one is rolled back, a closed one (its process stopped after the
/// close) has its end announced and its route sealed, then the lock is freed. A release that
/// took its lock over would leave an open one with its traffic possibly split, or a closed one
/// unannounced and with writes of its stopped processes still able to land, where no sweep
/// finds it any more (the sweeper reads the locks).
pub async fn take_lock(store: &dyn ReleaseStore, lease: &Lease, now: DateTime<Utc>) -> Result<(), StoreError> {
    if let Some(current) = store.lock(&lease.service, &lease.environment).await?
        && current.holder != lease.holder
        && current.is_expired(now)
        && store.release(&current.holder).await?.is_some()
    {
        return Err(StoreError::LockHeld {
            service: current.service,
            environment: current.environment,
            holder: current.holder,
            expires_at: current.expires_at,
        });
    }
    store.acquire_lock(lease, now).await
}

/// Renews the release's lock for another lease; `LockLost` if another release took it over.
/// Every step that touches a release's traffic or state keeps its lock this way.
pub async fn renew_lock(store: &dyn ReleaseStore, release: &Release, now: DateTime<Utc>) -> Result<(), StoreError> {
    let lost = || StoreError::LockLost {
        service: release.service.clone(),
        environment: release.environment.clone(),
        release_id: release.id.clone(),
    };
    let held = store.lock(&release.service, &release.environment).await?.is_some_and(|l| l.holder == release.id);
    take_lock(store, &lease(release, now), now).await.map_err(|e| match e {
        StoreError::LockHeld { .. } => lost(),
        other => other,
    })?;
    // A process stopped before this renewal (a zombie) finds the lock free once its release was
    // closed meanwhile; a close stores the final status before it gives the lock back, so a
    // release read after taking the lock tells. Such a process must not keep the lock.
    match store.release(&release.id).await? {
        Some(stored) if !stored.status.is_final() => Ok(()),
        // Still held by the closed release: its close is not finished (the announcement, the seal
        // of its route); its process, or the sweeper after it, finishes it and gives the lock back.
        Some(_) if held => Err(lost()),
        stored => {
            // Taken from free: given back at once, unless the end is not announced yet (the
            // sweeper then finds it by its lock, announces, and gives the lock back).
            let pending = match &stored {
                Some(closed) => crate::release::notification::end_unannounced(closed, &store.events(&closed.id).await?),
                None => false,
            };
            if !pending {
                store.release_lock(&release.service, &release.environment, &release.id).await?;
            }
            Err(lost())
        }
    }
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
    before: Vec<EventKind>,
) -> Result<(), StoreError> {
    record_close(store, actor, release, status, reason, now, before).await?;
    store.release_lock(&release.service, &release.environment, &release.id).await?;
    Ok(())
}

/// [`close_with`] without giving the lock back: for a caller with more to do after the close
/// (announcing it), which gives the lock back last, so that until it does the sweeper still
/// finds the release and finishes what a stopped process left.
pub async fn record_close(
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
    Ok(())
}
