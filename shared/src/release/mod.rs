//! Releases: the request that starts one, its record, and its append-only audit trail.

pub mod approval;
pub mod chain;
pub mod notification;
pub mod route;
pub mod slack;
pub mod week;

pub use route::WeightChange;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::checklist::{ChecklistVerdict, Evidence, Override};
use crate::domain::decision::Decision;
use crate::domain::gate::{GateOutcome, GateVerdict};
use crate::domain::plan::Plan;

/// What CI (or a person with the CLI) submits to start a release.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// Chosen by the caller for idempotent retries; generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_id: Option<String>,
    pub service: String,
    pub environment: String,
    /// The new version (Lambda version number, image tag, …).
    pub version: String,
    /// The version currently serving, which rollback restores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// The plan, as written (validated on admission so that errors carry paths).
    pub plan: serde_json::Value,
    #[serde(default)]
    pub evidence: Evidence,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<Override>,
    /// The Step Functions execution that runs the release (`$$.Execution.Id`), given by the
    /// state machine at admission, never by the requester.
    #[serde(skip)]
    pub execution: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseStatus {
    Admitted,
    Blocked,
    Progressing,
    AwaitingApproval,
    Promoted,
    RolledBack,
    Aborted,
}

impl ReleaseStatus {
    /// A final release holds no lock and changes no more.
    pub fn is_final(self) -> bool {
        matches!(self, ReleaseStatus::Blocked | ReleaseStatus::Promoted | ReleaseStatus::RolledBack | ReleaseStatus::Aborted)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseStatus::Admitted => "admitted",
            ReleaseStatus::Blocked => "blocked",
            ReleaseStatus::Progressing => "progressing",
            ReleaseStatus::AwaitingApproval => "awaiting_approval",
            ReleaseStatus::Promoted => "promoted",
            ReleaseStatus::RolledBack => "rolled_back",
            ReleaseStatus::Aborted => "aborted",
        }
    }
}

/// The release record (`REL#<id>` / `META`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub id: String,
    pub service: String,
    pub environment: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    pub status: ReleaseStatus,
    /// Snapshot of the plan the release runs, and its hash.
    pub plan: Plan,
    pub plan_hash: String,
    pub evidence: Evidence,
    /// Index of the current traffic step, once one is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    /// When the current step's weight was set; its bake time counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_started_at: Option<DateTime<Utc>>,
    /// Outcomes of the current step's checks so far (the full verdicts are in the trail).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub step_outcomes: Vec<GateOutcome>,
    /// Percent of traffic on the new version.
    pub canary_weight: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_reason: Option<String>,
    /// The id of the last metric check recorded (the execution and when it entered the check's
    /// state, the same on every retry of it): a retried check returns what it recorded instead
    /// of judging and recording again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check: Option<String>,
    /// The Step Functions execution that runs the release: stopped before an alarm or an
    /// operator's abort restores traffic, so that it cannot move traffic meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
    /// An operator paused the release (`rollgate pause`): no step advances and the bake clock
    /// stops; checks go on and a failure still rolls back. Cleared by `rollgate resume`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<OperatorAction>,
    /// Seconds the current step spent paused (ended pauses): its bake does not count them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub paused_secs: u64,
    /// A skip or a promotion an operator asked for at the current step, taken by its next
    /// passing check (`rollgate skip`, `rollgate promote`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asked: Option<OperatorRequest>,
    /// Optimistic-concurrency counter; every stored update raises it by one.
    pub revision: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

pub use crate::domain::control::{Control, OperatorAction, OperatorRequest};

