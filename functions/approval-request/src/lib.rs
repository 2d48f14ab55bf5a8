//! approval-request: the state machine waits on this task (`.waitForTaskToken`) until the
//! approvers decide. It records the pending approval (approvers, quorum, expiry) in the
//! release's audit trail and keeps the task token apart (the token table, which only the approval
//! functions can read), marks the release as awaiting approval, and announces it (and posts it
//! to Slack). An approval that expires is a rejection: the state machine's timeout
//! routes it to rollback.

use chrono::Utc;
use rollgate::boundary::{self, TaskError};
pub use rollgate::flow::tasks::ApprovalTaskOutput;
use rollgate::ports::{Notifier, ReleaseStore, TaskTokens};

pub struct Deps<'a> {
    pub store: &'a dyn ReleaseStore,
    /// Where the execution's task token is kept, apart from the trail.
    pub tokens: &'a dyn TaskTokens,
    /// The release topic.
    pub notifier: &'a dyn Notifier,
    /// Slack, when the app's bot token is configured: the approvers get the message with its
    /// Approve / Reject buttons.
    pub slack: Option<&'a dyn Notifier>,
}

pub async fn handler(event: serde_json::Value, deps: &Deps<'_>) -> Result<ApprovalTaskOutput, TaskError> {
    boundary::request_approval(event, deps.store, deps.tokens, deps.notifier, deps.slack, Utc::now()).await
}
