//! The one boundary between a Lambda event and the flow: it parses the event into the flow's
//! input (every problem answered with the path and the expected shape), calls the flow's task
//! function, and turns the flow's typed errors into the stable error names the state machine
//! routes on (Retry/Catch). Each function's `lib.rs` calls one of these; the simulator calls the
//! same ones, so a deployed release and a simulated one take the same paths. [`http`] is the
//! same for the two API Gateway endpoints: a refusal is an HTTP status with its reason.

pub mod http;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use crate::flow::admit::AdmissionError;
use crate::flow::approval::RequestError;
use crate::flow::gate_check::CheckError;
use crate::flow::rollback::{RestorePolicy, RollbackError};
use crate::flow::tasks::{
    self, ApprovalTaskOutput, ChecklistOutput, GateOutput, RollbackOutput, SetWeightError, SwitchOutput, ValidateError,
};
use crate::flow::traffic::SwitchError;
use crate::ports::{Executions, HookRunner, MetricSource, Notifier, PolicyStore, ReleaseStore, StoreError, TrafficRouter};

macro_rules! error_names {
    ($($(#[$meta:meta])* $name:ident),+ $(,)?) => {
        /// The error names a task can fail with: what `infra/statemachine/release.asl.json`
        /// retries and catches on.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorName { $($(#[$meta])* $name),+ }

        impl ErrorName {
            pub const ALL: &'static [ErrorName] = &[$(ErrorName::$name),+];

            pub fn as_str(self) -> &'static str {
                match self { $(ErrorName::$name => stringify!($name)),+ }
            }
        }
    };
}

error_names! {
    /// The checklist blocked the release; it is closed and its lock released.
    ChecklistBlocked,
    PlanInvalid,
    InvalidRequest,
    /// Another release holds the service's lock.
    LockHeld,
    /// This release's lock expired and another release took it over: touch nothing.
    LockLost,
    ReleaseNotFound,
    ReleaseClosed,
    /// Another writer moved the router since this release last did.
    RouterConflict,
    RouterFailed,
    /// A step's approval is not granted by the decisions in the trail: move nothing, roll back.
    NotApproved,
    /// Metrics could not be read and retrying will not help: fail closed (rollback).
    MetricsUnavailable,
    /// A step's `before_shift` hook failed or gave no answer: nothing moved; roll back.
    HookFailed,
    /// Traffic is not restored yet: the state machine retries the rollback.
    RestoreFailed,
    /// Worth retrying as it is (throttling, a timeout, a lost connection).
    Transient,
    StoreFailed,
    /// A report could not be published (the weekly review).
    PublishFailed,
}

/// A task's failure: the name the state machine routes on and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TaskError {
    pub name: ErrorName,
    pub message: String,
}

impl TaskError {
    pub fn new(name: ErrorName, message: impl Into<String>) -> Self {
        Self { name, message: message.into() }
    }

    /// The stable error name Step Functions routes on.
    pub fn name(&self) -> &'static str {
        self.name.as_str()
    }
}

impl From<TaskError> for lambda_runtime::Diagnostic {
    fn from(err: TaskError) -> Self {
        lambda_runtime::Diagnostic { error_type: err.name().into(), error_message: err.message }
    }
}

/// Parses a task's event; a malformed one is `InvalidRequest` with the path and the shape to send.
pub fn parse<T: DeserializeOwned>(event: serde_json::Value, what: &str, shape: &str) -> Result<T, TaskError> {
    serde_path_to_error::deserialize(event).map_err(|e| {
        let path = e.path().to_string();
        TaskError::new(ErrorName::InvalidRequest, format!("{what} {path}: {}; send {shape}", e.into_inner()))
    })
}

fn store_error_name(err: &StoreError) -> ErrorName {
    match err {
        StoreError::LockHeld { .. } => ErrorName::LockHeld,
        StoreError::LockLost { .. } => ErrorName::LockLost,
        StoreError::RouterConflict { .. } => ErrorName::RouterConflict,
        StoreError::ReleaseNotFound(_) => ErrorName::ReleaseNotFound,
        e if e.is_transient() => ErrorName::Transient,
        _ => ErrorName::StoreFailed,
    }
}

