//! An operator's say over a release in flight: pause, resume, skip, promote (recorded on the
//! release, taken by its next check) and retry (a rollback that could not finish, run again).
//! Who asked is the caller's identity as AWS or Slack knows it, never a name given on the side.

use chrono::{DateTime, Utc};

use crate::domain::control::{Control, DEFAULT_PAUSE, MAX_PAUSE, OperatorAction, OperatorRequest};
use crate::domain::duration::HumanDuration;
use crate::flow::rollback::{RestorePolicy, RollbackEnd, RollbackError, RollbackOutcome, roll_back};
use crate::flow::trail::record_with;
use crate::ports::{Executions, Notifier, PolicyStore, ReleaseStore, StoreError, TrafficRouter, WorkflowError};
use crate::release::{EventKind, Release, ReleaseStatus};

/// Who writes these events in the audit trail (the operator is in the event).
pub const ACTOR: &str = "operator";

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("release {0} was not found; check the id (`rollgate list`)")]
    ReleaseNotFound(String),
    #[error("release {id} is already {status}; there is nothing to {control}")]
    ReleaseClosed { id: String, status: &'static str, control: &'static str },
    /// The release is not where the control applies (`resume` of a release that is not paused).
    #[error("{0}")]
    NotApplicable(String),
    #[error(
        "the platform policy for {service} in {environment} does not allow `rollgate {control}`; ask the platform team, or let the steps run"
    )]
    Forbidden { service: String, environment: String, control: &'static str },
    #[error("the release was changed while this was recorded; run the command again")]
    Changed,
    #[error(transparent)]
    Rollback(#[from] RollbackError),
    #[error(transparent)]
    Store(StoreError),
}

impl ControlError {
    /// The HTTP status the control endpoint answers this with: 404 no such release, 409 not
    /// where the control applies (or changed meanwhile), 403 not allowed by the platform policy,
    /// 503 a backend to try again.
    pub fn http_status(&self) -> u16 {
        match self {
            ControlError::ReleaseNotFound(_) | ControlError::Rollback(RollbackError::ReleaseNotFound(_)) => 404,
            ControlError::ReleaseClosed { .. } | ControlError::NotApplicable(_) | ControlError::Changed => 409,
            ControlError::Forbidden { .. } => 403,
            // The rollback could not finish: the release stays open and locked, and says so;
            // `retry` runs it again.
            ControlError::Rollback(_) | ControlError::Store(_) => 503,
        }
    }
}

impl From<StoreError> for ControlError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::RevisionConflict { .. } => ControlError::Changed,
            other => ControlError::Store(other),
        }
    }
}

/// A control recorded on a release: the release as stored, and what the control means for it, in
/// a sentence for whoever asked.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub release: Release,
    pub meaning: String,
}

