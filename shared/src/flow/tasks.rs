//! The state machine's Tasks (`infra/statemachine/release.asl.json`), one function each: what a
//! Task receives, what it does over the ports, and the small payload it returns for the state
//! machine to route on. The Lambda handlers and the simulator call these and nothing else.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::checklist::{Effect, Verdict};
use crate::domain::decision::Action;
use crate::domain::gate::GateOutcome;
use crate::domain::plan::NotificationEvent;
use crate::domain::text::clip;
use crate::flow::admit::{self, AdmissionError};
use crate::flow::approval::{self, RequestError, Requested};
use crate::flow::gate_check::{self, CheckError};
use crate::flow::notify::{announce, announced, deliver};
use crate::flow::rollback::{self, RestorePolicy, RollbackError};
use crate::flow::traffic::{self, SwitchError, SwitchTarget};
use crate::ports::{HookRunner, MetricSource, Notifier, PolicyStore, ReleaseStore, StoreError, TrafficRouter};
use crate::release::notification::ReleaseNotification;
use crate::release::{EventKind, Release, ReleaseRequest};

/// The actors the audit trail names: the function that wrote an event.
pub mod actor {
    pub const CHECKLIST_VALIDATOR: &str = "checklist-validator";
    pub const APPROVAL_REQUEST: &str = "approval-request";
    pub const TRAFFIC_SWITCH: &str = "traffic-switch";
    pub const METRIC_GATE: &str = "metric-gate";
    pub const ROLLBACK_NOTIFIER: &str = "rollback-notifier";
}

// ValidateChecklist ------------------------------------------------------------------------

/// What the state machine carries on after admission: ids and a summary; the rest is stored.
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
    #[serde(default)]
    pub approval_timeout_secs: Option<u64>,
    /// The approval's heartbeat: how long it may go without a vote (null when the plan sets none).
    #[serde(default)]
    pub approval_heartbeat_secs: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error("release {release_id} is blocked: {summary}")]
    Blocked { release_id: String, summary: String },
    #[error(transparent)]
    Admission(#[from] AdmissionError),
}

/// Admits the release (the platform policy met, lock, record, plan snapshot), judges its
/// checklist and announces it:
/// `started`, or `blocked` (the release is then closed and its lock released).
pub async fn validate_checklist(
    store: &dyn ReleaseStore,
    policies: &dyn PolicyStore,
    notifier: &dyn Notifier,
    request: ReleaseRequest,
    now: DateTime<Utc>,
) -> Result<ChecklistOutput, ValidateError> {
    let admitted = admit::admit(store, policies, request, now).await?;
    let verdict = admitted.verdict;
    let release = admitted.release;
    let blocked = verdict.is_blocked();
    let (event, reason, explanation) = if blocked {
        let lines =
            verdict.items.iter().filter(|i| i.effect == Effect::Blocked).map(|i| format!("{}: {} — {}", i.id, i.rule, i.detail)).collect();
        (NotificationEvent::Blocked, Some(verdict.summary.clone()), lines)
    } else {
        (NotificationEvent::Started, None, Vec::new())
    };
    // A retried admission announces once: the trail already says so.
    if !already_announced(store, &release, event).await.map_err(AdmissionError::Store)? {
        let notification = ReleaseNotification::new(event, &release, reason, explanation, now);
        announce(store, notifier, actor::CHECKLIST_VALIDATOR, &release, &notification).await.map_err(AdmissionError::Store)?;
    }
    if blocked {
        // The lock goes back last: a process stopped before this leaves the release to the
        // sweeper, which announces what was not.
        store.release_lock(&release.service, &release.environment, &release.id).await.map_err(AdmissionError::Store)?;
        return Err(ValidateError::Blocked { release_id: release.id, summary: verdict.summary });
    }
    let flagged = verdict.items.iter().filter(|i| matches!(i.effect, Effect::Warning | Effect::Overridden)).map(|i| i.id.clone()).collect();
    let first_approval = release.plan.approval_for_step(0);
    Ok(ChecklistOutput {
        approval: first_approval.map(|a| a.id.clone()),
        approval_timeout_secs: first_approval.map(|a| a.timeout.as_secs()),
        approval_heartbeat_secs: first_approval.and_then(|a| a.heartbeat).map(|h| h.as_secs()),
        steps: release.plan.traffic.steps.len(),
        flagged,
        verdict: verdict.verdict,
        summary: verdict.summary,
        release_id: release.id,
        service: release.service,
        environment: release.environment,
        version: release.version,
    })
}

