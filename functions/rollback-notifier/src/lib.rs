//! rollback-notifier: on any failure path, restore the stable version to 100%, verify it, close
//! the release as rolled back, release the lock, record the reason and the time to restore, and
//! publish the notification. Catch of every Task in the state machine.

use chrono::Utc;
use rollgate::boundary::{self, TaskError};
use rollgate::flow::rollback::RestorePolicy;
pub use rollgate::flow::tasks::{RollbackOutput, RollbackRequest};
use rollgate::ports::{Notifier, ReleaseStore, TrafficRouter};

pub async fn handler(
    event: serde_json::Value,
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    notifier: &dyn Notifier,
    policy: RestorePolicy,
) -> Result<RollbackOutput, TaskError> {
    boundary::roll_back(event, store, router, notifier, policy, Utc::now).await
}
