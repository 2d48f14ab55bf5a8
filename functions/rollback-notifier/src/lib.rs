//! rollback-notifier: on any failure path, restore the stable version to 100%, verify it, close
//! the release as rolled back, release the lock, record the reason and the time to restore, and
//! publish the notification. Catch of every Task in the state machine. On a schedule
//! (`{"sweep": true}`), the sweeper: it finishes rollbacks and executions that stopped half-way.

use chrono::Utc;
use rollgate::boundary::{self, TaskError};
use rollgate::flow::rollback::RestorePolicy;
pub use rollgate::flow::sweep::SweepReport;
pub use rollgate::flow::tasks::{RollbackOutput, RollbackRequest};
use rollgate::ports::{Notifier, ReleaseStore, TrafficRouter};

/// What an invocation answers: a rollback's outcome or a sweep's report.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum Output {
    Rollback(RollbackOutput),
    Sweep(SweepReport),
}

/// One invocation: the scheduled sweep or a rollback request.
pub async fn invoke(
    event: serde_json::Value,
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    notifier: &dyn Notifier,
    policy: RestorePolicy,
) -> Result<Output, TaskError> {
    if boundary::is_sweep(&event) {
        return Ok(Output::Sweep(boundary::sweep(store, router, notifier, policy, Utc::now).await?));
    }
    Ok(Output::Rollback(handler(event, store, router, notifier, policy).await?))
}

pub async fn handler(
    event: serde_json::Value,
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    notifier: &dyn Notifier,
    policy: RestorePolicy,
) -> Result<RollbackOutput, TaskError> {
    boundary::roll_back(event, store, router, notifier, policy, Utc::now).await
}
