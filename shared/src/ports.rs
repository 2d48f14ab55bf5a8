//! The traits through which the domain reaches the world; each has an AWS adapter and an
//! in-process one (see [`crate::adapters`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::release::{Lease, Release, ReleaseEvent};

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The lock a route claim is fenced by: the store writes the claim only while `holder` holds
/// the lock of `service` in `environment`, checked in the same write, so a release whose lock
/// expired and was taken over can never move the new holder's traffic.
#[derive(Clone, Copy, Debug)]
pub struct Fence<'a> {
    pub service: &'a str,
    pub environment: &'a str,
    pub holder: &'a str,
}

impl<'a> Fence<'a> {
    /// The lock `release` holds while it is in flight (its service's, held under its id).
    pub fn of(release: &'a Release) -> Self {
        Self { service: &release.service, environment: &release.environment, holder: &release.id }
    }

    /// The error of a fenced write refused because the holder no longer holds the lock.
    pub fn lost(&self) -> StoreError {
        StoreError::LockLost {
            service: self.service.to_string(),
            environment: self.environment.to_string(),
            release_id: self.holder.to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "{service} in {environment} is locked by release {holder} until {expires_at}; wait for it to finish, or abort it with `rollgate abort {holder}`"
    )]
    LockHeld { service: String, environment: String, holder: String, expires_at: DateTime<Utc> },
    #[error("release {release_id} no longer holds the lock of {service} in {environment}; it expired and was taken over")]
    LockLost { service: String, environment: String, release_id: String },
    #[error("release {0} already exists; choose another release id or resume that release")]
    ReleaseExists(String),
    #[error("release {id} changed since revision {expected}; reload it and try again")]
    RevisionConflict { id: String, expected: u64 },
    #[error("release {0} was not found; check the id (`rollgate history` lists releases)")]
    ReleaseNotFound(String),
    #[error("router {key} changed since version {expected:?} (another writer moved it); reload the release and retry")]
    RouterConflict { key: String, expected: Option<u64> },
    #[error(
        "the policy of {service} in {environment} changed since version {expected:?} (someone else wrote it); read it again (`rollgate policy show`) and retry"
    )]
    PolicyConflict { service: String, environment: String, expected: Option<u64> },
    #[error("stored item {key} cannot be read: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("{operation} failed{}: {source}", if *.transient { " (transient; retry)" } else { "" })]
    Backend {
        operation: &'static str,
        transient: bool,
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    /// Worth retrying as it is (throttling, a timeout, a lost connection, an optimistic race).
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Backend { transient, .. } => *transient,
            StoreError::RevisionConflict { .. } => true,
            // A conflict means someone else moved the router: re-deciding is the caller's job.
            StoreError::RouterConflict { .. } => false,
            _ => false,
        }
    }
}