/// Whether the trail already records a notification (sent or failed) of `event`.
async fn already_announced(store: &dyn ReleaseStore, release: &Release, event: NotificationEvent) -> Result<bool, StoreError> {
    Ok(announced(&store.events(&release.id).await?, event))
}

// RequestApproval --------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalTaskRequest {
    pub release_id: String,
    /// The step the approval guards (0-based).
    pub step: usize,
    /// The plan's approval id.
    pub approval: String,
    /// `$$.Task.Token` of the waiting state.
    pub task_token: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalTaskOutput {
    pub release_id: String,
    pub approval: String,
    pub expires_at: DateTime<Utc>,
}

/// Records the pending approval, marks the release as awaiting it, announces it on the topic,
/// and posts it with its buttons to Slack when Slack is configured. The state machine then waits
/// for the task token (an approval that expires is a rejection).
pub async fn request_approval(
    store: &dyn ReleaseStore,
    tokens: &dyn crate::ports::TaskTokens,
    notifier: &dyn Notifier,
    slack: Option<&dyn Notifier>,
    ask: ApprovalTaskRequest,
    now: DateTime<Utc>,
) -> Result<ApprovalTaskOutput, RequestError> {
    let Requested { release, approval, expires_at, notification } =
        approval::request(store, tokens, actor::APPROVAL_REQUEST, &ask.release_id, ask.step, &ask.approval, &ask.task_token, now).await?;
    announce(store, notifier, actor::APPROVAL_REQUEST, &release, &notification).await?;
    if let Some(slack) = slack {
        // A failed post is recorded in the trail; the CLI can still decide, and the timeout
        // still rejects, so the release is never stuck silently.
        deliver(store, slack, actor::APPROVAL_REQUEST, &release, &notification).await?;
    }
    Ok(ApprovalTaskOutput { release_id: release.id, approval, expires_at })
}

// SetWeight and Promote --------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
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
    #[serde(default)]
    pub next_approval: Option<String>,
    #[serde(default)]
    pub next_approval_timeout_secs: Option<u64>,
    #[serde(default)]
    pub next_approval_heartbeat_secs: Option<u64>,
    /// When to check this step first: one analysis interval, or the bake if shorter (at least 1s).
    pub first_check_in_secs: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SetWeightError {
    #[error("give either `step` or `promote: true`")]
    NoTarget,
    #[error(transparent)]
    Switch(#[from] SwitchError),
}

impl From<StoreError> for SetWeightError {
    fn from(err: StoreError) -> Self {
        SwitchError::Store(err).into()
    }
}

/// Sets a step's weight (or promotes) on the release's router, idempotently, and announces the
/// step (`step_advanced`) or the promotion (`promoted`) once.
pub async fn set_weight(
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    hooks: &dyn HookRunner,
    notifier: &dyn Notifier,
    request: SwitchRequest,
    now: DateTime<Utc>,
) -> Result<SwitchOutput, SetWeightError> {
    let target = match (request.step, request.promote) {
        (Some(step), false) => SwitchTarget::Step(step),
        (None, true) => SwitchTarget::Promote,
        _ => return Err(SetWeightError::NoTarget),
    };
    let outcome = traffic::switch(store, router, hooks, &request.release_id, target, now).await?;
    let release = &outcome.release;
    // A promotion is announced even when the last step already sent 100% (no weight change),
    // and a step when its weight changed; a retried task finds the change done and stays quiet.
    let event = match target {
        SwitchTarget::Promote => Some(NotificationEvent::Promoted),
        SwitchTarget::Step(_) if outcome.change.is_some() || outcome.step_started => Some(NotificationEvent::StepAdvanced),
        SwitchTarget::Step(_) => None,
    };
    if let Some(event) = event
        && (event != NotificationEvent::Promoted || !already_announced(store, release, event).await?)
    {
        let notification = ReleaseNotification::new(event, release, None, Vec::new(), now);
        announce(store, notifier, actor::TRAFFIC_SWITCH, release, &notification).await?;
    }
    if target == SwitchTarget::Promote {
        // The seal, then the lock, last, after the announcement: a process stopped before this
        // leaves the closed release to the sweeper, which finishes what was not done.
        traffic::hand_back(store, router, release, now).await?;
    }
    let next = release.step.map_or(0, |s| s + 1);
    let has_next_step = target != SwitchTarget::Promote && next < release.plan.traffic.steps.len();
    let next_approval = if has_next_step { release.plan.approval_for_step(next) } else { None };
    Ok(SwitchOutput {
        release_id: release.id.clone(),
        step: release.step,
        weight: outcome.weight,
        changed: outcome.change.is_some(),
        status: release.status.as_str().to_string(),
        has_next_step,
        next_approval: next_approval.map(|a| a.id.clone()),
        next_approval_timeout_secs: next_approval.map(|a| a.timeout.as_secs()),
        next_approval_heartbeat_secs: next_approval.and_then(|a| a.heartbeat).map(|h| h.as_secs()),
        first_check_in_secs: release.step.and_then(|s| release.plan.first_check_after(s)).unwrap_or(1),
    })
}

// EvaluateGates ----------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateRequest {
    pub release_id: String,
    /// The execution (`$$.Execution.Id`) and when it entered the check (`$$.State.EnteredTime`):
    /// together they name the check, the same on each of its retries.
    #[serde(default)]
    pub execution: Option<String>,
    #[serde(default)]
    pub entered_at: Option<String>,
}

