//! traffic-switch: sets the weight of a plan step (or promotes) on the release's router.
//! Idempotent: the weight a step already has is a no-op. A stale or concurrent writer gets
//! `RouterConflict`; the router is read back after every change. A step's `before_shift` hooks
//! run first; one that fails moves nothing (`HookFailed`).

use chrono::Utc;
use rollgate::boundary::{self, TaskError};
pub use rollgate::flow::tasks::SwitchOutput;
use rollgate::ports::{HookRunner, Notifier, ReleaseStore, TrafficRouter};

pub async fn handler(
    event: serde_json::Value,
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    hooks: &dyn HookRunner,
    notifier: &dyn Notifier,
) -> Result<SwitchOutput, TaskError> {
    boundary::set_weight(event, store, router, hooks, notifier, Utc::now()).await
}