/// One entry of the audit trail (`TRAIL#<id>` / `EVT#<seq>`); never overwritten.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReleaseEvent {
    pub release_id: String,
    pub at: DateTime<Utc>,
    /// The event's place in its release's trail: 1, 2, 3, ... with no gap; chosen by the store.
    #[serde(default)]
    pub seq: u64,
    /// Unique per event, chosen when it is made: a retried write of the same event is
    /// recognised and stored once.
    #[serde(default)]
    pub id: String,
    /// Who or what caused it: a function name, a person.
    pub actor: String,
    #[serde(flatten)]
    pub kind: EventKind,
    /// This event's link in its release's hash chain ([`chain::link`]), set by the store as it
    /// appends; empty on events written before trails were chained.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
}

impl ReleaseEvent {
    /// The one constructor of an audit event: the caller names the actor; the store assigns the
    /// sequence number.
    pub fn new(release_id: &str, at: DateTime<Utc>, actor: &str, kind: EventKind) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self { release_id: release_id.to_string(), at, seq: 0, id, actor: actor.to_string(), kind, hash: String::new() }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "detail", rename_all = "snake_case")]
pub enum EventKind {
    Admitted {
        service: String,
        environment: String,
        version: String,
        plan_name: String,
        plan_hash: String,
        lease_until: DateTime<Utc>,
        /// The version of the platform policy the plan was admitted under, if one applied.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy_version: Option<u64>,
    },
    ChecklistJudged(ChecklistVerdict),
    /// A metric check of a baking step, with every value it was judged on.
    GateJudged {
        step: usize,
        verdict: GateVerdict,
        /// The datapoints the verdict was judged on, for `rollgate backtest`; absent in events
        /// written before checks kept them, and for checks that judge no metrics.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        datapoints: Option<crate::domain::recorded::RecordedCheck>,
    },
    /// What the release does next, and why.
    Decided(Decision),
    /// A step's `before_shift` hooks ran (its check hooks are in its `gate_judged` verdicts).
    HooksRan {
        step: usize,
        results: Vec<crate::domain::hook::HookResult>,
    },
    /// Traffic moved, with before and after.
    WeightChanged(WeightChange),
    /// A person decided on a pending approval.
    ApprovalDecided {
        approval: String,
        by: String,
        approved: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
        /// The Slack user group of the approval's list that `by` decided as a member of.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        via: Option<String>,
    },
    /// A Go/No-Go approval is pending. The task token that resumes the execution is kept apart
    /// (`ports::TaskTokens`), never here: the trail is read by people and printed by the CLI.
    /// (Events written before that still hold a `task_token`; it is no longer read.)
    ApprovalRequested {
        approval: String,
        step: usize,
        approvers: Vec<String>,
        quorum: u32,
        expires_at: DateTime<Utc>,
    },
    /// An operator paused, resumed, skipped, promoted or retried the release.
    Controlled {
        control: Control,
        by: String,
        reason: String,
    },
    /// A CloudWatch alarm of the plan's `rollback_alarms` went to ALARM between checks
    /// (EventBridge told `alarm-rollback`): its name, reason and when it changed state. The
    /// rollback that follows counts its time to restore from then.
    AlarmRaised(crate::domain::alarm::AlarmReading),
    /// Traffic restored to the stable version, with the reason and the time it took.
    RolledBack(RollbackRecord),
    /// Restoring traffic failed; the release stays open and locked.
    RollbackFailed {
        reason: String,
        error: String,
        /// An operator's abort (`rollgate abort`): whoever finishes the rollback (a retry, the
        /// sweeper) ends the release `aborted`, not `rolled_back`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        aborted: bool,
    },
    Notified {
        event: String,
        /// The channel (`sns`, `slack`); absent in trails written before there was a choice.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        via: Option<String>,
    },
    NotificationFailed {
        event: String,
        error: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        via: Option<String>,
    },
    Closed {
        status: ReleaseStatus,
        reason: String,
    },
}