impl From<StoreError> for TaskError {
    fn from(err: StoreError) -> Self {
        TaskError::new(store_error_name(&err), err.to_string())
    }
}

impl From<ValidateError> for TaskError {
    fn from(err: ValidateError) -> Self {
        let name = match &err {
            ValidateError::Blocked { .. } => ErrorName::ChecklistBlocked,
            // A plan weaker than its policy is refused like an invalid one (Refused), with the rules.
            ValidateError::Admission(AdmissionError::InvalidPlan(_) | AdmissionError::PolicyBreached { .. }) => ErrorName::PlanInvalid,
            ValidateError::Admission(AdmissionError::InvalidRequest { .. }) => ErrorName::InvalidRequest,
            ValidateError::Admission(AdmissionError::Store(e)) => store_error_name(e),
        };
        TaskError::new(name, err.to_string())
    }
}

impl From<RequestError> for TaskError {
    fn from(err: RequestError) -> Self {
        let name = match &err {
            RequestError::ReleaseNotFound(_) => ErrorName::ReleaseNotFound,
            RequestError::ReleaseClosed { .. } => ErrorName::ReleaseClosed,
            RequestError::UnknownApproval { .. } => ErrorName::InvalidRequest,
            RequestError::Store(e) => store_error_name(e),
        };
        TaskError::new(name, err.to_string())
    }
}

fn switch_error_name(err: &SwitchError) -> ErrorName {
    match err {
        SwitchError::ReleaseNotFound(_) => ErrorName::ReleaseNotFound,
        SwitchError::ReleaseClosed { .. } => ErrorName::ReleaseClosed,
        SwitchError::NoStableVersion(_) | SwitchError::NoSuchStep { .. } => ErrorName::InvalidRequest,
        SwitchError::NotApproved { .. } => ErrorName::NotApproved,
        SwitchError::HookFailed { .. } => ErrorName::HookFailed,
        // Run again as it is: the hook could not be run this time.
        SwitchError::Hook(_) => ErrorName::Transient,
        // A stale writer: the release has moved on, and whoever invoked this no longer waits.
        SwitchError::Superseded { .. } => ErrorName::RouterConflict,
        // Another writer moved the router after this one read it: nothing moved; re-decide.
        SwitchError::Router(crate::ports::RouterError::Moved { .. }) => ErrorName::RouterConflict,
        SwitchError::Store(e) => store_error_name(e),
        e if e.is_transient() => ErrorName::Transient,
        SwitchError::Mismatch { .. } | SwitchError::Router(_) => ErrorName::RouterFailed,
    }
}

impl From<SetWeightError> for TaskError {
    fn from(err: SetWeightError) -> Self {
        let name = match &err {
            SetWeightError::NoTarget => ErrorName::InvalidRequest,
            SetWeightError::Switch(e) => switch_error_name(e),
        };
        TaskError::new(name, err.to_string())
    }
}

impl From<CheckError> for TaskError {
    fn from(err: CheckError) -> Self {
        let name = match &err {
            CheckError::ReleaseNotFound(_) => ErrorName::ReleaseNotFound,
            CheckError::ReleaseClosed { .. } => ErrorName::ReleaseClosed,
            CheckError::NoStep(_) => ErrorName::InvalidRequest,
            CheckError::Metrics(e) if e.is_transient() => ErrorName::Transient,
            CheckError::Metrics(_) => ErrorName::MetricsUnavailable,
            CheckError::Hook(_) => ErrorName::Transient,
            CheckError::Store(e) => store_error_name(e),
        };
        TaskError::new(name, err.to_string())
    }
}

