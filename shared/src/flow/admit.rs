//! Admitting a release: take the lock, record the release, judge its checklist.
//!
//! Every step is idempotent so that a retried invocation continues where a failed one stopped.

use chrono::{DateTime, Utc};

use crate::domain::checklist::{self, ChecklistVerdict};
use crate::domain::plan::{self, PlanIssue};
use crate::domain::text::prefix;
use crate::flow::rollback::announce_end;
use crate::flow::trail::{close_with, lease, record, record_close, record_with, take_lock};
use crate::ports::Notifier;
use crate::ports::{PolicyStore, ReleaseStore, StoreError};
use crate::release::{EventKind, Lease, Release, ReleaseRequest, ReleaseStatus};

/// The admitted (or blocked) release with its checklist verdict.
#[derive(Clone, Debug)]
pub struct Admission {
    pub release: Release,
    pub verdict: ChecklistVerdict,
}

#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    #[error("the plan has {} problem(s):\n{}", .0.len(), .0.iter().map(|i| format!("  {i}")).collect::<Vec<_>>().join("\n"))]
    InvalidPlan(Vec<PlanIssue>),
    #[error("{field}: {problem}")]
    InvalidRequest { field: &'static str, problem: String },
    #[error(
        "the plan is weaker than the platform policy of {service} in {environment} (version {version}), which it must meet:\n{}\nask the platform team if the policy itself should change (`rollgate policy show {service} {environment}`)",
        .breaches.iter().map(|b| format!("  {b}")).collect::<Vec<_>>().join("\n")
    )]
    PolicyBreached { service: String, environment: String, version: u64, breaches: Vec<crate::domain::policy::Breach> },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AdmissionError {
    pub fn is_lock_held(&self) -> bool {
        matches!(self, AdmissionError::Store(StoreError::LockHeld { .. }))
    }
}

/// Who writes these events in the audit trail.
pub const ACTOR: &str = "checklist-validator";