/// Records `control` (pause, resume, skip or promote) on release `id`, by `by` for `reason`;
/// the release's next check takes it. A pause lasts `pause_for` (default `DEFAULT_PAUSE`, at most
/// `MAX_PAUSE`); not resumed by then, the release rolls back.
#[allow(clippy::too_many_arguments)]
pub async fn request(
    store: &dyn ReleaseStore,
    policies: &dyn PolicyStore,
    id: &str,
    control: Control,
    by: &str,
    reason: &str,
    pause_for: Option<HumanDuration>,
    now: DateTime<Utc>,
) -> Result<Recorded, ControlError> {
    let mut release = open_release(store, id, control).await?;
    let mut action = OperatorAction { by: by.to_string(), reason: reason.to_string(), at: now, until: None };
    let meaning = match control {
        Control::Pause => {
            // A pause holds a step that bakes; a release waiting for its approval shifts nothing
            // until someone decides (a rejection stops it).
            if release.status != ReleaseStatus::Progressing || release.step.is_none() {
                return Err(ControlError::NotApplicable(format!(
                    "release {id} is {} and bakes no step; a pause holds a step that bakes{}",
                    release.status.as_str(),
                    if release.status == ReleaseStatus::AwaitingApproval {
                        " (it shifts nothing until its approval is decided; `rollgate reject` stops it)"
                    } else {
                        ""
                    }
                )));
            }
            let lasting = pause_for.unwrap_or(DEFAULT_PAUSE);
            if lasting.is_zero() || lasting > MAX_PAUSE {
                return Err(ControlError::NotApplicable(format!(
                    "a pause lasts from a second to {MAX_PAUSE}, not {lasting}; give `--for` within that (default {DEFAULT_PAUSE})"
                )));
            }
            action.until = now.checked_add_signed(lasting.chrono());
            if let Some(paused) = &release.paused {
                return Err(ControlError::NotApplicable(format!(
                    "release {id} is already paused (by {} at {}: {})",
                    paused.by,
                    paused.at.format("%Y-%m-%d %H:%M UTC"),
                    paused.reason
                )));
            }
            let until = action.until.map_or_else(String::new, |u| u.format("%Y-%m-%d %H:%M UTC").to_string());
            release.paused = Some(action);
            format!(
                "paused until {until}: no step advances and the bake clock stops; checks go on and a failure still rolls back. Resume with `rollgate resume {id} --reason …`; not resumed by then, it rolls back"
            )
        }
        Control::Resume => {
            let Some(paused) = release.paused.take() else {
                return Err(ControlError::NotApplicable(format!("release {id} is not paused; nothing to resume")));
            };
            // The pause's time is left out of the bake only if it was paused in this step.
            let since = release.step_started_at.map_or(paused.at, |started| started.max(paused.at));
            let secs = u64::try_from(now.signed_duration_since(since).num_seconds()).unwrap_or(0);
            release.paused_secs = release.paused_secs.saturating_add(secs);
            "resumed: the bake clock runs again".to_string()
        }
        Control::Skip | Control::Promote => {
            let policy = policies.policy(&release.service, &release.environment).await?;
            if policy.as_ref().is_some_and(|p| !control.allowed_by(&p.policy)) {
                return Err(ControlError::Forbidden {
                    service: release.service.clone(),
                    environment: release.environment.clone(),
                    control: control.as_str(),
                });
            }
            let Some(step) = release.step.filter(|_| release.status == ReleaseStatus::Progressing) else {
                return Err(ControlError::NotApplicable(format!(
                    "release {id} is {} and bakes no step yet; {} applies to a step that bakes",
                    release.status.as_str(),
                    control.as_str()
                )));
            };
            release.asked = Some(OperatorRequest { control, step, action });
            let next = release.plan.analysis_at(step).map(|a| format!(" (within {})", a.interval)).unwrap_or_default();
            if control == Control::Skip {
                format!("its current step's bake ends at the next passing check{next}, which advances")
            } else {
                format!("the next passing check{next} promotes it to 100%, skipping the remaining steps")
            }
        }
        Control::Retry => return Err(ControlError::NotApplicable("retry runs the rollback itself: use `retry`".into())),
    };
    release.updated_at = now;
    let kind = EventKind::Controlled { control, by: by.to_string(), reason: reason.to_string() };
    record_with(store, ACTOR, id, Some(&mut release), now, vec![kind]).await?;
    Ok(Recorded { release, meaning })
}

/// Runs the rollback of release `id` again, whose last attempt could not restore traffic (its
/// trail's last word is a failed rollback): by `by`, for `reason`. An aborted release still ends
/// aborted.
#[allow(clippy::too_many_arguments)]
pub async fn retry(
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    notifier: &dyn Notifier,
    id: &str,
    by: &str,
    reason: &str,
    policy: RestorePolicy,
    clock: impl Fn() -> DateTime<Utc>,
) -> Result<RollbackOutcome, ControlError> {
    let release = open_release(store, id, Control::Retry).await?;
    let trail = store.events(id).await?;
    let last = trail.iter().rev().find(|e| !matches!(e.kind, EventKind::Notified { .. } | EventKind::NotificationFailed { .. }));
    let Some(EventKind::RollbackFailed { reason: original, .. }) = last.map(|e| &e.kind) else {
        return Err(ControlError::NotApplicable(format!(
            "release {id} has no failed rollback to retry (it is {}); to roll it back now, use `rollgate abort`",
            release.status.as_str()
        )));
    };
    let original = original.clone();
    let now = clock();
    let kind = EventKind::Controlled { control: Control::Retry, by: by.to_string(), reason: reason.to_string() };
    record_with(store, ACTOR, id, None, now, vec![kind]).await?;
    // The failed attempt's reason stands; an abort among them ends the release aborted.
    Ok(roll_back(store, router, notifier, id, &original, RollbackEnd::RolledBack, policy, clock).await?)
}

/// What an abort did: the rollback's outcome, and why the execution could not be stopped, if so.
#[derive(Debug)]
pub struct Aborted {
    pub rollback: RollbackOutcome,
    pub execution_not_stopped: Option<String>,
}

