//! An alarm in ALARM rolls back the open releases that watch it, and only those.

use chrono::Duration;
use serde_json::json;

use super::*;
use crate::adapters::memory::{MemoryRouter, MemoryStore, RecordingNotifier, RecordingWorkflow};
use crate::flow::admit::admit;
use crate::flow::testing::{self, t0};
use crate::flow::traffic::{SwitchTarget, switch};
use crate::release::ReleaseStatus;
use crate::release::route::RouteTarget;

/// `id` of `service` at 50% of two steps, watching `alarms`, run by execution `exec-<id>`.
async fn at_first_step(store: &MemoryStore, router: &MemoryRouter, id: &str, service: &str, alarms: &[&str]) {
    let mut plan = testing::alias_plan(service, 50);
    plan["rollback_alarms"] = json!(alarms);
    let mut request = testing::request(id, service, plan);
    request.execution = Some(format!("exec-{id}"));
    admit(store, &crate::ports::NoPolicies, request, t0()).await.unwrap_or_else(|e| panic!("{e}"));
    switch(store, router, &crate::ports::NoHooks, id, SwitchTarget::Step(0), t0()).await.unwrap_or_else(|e| panic!("{e}"));
}

fn alarm(state: AlarmState) -> AlarmReading {
    AlarmReading {
        name: "orders-5xx".into(),
        state,
        reason: Some("Threshold Crossed: 1 datapoint [9.0] was greater than 5.0".into()),
        since: Some(t0() + Duration::minutes(2)),
    }
}

fn later() -> DateTime<Utc> {
    t0() + Duration::minutes(3)
}

#[tokio::test]
async fn an_alarm_in_alarm_rolls_back_the_releases_watching_it_at_once_and_records_why() {
    let (store, notifier, workflow) = (MemoryStore::new(), RecordingNotifier::default(), RecordingWorkflow::default());
    let (orders, billing) = (MemoryRouter::default(), MemoryRouter::default());
    at_first_step(&store, &orders, "r1", "orders", &["orders-5xx", "orders-latency"]).await;
    at_first_step(&store, &billing, "r2", "billing", &["billing-5xx"]).await;

    let report =
        on_state_change(&store, &orders, &notifier, &workflow, &alarm(AlarmState::Alarm), later).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (report.examined, report.rolled_back.as_slice(), report.failed.as_slice()),
        (2, ["r1".to_string()].as_slice(), [].as_slice())
    );

    let r1 = store.release("r1").await.ok().flatten().unwrap_or_else(|| panic!("r1"));
    assert_eq!((r1.status, r1.canary_weight), (ReleaseStatus::RolledBack, 0));
    let route = RouteTarget::for_release(&r1, Some(0)).unwrap_or_else(|| panic!("a route"));
    assert_eq!(orders.current_weight(&route).await.ok(), Some(0), "traffic is back on the stable version");
    let closed = r1.closed_reason.unwrap_or_default();
    assert!(closed.contains("alarm `orders-5xx` went to ALARM at 2026-11-20 10:02:00 UTC (Threshold Crossed"), "{closed}");
    let trail = store.events("r1").await.unwrap_or_default();
    let raised = trail.iter().find(|e| matches!(&e.kind, EventKind::AlarmRaised(a) if *a == alarm(AlarmState::Alarm)));
    assert_eq!(raised.map(|e| e.actor.as_str()), Some(ACTOR), "the alarm, its reason and time are in the trail");
    let restored = trail.iter().find_map(|e| match &e.kind {
        EventKind::RolledBack(r) => Some(r.clone()),
        _ => None,
    });
    assert_eq!(
        restored.map(|r| (r.detected_at, r.time_to_restore_secs)),
        Some((t0() + Duration::minutes(2), 60)),
        "counted from the alarm"
    );
    assert_eq!(
        workflow.stopped().iter().map(|(e, error, _)| (e.as_str(), error.as_str())).collect::<Vec<_>>(),
        [("exec-r1", "RolledBack")]
    );

    let r2 = store.release("r2").await.ok().flatten().unwrap_or_else(|| panic!("r2"));
    assert_eq!((r2.status, r2.canary_weight), (ReleaseStatus::Progressing, 50), "a release not watching the alarm goes on");

    // EventBridge may deliver the change again: nothing more happens, nothing is recorded twice.
    let again =
        on_state_change(&store, &orders, &notifier, &workflow, &alarm(AlarmState::Alarm), later).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(again.rolled_back.is_empty() && again.failed.is_empty(), "{again:?}");
    assert_eq!(store.events("r1").await.unwrap_or_default().len(), trail.len());
}

#[tokio::test]
async fn an_alarm_back_to_ok_or_without_data_moves_nothing() {
    let (store, notifier, workflow, router) =
        (MemoryStore::new(), RecordingNotifier::default(), RecordingWorkflow::default(), MemoryRouter::default());
    at_first_step(&store, &router, "r1", "orders", &["orders-5xx"]).await;
    for state in [AlarmState::Ok, AlarmState::InsufficientData] {
        let report = on_state_change(&store, &router, &notifier, &workflow, &alarm(state), later).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((report.examined, report.rolled_back.len()), (0, 0));
    }
    let r1 = store.release("r1").await.ok().flatten().unwrap_or_else(|| panic!("r1"));
    assert_eq!((r1.status, r1.canary_weight), (ReleaseStatus::Progressing, 50));
    assert!(workflow.stopped().is_empty());
}
