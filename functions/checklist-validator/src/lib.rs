//! checklist-validator: admits a release (the platform policy met, lock, record, plan snapshot),
//! judges its checklist and announces it. A blocked checklist closes the release (status, reason, lock released) before
//! the function fails with `ChecklistBlocked`, so the release is consistent whatever the state
//! machine does next.

use chrono::Utc;
use rollgate::boundary::{self, TaskError};
pub use rollgate::flow::tasks::ChecklistOutput;
use rollgate::ports::{Notifier, PolicyStore, ReleaseStore};

pub async fn handler(
    event: serde_json::Value,
    store: &dyn ReleaseStore,
    policies: &dyn PolicyStore,
    notifier: &dyn Notifier,
) -> Result<ChecklistOutput, TaskError> {
    boundary::validate_checklist(event, store, policies, notifier, Utc::now()).await
}