/// Rolls release `id` back now, by `by` for `reason`; it ends `aborted`. The execution the
/// release recorded at admission is stopped first, so that it cannot move traffic while the
/// rollback restores it; if it cannot be stopped the rollback goes on (the safe direction: a
/// running execution finds the release closed at its next step).
#[allow(clippy::too_many_arguments)]
pub async fn abort(
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    notifier: &dyn Notifier,
    executions: &dyn Executions,
    id: &str,
    by: &str,
    reason: &str,
    clock: impl Fn() -> DateTime<Utc>,
) -> Result<Aborted, ControlError> {
    let release = store.release(id).await?.ok_or_else(|| ControlError::ReleaseNotFound(id.to_string()))?;
    let text = format!("aborted by {by}: {reason}");
    let mut execution_not_stopped = None;
    if let Some(execution) = release.execution.as_deref().filter(|_| !release.status.is_final()) {
        match executions.stop(execution, "Aborted", &text).await {
            Ok(()) | Err(WorkflowError::TaskGone(_)) => {}
            Err(e) => {
                tracing::warn!(release = %id, %execution, error = %e, "the execution could not be stopped; rolling back anyway");
                execution_not_stopped = Some(format!("execution {execution} could not be stopped ({e}); rolled back anyway"));
            }
        }
    }
    // `roll_back` reads the release again, on purpose: its execution (or a task of it still
    // running) may have moved it since the read above, switching a step or closing it.
    let rollback = roll_back(store, router, notifier, id, &text, RollbackEnd::Aborted, RestorePolicy::default(), clock).await?;
    Ok(Aborted { rollback, execution_not_stopped })
}