/// Release state: records, the audit trail and the per service+environment lock.
#[async_trait]
pub trait ReleaseStore: Send + Sync {
    /// Takes the lock if it is free, expired, or already held by `lease.holder` (which renews it).
    async fn acquire_lock(&self, lease: &Lease, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// Gives the lock up if `holder` still has it and its release is not open (never stored, or
    /// closed), checked in the same write; `false` otherwise. An open release keeps its lock: a
    /// stopped process that found no release and resumed after a retry stored it (an undone
    /// admission) must not leave that release without the lock the sweeper finds it by.
    async fn release_lock(&self, service: &str, environment: &str, holder: &str) -> Result<bool, StoreError>;
    async fn lock(&self, service: &str, environment: &str) -> Result<Option<Lease>, StoreError>;
    /// Every lock held: one per release in flight (the sweeper reads them).
    async fn locks(&self) -> Result<Vec<Lease>, StoreError>;

    /// Stores a new release; refuses to overwrite one with the same id. Fenced like a route
    /// claim: written only while the release holds its service's lock (`LockLost` otherwise), so
    /// an admission that stopped, was undone and then went on cannot leave a release no lock
    /// leads the sweeper to.
    async fn create_release(&self, release: &Release) -> Result<(), StoreError>;
    /// Stores `release` if the stored revision is still `release.revision`, then bumps it.
    async fn update_release(&self, release: &mut Release) -> Result<(), StoreError>;
    async fn release(&self, id: &str) -> Result<Option<Release>, StoreError>;

    /// Appends `events` (of one release) to its audit trail with the next sequence numbers
    /// (1, 2, 3, ... per release: no gap, no duplicate) and, when given, stores `release` at its
    /// revision, all in one atomic write: either everything is stored or nothing (a
    /// `RevisionConflict` writes no event). Appending an event whose `id` is already in the trail
    /// (a retry after a lost answer) stores nothing again. Returns the events as stored.
    async fn append(&self, events: Vec<ReleaseEvent>, release: Option<&mut Release>) -> Result<Vec<ReleaseEvent>, StoreError>;
    /// Appends one event; see [`ReleaseStore::append`].
    async fn append_event(&self, event: ReleaseEvent) -> Result<ReleaseEvent, StoreError> {
        let release_id = event.release_id.clone();
        self.append(vec![event], None).await?.pop().ok_or(StoreError::ReleaseNotFound(release_id))
    }
    /// The release's events, in sequence.
    async fn events(&self, release_id: &str) -> Result<Vec<ReleaseEvent>, StoreError>;

    /// The router's state as last claimed (`ROUTE#<key>`).
    async fn route(&self, key: &str) -> Result<Option<crate::release::route::RouteState>, StoreError>;
    /// Stores `state` if the stored version is still `expected` (`None`: no state yet);
    /// otherwise `RouterConflict`.
    /// Fails with `RouterConflict` when the route moved past `expected`, and with `LockLost`
    /// when `fence.holder` no longer holds the lock (both checked in the same write).
    async fn claim_route(
        &self,
        state: &crate::release::route::RouteState,
        expected: Option<u64>,
        fence: Fence<'_>,
    ) -> Result<(), StoreError>;
}

#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error("{router}: {message}")]
    Rejected { router: String, message: String },
    #[error("{router} is unreachable{}: {message}", if *.transient { " (transient; retry)" } else { "" })]
    Unreachable { router: String, transient: bool, message: String },
    #[error("{router} is not configured here: {message}")]
    NotConfigured { router: String, message: String },
    #[error(
        "{router} changed after rollgate read it (revision {expected}); rollgate moved nothing. Another writer (a stopped attempt resumed, or a person) moved it"
    )]
    Moved { router: String, expected: String },
}

impl RouterError {
    pub fn is_transient(&self) -> bool {
        matches!(self, RouterError::Unreachable { transient: true, .. })
    }
}

/// A traffic router (Lambda alias, ALB listener, a team's webhook).
#[async_trait]
pub trait TrafficRouter: Send + Sync {
    /// Sends `weight`% of traffic to the canary and the rest to the stable version; with a
    /// `revision` (from [`TrafficRouter::read`]), only if the router is still at it (else
    /// `RouterError::Moved`): a write fenced at the router, so that a process resumed after
    /// others moved on moves nothing. A router without conditional writes (ALB, webhook) ignores
    /// `revision`; its `read` gives none.
    async fn set_weight(&self, target: &crate::release::route::RouteTarget, weight: u32, revision: Option<&str>)
    -> Result<(), RouterError>;
    /// The canary's share as the router reports it now, with the router's revision where it
    /// has one (a Lambda alias's RevisionId, which changes with every write).
    async fn read(&self, target: &crate::release::route::RouteTarget) -> Result<RouterReading, RouterError>;
    /// The canary's share as the router reports it now.
    async fn current_weight(&self, target: &crate::release::route::RouteTarget) -> Result<u32, RouterError> {
        Ok(self.read(target).await?.weight)
    }
}

/// What a router routes now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouterReading {
    pub weight: u32,
    /// Changes with every write; `None` where the router has no such thing.
    pub revision: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MetricError {
    #[error("cannot build the metric queries: {0}")]
    Plan(String),
    #[error(
        "metric query {id} returned {status}: {message}; check the namespace, metric name, dimensions and the function's cloudwatch:GetMetricData permission"
    )]
    Query { id: String, status: String, message: String },
    #[error("{operation} failed{}: {source}", if *.transient { " (transient; retry)" } else { "" })]
    Backend {
        operation: &'static str,
        transient: bool,
        #[source]
        source: BoxError,
    },
}

impl MetricError {
    pub fn is_transient(&self) -> bool {
        matches!(self, MetricError::Backend { transient: true, .. })
    }
}

/// Metric datapoints for a planned check (CloudWatch GetMetricData, or recorded data).
#[async_trait]
pub trait MetricSource: Send + Sync {
    /// Datapoints of every result query of `plan` (by query id), within its time range.
    async fn fetch(
        &self,
        plan: &crate::domain::query::QueryPlan,
    ) -> Result<std::collections::BTreeMap<String, Vec<crate::domain::observation::Datapoint>>, MetricError>;

