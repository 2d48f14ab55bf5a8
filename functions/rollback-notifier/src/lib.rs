//! rollback-notifier: on any failure path, restore the stable version to 100%, verify it, close
//! the release as rolled back, release the lock, record the reason and the time to restore, and
//! publish the notification. Catch of every Task in the state machine. It also undoes an
//! admission that failed after its retries (`UndoAdmission`); on a schedule (`{"sweep": true}`)
//! it is the sweeper: it finishes rollbacks and executions that stopped half-way; and on an
//! alarm's state change (an EventBridge rule) it rolls back at once every open release whose
//! plan lists the alarm in `rollback_alarms`, stopping its execution first.

use chrono::Utc;
use rollgate::boundary::{self, TaskError};
use rollgate::flow::rollback::RestorePolicy;
pub use rollgate::flow::sweep::SweepReport;
pub use rollgate::flow::tasks::{RollbackOutput, RollbackRequest};
use rollgate::ports::{Executions, Notifier, ReleaseStore, TrafficRouter};

/// What an invocation answers: a rollback's outcome, an undone admission or a sweep's report.
pub use rollgate::boundary::RollbackFunctionOutput as Output;

/// One invocation: the scheduled sweep, an alarm's state change, a failed admission to undo, or
/// a rollback request.
pub async fn invoke(
    event: serde_json::Value,
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    notifier: &dyn Notifier,
    executions: &dyn Executions,
    policy: RestorePolicy,
) -> Result<Output, TaskError> {
    boundary::rollback_function(event, store, router, notifier, executions, policy, Utc::now).await
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
