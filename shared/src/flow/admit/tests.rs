//! Undoing an admission the state machine gave up on: this request's release and lock only.

use serde_json::json;

use super::*;
use crate::adapters::memory::MemoryStore;
use crate::boundary;
use crate::flow::testing::t0;

fn request(id: &str, service: &str) -> ReleaseRequest {
    crate::flow::testing::request(id, service, crate::flow::testing::alias_plan(service, 10))
}

/// What the `UndoAdmission` state hands the rollback function: the execution's input and the
/// error its admission ended with.
fn undo_event(request: &ReleaseRequest) -> serde_json::Value {
    let mut state = serde_json::to_value(request).unwrap_or_default();
    state["error"] = json!({"Error": "Transient", "Cause": "{\"errorMessage\": \"TransactWriteItems failed: throttled\"}"});
    json!({ "undo_admission": state })
}

async fn undo(store: &MemoryStore, request: &ReleaseRequest) -> boundary::RollbackFunctionOutput {
    let (router, notifier) = (crate::adapters::memory::MemoryRouter::default(), crate::adapters::memory::RecordingNotifier::default());
    let policy = crate::flow::rollback::RestorePolicy::default();
    boundary::rollback_function(
        undo_event(request),
        store,
        &router,
        &notifier,
        &crate::adapters::memory::RecordingWorkflow::default(),
        policy,
        || t0() + chrono::Duration::minutes(2),
    )
    .await
    .unwrap_or_else(|e| panic!("{}", e.message))
}

#[tokio::test]
async fn a_failed_admission_is_undone_the_release_aborted_with_its_cause_and_the_lock_given_back() {
    let store = MemoryStore::new();
    // Admission got as far as the lock and the record; then its answer kept failing.
    let admitted = admit(&store, &crate::ports::NoPolicies, request("r1", "orders"), t0()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(admitted.release.status, ReleaseStatus::Progressing);

    let output = undo(&store, &request("r1", "orders")).await;
    assert!(matches!(&output, boundary::RollbackFunctionOutput::UndoAdmission(o) if o.status == "aborted"), "{output:?}");
    let release = store.release("r1").await.ok().flatten().unwrap_or_else(|| panic!("r1"));
    assert_eq!(release.status, ReleaseStatus::Aborted);
    let reason = release.closed_reason.unwrap_or_default();
    assert!(reason.contains("admission failed") && reason.contains("throttled"), "{reason}");
    assert_eq!(store.lock("orders", "prod").await.ok().flatten(), None, "the lock is given back");
    let trail = store.events("r1").await.unwrap_or_default();
    let last = trail.last().unwrap_or_else(|| panic!("a trail"));
    assert!(matches!(&last.kind, EventKind::Closed { status: ReleaseStatus::Aborted, .. }), "{last:?}");
    assert_eq!(last.actor, crate::flow::rollback::ACTOR, "the function that undid it");

    // Retried (a lost answer): the same end, nothing recorded twice.
    undo(&store, &request("r1", "orders")).await;
    assert_eq!(store.events("r1").await.unwrap_or_default().len(), trail.len());
}

#[tokio::test]
async fn undoing_touches_no_other_release_and_no_other_holders_lock() {
    let store = MemoryStore::new();
    // `r1` is a release of another service; this failed request reused its id.
    admit(&store, &crate::ports::NoPolicies, request("r1", "billing"), t0()).await.unwrap_or_else(|e| panic!("{e}"));
    // `other` holds the lock of `orders`: the failed admission never got it.
    admit(&store, &crate::ports::NoPolicies, request("other", "orders"), t0()).await.unwrap_or_else(|e| panic!("{e}"));

    let output = undo(&store, &request("r1", "orders")).await;
    assert!(matches!(&output, boundary::RollbackFunctionOutput::UndoAdmission(o) if o.status == "not_recorded"), "{output:?}");
    let billing = store.release("r1").await.ok().flatten().map(|r| (r.service, r.status));
    assert_eq!(billing, Some(("billing".to_string(), ReleaseStatus::Progressing)));
    assert_eq!(store.lock("orders", "prod").await.ok().flatten().map(|l| l.holder), Some("other".into()));
    assert_eq!(store.lock("billing", "prod").await.ok().flatten().map(|l| l.holder), Some("r1".into()));
}

#[tokio::test]
async fn an_admission_whose_record_was_lost_is_recorded_before_the_close() {
    let store = MemoryStore::new();
    // Lock and release stored, but no trail write ever went through.
    let admitted = admit(&store, &crate::ports::NoPolicies, request("r1", "orders"), t0()).await.unwrap_or_else(|e| panic!("{e}")).release;
    let mut bare = admitted.clone();
    bare.status = ReleaseStatus::Admitted;
    let fresh = MemoryStore::new();
    let lease = crate::flow::trail::lease(&bare, t0());
    fresh.acquire_lock(&lease, t0()).await.unwrap_or_else(|e| panic!("{e}"));
    fresh.create_release(&bare).await.unwrap_or_else(|e| panic!("{e}"));

    undo(&fresh, &request("r1", "orders")).await;
    let kinds: Vec<&str> = fresh.events("r1").await.unwrap_or_default().iter().map(|e| e.kind.name()).collect();
    assert_eq!(kinds, ["admitted", "closed"]);
    assert_eq!(fresh.lock("orders", "prod").await.ok().flatten(), None);
}

#[tokio::test]
async fn a_lock_taken_by_an_admission_that_never_stored_its_release_is_given_back() {
    let store = MemoryStore::new();
    let lease = Lease {
        service: "orders".into(),
        environment: "prod".into(),
        holder: "r1".into(),
        acquired_at: t0(),
        expires_at: t0() + chrono::Duration::hours(1),
    };
    store.acquire_lock(&lease, t0()).await.unwrap_or_else(|e| panic!("{e}"));
    let output = undo(&store, &request("r1", "orders")).await;
    assert!(matches!(&output, boundary::RollbackFunctionOutput::UndoAdmission(o) if o.status == "not_recorded"), "{output:?}");
    assert_eq!(store.lock("orders", "prod").await.ok().flatten(), None);
}

#[tokio::test]
async fn a_blocked_release_whose_announcement_never_went_out_is_announced_before_its_lock_is_given_back() {
    let store = MemoryStore::new();
    let mut plan = crate::flow::testing::alias_plan("orders", 10);
    plan["checklist"] = json!({ "items": [ { "id": "review", "require": { "kind": "attestation", "evidence": "reviewed" } } ] });
    let blocked = crate::flow::testing::request("r1", "orders", plan);
    // Admission closed the release as blocked, then its process stopped before announcing it:
    // the lock is still held, so the undo (or the sweeper) finds the release.
    let admitted = admit(&store, &crate::ports::NoPolicies, blocked.clone(), t0()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(admitted.release.status, ReleaseStatus::Blocked);
    assert!(store.lock("orders", "prod").await.ok().flatten().is_some(), "the lock goes back only after the announcement");
    undo(&store, &blocked).await;
    let trail = store.events("r1").await.unwrap_or_default();
    assert!(crate::flow::notify::announced(&trail, crate::domain::plan::NotificationEvent::Blocked), "blocked is announced");
    assert_eq!(store.release("r1").await.ok().flatten().map(|r| r.status), Some(ReleaseStatus::Blocked), "it stays blocked");
    assert_eq!(store.lock("orders", "prod").await.ok().flatten(), None);
}

/// A store on which the first `create_release` fails (its process paused past its timeout) and a
/// `release_lock` pauses while `meanwhile` (the state machine's retry) runs, as in DST seed 254356.
struct PausedAttempt<'a, F> {
    inner: &'a MemoryStore,
    create_fails: std::sync::atomic::AtomicBool,
    meanwhile: std::sync::Mutex<Option<F>>,
}

impl<F: std::future::Future<Output = ()>> PausedAttempt<'_, F> {
    /// Runs the retry now, if the paused attempt did not give it a moment already.
    async fn retry(&self) {
        let meanwhile = self.meanwhile.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(meanwhile) = meanwhile {
            meanwhile.await;
        }
    }
}