impl EventKind {
    /// One line for people (`rollgate history`).
    pub fn summary(&self) -> String {
        match self {
            EventKind::Admitted { version, plan_name, lease_until, policy_version, .. } => format!(
                "admitted {version} under plan `{plan_name}`{}, lock until {}",
                policy_version.map(|v| format!(" and policy version {v}")).unwrap_or_default(),
                lease_until.format("%H:%M")
            ),
            EventKind::ChecklistJudged(v) => format!("checklist {:?}: {}", v.verdict, v.summary),
            EventKind::GateJudged { step, verdict, .. } => format!("step {} check {:?}: {}", step + 1, verdict.outcome, verdict.summary),
            EventKind::Decided(d) => format!("decision {:?}: {}", d.action, d.reason),
            EventKind::HooksRan { step, results } => format!(
                "before step {}: {}",
                step + 1,
                results.iter().map(crate::domain::hook::HookResult::sentence).collect::<Vec<_>>().join("; ")
            ),
            EventKind::WeightChanged(c) => {
                format!("traffic {}% → {}% (read back {}%){}", c.before, c.after, c.verified, if c.dry_run { " [dry run]" } else { "" })
            }
            EventKind::ApprovalRequested { approval, approvers, quorum, expires_at, .. } => {
                format!(
                    "approval `{approval}` requested from {} (quorum {quorum}), expires {}",
                    approvers.join(", "),
                    expires_at.format("%Y-%m-%d %H:%M")
                )
            }
            EventKind::ApprovalDecided { approval, by, approved, comment, via } => format!(
                "approval `{approval}` {} by {by}{}{}",
                if *approved { "granted" } else { "REJECTED" },
                via.as_ref().map(|g| format!(" (member of {g})")).unwrap_or_default(),
                comment.as_ref().map(|c| format!(": {c}")).unwrap_or_default()
            ),
            EventKind::Controlled { control, by, reason } => format!("{} by {by}: {reason}", control.as_str()),
            EventKind::AlarmRaised(alarm) => crate::domain::alarm::raised(alarm),
            EventKind::RolledBack(r) => format!("rolled back in {}s: {}", r.time_to_restore_secs, r.reason),
            EventKind::RollbackFailed { error, .. } => format!("ROLLBACK FAILED: {error}"),
            EventKind::Notified { event, via } => {
                format!("notified{}: {event}", via.as_ref().map(|v| format!(" via {v}")).unwrap_or_default())
            }
            EventKind::NotificationFailed { event, error, via } => {
                format!("notification {event}{} FAILED: {error}", via.as_ref().map(|v| format!(" via {v}")).unwrap_or_default())
            }
            EventKind::Closed { status, reason } => format!("closed {}: {reason}", status.as_str()),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Admitted { .. } => "admitted",
            EventKind::ChecklistJudged(_) => "checklist_judged",
            EventKind::GateJudged { .. } => "gate_judged",
            EventKind::Decided(_) => "decided",
            EventKind::HooksRan { .. } => "hooks_ran",
            EventKind::WeightChanged(_) => "weight_changed",
            EventKind::ApprovalRequested { .. } => "approval_requested",
            EventKind::ApprovalDecided { .. } => "approval_decided",
            EventKind::Controlled { .. } => "controlled",
            EventKind::AlarmRaised(_) => "alarm_raised",
            EventKind::RolledBack(_) => "rolled_back",
            EventKind::RollbackFailed { .. } => "rollback_failed",
            EventKind::Notified { .. } => "notified",
            EventKind::NotificationFailed { .. } => "notification_failed",
            EventKind::Closed { .. } => "closed",
        }
    }
}

/// The lock that keeps one release at a time per service and environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub service: String,
    pub environment: String,
    /// The release holding it.
    pub holder: String,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Lease {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// The audit entry of a completed rollback.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RollbackRecord {
    pub reason: String,
    pub detected_at: DateTime<Utc>,
    pub restored_at: DateTime<Utc>,
    pub time_to_restore_secs: i64,
    /// The plan's target (`rollback.restore_within`) and whether it was met.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_target: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_change: Option<WeightChange>,
}
