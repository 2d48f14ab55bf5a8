//! traffic-switch: sets the weight of a plan step (or promotes) on the release's router.
//! Idempotent: the weight a step already has is a no-op. A stale or concurrent writer gets
//! `RouterConflict`; the router is read back after every change.

use chrono::Utc;
use rollgate::boundary::{self, TaskError};
pub use rollgate::flow::tasks::SwitchOutput;
use rollgate::ports::{Notifier, ReleaseStore, TrafficRouter};

pub async fn handler(
    event: serde_json::Value,
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    notifier: &dyn Notifier,
) -> Result<SwitchOutput, TaskError> {
    boundary::set_weight(event, store, router, notifier, Utc::now()).await
}