    /// The state of each alarm named (CloudWatch DescribeAlarms); an alarm that does not exist is
    /// reported `Missing`, never left out.
    async fn alarms(&self, names: &[String]) -> Result<Vec<crate::domain::alarm::AlarmReading>, MetricError>;
}

/// A hook that could not be run this time and is worth running again (throttled, the service
/// had an error, the signing key could not be read): the task fails `Transient` and the state
/// machine retries it. Everything else a hook does is its answer (`HookOutcome`).
#[derive(Debug, thiserror::Error)]
#[error("hook `{hook}` could not be run: {message}")]
pub struct HookError {
    pub hook: String,
    pub message: String,
}

/// Runs a step's hooks (`steps[].hooks`): invokes the Lambda function or calls the endpoint,
/// within the hook's timeout.
#[async_trait]
pub trait HookRunner: Send + Sync {
    async fn run(
        &self,
        hook: &crate::domain::plan::Hook,
        context: &crate::domain::hook::HookContext,
    ) -> Result<crate::domain::hook::HookAnswer, HookError>;
}

/// The runner of functions that run no hooks (and of tests whose plans have none): a hook asked
/// of it fails, saying so, and never passes.
pub struct NoHooks;

#[async_trait]
impl HookRunner for NoHooks {
    async fn run(
        &self,
        hook: &crate::domain::plan::Hook,
        _: &crate::domain::hook::HookContext,
    ) -> Result<crate::domain::hook::HookAnswer, HookError> {
        Ok(crate::domain::hook::HookAnswer::new(
            crate::domain::hook::HookOutcome::Failed,
            &format!("hook `{}` was not run: this function has no hook runner", hook.name),
            std::time::Duration::ZERO,
        ))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("publishing the {event} notification failed{}: {message}", if *.transient { " (transient; retry)" } else { "" })]
pub struct NotifyError {
    pub event: String,
    pub transient: bool,
    pub message: String,
}

/// Where release notifications go (SNS; in-process for the simulator).
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Where it publishes (`sns`, `slack`), as the audit trail records it.
    fn channel(&self) -> &'static str {
        "sns"
    }
    async fn publish(&self, notification: &crate::release::notification::ReleaseNotification) -> Result<(), NotifyError>;
}

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// The waiting task is gone: it timed out (an expired approval), was already resumed, or its
    /// execution ended.
    #[error("the waiting execution no longer accepts this decision ({0}); `rollgate status` shows where the release is")]
    TaskGone(String),
    #[error("resuming the execution failed{}: {message}", if *.transient { " (transient; retry)" } else { "" })]
    Backend { transient: bool, message: String },
}

impl WorkflowError {
    pub fn is_transient(&self) -> bool {
        matches!(self, WorkflowError::Backend { transient: true, .. })
    }
}

/// The execution waiting on a task token (Step Functions SendTaskSuccess/SendTaskFailure).
#[async_trait]
pub trait Workflow: Send + Sync {
    async fn resume(&self, task_token: &str, output: &serde_json::Value) -> Result<(), WorkflowError>;
    /// Fails the waiting task with a stable error name the state machine routes on.
    async fn fail(&self, task_token: &str, error: &str, cause: &str) -> Result<(), WorkflowError>;
    /// Tells the waiting task it is still alive (SendTaskHeartbeat): renews its heartbeat clock.
    async fn heartbeat(&self, task_token: &str) -> Result<(), WorkflowError>;
}

/// The executions of the release state machine (Step Functions StopExecution).
#[async_trait]
pub trait Executions: Send + Sync {
    /// Stops `execution` (its ARN) with an error name and a cause, so that it moves no traffic
    /// while someone else restores it. An execution that already ended, or never existed, is
    /// [`WorkflowError::TaskGone`].
    async fn stop(&self, execution: &str, error: &str, cause: &str) -> Result<(), WorkflowError>;
}

/// A platform policy as stored: its version (raised by every write) and who wrote it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredPolicy {
    pub policy: crate::domain::policy::Policy,
    pub version: u64,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// Platform policies, one per service and environment, written apart from releases (another IAM
/// role) and read at admission.
#[async_trait]
pub trait PolicyStore: Send + Sync {
    async fn policy(&self, service: &str, environment: &str) -> Result<Option<StoredPolicy>, StoreError>;
    /// Stores `policy` if the stored version is still `expected` (`None`: none stored yet);
    /// otherwise `RevisionConflict`.
    async fn put_policy(&self, policy: &StoredPolicy, expected: Option<u64>) -> Result<(), StoreError>;
}

