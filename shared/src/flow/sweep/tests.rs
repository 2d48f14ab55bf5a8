//! The sweeper finishes failed rollbacks and stopped executions, frees stale locks, and leaves
//! releases that are still being driven alone.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::adapters::memory::{MemoryStore, RecordingNotifier};
use crate::flow::admit::admit;
use crate::flow::traffic::{SwitchTarget, switch};
use crate::ports::{RouterError, RouterReading};
use crate::release::route::RouteTarget;
use crate::release::{ReleaseRequest, ReleaseStatus};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).single().unwrap_or_default()
}

const NO_WAIT: RestorePolicy = RestorePolicy { attempts: 1, first_backoff: std::time::Duration::ZERO };

/// A router that keeps its weight and can be made unreachable.
#[derive(Default)]
struct Router {
    weight: Mutex<u32>,
    down: AtomicBool,
}

#[async_trait]
impl TrafficRouter for Router {
    async fn set_weight(&self, _: &RouteTarget, weight: u32, _: Option<&str>) -> Result<(), RouterError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(RouterError::Unreachable { router: "alias".into(), transient: true, message: "connection refused".into() });
        }
        *self.weight.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = weight;
        Ok(())
    }

    async fn read(&self, _: &RouteTarget) -> Result<RouterReading, RouterError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(RouterError::Unreachable { router: "alias".into(), transient: true, message: "connection refused".into() });
        }
        Ok(RouterReading { weight: *self.weight.lock().unwrap_or_else(std::sync::PoisonError::into_inner), revision: None })
    }
}

impl Router {
    fn weight(&self) -> u32 {
        *self.weight.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Release `id` of `service`, admitted at t0 and shifted to its first step (10%).
async fn shifted(store: &MemoryStore, router: &Router, id: &str, service: &str) {
    let request = ReleaseRequest {
        release_id: Some(id.into()),
        service: service.into(),
        environment: "prod".into(),
        version: "2".into(),
        stable_version: Some("1".into()),
        author: None,
        requested_by: None,
        plan: json!({"name": "p", "traffic": {
            "router": {"type": "lambda_alias", "function_name": service, "alias": "live"},
            "steps": [{"weight": 10, "bake": "5m"}, {"weight": 100, "bake": "5m"}]}}),
        evidence: Default::default(),
        overrides: vec![],
        execution: None,
    };
    admit(store, &crate::ports::NoPolicies, request, t0()).await.unwrap_or_else(|e| panic!("{e}"));
    switch(store, router, &crate::ports::NoHooks, id, SwitchTarget::Step(0), t0()).await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn a_rollback_that_could_not_finish_is_finished_once_the_router_answers() {
    let (store, router, notifier) = (MemoryStore::new(), Router::default(), RecordingNotifier::default());
    shifted(&store, &router, "r1", "orders").await;
    router.down.store(true, Ordering::SeqCst);
    let failed =
        roll_back(&store, &router, &notifier, "r1", "error rate 8% above 1%", crate::flow::rollback::RollbackEnd::RolledBack, NO_WAIT, t0)
            .await;
    assert!(matches!(failed, Err(RollbackError::RestoreFailed { .. })), "{failed:?}");
    assert_eq!(router.weight(), 10, "traffic still split");

    // While the state machine may still be retrying, the sweeper leaves it alone.
    let early = sweep(&store, &router, &notifier, NO_WAIT, || t0() + Duration::minutes(5)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(early.acted(), 0, "{early:?}");
    // Later, with the router still down: tried, reported, left open and locked.
    let later = || t0() + Duration::minutes(20);
    let still = sweep(&store, &router, &notifier, NO_WAIT, later).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((still.rolled_back.len(), still.failed.len()), (0, 1), "{still:?}");
    assert_eq!(store.lock("orders", "prod").await.ok().flatten().map(|l| l.holder), Some("r1".into()), "the lock stays held");

    router.down.store(false, Ordering::SeqCst);
    let done = sweep(&store, &router, &notifier, NO_WAIT, || t0() + Duration::minutes(40)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.rolled_back.len(), 1, "{done:?}");
    assert!(done.rolled_back[0].why.contains("rollback could not finish"), "{done:?}");
    assert_eq!(router.weight(), 0, "traffic restored to the stable version");
    let release = store.release("r1").await.ok().flatten().unwrap_or_else(|| panic!("r1"));
    assert_eq!(release.status, ReleaseStatus::RolledBack);
    assert!(release.closed_reason.as_deref().is_some_and(|r| r.contains("the sweeper rolled it back")), "{:?}", release.closed_reason);
    assert_eq!(store.lock("orders", "prod").await.ok().flatten(), None, "the lock is released");
    let trail = store.events("r1").await.unwrap_or_default();
    assert!(trail.iter().any(|e| e.actor == crate::flow::rollback::ACTOR && matches!(e.kind, EventKind::RolledBack(_))));
    let seqs: Vec<u64> = trail.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=trail.len() as u64).collect::<Vec<_>>(), "the trail stays in sequence");
    // A second sweep finds nothing more to do.
    let again = sweep(&store, &router, &notifier, NO_WAIT, || t0() + Duration::minutes(45)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((again.examined, again.acted()), (0, 0), "{again:?}");
}

#[tokio::test]
async fn a_stopped_execution_is_rolled_back_once_its_lock_expires_and_a_running_one_is_left_alone() {
    let (store, router, notifier) = (MemoryStore::new(), Router::default(), RecordingNotifier::default());
    shifted(&store, &router, "stopped", "orders").await;
    shifted(&store, &router, "running", "billing").await;
    let lease = store.lock("orders", "prod").await.ok().flatten().unwrap_or_else(|| panic!("lock"));
    // `running` keeps renewing its lock; `stopped` never touches it again.
    let after = lease.expires_at + Duration::minutes(1);
    let running = store.release("running").await.ok().flatten().unwrap_or_else(|| panic!("running"));
    crate::flow::trail::renew_lock(&store, &running, after).await.unwrap_or_else(|e| panic!("{e}"));

    let report = sweep(&store, &router, &notifier, NO_WAIT, || after).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.examined, 2);
    let swept: Vec<&str> = report.rolled_back.iter().map(|s| s.release_id.as_str()).collect();
    assert_eq!(swept, ["stopped"], "{report:?}");
    assert!(report.rolled_back[0].why.contains("lock expired"), "{report:?}");
    assert_eq!(store.release("stopped").await.ok().flatten().map(|r| r.status), Some(ReleaseStatus::RolledBack));
    assert_eq!(store.release("running").await.ok().flatten().map(|r| r.status), Some(ReleaseStatus::Progressing));
}

#[tokio::test]
async fn a_lock_left_by_an_ended_release_is_given_back() {
    let (store, router, notifier) = (MemoryStore::new(), Router::default(), RecordingNotifier::default());
    shifted(&store, &router, "r1", "orders").await;
    let mut release = store.release("r1").await.ok().flatten().unwrap_or_else(|| panic!("r1"));
    // Closed, but the lock release was lost (the function died right after the close).
    release.status = ReleaseStatus::Promoted;
    store.update_release(&mut release).await.unwrap_or_else(|e| panic!("{e}"));
    let report = sweep(&store, &router, &notifier, NO_WAIT, t0).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.freed.len(), 1, "{report:?}");
    assert_eq!(store.lock("orders", "prod").await.ok().flatten(), None);
    assert_eq!(router.weight(), 10, "traffic is not touched");
}
