//! Rolling back restores 0% on the canary, and records a weight change only when one happened.

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::TimeZone;
use serde_json::{Value, json};

use super::*;
use crate::adapters::memory::{MemoryStore, RecordingNotifier};
use crate::flow::admit::admit;
use crate::flow::traffic::{SwitchTarget, switch};
use crate::ports::{RouterError, RouterReading};
use crate::release::ReleaseRequest;
use crate::release::route::{RouteState, route_key};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).single().unwrap_or_default()
}

fn now() -> DateTime<Utc> {
    t0() + chrono::Duration::minutes(3)
}

const NO_WAIT: RestorePolicy = RestorePolicy { attempts: 1, first_backoff: Duration::ZERO };

/// A router that keeps its weight in memory and remembers every weight it was told to set.
#[derive(Default)]
struct FakeRouter {
    weight: Mutex<u32>,
    sets: Mutex<Vec<u32>>,
}

impl FakeRouter {
    fn at(weight: u32) -> Self {
        Self { weight: Mutex::new(weight), sets: Mutex::new(Vec::new()) }
    }

    fn weight(&self) -> u32 {
        *self.weight.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn sets(&self) -> Vec<u32> {
        self.sets.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

#[async_trait]
impl TrafficRouter for FakeRouter {
    async fn set_weight(&self, _: &RouteTarget, weight: u32, _: Option<&str>) -> Result<(), RouterError> {
        self.sets.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(weight);
        *self.weight.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = weight;
        Ok(())
    }

    async fn read(&self, _: &RouteTarget) -> Result<RouterReading, RouterError> {
        Ok(RouterReading { weight: self.weight(), revision: None })
    }
}

const LAMBDA: &str = r#"{"type": "lambda_alias", "function_name": "orders", "alias": "live"}"#;
/// The lock of the release `admitted` starts (r1 of svc in prod).
const FENCE: crate::ports::Fence<'static> = crate::ports::Fence { service: "svc", environment: "prod", holder: "r1" };
const DRY_RUN: &str = r#"{"type": "dry_run"}"#;

/// An admitted release of svc 2 over stable 1, nothing shifted yet.
async fn admitted(store: &MemoryStore, router: &str) -> Release {
    let router: Value = serde_json::from_str(router).unwrap_or_else(|e| panic!("{e}"));
    let request = ReleaseRequest {
        release_id: Some("r1".into()),
        service: "svc".into(),
        environment: "prod".into(),
        version: "2".into(),
        stable_version: Some("1".into()),
        author: None,
        requested_by: None,
        plan: json!({"name": "p", "traffic": {"router": router, "steps": [{"weight": 10, "bake": "5m"}, {"weight": 100, "bake": "5m"}]}}),
        evidence: Default::default(),
        overrides: vec![],
        execution: None,
    };
    admit(store, &crate::ports::NoPolicies, request, t0()).await.unwrap_or_else(|e| panic!("{e}")).release
}

/// traffic-switch claimed `weight` for r1 and died before confirming the claim.
async fn claim_unconfirmed(store: &MemoryStore, release: &Release, weight: u32) {
    let claim = RouteState {
        key: route_key(&release.plan.traffic.router, &release.service, &release.environment),
        canary_weight: weight,
        stable_version: "1".into(),
        canary_version: "2".into(),
        release_id: "r1".into(),
        version: 1,
        applied: false,
        updated_at: t0(),
        stage: None,
    };
    store.claim_route(&claim, None, FENCE).await.unwrap_or_else(|e| panic!("{e}"));
}

async fn roll_back_now(store: &MemoryStore, router: &dyn TrafficRouter) -> RollbackOutcome {
    roll_back(store, router, &RecordingNotifier::default(), "r1", "error budget spent", RollbackEnd::RolledBack, NO_WAIT, now)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn weight_changes(store: &MemoryStore) -> Vec<(u32, u32)> {
    store
        .events("r1")
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::WeightChanged(c) => Some((c.before, c.after)),
            _ => None,
        })
        .collect()
}

async fn route_state(store: &MemoryStore, release: &Release) -> Option<RouteState> {
    let key = route_key(&release.plan.traffic.router, &release.service, &release.environment);
    store.route(&key).await.unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_rollback_before_any_traffic_moved_records_no_weight_change() {
    for router_spec in [DRY_RUN, LAMBDA] {
        let store = MemoryStore::new();
        let release = admitted(&store, router_spec).await;
        let router = FakeRouter::default();
        let out = roll_back_now(&store, &router).await;

        assert_eq!(out.release.status, ReleaseStatus::RolledBack, "{router_spec}");
        assert_eq!(out.record.as_ref().map(|r| r.weight_change.clone()), Some(None), "{router_spec}: nothing was shifted");
        assert_eq!(weight_changes(&store).await, [], "{router_spec}: no `traffic 0% → 0%` in the trail");
        let trail = store.events("r1").await.unwrap_or_default();
        let kinds: Vec<&str> = trail.iter().map(|e| e.kind.name()).collect();
        assert!(kinds.contains(&"rolled_back"), "{router_spec}: {kinds:?}");
        // The release never claimed its route, so none of its traffic is there: the rollback
        // leaves the route and the router alone (another version may serve there).
        assert!(route_state(&store, &release).await.is_none(), "{router_spec}");
        assert!(router.sets().is_empty(), "{router_spec}: the router is not touched");
    }
}

#[tokio::test]
async fn a_rollback_after_a_step_records_the_restore() {
    let store = MemoryStore::new();
    admitted(&store, LAMBDA).await;
    let router = FakeRouter::default();
    switch(&store, &router, &crate::ports::NoHooks, "r1", SwitchTarget::Step(0), t0()).await.unwrap_or_else(|e| panic!("{e}"));
    let out = roll_back_now(&store, &router).await;
    assert_eq!(weight_changes(&store).await, [(0, 10), (10, 0)]);
    assert_eq!(out.record.and_then(|r| r.weight_change).map(|c| (c.before, c.after, c.verified)), Some((10, 0, 0)));
    assert_eq!(router.weight(), 0);
}

#[tokio::test]
async fn a_claimed_but_unapplied_route_is_still_restored_and_recorded() {
    // traffic-switch claimed 10% and moved the router, then died before confirming the claim or
    // updating the release: the release says nothing moved, the router carries 10%.
    let store = MemoryStore::new();
    let release = admitted(&store, LAMBDA).await;
    claim_unconfirmed(&store, &release, 10).await;
    let router = FakeRouter::at(10);

    let out = roll_back_now(&store, &router).await;
    assert_eq!(router.weight(), 0, "restored");
    // The 10% the dead attempt left on the router is in the trail too, before the restore.
    assert_eq!(weight_changes(&store).await, [(0, 10), (10, 0)]);
    assert!(out.record.is_some_and(|r| r.weight_change.is_some()));
    assert!(route_state(&store, &release).await.is_some_and(|s| s.applied && s.canary_weight == 0 && s.version == 3));
}

#[tokio::test]
async fn an_unconfirmed_claim_is_restored_even_when_the_router_reads_0() {
    // The claim of 10% may never have reached the router; it is still set and confirmed at 0%.
    let store = MemoryStore::new();
    let release = admitted(&store, LAMBDA).await;
    claim_unconfirmed(&store, &release, 10).await;
    let router = FakeRouter::default();
    roll_back_now(&store, &router).await;
    assert_eq!(router.sets(), [0]);
    assert!(route_state(&store, &release).await.is_some_and(|s| s.applied && s.canary_weight == 0));
}

#[tokio::test]
async fn a_late_rollback_never_moves_the_traffic_of_the_release_that_took_the_lock_over() {
    // r1 moved 10%, then its lock expired and r2 took the service over and set its own weight.
    let store = MemoryStore::new();
    let release = admitted(&store, LAMBDA).await;
    let router = FakeRouter::default();
    let notifier = RecordingNotifier::default();
    switch(&store, &router, &crate::ports::NoHooks, &release.id, SwitchTarget::Step(0), t0()).await.unwrap_or_else(|e| panic!("{e}"));
    let later = release.plan.lock_lease().after(t0()) + chrono::Duration::minutes(1);
    let takeover = crate::release::Lease {
        service: "svc".into(),
        environment: "prod".into(),
        holder: "r2".into(),
        acquired_at: later,
        expires_at: later + chrono::Duration::hours(1),
    };
    store.acquire_lock(&takeover, later).await.unwrap_or_else(|e| panic!("takeover: {e}"));
    router.set_weight(&RouteTarget::for_release(&release, Some(0)).unwrap_or_else(|| panic!("route")), 50, None).await.ok();
    let sets_before = router.sets();

    let result = roll_back(&store, &router, &notifier, &release.id, "gate failed", RollbackEnd::RolledBack, NO_WAIT, || later).await;
    match &result {
        Err(e @ RollbackError::LockLost { holder, .. }) => {
            assert!(holder.contains("r2"), "{e}");
            assert!(e.to_string().contains("left that release's traffic alone"), "{e}");
        }
        other => panic!("a rollback without the lock must stop with LockLost: {other:?}"),
    }
    assert_eq!(router.sets(), sets_before, "r2's traffic was not touched");
    assert_eq!(router.weight(), 50);
    assert_eq!(store.lock("svc", "prod").await.ok().flatten().map(|l| l.holder), Some("r2".into()), "r2 keeps its lock");
    let r1 = store.release(&release.id).await.ok().flatten().unwrap_or_else(|| panic!("r1"));
    assert_eq!(r1.status, ReleaseStatus::Aborted);
    let trail = store.events(&release.id).await.unwrap_or_default();
    assert!(trail.iter().any(|e| matches!(&e.kind, EventKind::RollbackFailed { error, .. } if error.contains("lost the lock"))));
    assert!(!trail.iter().any(|e| matches!(&e.kind, EventKind::RolledBack(_))), "not recorded as rolled back");
    let alert = notifier.published().into_iter().find(|n| n.severity == Severity::Critical).unwrap_or_else(|| panic!("an alert"));
    assert!(alert.summary.contains("lost its lock"), "{}", alert.summary);
    // And the store alone refuses the claim, whatever the flow does.
    let claim = RouteState {
        key: route_key(&release.plan.traffic.router, &release.service, &release.environment),
        canary_weight: 0,
        stable_version: "1".into(),
        canary_version: "2".into(),
        release_id: "r1".into(),
        version: 99,
        applied: false,
        updated_at: later,
        stage: None,
    };
    let refused = store.claim_route(&claim, store.route(&claim.key).await.ok().flatten().map(|r| r.version), FENCE).await;
    assert!(matches!(refused, Err(StoreError::LockLost { .. })), "{refused:?}");
}

#[tokio::test]
async fn a_retried_close_gives_back_the_lock_it_may_have_missed() {
    // The close was stored but its answer lost before the lock went back (a retried Task).
    let store = MemoryStore::new();
    let release = admitted(&store, DRY_RUN).await;
    let router = FakeRouter::default();
    roll_back_now(&store, &router).await;
    store.acquire_lock(&crate::flow::trail::lease(&release, now()), now()).await.unwrap_or_else(|e| panic!("{e}"));
    let again = roll_back_now(&store, &router).await;
    assert!(again.record.is_none(), "nothing is rolled back twice");
    assert_eq!(store.lock("svc", "prod").await.ok().flatten(), None, "the lock is given back");
    let announced = store.events("r1").await.unwrap_or_default().iter().filter(|e| e.kind.name() == "notified").count();
    assert_eq!(announced, 1, "announced once");

    // The same for a promotion retried after its close: the switch closes the release and keeps
    // the lock (a process stopped here leaves it to the retry or the sweeper); the task announces
    // the promotion, then gives the lock back; a retry finds both done and announces nothing.
    let store = MemoryStore::new();
    let notifier = RecordingNotifier::default();
    admitted(&store, DRY_RUN).await;
    let promote = || crate::flow::tasks::SwitchRequest { release_id: "r1".into(), step: None, promote: true };
    let closed =
        switch(&store, &router, &crate::ports::NoHooks, "r1", SwitchTarget::Promote, now()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(closed.release.status, ReleaseStatus::Promoted);
    assert!(store.lock("svc", "prod").await.ok().flatten().is_some(), "the close alone keeps the lock until it is announced");
    let retried = crate::flow::tasks::set_weight(&store, &router, &crate::ports::NoHooks, &notifier, promote(), now())
        .await
        .unwrap_or_else(|e| panic!("a retried promotion: {e}"));
    assert_eq!((retried.status.as_str(), retried.weight, retried.changed), ("promoted", 100, false));
    assert_eq!(store.lock("svc", "prod").await.ok().flatten(), None, "the lock is given back");
    crate::flow::tasks::set_weight(&store, &router, &crate::ports::NoHooks, &notifier, promote(), now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let notified = store.events("r1").await.unwrap_or_default().iter().filter(|e| e.kind.name() == "notified").count();
    assert_eq!(notified, 1, "the promotion is announced once");
    assert!(matches!(
        switch(&store, &router, &crate::ports::NoHooks, "r1", SwitchTarget::Step(0), now()).await,
        Err(SwitchError::ReleaseClosed { .. })
    ));
}

#[tokio::test]
async fn a_second_rollback_reads_the_router_instead_of_trusting_its_record() {
    // r1 moved 10% and rolled back to 0%; then a process of r1 that had stopped between its
    // claim and its router write (a zombie) went on and set 10% again, with no record of it.
    let store = MemoryStore::new();
    let release = admitted(&store, LAMBDA).await;
    let router = FakeRouter::default();
    switch(&store, &router, &crate::ports::NoHooks, &release.id, SwitchTarget::Step(0), t0()).await.unwrap_or_else(|e| panic!("{e}"));
    let mut open = store.release("r1").await.ok().flatten().unwrap_or_else(|| panic!("stored"));
    let route = RouteTarget::for_release(&open, Some(0)).unwrap_or_else(|| panic!("route"));
    apply(&store, &router, &route, 0, RouteStage::Rollback, now()).await.unwrap_or_else(|e| panic!("{e}"));
    open.canary_weight = 0;
    store.update_release(&mut open).await.unwrap_or_else(|e| panic!("{e}"));
    router.set_weight(&route, 10, None).await.ok();

    let out = roll_back_now(&store, &router).await;
    assert_eq!(out.release.status, ReleaseStatus::RolledBack);
    assert_eq!(router.weight(), 0, "the zombie's 10% is found and restored");
    // The trail explains every weight the router carried: the step's 0 → 10, the zombie's 0 → 10
    // (found by reading the router), then the rollback's 10 → 0.
    assert_eq!(weight_changes(&store).await, [(0, 10), (0, 10), (10, 0)]);
}

/// A router that cannot be reached.
struct DownRouter;

#[async_trait]
impl TrafficRouter for DownRouter {
    async fn set_weight(&self, _: &RouteTarget, _: u32, _: Option<&str>) -> Result<(), RouterError> {
        Err(RouterError::Unreachable { router: "down".into(), transient: true, message: "timed out".into() })
    }

    async fn read(&self, _: &RouteTarget) -> Result<RouterReading, RouterError> {
        Err(RouterError::Unreachable { router: "down".into(), transient: true, message: "timed out".into() })
    }
}

/// An operator's abort whose rollback failed, finished by the sweeper (or a retry) that knows
/// nothing of the abort: the release still ends `aborted`, with the operator's reason.
#[tokio::test]
async fn an_abort_whose_rollback_failed_ends_aborted_whoever_finishes_it() {
    let store = MemoryStore::new();
    admitted(&store, LAMBDA).await;
    let router = FakeRouter::default();
    switch(&store, &router, &crate::ports::NoHooks, "r1", SwitchTarget::Step(0), t0()).await.unwrap_or_else(|e| panic!("{e}"));
    let notifier = RecordingNotifier::default();
    let abort = roll_back(&store, &DownRouter, &notifier, "r1", "aborted by alice: bad config", RollbackEnd::Aborted, NO_WAIT, now).await;
    assert!(matches!(abort, Err(RollbackError::RestoreFailed { .. })), "{abort:?}");

    let swept = "the sweeper rolled it back: its rollback could not finish";
    let finished = roll_back(&store, &router, &notifier, "r1", swept, RollbackEnd::RolledBack, NO_WAIT, now).await;
    let release = finished.unwrap_or_else(|e| panic!("{e}")).release;
    assert_eq!(release.status, ReleaseStatus::Aborted);
    let reason = release.closed_reason.unwrap_or_default();
    assert!(reason.contains("aborted by alice: bad config") && reason.contains(swept), "{reason}");
    assert_eq!(router.weight(), 0, "traffic restored");
}