#[async_trait::async_trait]
impl<F> ReleaseStore for PausedAttempt<'_, F>
where
    F: std::future::Future<Output = ()> + Send,
{
    async fn acquire_lock(&self, lease: &Lease, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.inner.acquire_lock(lease, now).await
    }
    async fn release_lock(&self, service: &str, environment: &str, holder: &str) -> Result<bool, StoreError> {
        self.retry().await;
        self.inner.release_lock(service, environment, holder).await
    }
    async fn lock(&self, service: &str, environment: &str) -> Result<Option<Lease>, StoreError> {
        self.inner.lock(service, environment).await
    }
    async fn locks(&self) -> Result<Vec<Lease>, StoreError> {
        self.inner.locks().await
    }
    async fn create_release(&self, release: &Release) -> Result<(), StoreError> {
        if self.create_fails.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Backend { operation: "TransactWriteItems", transient: true, source: "throttled".into() });
        }
        self.inner.create_release(release).await
    }
    async fn update_release(&self, release: &mut Release) -> Result<(), StoreError> {
        self.inner.update_release(release).await
    }
    async fn release(&self, id: &str) -> Result<Option<Release>, StoreError> {
        self.inner.release(id).await
    }
    async fn append(
        &self,
        events: Vec<crate::release::ReleaseEvent>,
        release: Option<&mut Release>,
    ) -> Result<Vec<crate::release::ReleaseEvent>, StoreError> {
        self.inner.append(events, release).await
    }
    async fn events(&self, release_id: &str) -> Result<Vec<crate::release::ReleaseEvent>, StoreError> {
        self.inner.events(release_id).await
    }
    async fn route(&self, key: &str) -> Result<Option<crate::release::route::RouteState>, StoreError> {
        self.inner.route(key).await
    }
    async fn claim_route(
        &self,
        state: &crate::release::route::RouteState,
        expected: Option<u64>,
        fence: crate::ports::Fence<'_>,
    ) -> Result<(), StoreError> {
        self.inner.claim_route(state, expected, fence).await
    }
}