async fn open_release(store: &dyn ReleaseStore, id: &str, control: Control) -> Result<Release, ControlError> {
    let release = store.release(id).await?.ok_or_else(|| ControlError::ReleaseNotFound(id.to_string()))?;
    if release.status.is_final() {
        return Err(ControlError::ReleaseClosed { id: id.to_string(), status: release.status.as_str(), control: control.as_str() });
    }
    Ok(release)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{MemoryRouter, MemoryStore, RecordingNotifier};
    use crate::domain::decision::Action;
    use crate::flow::testing::{NoData, request as release_request, t0};
    use crate::flow::traffic::{SwitchTarget, switch};
    use crate::ports::{NoHooks, NoPolicies};

    fn at(minutes: i64) -> DateTime<Utc> {
        t0() + chrono::Duration::minutes(minutes)
    }

    /// A release at its first step (10%, 30m bake, checked every 5m), no metrics.
    async fn baking(store: &MemoryStore) {
        let plan = serde_json::json!({"name": "p", "traffic": {"router": {"type": "dry_run"},
            "steps": [{"weight": 10, "bake": "30m"}, {"weight": 50, "bake": "30m"}, {"weight": 100, "bake": "30m"}]},
            "analysis": {"interval": "5m", "max_inconclusive": 0, "on_inconclusive": "pass", "metrics": [{"name": "errors", "must": {"below": 1},
                "query": {"metric": {"namespace": "App", "name": "Errors", "stat": "Sum"}}}]}});
        crate::flow::admit::admit(store, &NoPolicies, release_request("r1", "orders", plan), t0()).await.unwrap_or_else(|e| panic!("{e}"));
        switch(store, &MemoryRouter::default(), &NoHooks, "r1", SwitchTarget::Step(0), t0()).await.unwrap_or_else(|e| panic!("{e}"));
    }

    async fn check(store: &MemoryStore, minutes: i64) -> crate::domain::decision::Decision {
        crate::flow::gate_check::run(store, store, &NoData, &NoHooks, "r1", None, at(minutes))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .decision
    }

    const OPS: &str = "arn:aws:sts::123456789012:assumed-role/oncall/alice";

    #[tokio::test]
    async fn a_paused_release_holds_until_resumed_and_its_pause_does_not_count_as_bake() {
        let store = MemoryStore::new();
        baking(&store).await;
        request(&store, &NoPolicies, "r1", Control::Pause, OPS, "the payment provider is degraded", None, at(10))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let again = request(&store, &NoPolicies, "r1", Control::Pause, OPS, "again", None, at(11)).await;
        assert!(matches!(&again, Err(ControlError::NotApplicable(m)) if m.contains("already paused")), "{again:?}");
        let held = check(&store, 35).await;
        assert_eq!(held.action, Action::Bake);
        assert!(held.reason.starts_with(&format!("paused by {OPS}")), "{}", held.reason);
        request(&store, &NoPolicies, "r1", Control::Resume, OPS, "provider recovered", None, at(40))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // 10 minutes served before the pause, 30 paused: 20 more to go after minute 40.
        assert_eq!(check(&store, 55).await.action, Action::Bake);
        assert_eq!(check(&store, 60).await.action, Action::Advance);
        let trail = store.events("r1").await.unwrap_or_default();
        let controls: Vec<String> = trail.iter().filter(|e| e.kind.name() == "controlled").map(|e| e.kind.summary()).collect();
        assert_eq!(controls, [format!("pause by {OPS}: the payment provider is degraded"), format!("resume by {OPS}: provider recovered")]);
        let resumed = request(&store, &NoPolicies, "r1", Control::Resume, OPS, "again", None, at(61)).await;
        let too_long =
            request(&store, &NoPolicies, "r1", Control::Pause, OPS, "all week", Some(HumanDuration::from_secs(8 * 86_400)), at(62)).await;
        assert!(matches!(&too_long, Err(ControlError::NotApplicable(m)) if m.contains("at most") || m.contains("7d")), "{too_long:?}");
        assert!(matches!(resumed, Err(ControlError::NotApplicable(_))));
    }

    #[tokio::test]
    async fn skip_and_promote_are_taken_at_the_next_check_where_the_policy_allows_them() {
        let store = MemoryStore::new();
        baking(&store).await;
        let skip =
            request(&store, &NoPolicies, "r1", Control::Skip, OPS, "verified by hand", None, at(6)).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(skip.meaning, "its current step's bake ends at the next passing check (within 5m), which advances");
        let skipped = check(&store, 10).await;
        assert_eq!((skipped.action, skipped.next_step), (Action::Advance, Some(1)));
        assert!(skipped.reason.starts_with(&format!("skip by {OPS}: verified by hand")), "{}", skipped.reason);

        let policy: crate::domain::policy::Policy =
            crate::domain::yaml::from_str("service: orders\nenvironment: prod\noperators: { promote: false }\n")
                .unwrap_or_else(|e| panic!("{e}"));
        let stored = crate::ports::StoredPolicy { policy, version: 1, updated_by: "platform".into(), updated_at: t0() };
        store.put_policy(&stored, None).await.unwrap_or_else(|e| panic!("{e}"));
        let refused = request(&store, &store, "r1", Control::Promote, OPS, "ship it", None, at(11)).await;
        assert!(matches!(&refused, Err(ControlError::Forbidden { .. })), "{refused:?}");
        assert!(refused.err().map(|e| e.to_string()).unwrap_or_default().contains("does not allow `rollgate promote`"));
    }

    #[tokio::test]
    async fn a_release_that_bakes_no_step_cannot_be_paused() {
        let store = MemoryStore::new();
        let plan = serde_json::json!({"name": "p", "traffic": {"router": {"type": "dry_run"}, "steps": [{"weight": 10, "bake": "30m"}]}});
        crate::flow::admit::admit(&store, &NoPolicies, release_request("r1", "orders", plan), t0()).await.unwrap_or_else(|e| panic!("{e}"));
        let refused = request(&store, &NoPolicies, "r1", Control::Pause, OPS, "too early", None, at(1)).await;
        assert!(matches!(&refused, Err(ControlError::NotApplicable(m)) if m.contains("bakes no step")), "{refused:?}");
        let mut waiting = store.release("r1").await.ok().flatten().unwrap_or_else(|| panic!("stored"));
        waiting.status = ReleaseStatus::AwaitingApproval;
        waiting.step = Some(0);
        store.update_release(&mut waiting).await.unwrap_or_else(|e| panic!("{e}"));
        let refused = request(&store, &NoPolicies, "r1", Control::Pause, OPS, "waiting", None, at(2)).await;
        assert!(matches!(&refused, Err(ControlError::NotApplicable(m)) if m.contains("rollgate reject")), "{refused:?}");
    }

    #[tokio::test]
    async fn only_a_failed_rollback_is_retried_and_a_closed_release_takes_no_control() {
        let store = MemoryStore::new();
        baking(&store).await;
        let (router, notifier) = (MemoryRouter::default(), RecordingNotifier::default());
        let nothing_failed = retry(&store, &router, &notifier, "r1", OPS, "retry", RestorePolicy::default(), || at(5)).await;
        assert!(matches!(&nothing_failed, Err(ControlError::NotApplicable(m)) if m.contains("rollgate abort")), "{nothing_failed:?}");
        roll_back(&store, &router, &notifier, "r1", "test", RollbackEnd::RolledBack, RestorePolicy::default(), || at(6))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let closed = request(&store, &NoPolicies, "r1", Control::Pause, OPS, "late", None, at(7)).await;
        assert!(matches!(closed, Err(ControlError::ReleaseClosed { status: "rolled_back", .. })));
    }
}