impl From<RollbackError> for TaskError {
    fn from(err: RollbackError) -> Self {
        let name = match &err {
            RollbackError::ReleaseNotFound(_) => ErrorName::ReleaseNotFound,
            RollbackError::RestoreFailed { .. } => ErrorName::RestoreFailed,
            RollbackError::LockLost { .. } => ErrorName::LockLost,
            // Closed, its lock kept until the seal is written: retried like the restore.
            RollbackError::Unsealed { source, .. } if source.is_transient() => ErrorName::Transient,
            RollbackError::Unsealed { .. } => ErrorName::RestoreFailed,
            RollbackError::Store(e) => store_error_name(e),
        };
        TaskError::new(name, err.to_string())
    }
}

/// `ValidateChecklist`: admit the release and judge its checklist.
pub async fn validate_checklist(
    event: serde_json::Value,
    store: &dyn ReleaseStore,
    policies: &dyn PolicyStore,
    notifier: &dyn Notifier,
    now: DateTime<Utc>,
) -> Result<ChecklistOutput, TaskError> {
    // The state machine sends `{request, execution}`; a bare request (a direct invocation, an
    // older definition) is taken as well, without an execution.
    let (event, execution) = match event {
        serde_json::Value::Object(mut fields) if fields.contains_key("request") && !fields.contains_key("service") => {
            let execution = fields.remove("execution");
            (fields.remove("request").unwrap_or_default(), execution.and_then(|e| e.as_str().map(str::to_string)))
        }
        bare => (bare, None),
    };
    let mut request: crate::release::ReleaseRequest =
        parse(event, "release request", "a release request; see events/checklist-validator/ for the expected shape")?;
    request.execution = execution;
    let output = tasks::validate_checklist(store, policies, notifier, request, now).await;
    if let Ok(admitted) = &output {
        tracing::info!(release = %admitted.release_id, verdict = ?admitted.verdict, summary = %admitted.summary, "checklist judged");
    }
    Ok(output?)
}

/// `RequestApproval`: record the pending Go/No-Go and ask for it.
pub async fn request_approval(
    event: serde_json::Value,
    store: &dyn ReleaseStore,
    tokens: &dyn crate::ports::TaskTokens,
    notifier: &dyn Notifier,
    slack: Option<&dyn Notifier>,
    now: DateTime<Utc>,
) -> Result<ApprovalTaskOutput, TaskError> {
    let ask = parse(event, "approval request", "{release_id, step, approval, task_token}")?;
    Ok(tasks::request_approval(store, tokens, notifier, slack, ask, now).await?)
}

/// `SetWeight` and `Promote`: move the release's traffic.
pub async fn set_weight(
    event: serde_json::Value,
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    hooks: &dyn HookRunner,
    notifier: &dyn Notifier,
    now: DateTime<Utc>,
) -> Result<SwitchOutput, TaskError> {
    let request = parse(event, "switch request", "{\"release_id\", \"step\"} or {\"release_id\", \"promote\": true}")?;
    let output = tasks::set_weight(store, router, hooks, notifier, request, now).await?;
    tracing::info!(release = %output.release_id, weight = output.weight, changed = output.changed, "traffic set");
    Ok(output)
}

/// `EvaluateGates`: judge the step's metrics and decide what happens next.
pub async fn evaluate_gates(
    event: serde_json::Value,
    store: &dyn ReleaseStore,
    policies: &dyn PolicyStore,
    metrics: &dyn MetricSource,
    hooks: &dyn HookRunner,
    now: DateTime<Utc>,
) -> Result<GateOutput, TaskError> {
    let request = parse(event, "gate request", "{\"release_id\": \"...\"}")?;
    let output = tasks::evaluate_gates(store, policies, metrics, hooks, request, now).await?;
    tracing::info!(release = %output.release_id, action = ?output.action, reason = %output.reason, "gate checked");
    Ok(output)
}