impl GateRequest {
    /// The check's name, when the state machine gave one.
    pub fn check_id(&self) -> Option<String> {
        Some(format!("{}@{}", self.execution.as_deref()?, self.entered_at.as_deref()?))
    }
}

/// What the state machine routes on; the full explanation is in the audit trail.
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

/// Reads and judges the step's metrics, decides `bake | advance | promote | rollback`, and
/// records both in the audit trail.
pub async fn evaluate_gates(
    store: &dyn ReleaseStore,
    policies: &dyn PolicyStore,
    metrics: &dyn MetricSource,
    hooks: &dyn HookRunner,
    request: GateRequest,
    now: DateTime<Utc>,
) -> Result<GateOutput, CheckError> {
    let result = gate_check::run(store, policies, metrics, hooks, &request.release_id, request.check_id().as_deref(), now).await?;
    let decision = result.decision;
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

// RollBack ---------------------------------------------------------------------------------

/// The error a Catch hands over (`ResultPath: "$.error"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error", default)]
    pub error: String,
    /// Absent or null at times (a task failure without a cause).
    #[serde(rename = "Cause", default)]
    pub cause: Option<String>,
}

/// Longest reason taken from a caught error, in characters.
const MAX_CAUGHT_REASON_CHARS: usize = 600;

impl CaughtError {
    /// The error for people, briefly: a Lambda error's Cause is JSON with `errorMessage`.
    pub fn reason(&self) -> String {
        let cause = self.cause.clone().unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&cause)
            .ok()
            .and_then(|v| v.get("errorMessage").and_then(|m| m.as_str()).map(str::to_string))
            .unwrap_or(cause);
        let text = match self.error.as_str() {
            "States.Timeout" => format!("a step ran past its timeout (States.Timeout): {message}"),
            crate::release::approval::REJECTED_ERROR => format!("the approval was rejected: {message}"),
            // The switch's message says which hook, what it said, and that nothing moved.
            "HookFailed" => message,
            other => format!("a step failed with {other}: {message}"),
        };
        clip(&text, MAX_CAUGHT_REASON_CHARS)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RollbackRequest {
    pub release_id: String,
    /// Why, when the gate decided it (its reason); absent when an error was caught.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub error: Option<CaughtError>,
    /// The approval wait's timeout, handed over by the `ApprovalExpired` state: an expired
    /// approval is a rejection.
    #[serde(default)]
    pub approval_expired: Option<CaughtError>,
}

impl RollbackRequest {
    /// The reason for people: the gate's, or the caught error's message.
    pub fn reason(&self) -> String {
        match (&self.reason, &self.approval_expired, &self.error) {
            (Some(reason), _, _) => reason.clone(),
            (None, Some(expired), _) => clip(
                &format!(
                    "the approval expired without a decision (an expired approval is a rejection): {}",
                    expired.cause.as_deref().unwrap_or("no decision in time")
                ),
                MAX_CAUGHT_REASON_CHARS,
            ),
            (None, None, Some(caught)) => caught.reason(),
            (None, None, None) => "rollback requested".into(),
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

/// `UndoAdmission`: the execution's input (the release request) and the error that ended
/// its admission.
#[derive(Debug, Clone, Deserialize)]
pub struct UndoAdmissionRequest {
    #[serde(flatten)]
    pub release: crate::flow::admit::UndoRequest,
    #[serde(default)]
    pub error: Option<CaughtError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UndoAdmissionOutput {
    pub release_id: String,
    /// How the release ended (`aborted`), or `not_recorded` when admission never stored it.
    pub status: String,
    pub lock_released: bool,
}

/// Undoes a failed admission on behalf of the rollback function.
pub async fn undo_admission(
    store: &dyn ReleaseStore,
    notifier: &dyn Notifier,
    request: UndoAdmissionRequest,
    now: DateTime<Utc>,
) -> Result<UndoAdmissionOutput, StoreError> {
    let cause = request.error.as_ref().map_or_else(|| "no cause was given".to_string(), CaughtError::reason);
    let ended = crate::flow::admit::undo(store, notifier, rollback::ACTOR, &request.release, &cause, now).await?;
    Ok(UndoAdmissionOutput {
        release_id: request.release.release_id,
        status: ended.map_or_else(|| "not_recorded".to_string(), |r| r.status.as_str().to_string()),
        lock_released: true,
    })
}

/// A rejected approval is explained by the decision in the audit trail (who, and why).
async fn rejection(store: &dyn ReleaseStore, request: &RollbackRequest) -> Result<Option<String>, StoreError> {
    if request.reason.is_some() || request.error.as_ref().is_none_or(|e| e.error != crate::release::approval::REJECTED_ERROR) {
        return Ok(None);
    }
    let events = store.events(&request.release_id).await?;
    Ok(events.iter().rev().find_map(|e| match &e.kind {
        EventKind::ApprovalDecided { approval, by, approved: false, comment, .. } => Some(format!(
            "the approval `{approval}` was rejected by {by}{}",
            comment.as_ref().map(|c| format!(": {c}")).unwrap_or_default()
        )),
        _ => None,
    }))
}

/// An expired approval is explained from the trail and the plan: which approval, how many of
/// its quorum approved, and whether its timeout or its heartbeat (no vote for that long) ran out.
/// (Step Functions reports both as a timeout, without saying which.)
async fn expiry(store: &dyn ReleaseStore, request: &RollbackRequest, now: DateTime<Utc>) -> Result<Option<String>, StoreError> {
    if request.reason.is_some() || request.approval_expired.is_none() {
        return Ok(None);
    }
    let Some(release) = store.release(&request.release_id).await? else { return Ok(None) };
    let events = store.events(&request.release_id).await?;
    let last_request = events.iter().enumerate().rev().find_map(|(i, e)| match &e.kind {
        EventKind::ApprovalRequested { approval, step, quorum, .. } => Some((i, e.at, approval, *step, *quorum)),
        _ => None,
    });
    let Some((requested, requested_at, approval, step, quorum)) = last_request else { return Ok(None) };
    let Some(gate) = release.plan.approvals.iter().find(|a| &a.id == approval) else { return Ok(None) };
    let votes: Vec<DateTime<Utc>> = events
        .iter()
        .skip(requested)
        .filter(|e| matches!(&e.kind, EventKind::ApprovalDecided { approval: a, approved: true, .. } if a == approval))
        .map(|e| e.at)
        .collect();
    let waited = now.signed_duration_since(requested_at);
    let ran_out = match gate.heartbeat {
        Some(heartbeat) if waited < gate.timeout.chrono() => {
            let since =
                votes.last().map_or_else(|| "since it was requested".to_string(), |at| format!("since {}", at.format("%H:%M:%S UTC")));
            format!("no approver voted for {heartbeat} {since}, the approval's heartbeat")
        }
        _ => format!("its timeout of {} ran out", gate.timeout),
    };
    let text = format!(
        "the approval `{approval}` before step {} expired without a decision ({} of {quorum} approvals; {ran_out}); an expired approval is a rejection",
        step.saturating_add(1),
        votes.len(),
    );
    Ok(Some(clip(&text, MAX_CAUGHT_REASON_CHARS)))
}

/// Restores the stable version to 100%, verifies it, closes the release as rolled back,
/// releases the lock, records the reason and the time to restore, and notifies.
pub async fn roll_back(
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    notifier: &dyn Notifier,
    request: RollbackRequest,
    policy: RestorePolicy,
    clock: impl Fn() -> DateTime<Utc>,
) -> Result<RollbackOutput, RollbackError> {
    let reason = match rejection(store, &request).await? {
        Some(decided) => decided,
        None => match expiry(store, &request, clock()).await? {
            Some(expired) => expired,
            None => request.reason(),
        },
    };
    let outcome =
        rollback::roll_back(store, router, notifier, &request.release_id, &reason, rollback::RollbackEnd::RolledBack, policy, clock)
            .await?;
    Ok(RollbackOutput {
        release_id: outcome.release.id.clone(),
        status: outcome.release.status.as_str().to_string(),
        reason: outcome.release.closed_reason.clone().unwrap_or(reason),
        time_to_restore_secs: outcome.record.as_ref().map(|r| r.time_to_restore_secs),
        within_target: outcome.record.as_ref().and_then(|r| r.within_target),
        notified: outcome.notified,
    })
}