pub async fn admit(
    store: &dyn ReleaseStore,
    policies: &dyn PolicyStore,
    request: ReleaseRequest,
    now: DateTime<Utc>,
) -> Result<Admission, AdmissionError> {
    check_request(&request)?;
    let plan = plan::plan_from_value(request.plan.clone()).map_err(AdmissionError::InvalidPlan)?;
    // The platform's policy for this service and environment: a weaker plan is refused before
    // it takes the lock, with every rule it breaks.
    let policy = policies.policy(&request.service, &request.environment).await?;
    if let Some(stored) = &policy {
        let breaches = stored.policy.breaches(&plan, now);
        if !breaches.is_empty() {
            return Err(AdmissionError::PolicyBreached {
                service: request.service.clone(),
                environment: request.environment.clone(),
                version: stored.version,
                breaches,
            });
        }
    }
    let policy_version = policy.map(|p| p.version);
    let id = match &request.release_id {
        Some(id) => id.clone(),
        None => new_release_id(&request.service, &request.environment, &request.version),
    };
    let lease = Lease {
        service: request.service.clone(),
        environment: request.environment.clone(),
        holder: id.clone(),
        acquired_at: now,
        expires_at: plan.lock_lease().after(now),
    };

    let mut release = match store.release(&id).await? {
        Some(existing) => match carry_on(store, existing, &request, &lease, policy_version, now).await? {
            Stored::Open(release) => release,
            Stored::Ended(admission) => return Ok(admission),
        },
        None => {
            take_lock(store, &lease, now).await?;
            let release = Release {
                id: id.clone(),
                service: request.service.clone(),
                environment: request.environment.clone(),
                version: request.version.clone(),
                stable_version: request.stable_version.clone(),
                author: request.author.clone(),
                requested_by: request.requested_by.clone(),
                status: ReleaseStatus::Admitted,
                plan_hash: plan.content_hash(),
                plan: plan.clone(),
                evidence: request.evidence.clone(),
                step: None,
                step_started_at: None,
                step_outcomes: Vec::new(),
                canary_weight: 0,
                created_at: now,
                updated_at: now,
                closed_reason: None,
                last_check: None,
                execution: request.execution.clone(),
                paused: None,
                paused_secs: 0,
                asked: None,
                revision: 0,
            };
            match store.create_release(&release).await {
                Ok(()) => {
                    record(store, ACTOR, &id, now, admitted(&release, &lease, policy_version)).await?;
                    release
                }
                // Another attempt of this same admission stored it first: an attempt the state
                // machine timed out and retried goes on running beside its retry. Go on from there.
                Err(StoreError::ReleaseExists(_)) => match store.release(&id).await? {
                    Some(stored) => match carry_on(store, stored, &request, &lease, policy_version, now).await? {
                        Stored::Open(release) => release,
                        Stored::Ended(admission) => return Ok(admission),
                    },
                    None => return Err(StoreError::ReleaseExists(id).into()),
                },
                // The lock stays with the id: the retry goes on with it, and when the retries run
                // out, UndoAdmission (or the sweeper, once the lease ends) gives it back. Giving it
                // back here would race the retry: this attempt may be a stopped process resumed
                // after its retry stored the release, and the lock (same holder) is the retry's.
                Err(err) => return Err(err.into()),
            }
        }
    };

    // A retry judges once: the stored verdict stands.
    let (verdict, judged) = match stored_verdict(store, &id).await? {
        Some(verdict) => (verdict, Vec::new()),
        None => {
            let verdict =
                checklist::evaluate(&release.plan.checklist, &release.evidence, &request.overrides, release.author.as_deref(), now);
            let judged = vec![EventKind::ChecklistJudged(verdict.clone())];
            (verdict, judged)
        }
    };
    // The verdict and what the release does with it: one atomic write.
    if verdict.is_blocked() {
        // The lock stays until the caller has announced the block (it gives the lock back last).
        record_close(store, ACTOR, &mut release, ReleaseStatus::Blocked, &format!("checklist {}", verdict.summary), now, judged).await?;
    } else if release.status == ReleaseStatus::Admitted {
        release.status = ReleaseStatus::Progressing;
        release.updated_at = now;
        record_with(store, ACTOR, &id, Some(&mut release), now, judged).await?;
    } else if !judged.is_empty() {
        record_with(store, ACTOR, &id, None, now, judged).await?;
    }
    Ok(Admission { release, verdict })
}

/// A release already stored under the request's id: an earlier or a concurrent attempt of this
/// admission, or another release that took the id.
enum Stored {
    Open(Release),
    Ended(Admission),
}

/// Goes on with a release an earlier attempt of this admission stored; a release of another
/// request under the same id is a conflict.
async fn carry_on(
    store: &dyn ReleaseStore,
    existing: Release,
    request: &ReleaseRequest,
    lease: &Lease,
    policy_version: Option<u64>,
    now: DateTime<Utc>,
) -> Result<Stored, AdmissionError> {
    let same = existing.service == request.service && existing.environment == request.environment && existing.version == request.version;
    if !same {
        return Err(StoreError::ReleaseExists(existing.id).into());
    }
    if existing.status.is_final() {
        return Ok(Stored::Ended(replay(store, existing).await?));
    }
    take_lock(store, lease, now).await?;
    // A retry after the release was stored but before its admission was recorded.
    if !store.events(&existing.id).await?.iter().any(|e| matches!(e.kind, EventKind::Admitted { .. })) {
        record(store, ACTOR, &existing.id, now, admitted(&existing, lease, policy_version)).await?;
    }
    Ok(Stored::Open(existing))
}

