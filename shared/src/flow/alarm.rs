//! An alarm went to ALARM (EventBridge's "CloudWatch Alarm State Change"): every open release
//! whose plan lists it in `rollback_alarms` is rolled back now, not at its next check. Per
//! release: the alarm is recorded, the execution is stopped (so that it moves no traffic while
//! the rollback restores it), and the one rollback flow restores the stable version, closes the
//! release and announces it. Checks still read the alarms, so a lost event lets nothing through.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::alarm::{AlarmReading, AlarmState, raised};
use crate::flow::rollback::{RestorePolicy, RollbackEnd, RollbackError, roll_back};
use crate::flow::trail::record;
use crate::ports::{Executions, Notifier, ReleaseStore, StoreError, TrafficRouter, WorkflowError};
use crate::release::{EventKind, Release};

/// The actor the audit trail names for what the alarm did.
pub const ACTOR: &str = "alarm-rollback";

/// What one alarm state change did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlarmReport {
    pub alarm: String,
    /// Its new state (`ALARM`, `OK`, …); only ALARM acts.
    pub state: String,
    /// Open releases read.
    pub examined: usize,
    /// Releases rolled back, by id.
    pub rolled_back: Vec<String>,
    /// Releases that watch the alarm and could not be rolled back now, with why (they stay open
    /// and locked: the failure is recorded and announced, and the sweeper re-drives them).
    pub failed: Vec<AlarmFailure>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlarmFailure {
    pub release_id: String,
    pub error: String,
}

/// Acts on `alarm`'s new state at `now()`: in ALARM, rolls back every open release that watches it.
pub async fn on_state_change(
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    notifier: &dyn Notifier,
    executions: &dyn Executions,
    alarm: &AlarmReading,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<AlarmReport, StoreError> {
    let mut report = AlarmReport { alarm: alarm.name.clone(), state: alarm.state.as_str().to_string(), ..AlarmReport::default() };
    if alarm.state != AlarmState::Alarm {
        return Ok(report);
    }
    // Every release in flight holds its service's lock: the locks are the index of open releases.
    for lease in store.locks().await? {
        let Some(release) = store.release(&lease.holder).await? else { continue };
        report.examined += 1;
        if release.status.is_final() || !release.plan.rollback_alarms.contains(&alarm.name) {
            continue;
        }
        match roll_back_release(store, router, notifier, executions, &release, alarm, &now).await {
            Ok(()) => report.rolled_back.push(release.id),
            Err(e) => report.failed.push(AlarmFailure { release_id: release.id, error: e.to_string() }),
        }
    }
    Ok(report)
}

async fn roll_back_release(
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    notifier: &dyn Notifier,
    executions: &dyn Executions,
    release: &Release,
    alarm: &AlarmReading,
    now: &impl Fn() -> DateTime<Utc>,
) -> Result<(), RollbackError> {
    // A second delivery of the same change records nothing twice.
    let trail = store.events(&release.id).await?;
    let known = trail.iter().any(|e| matches!(&e.kind, EventKind::AlarmRaised(a) if a == alarm));
    if !known {
        record(store, ACTOR, &release.id, now(), EventKind::AlarmRaised(alarm.clone())).await?;
    }
    let reason = raised(alarm);
    if let Some(execution) = &release.execution {
        match executions.stop(execution, "RolledBack", &format!("rolled back by rollgate: {reason}")).await {
            Ok(()) | Err(WorkflowError::TaskGone(_)) => {}
            // Rolling back is the safe direction: a stopped execution cannot move traffic, one
            // still running finds the release closed at its next step.
            Err(e) => {
                tracing::warn!(release = %release.id, %execution, error = %e, "the execution could not be stopped; rolling back anyway")
            }
        }
    }
    roll_back(store, router, notifier, &release.id, &reason, RollbackEnd::RolledBack, RestorePolicy::default(), now).await?;
    Ok(())
}

#[cfg(test)]
mod tests;