/// `RollBack`: restore the stable version and close the release.
pub async fn roll_back(
    event: serde_json::Value,
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    notifier: &dyn Notifier,
    policy: RestorePolicy,
    clock: impl Fn() -> DateTime<Utc>,
) -> Result<RollbackOutput, TaskError> {
    let request = parse(event, "rollback request", "{\"release_id\", \"reason\"}")?;
    let output = tasks::roll_back(store, router, notifier, request, policy, clock).await?;
    tracing::warn!(release = %output.release_id, reason = %output.reason, notified = output.notified, "rolled back");
    Ok(output)
}

/// `UndoAdmission`: a failed admission's release ends `Aborted`, its lock is given back.
pub async fn undo_admission(
    event: serde_json::Value,
    store: &dyn ReleaseStore,
    notifier: &dyn Notifier,
    now: DateTime<Utc>,
) -> Result<tasks::UndoAdmissionOutput, TaskError> {
    let request = parse(event, "undo admission request", "{\"release_id\", \"service\", \"environment\", \"version\", \"error\"}")?;
    let output = tasks::undo_admission(store, notifier, request, now).await?;
    tracing::warn!(release = %output.release_id, status = %output.status, "failed admission undone");
    Ok(output)
}

/// What the rollback function answers: a rollback's outcome, an undone admission or a sweep's
/// report.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum RollbackFunctionOutput {
    Rollback(RollbackOutput),
    UndoAdmission(tasks::UndoAdmissionOutput),
    Sweep(crate::flow::sweep::SweepReport),
    Alarm(crate::flow::alarm::AlarmReport),
}

/// One invocation of the rollback function, whichever of its inputs it is: the scheduled sweep
/// (`{"sweep": true}`), an alarm's state change (EventBridge's `CloudWatch Alarm State Change`),
/// a failed admission to undo (`{"undo_admission": <the execution's state>}`), or a rollback
/// request. The Lambda handler and the simulator both call this.
pub async fn rollback_function(
    event: serde_json::Value,
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    notifier: &dyn Notifier,
    executions: &dyn Executions,
    policy: RestorePolicy,
    clock: impl Fn() -> DateTime<Utc>,
) -> Result<RollbackFunctionOutput, TaskError> {
    if is_sweep(&event) {
        return Ok(RollbackFunctionOutput::Sweep(sweep(store, router, notifier, policy, clock).await?));
    }
    if is_alarm_state_change(&event) {
        return Ok(RollbackFunctionOutput::Alarm(alarm_state_change(event, store, router, notifier, executions, clock).await?));
    }
    if let Some(state) = event.get("undo_admission") {
        return Ok(RollbackFunctionOutput::UndoAdmission(undo_admission(state.clone(), store, notifier, clock()).await?));
    }
    Ok(RollbackFunctionOutput::Rollback(roll_back(event, store, router, notifier, policy, clock).await?))
}

/// Whether an invocation of the rollback function is an alarm's state change (the EventBridge
/// rule on `aws.cloudwatch`).
pub fn is_alarm_state_change(event: &serde_json::Value) -> bool {
    event.get("detail-type").and_then(serde_json::Value::as_str) == Some("CloudWatch Alarm State Change")
}

/// An alarm went to a new state: in ALARM, every open release that lists it in
/// `rollback_alarms` is rolled back now. A release that could not be rolled back fails the
/// invocation (after every other one was tried), so that Lambda's retries of the event re-drive
/// it; the failure is recorded and announced, and the sweeper takes it over as well.
pub async fn alarm_state_change(
    event: serde_json::Value,
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    notifier: &dyn Notifier,
    executions: &dyn Executions,
    clock: impl Fn() -> DateTime<Utc>,
) -> Result<crate::flow::alarm::AlarmReport, TaskError> {
    let alarm = crate::domain::alarm::state_change(event).map_err(|e| TaskError::new(ErrorName::InvalidRequest, e.to_string()))?;
    let report = crate::flow::alarm::on_state_change(store, router, notifier, executions, &alarm, clock).await?;
    tracing::info!(
        alarm = %report.alarm, state = %report.state, examined = report.examined,
        rolled_back = ?report.rolled_back, failed = report.failed.len(), "alarm state change"
    );
    if !report.failed.is_empty() {
        let failures: Vec<String> = report.failed.iter().map(|f| format!("{}: {}", f.release_id, f.error)).collect();
        return Err(TaskError::new(
            ErrorName::RestoreFailed,
            format!("alarm `{}` is in ALARM and these releases are not rolled back yet: {}", report.alarm, failures.join("; ")),
        ));
    }
    Ok(report)
}