/// Undoes an admission the state machine gave up on (its retries ran out): the release, if it
/// was recorded, ends `Aborted` with the cause, and the lock, if it was taken, is given back.
/// Admission never moves traffic, so nothing needs restoring. Only this request's release and
/// lock are touched: a release of the same id for another service, or another holder's lock,
/// stays as it is. Returns the release as it ended, if one was recorded.
pub async fn undo(
    store: &dyn ReleaseStore,
    notifier: &dyn Notifier,
    actor: &str,
    request: &UndoRequest,
    cause: &str,
    now: DateTime<Utc>,
) -> Result<Option<Release>, StoreError> {
    let ours = |r: &Release| r.service == request.service && r.environment == request.environment && r.version == request.version;
    let release = match store.release(&request.release_id).await? {
        Some(mut release) if ours(&release) => {
            let reason = format!("admission failed and was undone ({cause}); no traffic was moved. Start the release again");
            // The trail tells the whole story: an admission whose record was lost is recorded
            // (with the lease it took) before the close.
            let recorded = store.events(&release.id).await?.iter().any(|e| matches!(e.kind, EventKind::Admitted { .. }));
            // (The policy version it was admitted under is not known here.)
            let missed = if recorded { Vec::new() } else { vec![admitted(&release, &lease(&release, release.created_at), None)] };
            if release.status.is_final() {
                // Closed already (blocked), and the process stopped before it announced it.
                announce_end(store, notifier, &release, now).await?;
            }
            close_with(store, actor, &mut release, ReleaseStatus::Aborted, &reason, now, missed).await?;
            Some(release)
        }
        _ => None,
    };
    store.release_lock(&request.service, &request.environment, &request.release_id).await?;
    Ok(release)
}

/// What undoing an admission needs to know: the execution's input names the release and its
/// service (the lock's key).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct UndoRequest {
    pub release_id: String,
    pub service: String,
    pub environment: String,
    pub version: String,
}

/// The admission event: what was admitted, under which plan, holding the lock until when.
fn admitted(release: &Release, lease: &Lease, policy_version: Option<u64>) -> EventKind {
    EventKind::Admitted {
        service: release.service.clone(),
        environment: release.environment.clone(),
        version: release.version.clone(),
        plan_name: release.plan.name.clone(),
        plan_hash: release.plan_hash.clone(),
        lease_until: lease.expires_at,
        policy_version,
    }
}

async fn stored_verdict(store: &dyn ReleaseStore, id: &str) -> Result<Option<ChecklistVerdict>, StoreError> {
    Ok(store.events(id).await?.into_iter().rev().find_map(|e| match e.kind {
        EventKind::ChecklistJudged(v) => Some(v),
        _ => None,
    }))
}

/// A retried admission of a release that already ended returns what it ended with.
async fn replay(store: &dyn ReleaseStore, release: Release) -> Result<Admission, AdmissionError> {
    let verdict = stored_verdict(store, &release.id).await?.ok_or_else(|| StoreError::Corrupt {
        key: format!("REL#{}", release.id),
        reason: "a final release without a checklist verdict".into(),
    })?;
    Ok(Admission { release, verdict })
}

fn check_request(request: &ReleaseRequest) -> Result<(), AdmissionError> {
    for (field, value) in [("service", &request.service), ("environment", &request.environment), ("version", &request.version)] {
        if value.trim().is_empty() {
            return Err(AdmissionError::InvalidRequest { field, problem: "is empty; name it".into() });
        }
        if value.contains('#') {
            return Err(AdmissionError::InvalidRequest {
                field,
                problem: format!("`{value}` contains `#`, which rollgate reserves; remove it"),
            });
        }
    }
    if let Some(id) = &request.release_id {
        let ok = !id.is_empty() && id.len() <= 80 && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            return Err(AdmissionError::InvalidRequest {
                field: "release_id",
                problem: format!("`{id}` must be 1–80 letters, digits, `-`, `_` or `.` (it names a Step Functions execution)"),
            });
        }
    }
    Ok(())
}

/// `<service>-<env>-<version>-<random>`, trimmed to what an execution name allows.
pub fn new_release_id(service: &str, environment: &str, version: &str) -> String {
    let clean = |s: &str| s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '-' }).collect::<String>();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let base = format!("{}-{}-{}", clean(service), clean(environment), clean(version));
    format!("{}-{}", prefix(&base, 70), prefix(&suffix, 8))
}

#[cfg(test)]
mod tests;
