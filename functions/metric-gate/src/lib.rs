//! metric-gate: each time a step has baked for an interval, judge the canary (and baseline)
//! metrics and decide `bake | advance | promote | rollback`. The state machine routes on
//! `action` and waits `next_check_in_secs`; the verdict and the decision are in the audit trail.

use chrono::Utc;
use rollgate::decision::Action;
use rollgate::gate::GateOutcome;
use rollgate::gate_check::{self, CheckError};
use rollgate::ports::{MetricSource, ReleaseStore, StoreError};
use serde::{Deserialize, Serialize};

/// The small payload the state machine passes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateRequest {
    pub release_id: String,
}

/// What the state machine routes on; the full explanation is in DynamoDB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateOutput {
    pub release_id: String,
    pub action: Action,
    pub step: usize,
    // Always present (null when absent): the state machine reads it.
    #[serde(default)]
    pub next_step: Option<usize>,
    /// Seconds the state machine waits before the next check (`bake`), at least 1.
    pub next_check_in_secs: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<GateOutcome>,
    pub reason: String,
}

rollgate::task_errors! {
    /// Stable error names for Retry/Catch.
    pub enum GateError {
        InvalidRequest,
        ReleaseNotFound,
        ReleaseClosed,
        LockLost,
        /// Metrics could not be read and retrying will not help: fail closed (rollback).
        MetricsUnavailable,
        Transient,
        StoreFailed,
    }
}

impl From<CheckError> for GateError {
    fn from(err: CheckError) -> Self {
        let text = err.to_string();
        match err {
            CheckError::ReleaseNotFound(_) => GateError::ReleaseNotFound(text),
            CheckError::ReleaseClosed { .. } => GateError::ReleaseClosed(text),
            CheckError::NoStep(_) => GateError::InvalidRequest(text),
            CheckError::Metrics(e) if e.is_transient() => GateError::Transient(text),
            CheckError::Metrics(_) => GateError::MetricsUnavailable(text),
            CheckError::Store(StoreError::LockLost { .. }) => GateError::LockLost(text),
            CheckError::Store(e) if e.is_transient() => GateError::Transient(text),
            CheckError::Store(_) => GateError::StoreFailed(text),
        }
    }
}

pub async fn handler(event: serde_json::Value, store: &dyn ReleaseStore, metrics: &dyn MetricSource) -> Result<GateOutput, GateError> {
    let request: GateRequest = serde_path_to_error::deserialize(event).map_err(|e| {
        let path = e.path().to_string();
        GateError::InvalidRequest(format!("gate request {path}: {}; send {{\"release_id\": \"...\"}}", e.into_inner()))
    })?;
    let result = gate_check::run(store, metrics, &request.release_id, Utc::now()).await?;
    let decision = result.decision;
    tracing::info!(release = %request.release_id, action = ?decision.action, reason = %decision.reason, "gate checked");
    Ok(GateOutput {
        release_id: request.release_id,
        action: decision.action,
        step: decision.step,
        next_step: decision.next_step,
        next_check_in_secs: decision.next_check_in_secs.unwrap_or(1).max(1),
        outcome: result.verdict.map(|v| v.outcome),
        reason: decision.reason,
    })
}
