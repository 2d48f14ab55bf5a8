//! rollback-notifier: on any failure path, restore the stable version to 100%, verify it, close
//! the release as rolled back, release the lock, record the reason and the time to restore, and
//! publish the notification. Catch of every Task in the state machine.

use chrono::Utc;
use rollgate::ports::{Notifier, ReleaseStore, TrafficRouter};
use rollgate::release::EventKind;
use rollgate::rollback::{self, RestorePolicy, RollbackError};
use serde::{Deserialize, Serialize};

/// The error a Catch hands over (`ResultPath: "$.error"`).
#[derive(Debug, Clone, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error", default)]
    pub error: String,
    /// Absent or null at times (a task failure without a cause).
    #[serde(rename = "Cause", default)]
    pub cause: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RollbackRequest {
    pub release_id: String,
    /// Why, when the gate decided it (its reason); absent when an error was caught.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub error: Option<CaughtError>,
}

impl RollbackRequest {
    pub fn reason(&self) -> String {
        match (&self.reason, &self.error) {
            (Some(reason), _) => reason.clone(),
            (None, Some(caught)) => {
                // A Lambda error's Cause is JSON with errorMessage; show that, briefly.
                let cause = caught.cause.clone().unwrap_or_default();
                let message = serde_json::from_str::<serde_json::Value>(&cause)
                    .ok()
                    .and_then(|v| v.get("errorMessage").and_then(|m| m.as_str()).map(str::to_string))
                    .unwrap_or(cause);
                let mut text = match caught.error.as_str() {
                    "States.Timeout" => format!("the approval expired without a decision (an expired approval is a rejection): {message}"),
                    "ApprovalRejected" => format!("the approval was rejected: {message}"),
                    other => format!("a step failed with {other}: {message}"),
                };
                text.truncate(600);
                text
            }
            (None, None) => "rollback requested".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackOutput {
    pub release_id: String,
    pub status: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_restore_secs: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_target: Option<bool>,
    pub notified: bool,
}

rollgate::task_errors! {
    pub enum RollbackFunctionError {
        InvalidRequest,
        ReleaseNotFound,
        /// Traffic is not restored yet: the state machine retries this.
        RestoreFailed,
        Transient,
        StoreFailed,
    }
}

impl From<RollbackError> for RollbackFunctionError {
    fn from(err: RollbackError) -> Self {
        let text = err.to_string();
        match err {
            RollbackError::ReleaseNotFound(_) => Self::ReleaseNotFound(text),
            RollbackError::RestoreFailed { .. } => Self::RestoreFailed(text),
            RollbackError::Store(e) if e.is_transient() => Self::Transient(text),
            RollbackError::Store(_) => Self::StoreFailed(text),
        }
    }
}

/// A rejected approval is explained by the decision in the audit trail (who, and why).
async fn rejection(store: &dyn ReleaseStore, request: &RollbackRequest) -> Option<String> {
    if request.reason.is_some() || request.error.as_ref().is_none_or(|e| e.error != "ApprovalRejected") {
        return None;
    }
    let events = store.events(&request.release_id).await.ok()?;
    events.iter().rev().find_map(|e| match &e.kind {
        EventKind::ApprovalDecided { approval, by, approved: false, comment } => Some(format!(
            "the approval `{approval}` was rejected by {by}{}",
            comment.as_ref().map(|c| format!(": {c}")).unwrap_or_default()
        )),
        _ => None,
    })
}

pub async fn handler(
    event: serde_json::Value,
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    notifier: &dyn Notifier,
    policy: RestorePolicy,
) -> Result<RollbackOutput, RollbackFunctionError> {
    let request: RollbackRequest = serde_path_to_error::deserialize(event).map_err(|e| {
        let path = e.path().to_string();
        RollbackFunctionError::InvalidRequest(format!("rollback request {path}: {}; send {{\"release_id\", \"reason\"}}", e.into_inner()))
    })?;
    let reason = match rejection(store, &request).await {
        Some(decided) => decided,
        None => request.reason(),
    };
    let outcome = rollback::roll_back(store, router, notifier, &request.release_id, &reason, policy, Utc::now).await?;
    tracing::warn!(release = %outcome.release.id, reason = %reason, notified = outcome.notified, "rolled back");
    Ok(RollbackOutput {
        release_id: outcome.release.id.clone(),
        status: outcome.release.status.as_str().to_string(),
        reason: outcome.release.closed_reason.clone().unwrap_or(reason),
        time_to_restore_secs: outcome.record.as_ref().map(|r| r.time_to_restore_secs),
        within_target: outcome.record.as_ref().and_then(|r| r.within_target),
        notified: outcome.notified,
    })
}
