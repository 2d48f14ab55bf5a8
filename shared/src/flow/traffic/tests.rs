//! A release's route claims only move forward: a late invocation of an earlier step moves nothing.

use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::adapters::memory::{MemoryRouter, MemoryStore};
use crate::flow::admit::admit;
use crate::release::ReleaseRequest;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).single().unwrap_or_default()
}

async fn admitted(store: &MemoryStore) -> Release {
    let request = ReleaseRequest {
        release_id: Some("r1".into()),
        service: "orders".into(),
        environment: "prod".into(),
        version: "2".into(),
        stable_version: Some("1".into()),
        author: None,
        requested_by: None,
        plan: json!({"name": "p", "traffic": {
            "router": {"type": "lambda_alias", "function_name": "orders", "alias": "live"},
            "steps": [{"weight": 50, "bake": "5m"}, {"weight": 100, "bake": "5m"}]}}),
        evidence: Default::default(),
        overrides: vec![],
    };
    admit(store, request, t0()).await.unwrap_or_else(|e| panic!("{e}")).release
}

/// Found by the fault matrix (SetWeight held past its Task timeout): the late first attempt of
/// step 1 ran while the promotion was under way and set 50% after the promotion's 100%.
#[tokio::test]
async fn a_late_step_never_undoes_a_later_claim_of_its_release() {
    let (store, router) = (MemoryStore::new(), MemoryRouter::default());
    let release = admitted(&store).await;
    switch(&store, &router, "r1", SwitchTarget::Step(0), t0()).await.unwrap_or_else(|e| panic!("{e}"));
    // The promotion has claimed and set 100%, and not closed the release yet.
    let route = RouteTarget::for_release(&release, Some(0)).unwrap_or_else(|| panic!("a route"));
    apply(&store, &router, &route, 100, RouteStage::Promote, t0()).await.unwrap_or_else(|e| panic!("{e}"));

    let late = switch(&store, &router, "r1", SwitchTarget::Step(0), t0()).await;
    assert!(matches!(&late, Err(SwitchError::Superseded { claimed: RouteStage::Promote, wanted: RouteStage::Step(0), .. })), "{late:?}");
    assert_eq!(router.current_weight(&route).await.ok(), Some(100), "the router keeps the promotion's weight");
    // A retried promotion and a rollback still may.
    apply(&store, &router, &route, 100, RouteStage::Promote, t0()).await.unwrap_or_else(|e| panic!("{e}"));
    apply(&store, &router, &route, 0, RouteStage::Rollback, t0()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(router.current_weight(&route).await.ok(), Some(0));
}