/// Whether an invocation of the rollback function is the scheduled sweep (`{"sweep": true}`,
/// the EventBridge rule's input) rather than a rollback request.
pub fn is_sweep(event: &serde_json::Value) -> bool {
    event.get("sweep").and_then(serde_json::Value::as_bool) == Some(true)
}

/// The scheduled sweep: finish failed rollbacks and stopped executions, free stale locks. Its
/// log line `sweeper acted` (with `acted`) is what the template's sweeper alarm counts.
pub async fn sweep(
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    notifier: &dyn Notifier,
    policy: RestorePolicy,
    clock: impl Fn() -> DateTime<Utc>,
) -> Result<crate::flow::sweep::SweepReport, TaskError> {
    let report = crate::flow::sweep::sweep(store, router, notifier, policy, clock).await?;
    if report.acted() > 0 {
        tracing::warn!(
            acted = report.acted(),
            rolled_back = report.rolled_back.len(),
            freed = report.freed.len(),
            failed = report.failed.len(),
            report = %serde_json::to_string(&report).unwrap_or_default(),
            "sweeper acted"
        );
    } else {
        tracing::info!(examined = report.examined, "sweeper found nothing to finish");
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{MemoryRouter, MemoryStore, RecordingNotifier};
    use crate::release::EventKind;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-11-14T09:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }

    fn request(id: &str, evidence: serde_json::Value) -> serde_json::Value {
        json!({
            "release_id": id, "service": "checkout-api", "environment": "prod", "version": "2", "stable_version": "1",
            "evidence": evidence,
            "plan": {
                "name": "in-process",
                "checklist": { "items": [ { "id": "review", "require": { "kind": "attestation", "evidence": "reviewed" } } ] },
                "traffic": { "router": { "type": "dry_run" }, "steps": [ { "weight": 50, "bake": "1m" }, { "weight": 100, "bake": "1m" } ] }
            }
        })
    }

    /// Every handler's path, in process with the memory adapters: admit, set each step, judge,
    /// promote; then the refusals each answers with a routed name.
    #[tokio::test]
    async fn the_handlers_run_a_release_in_process() {
        let (store, router, notifier) = (MemoryStore::new(), MemoryRouter::default(), RecordingNotifier::default());
        let t0 = now();
        let admitted =
            validate_checklist(request("r1", json!({ "reviewed": true })), &store, &crate::ports::NoPolicies, &notifier, t0).await;
        assert_eq!(admitted.map(|a| a.release_id), Ok("r1".to_string()));
        let set = set_weight(json!({ "release_id": "r1", "step": 0 }), &store, &router, &crate::ports::NoHooks, &notifier, t0).await;
        assert_eq!(set.as_ref().map(|s| (s.weight, s.has_next_step)), Ok((50, true)), "{set:?}");
        let later = t0 + chrono::Duration::minutes(1);
        let gate = evaluate_gates(
            json!({ "release_id": "r1" }),
            &store,
            &crate::ports::NoPolicies,
            &crate::flow::testing::NoData,
            &crate::ports::NoHooks,
            later,
        )
        .await;
        assert_eq!(gate.as_ref().map(|g| g.action), Ok(crate::domain::decision::Action::Advance), "{gate:?}");
        set_weight(json!({ "release_id": "r1", "step": 1 }), &store, &router, &crate::ports::NoHooks, &notifier, later)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let end = later + chrono::Duration::minutes(1);
        let gate = evaluate_gates(
            json!({ "release_id": "r1" }),
            &store,
            &crate::ports::NoPolicies,
            &crate::flow::testing::NoData,
            &crate::ports::NoHooks,
            end,
        )
        .await;
        assert_eq!(gate.as_ref().map(|g| g.action), Ok(crate::domain::decision::Action::Promote), "{gate:?}");
        let promoted =
            set_weight(json!({ "release_id": "r1", "promote": true }), &store, &router, &crate::ports::NoHooks, &notifier, end).await;
        assert_eq!(promoted.map(|p| p.status), Ok("promoted".to_string()));
        let published = notifier.published();
        let announced: Vec<&str> = published.iter().map(|n| n.event_name()).collect();
        assert_eq!(announced, ["started", "step_advanced", "step_advanced", "promoted"]);
        // A retried promotion (its answer lost after the close) succeeds and announces nothing more.
        let again =
            set_weight(json!({ "release_id": "r1", "promote": true }), &store, &router, &crate::ports::NoHooks, &notifier, end).await;
        assert_eq!(again.map(|p| (p.status, p.weight)), Ok(("promoted".to_string(), 100)));
        assert_eq!(notifier.published().len(), 4);
        let trail = store.events("r1").await.unwrap_or_default();
        assert!(matches!(trail.last().map(|e| &e.kind), Some(EventKind::Notified { event, .. }) if event == "promoted"));
    }

    #[tokio::test]
    async fn refusals_have_the_names_the_state_machine_routes_on() {
        let (store, router, notifier) = (MemoryStore::new(), MemoryRouter::default(), RecordingNotifier::default());
        let named = |r: Result<(), TaskError>| r.err().map(|e| e.name);
        let blocked = validate_checklist(request("b", json!({})), &store, &crate::ports::NoPolicies, &notifier, now()).await.map(|_| ());
        assert_eq!(named(blocked), Some(ErrorName::ChecklistBlocked));
        let malformed = validate_checklist(json!({ "service": 3 }), &store, &crate::ports::NoPolicies, &notifier, now()).await.map(|_| ());
        assert_eq!(named(malformed), Some(ErrorName::InvalidRequest));
        let mut bad_plan = request("p", json!({ "reviewed": true }));
        bad_plan["plan"]["traffic"]["steps"] = json!([]);
        assert_eq!(
            named(validate_checklist(bad_plan, &store, &crate::ports::NoPolicies, &notifier, now()).await.map(|_| ())),
            Some(ErrorName::PlanInvalid)
        );
        validate_checklist(request("first", json!({ "reviewed": true })), &store, &crate::ports::NoPolicies, &notifier, now())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let second =
            validate_checklist(request("second", json!({ "reviewed": true })), &store, &crate::ports::NoPolicies, &notifier, now())
                .await
                .map(|_| ());
        assert_eq!(named(second), Some(ErrorName::LockHeld));
        let unknown = set_weight(json!({ "release_id": "nope", "step": 0 }), &store, &router, &crate::ports::NoHooks, &notifier, now())
            .await
            .map(|_| ());
        assert_eq!(named(unknown), Some(ErrorName::ReleaseNotFound));
        let both = set_weight(
            json!({ "release_id": "first", "step": 0, "promote": true }),
            &store,
            &router,
            &crate::ports::NoHooks,
            &notifier,
            now(),
        )
        .await
        .map(|_| ());
        assert_eq!(named(both), Some(ErrorName::InvalidRequest));
        let no_step = evaluate_gates(
            json!({ "release_id": "first" }),
            &store,
            &crate::ports::NoPolicies,
            &crate::flow::testing::NoData,
            &crate::ports::NoHooks,
            now(),
        )
        .await
        .map(|_| ());
        assert_eq!(named(no_step), Some(ErrorName::InvalidRequest));
        let rolled =
            roll_back(json!({ "release_id": "first", "reason": "test" }), &store, &router, &notifier, RestorePolicy::default(), now).await;
        assert_eq!(rolled.map(|r| r.status), Ok("rolled_back".to_string()));
    }
}
