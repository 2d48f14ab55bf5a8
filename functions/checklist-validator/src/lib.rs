//! checklist-validator: admits a release (lock, record, plan snapshot) and judges its checklist.
//!
//! A blocked checklist closes the release (status, reason, lock released) before the function
//! returns `ChecklistBlocked`, so the release is consistent whatever the state machine does next.

use chrono::Utc;
use lambda_runtime::Diagnostic;
use rollgate::admission::{self, AdmissionError};
use rollgate::checklist::Verdict;
use rollgate::notify::{ReleaseNotification, announce};
use rollgate::plan::NotificationEvent;
use rollgate::ports::{Notifier, ReleaseStore, StoreError};
use rollgate::release::ReleaseRequest;
use serde::{Deserialize, Serialize};

/// What the state machine carries on: ids and a summary; the rest lives in DynamoDB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChecklistOutput {
    pub release_id: String,
    pub service: String,
    pub environment: String,
    pub version: String,
    pub verdict: Verdict,
    pub summary: String,
    /// Items that warned or were overridden, by id.
    pub flagged: Vec<String>,
    pub steps: usize,
    /// The approval the plan asks for before the first step, and how long it may wait.
    // Always present (null when absent): the state machine reads it.
    #[serde(default)]
    pub approval: Option<String>,
    // Always present (null when absent): the state machine reads it.
    #[serde(default)]
    pub approval_timeout_secs: Option<u64>,
}

/// Errors carry stable names (`error_type`) that the state machine routes on.
#[derive(Debug, thiserror::Error)]
pub enum ChecklistError {
    #[error("release {release_id} is blocked: {summary}")]
    ChecklistBlocked { release_id: String, summary: String },
    #[error("{0}")]
    PlanInvalid(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    LockHeld(String),
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    StoreFailed(String),
}

impl ChecklistError {
    pub fn name(&self) -> &'static str {
        match self {
            ChecklistError::ChecklistBlocked { .. } => "ChecklistBlocked",
            ChecklistError::PlanInvalid(_) => "PlanInvalid",
            ChecklistError::InvalidRequest(_) => "InvalidRequest",
            ChecklistError::LockHeld(_) => "LockHeld",
            ChecklistError::Transient(_) => "Transient",
            ChecklistError::StoreFailed(_) => "StoreFailed",
        }
    }
}

impl From<ChecklistError> for Diagnostic {
    fn from(err: ChecklistError) -> Diagnostic {
        Diagnostic { error_type: err.name().into(), error_message: err.to_string() }
    }
}

impl From<AdmissionError> for ChecklistError {
    fn from(err: AdmissionError) -> Self {
        let text = err.to_string();
        match err {
            AdmissionError::InvalidPlan(_) => ChecklistError::PlanInvalid(text),
            AdmissionError::InvalidRequest { .. } => ChecklistError::InvalidRequest(text),
            AdmissionError::Store(StoreError::LockHeld { .. }) => ChecklistError::LockHeld(text),
            AdmissionError::Store(e) if e.is_transient() => ChecklistError::Transient(text),
            AdmissionError::Store(_) => ChecklistError::StoreFailed(text),
        }
    }
}

/// The handler: a release request in, the admitted release's checklist verdict out.
pub async fn handler(
    event: serde_json::Value,
    store: &dyn ReleaseStore,
    notifier: &dyn Notifier,
) -> Result<ChecklistOutput, ChecklistError> {
    let request: ReleaseRequest = serde_path_to_error::deserialize(event).map_err(|e| {
        let path = e.path().to_string();
        ChecklistError::InvalidRequest(format!(
            "release request {path}: {}; see events/checklist-validator/ for the expected shape",
            e.into_inner()
        ))
    })?;
    let now = Utc::now();
    let admitted = admission::admit(store, request, now).await?;
    let verdict = admitted.verdict;
    tracing::info!(release = %admitted.release.id, verdict = ?verdict.verdict, summary = %verdict.summary, "checklist judged");
    let (event, reason, explanation) = if verdict.is_blocked() {
        let lines = verdict
            .items
            .iter()
            .filter(|i| i.effect == rollgate::checklist::Effect::Blocked)
            .map(|i| format!("{}: {} — {}", i.id, i.rule, i.detail))
            .collect();
        (NotificationEvent::Blocked, Some(verdict.summary.clone()), lines)
    } else {
        (NotificationEvent::Started, None, Vec::new())
    };
    let notification = ReleaseNotification::new(event, &admitted.release, reason, explanation, now);
    announce(store, notifier, admission::ACTOR, &admitted.release, &notification).await.map_err(AdmissionError::Store)?;
    if verdict.is_blocked() {
        return Err(ChecklistError::ChecklistBlocked { release_id: admitted.release.id, summary: verdict.summary });
    }
    let flagged = verdict
        .items
        .iter()
        .filter(|i| matches!(i.effect, rollgate::checklist::Effect::Warning | rollgate::checklist::Effect::Overridden))
        .map(|i| i.id.clone())
        .collect();
    Ok(ChecklistOutput {
        release_id: admitted.release.id,
        service: admitted.release.service,
        environment: admitted.release.environment,
        version: admitted.release.version,
        verdict: verdict.verdict,
        summary: verdict.summary,
        flagged,
        steps: admitted.release.plan.traffic.steps.len(),
        approval: admitted.release.plan.approval_for_step(0).map(|a| a.id.clone()),
        approval_timeout_secs: admitted.release.plan.approval_for_step(0).map(|a| a.timeout.as_secs()),
    })
}
