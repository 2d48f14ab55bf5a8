//! approval-request: the state machine waits on this task (`.waitForTaskToken`) until the
//! approvers decide. It records the pending approval (task token, approvers, quorum, expiry) in
//! the release's audit trail, marks the release as awaiting approval, and announces it. An
//! approval that expires is a rejection: the state machine's timeout routes it to rollback.

use chrono::Utc;
use rollgate::approval::{RequestError, Requested, request};
use rollgate::notify::{announce, deliver};
use rollgate::ports::{Notifier, ReleaseStore, StoreError};
use serde::{Deserialize, Serialize};

pub const ACTOR: &str = "approval-request";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    pub release_id: String,
    /// The step the approval guards (0-based).
    pub step: usize,
    /// The plan's approval id.
    pub approval: String,
    /// `$$.Task.Token` of the waiting state.
    pub task_token: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalOutput {
    pub release_id: String,
    pub approval: String,
    pub expires_at: chrono::DateTime<Utc>,
}

rollgate::task_errors! {
    pub enum ApprovalError {
        InvalidRequest,
        ReleaseNotFound,
        ReleaseClosed,
        Transient,
        StoreFailed,
    }
}

impl From<StoreError> for ApprovalError {
    fn from(err: StoreError) -> Self {
        if err.is_transient() { Self::Transient(err.to_string()) } else { Self::StoreFailed(err.to_string()) }
    }
}

pub struct Deps<'a> {
    pub store: &'a dyn ReleaseStore,
    /// The release topic.
    pub notifier: &'a dyn Notifier,
    /// Slack, when the app's bot token is configured: the approvers get the message with its
    /// Approve / Reject buttons.
    pub slack: Option<&'a dyn Notifier>,
}

pub async fn handler(event: serde_json::Value, deps: &Deps<'_>) -> Result<ApprovalOutput, ApprovalError> {
    let store = deps.store;
    let ask: ApprovalRequest = serde_path_to_error::deserialize(event).map_err(|e| {
        let path = e.path().to_string();
        ApprovalError::InvalidRequest(format!(
            "approval request {path}: {}; send {{release_id, step, approval, task_token}}",
            e.into_inner()
        ))
    })?;
    let now = Utc::now();
    let Requested { release, approval, expires_at, notification } =
        request(store, ACTOR, &ask.release_id, ask.step, &ask.approval, &ask.task_token, now).await.map_err(|e| match e {
            RequestError::ReleaseNotFound(_) => ApprovalError::ReleaseNotFound(e.to_string()),
            RequestError::ReleaseClosed { .. } => ApprovalError::ReleaseClosed(e.to_string()),
            RequestError::UnknownApproval { .. } => ApprovalError::InvalidRequest(e.to_string()),
            RequestError::Store(e) => e.into(),
        })?;
    announce(store, deps.notifier, ACTOR, &release, &notification).await?;
    if let Some(slack) = deps.slack {
        // A failed post is recorded in the trail; the CLI can still decide, and the timeout
        // still rejects, so the release is never stuck silently.
        deliver(store, slack, ACTOR, &release, &notification).await?;
    }
    Ok(ApprovalOutput { release_id: release.id, approval, expires_at })
}
