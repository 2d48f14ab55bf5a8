//! approval-request: the state machine waits on this task (`.waitForTaskToken`) until the
//! approvers decide. It records the pending approval (task token, approvers, quorum, expiry) in
//! the release's audit trail, marks the release as awaiting approval, and announces it. An
//! approval that expires is a rejection: the state machine's timeout routes it to rollback.

use chrono::Utc;
use lambda_runtime::Diagnostic;
use rollgate::admission::record_as;
use rollgate::notify::{ApprovalAsk, ReleaseNotification, announce, deliver};
use rollgate::plan::NotificationEvent;
use rollgate::ports::{Notifier, ReleaseStore, StoreError};
use rollgate::release::{EventKind, ReleaseStatus};
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

#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    ReleaseNotFound(String),
    #[error("{0}")]
    ReleaseClosed(String),
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    StoreFailed(String),
}

impl ApprovalError {
    pub fn name(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "InvalidRequest",
            Self::ReleaseNotFound(_) => "ReleaseNotFound",
            Self::ReleaseClosed(_) => "ReleaseClosed",
            Self::Transient(_) => "Transient",
            Self::StoreFailed(_) => "StoreFailed",
        }
    }
}

impl From<ApprovalError> for Diagnostic {
    fn from(err: ApprovalError) -> Diagnostic {
        Diagnostic { error_type: err.name().into(), error_message: err.to_string() }
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
    let request: ApprovalRequest = serde_path_to_error::deserialize(event).map_err(|e| {
        let path = e.path().to_string();
        ApprovalError::InvalidRequest(format!(
            "approval request {path}: {}; send {{release_id, step, approval, task_token}}",
            e.into_inner()
        ))
    })?;
    let now = Utc::now();
    let mut release = store
        .release(&request.release_id)
        .await?
        .ok_or_else(|| ApprovalError::ReleaseNotFound(format!("release {} was not found", request.release_id)))?;
    if release.status.is_final() {
        return Err(ApprovalError::ReleaseClosed(format!("release {} is already {}", release.id, release.status.as_str())));
    }
    let gate = release
        .plan
        .approvals
        .iter()
        .find(|a| a.id == request.approval)
        .cloned()
        .ok_or_else(|| ApprovalError::InvalidRequest(format!("the plan has no approval `{}`", request.approval)))?;
    let expires_at = now + gate.timeout.chrono();
    record_as(
        store,
        ACTOR,
        &release.id,
        now,
        EventKind::ApprovalRequested {
            approval: gate.id.clone(),
            step: request.step,
            approvers: gate.approvers.clone(),
            quorum: gate.quorum,
            expires_at,
            task_token: request.task_token,
        },
    )
    .await?;
    release.status = ReleaseStatus::AwaitingApproval;
    release.updated_at = now;
    store.update_release(&mut release).await?;
    let title = gate.title.clone().unwrap_or_else(|| gate.id.clone());
    let reason = format!(
        "{title}: {} of {} must approve before step {} ({}%), by {}",
        gate.quorum,
        gate.approvers.join(", "),
        request.step + 1,
        release.plan.traffic.steps.get(request.step).map_or(0, |s| s.weight),
        expires_at.format("%Y-%m-%d %H:%M UTC")
    );
    let mut notification =
        ReleaseNotification::new(NotificationEvent::WaitingForApproval, &release, Some(reason), gate.criteria.clone(), now);
    notification.approval = Some(ApprovalAsk { id: gate.id.clone(), step: request.step });
    if gate.channel.is_some() {
        notification.slack_channel = gate.channel.clone();
    }
    announce(store, deps.notifier, ACTOR, &release, &notification).await?;
    if let Some(slack) = deps.slack {
        // A failed post is recorded in the trail; the CLI can still decide, and the timeout
        // still rejects, so the release is never stuck silently.
        deliver(store, slack, ACTOR, &release, &notification).await?;
    }
    Ok(ApprovalOutput { release_id: release.id, approval: gate.id, expires_at })
}
