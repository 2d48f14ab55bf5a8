//! The sweeper: finishes what a stopped execution left behind. Run on a schedule, it reads every
//! lock (one per release in flight) and
//! - rolls back a release whose rollback could not finish (its last event is `RollbackFailed`,
//!   older than the state machine's own retries), once the router answers again;
//! - rolls back a release whose lock expired without a step renewing it (its execution stopped
//!   with traffic possibly split);
//! - gives back a lock still held by a release that already ended.
//!
//! It never moves traffic of a release that is still being driven (its lease is fresh and its
//! last event is not a failed rollback), and every rollback it makes goes through the one
//! rollback flow (fenced by the lock, recorded, announced).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::flow::rollback::{RestorePolicy, RollbackEnd, RollbackError, finish_close, roll_back};
use crate::ports::{Notifier, ReleaseStore, StoreError, TrafficRouter};
use crate::release::{EventKind, Lease};

/// How long a failed rollback is left to the state machine's own retries (RestoreFailed: six
/// attempts, backoff from 10 s doubling, at most 300 s apart: about ten minutes) before the
/// sweeper takes it over.
pub const SETTLE: Duration = Duration::minutes(15);

/// What one sweep did, release by release.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    /// Locks read.
    pub examined: usize,
    /// Releases the sweeper rolled back, with why.
    pub rolled_back: Vec<Swept>,
    /// Locks given back because their release had already ended (or never was stored).
    pub freed: Vec<Swept>,
    /// Releases that need the sweeper and could not be finished this time (retried next run).
    pub failed: Vec<Swept>,
}

impl SweepReport {
    /// Anything that needed a person's attention happened (the alarm counts these).
    pub fn acted(&self) -> usize {
        self.rolled_back.len() + self.freed.len() + self.failed.len()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Swept {
    pub release_id: String,
    pub service: String,
    pub environment: String,
    pub why: String,
}

/// One sweep at `now()`.
pub async fn sweep(
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    notifier: &dyn Notifier,
    policy: RestorePolicy,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<SweepReport, StoreError> {
    let locks = store.locks().await?;
    let mut report = SweepReport { examined: locks.len(), ..SweepReport::default() };
    for lease in locks {
        let swept = |why: String| Swept {
            release_id: lease.holder.clone(),
            service: lease.service.clone(),
            environment: lease.environment.clone(),
            why,
        };
        let Some(release) = store.release(&lease.holder).await? else {
            // Admission died between taking the lock and storing the release.
            if lease.is_expired(now()) && store.release_lock(&lease.service, &lease.environment, &lease.holder).await? {
                report.freed.push(swept("the lock's release was never stored (admission stopped half-way)".into()));
            }
            continue;
        };
        if release.status.is_final() {
            // Its close stopped half-way: finish it (the announcement of the end, then the lock).
            match finish_close(store, router, notifier, &release, now()).await {
                Ok((_, true)) => report.freed.push(swept(format!("the release had already ended {}", release.status.as_str()))),
                Ok((_, false)) => {}
                Err(RollbackError::Store(e)) => return Err(e),
                Err(e) => report.failed.push(swept(format!("the release had ended {}; finishing it failed: {e}", release.status.as_str()))),
            }
            continue;
        }
        let trail = store.events(&release.id).await?;
        // What the release did last, its notifications aside.
        let last = trail.iter().rev().find(|e| !matches!(e.kind, EventKind::Notified { .. } | EventKind::NotificationFailed { .. }));
        let Some(why) = needs_rollback(&lease, last.map(|e| (&e.kind, e.at)), now()) else { continue };
        let reason = format!("the sweeper rolled it back: {why}");
        match roll_back(store, router, notifier, &release.id, &reason, RollbackEnd::RolledBack, policy, &now).await {
            Ok(_) => report.rolled_back.push(swept(why)),
            // Someone else holds the service now: the rollback recorded it, alerted and closed
            // this release without touching their traffic.
            Err(e @ RollbackError::LockLost { .. }) => report.failed.push(swept(e.to_string())),
            Err(e) => report.failed.push(swept(format!("{why}; the rollback failed again: {e}"))),
        }
    }
    Ok(report)
}

/// Why a release still in flight must be rolled back by the sweeper, if it must.
fn needs_rollback(lease: &Lease, last: Option<(&EventKind, DateTime<Utc>)>, now: DateTime<Utc>) -> Option<String> {
    if let Some((EventKind::RollbackFailed { reason, error, .. }, at)) = last
        && at.checked_add_signed(SETTLE).is_some_and(|settled| settled <= now)
    {
        return Some(format!("its rollback could not finish ({error}); the rollback was for: {reason}"));
    }
    if lease.is_expired(now) {
        return Some(format!(
            "its lock expired at {} without a step renewing it: its execution stopped with traffic possibly split",
            lease.expires_at.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    None
}

#[cfg(test)]
mod tests;