/// DST seed 254356 (the one-hour run): an attempt whose create failed found no release, paused,
/// and resumed after its retry had admitted the release, then gave back the lock the retry held
/// (same holder): the release went on unlocked, where no sweep finds it. A failed attempt now
/// leaves the lock to its retry, UndoAdmission or the sweeper.
#[tokio::test]
async fn an_attempt_resumed_after_its_retry_admitted_the_release_leaves_the_lock_alone() {
    let store = MemoryStore::new();
    let retry = async {
        let admitted = admit(&store, &crate::ports::NoPolicies, request("r1", "orders"), t0() + chrono::Duration::seconds(2)).await;
        assert!(admitted.is_ok_and(|a| a.release.status == ReleaseStatus::Progressing));
    };
    let attempt = PausedAttempt {
        inner: &store,
        create_fails: std::sync::atomic::AtomicBool::new(true),
        meanwhile: std::sync::Mutex::new(Some(retry)),
    };
    assert!(admit(&attempt, &crate::ports::NoPolicies, request("r1", "orders"), t0()).await.is_err(), "the first attempt failed");
    attempt.retry().await;
    let holder = store.lock("orders", "prod").await.ok().flatten().map(|l| l.holder);
    assert_eq!(holder.as_deref(), Some("r1"), "the admitted release keeps its lock");
}

/// DST seed 1135596: a closed release whose process stopped before its announcement, seal and
/// lock kept its lock past the lease; a later admission took it over, and nobody announced how
/// the first one ended. The lock of any stored release is the sweeper's to free.
#[tokio::test]
async fn an_admission_leaves_the_expired_lock_of_a_closed_release_to_the_sweeper() {
    let store = MemoryStore::new();
    let mut first = admit(&store, &crate::ports::NoPolicies, request("r1", "orders"), t0()).await.unwrap_or_else(|e| panic!("{e}")).release;
    crate::flow::trail::record_close(&store, "test", &mut first, ReleaseStatus::Promoted, "promoted", t0(), Vec::new())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let long_after = t0() + chrono::Duration::days(2);
    let refused = admit(&store, &crate::ports::NoPolicies, request("r2", "orders"), long_after).await.err();
    assert!(refused.as_ref().is_some_and(AdmissionError::is_lock_held), "{refused:?}");
    let lock = store.lock("orders", "prod").await.ok().flatten();
    assert_eq!(lock.map(|l| l.holder).as_deref(), Some("r1"));
}

/// The platform's policy for the service: a weaker plan is refused before it takes the lock,
/// naming every rule it breaks; a plan that meets it is admitted under its version.
#[tokio::test]
async fn a_plan_weaker_than_its_policy_is_refused_with_the_rules_and_takes_no_lock() {
    use crate::ports::{PolicyStore, StoredPolicy};
    let store = MemoryStore::new();
    let policy = crate::domain::yaml::from_str(
        "service: orders\nenvironment: prod\nfirst_step_at_most: 10\nrollback_alarms: [orders-5xx]\nchecklist: { items: [security-review] }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let stored = StoredPolicy { policy, version: 3, updated_by: "arn:aws:iam::1:role/Platform".into(), updated_at: t0() };
    store.put_policy(&stored, None).await.unwrap_or_else(|e| panic!("{e}"));

    let weak = crate::flow::testing::request("r1", "orders", crate::flow::testing::alias_plan("orders", 50));
    let refused = admit(&store, &store, weak, t0()).await;
    let Err(AdmissionError::PolicyBreached { version, breaches, .. }) = &refused else { panic!("{refused:?}") };
    let rules: Vec<&str> = breaches.iter().map(|b| b.rule.as_str()).collect();
    assert_eq!((*version, rules.as_slice()), (3, ["checklist.items[0]", "rollback_alarms[0]", "first_step_at_most"].as_slice()));
    let text = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.contains("platform policy of orders in prod (version 3)") && text.contains("the first step shifts 50%, more than 10%"),
        "{text}"
    );
    assert_eq!(store.lock("orders", "prod").await.ok().flatten(), None, "no lock taken");
    assert_eq!(store.release("r1").await.ok().flatten(), None, "nothing recorded");

    let mut plan = crate::flow::testing::alias_plan("orders", 10);
    plan["rollback_alarms"] = json!(["orders-5xx"]);
    plan["checklist"] = json!({ "items": [{ "id": "security-review", "require": { "kind": "attestation", "evidence": "reviewed" } }] });
    let mut meeting = crate::flow::testing::request("r2", "orders", plan);
    meeting.evidence = serde_json::from_value(json!({ "reviewed": true })).unwrap_or_default();
    let admitted = admit(&store, &store, meeting, t0()).await.unwrap_or_else(|e| panic!("{e}"));
    let trail = store.events(&admitted.release.id).await.unwrap_or_default();
    assert!(
        matches!(trail.first().map(|e| &e.kind), Some(EventKind::Admitted { policy_version: Some(3), .. })),
        "the trail records the policy version that applied: {trail:?}"
    );
}