/// No policies (the simulator, tests of plans alone): every plan stands on its own.
pub struct NoPolicies;

#[async_trait]
impl PolicyStore for NoPolicies {
    async fn policy(&self, _service: &str, _environment: &str) -> Result<Option<StoredPolicy>, StoreError> {
        Ok(None)
    }

    async fn put_policy(&self, policy: &StoredPolicy, _expected: Option<u64>) -> Result<(), StoreError> {
        Err(StoreError::Backend {
            operation: "PutPolicy",
            transient: false,
            source: format!("no policy store here to keep the policy of {} in {}", policy.policy.service, policy.policy.environment).into(),
        })
    }
}

/// Who belongs to a group of approvers (a Slack user group), asked when a vote comes.
#[async_trait]
pub trait Directory: Send + Sync {
    /// Whether `user` (a Slack user id) is a member of `group` now.
    async fn is_member(&self, group: &str, user: &str) -> Result<bool, DirectoryError>;
}

#[derive(Debug, thiserror::Error)]
#[error("the members of {group} could not be read{}: {message}", if *.transient { " (transient; try again)" } else { "" })]
pub struct DirectoryError {
    pub group: String,
    pub transient: bool,
    pub message: String,
}

/// No directory (Slack is not configured; the CLI's IAM callers): a group's membership cannot be
/// read, so a vote that only a group would allow is refused, saying why.
pub struct NoDirectory;

#[async_trait]
impl Directory for NoDirectory {
    async fn is_member(&self, group: &str, _user: &str) -> Result<bool, DirectoryError> {
        Err(DirectoryError {
            group: group.to_string(),
            transient: false,
            message:
                "Slack is not configured here (its bot token, usergroups:read); Slack user groups are checked when a member votes in Slack"
                    .into(),
        })
    }
}

/// Which waiting approval a task token resumes: the release, the plan's approval and the step
/// it guards.
#[derive(Clone, Copy, Debug)]
pub struct TokenKey<'a> {
    pub release_id: &'a str,
    pub approval: &'a str,
    pub step: usize,
}

/// Where the task token of a waiting approval is kept: apart from the audit trail (which people
/// read, and `rollgate history` prints), readable only by the approval functions. Whoever holds
/// the token can resume the execution.
#[async_trait]
pub trait TaskTokens: Send + Sync {
    /// Keeps `token` until the approval expires (and a little longer: the store drops it by TTL).
    async fn keep_token(&self, key: TokenKey<'_>, token: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError>;
    async fn token(&self, key: TokenKey<'_>) -> Result<Option<String>, StoreError>;
}

/// The audit trail by time: every release's events of one week (the table's `by-week` index).
#[async_trait]
pub trait WeeklyEvents: Send + Sync {
    /// Hands every event of `week` to `visit` as it is read (a page of the index at a time),
    /// without holding the week: a week may hold more events than fit in memory at once.
    async fn visit_events_in_week(
        &self,
        week: crate::release::week::ReviewWeek,
        visit: &mut (dyn FnMut(ReleaseEvent) + Send),
    ) -> Result<(), StoreError>;

    /// Every event of `week` at once.
    async fn events_in_week(&self, week: crate::release::week::ReviewWeek) -> Result<Vec<ReleaseEvent>, StoreError> {
        let mut events = Vec::new();
        self.visit_events_in_week(week, &mut |e| events.push(e)).await?;
        Ok(events)
    }
}

/// A weekly review as published: a subject and a report for people, the figures as JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct ReviewReport {
    pub subject: String,
    pub text: String,
    pub review: serde_json::Value,
}

/// Where the weekly policy review goes (SNS; in memory for tests).
#[async_trait]
pub trait ReviewPublisher: Send + Sync {
    async fn publish_review(&self, report: &ReviewReport) -> Result<(), NotifyError>;
}

#[derive(Debug, thiserror::Error)]
#[error("the secret {name} cannot be read{}: {message}", if *.transient { " (transient; retry)" } else { "" })]
pub struct SecretError {
    pub name: String,
    pub transient: bool,
    pub message: String,
}

/// A secret value (a Slack signing secret, a bot token).
#[async_trait]
pub trait SecretSource: Send + Sync {
    async fn get(&self) -> Result<String, SecretError>;
}
