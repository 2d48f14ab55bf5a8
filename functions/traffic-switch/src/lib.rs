//! traffic-switch: sets the weight of a plan step (or promotes) on the release's router.
//! Idempotent: the weight a step already has is a no-op. A stale or concurrent writer gets
//! `RouterConflict`; the router is read back after every change.

use chrono::Utc;
use rollgate::notify::{ReleaseNotification, announce};
use rollgate::plan::NotificationEvent;
use rollgate::ports::{Notifier, ReleaseStore, StoreError, TrafficRouter};
use rollgate::traffic::{self, SwitchError, SwitchTarget};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchRequest {
    pub release_id: String,
    /// The plan step (0-based) whose weight to set.
    #[serde(default)]
    pub step: Option<usize>,
    /// Send 100% to the new version and end the release promoted.
    #[serde(default)]
    pub promote: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchOutput {
    pub release_id: String,
    // Always present (null when absent): the state machine reads it.
    #[serde(default)]
    pub step: Option<usize>,
    pub weight: u32,
    /// False when the router already had the weight.
    pub changed: bool,
    pub status: String,
    /// Whether a further step follows this one.
    pub has_next_step: bool,
    /// The approval the plan asks for before the next step, if any, and how long it may wait.
    // Always present (null when absent): the state machine reads it.
    #[serde(default)]
    pub next_approval: Option<String>,
    // Always present (null when absent): the state machine reads it.
    #[serde(default)]
    pub next_approval_timeout_secs: Option<u64>,
    /// When to check this step first: one analysis interval, or the bake if shorter (at least 1s).
    pub first_check_in_secs: u64,
}

rollgate::task_errors! {
    pub enum SwitchFunctionError {
        InvalidRequest,
        ReleaseNotFound,
        ReleaseClosed,
        RouterConflict,
        RouterFailed,
        LockLost,
        Transient,
        StoreFailed,
    }
}

impl From<SwitchError> for SwitchFunctionError {
    fn from(err: SwitchError) -> Self {
        let text = err.to_string();
        let transient = err.is_transient();
        match err {
            SwitchError::ReleaseNotFound(_) => Self::ReleaseNotFound(text),
            SwitchError::ReleaseClosed { .. } => Self::ReleaseClosed(text),
            SwitchError::NoStableVersion(_) | SwitchError::NoSuchStep { .. } => Self::InvalidRequest(text),
            SwitchError::Store(StoreError::RouterConflict { .. }) => Self::RouterConflict(text),
            SwitchError::Store(StoreError::LockLost { .. }) => Self::LockLost(text),
            _ if transient => Self::Transient(text),
            SwitchError::Mismatch { .. } | SwitchError::Router(_) => Self::RouterFailed(text),
            SwitchError::Store(_) => Self::StoreFailed(text),
        }
    }
}

impl From<StoreError> for SwitchFunctionError {
    fn from(err: StoreError) -> Self {
        SwitchError::Store(err).into()
    }
}

pub async fn handler(
    event: serde_json::Value,
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    notifier: &dyn Notifier,
) -> Result<SwitchOutput, SwitchFunctionError> {
    let request: SwitchRequest = serde_path_to_error::deserialize(event).map_err(|e| {
        let path = e.path().to_string();
        SwitchFunctionError::InvalidRequest(format!(
            "switch request {path}: {}; send {{\"release_id\", \"step\"}} or {{\"release_id\", \"promote\": true}}",
            e.into_inner()
        ))
    })?;
    let target = match (request.step, request.promote) {
        (Some(step), false) => SwitchTarget::Step(step),
        (None, true) => SwitchTarget::Promote,
        _ => return Err(SwitchFunctionError::InvalidRequest("give either `step` or `promote: true`".into())),
    };
    let now = Utc::now();
    let outcome = traffic::switch(store, router, &request.release_id, target, now).await?;
    let release = &outcome.release;
    tracing::info!(release = %release.id, weight = outcome.weight, changed = outcome.change.is_some(), "traffic set");
    if outcome.change.is_some() {
        let event = if target == SwitchTarget::Promote { NotificationEvent::Promoted } else { NotificationEvent::StepAdvanced };
        announce(store, notifier, traffic::ACTOR, release, &ReleaseNotification::new(event, release, None, Vec::new(), now)).await?;
    }
    let next = release.step.map_or(0, |s| s + 1);
    let has_next_step = target != SwitchTarget::Promote && next < release.plan.traffic.steps.len();
    Ok(SwitchOutput {
        release_id: release.id.clone(),
        step: release.step,
        weight: outcome.weight,
        changed: outcome.change.is_some(),
        status: release.status.as_str().to_string(),
        has_next_step,
        next_approval: if has_next_step { release.plan.approval_for_step(next).map(|a| a.id.clone()) } else { None },
        next_approval_timeout_secs: if has_next_step { release.plan.approval_for_step(next).map(|a| a.timeout.as_secs()) } else { None },
        first_check_in_secs: release.step.and_then(|s| release.plan.first_check_after(s)).unwrap_or(1),
    })
}
