//! The release store's contract, run against every adapter (DynamoDB on the endpoint, in-memory).

use chrono::{Duration, TimeZone, Utc};
use rollgate::ports::{ReleaseStore, StoreError};
use rollgate::release::{EventKind, Lease, Release, ReleaseEvent, ReleaseStatus};

fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 11, 14, 10, 0, 0).single().unwrap_or_default()
}

fn lease(holder: &str, minutes: i64) -> Lease {
    Lease {
        service: "checkout-api".into(),
        environment: "production".into(),
        holder: holder.into(),
        acquired_at: t0(),
        expires_at: t0() + Duration::minutes(minutes),
    }
}

pub async fn lock_is_exclusive_until_it_expires(store: &dyn ReleaseStore) {
    store.acquire_lock(&lease("rel-a", 30), t0()).await.unwrap_or_else(|e| panic!("first lock: {e}"));
    match store.acquire_lock(&lease("rel-b", 30), t0() + Duration::minutes(5)).await {
        Err(StoreError::LockHeld { holder, expires_at, .. }) => {
            assert_eq!(holder, "rel-a");
            assert_eq!(expires_at, t0() + Duration::minutes(30));
        }
        other => panic!("a second release must be refused while the first holds the lock, got {other:?}"),
    }
    let refusal = store.acquire_lock(&lease("rel-b", 30), t0()).await.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(refusal.contains("locked by release rel-a") && refusal.contains("rollgate abort rel-a"), "{refusal}");
    // The holder renews its own lease.
    store.acquire_lock(&lease("rel-a", 60), t0() + Duration::minutes(10)).await.unwrap_or_else(|e| panic!("renewal: {e}"));
    // Once expired, another release takes it over; the old holder can no longer release it.
    store.acquire_lock(&lease("rel-b", 30), t0() + Duration::minutes(61)).await.unwrap_or_else(|e| panic!("takeover: {e}"));
    assert_eq!(store.release_lock("checkout-api", "production", "rel-a").await.ok(), Some(false));
    assert_eq!(store.lock("checkout-api", "production").await.ok().flatten().map(|l| l.holder), Some("rel-b".into()));
    assert_eq!(store.release_lock("checkout-api", "production", "rel-b").await.ok(), Some(true));
    assert_eq!(store.lock("checkout-api", "production").await.ok().flatten(), None);
}

fn release(id: &str) -> Release {
    let plan = rollgate::domain::plan::parse_plan(
        "name: p\ntraffic:\n  router: { type: dry_run }\n  steps: [{ weight: 100, bake: 1m }]\n",
        rollgate::domain::plan::PlanFormat::Yaml,
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    Release {
        id: id.into(),
        service: "checkout-api".into(),
        environment: "production".into(),
        version: "42".into(),
        stable_version: Some("41".into()),
        author: None,
        requested_by: None,
        status: ReleaseStatus::Admitted,
        plan_hash: plan.content_hash(),
        plan,
        evidence: Default::default(),
        step: None,
        step_started_at: None,
        step_outcomes: Vec::new(),
        canary_weight: 0,
        created_at: t0(),
        updated_at: t0(),
        closed_reason: None,
        revision: 0,
    }
}

pub async fn releases_are_created_once_and_updated_optimistically(store: &dyn ReleaseStore) {
    let original = release("rel-1");
    store.create_release(&original).await.unwrap_or_else(|e| panic!("create: {e}"));
    assert!(matches!(store.create_release(&original).await, Err(StoreError::ReleaseExists(_))));
    let mut first = store.release("rel-1").await.ok().flatten().unwrap_or_else(|| panic!("stored release"));
    let mut second = first.clone();
    first.canary_weight = 10;
    store.update_release(&mut first).await.unwrap_or_else(|e| panic!("update: {e}"));
    assert_eq!(first.revision, 1);
    second.canary_weight = 25;
    assert!(
        matches!(store.update_release(&mut second).await, Err(StoreError::RevisionConflict { .. })),
        "a stale writer must not overwrite"
    );
    let stored = store.release("rel-1").await.ok().flatten().unwrap_or_else(|| panic!("stored release"));
    assert_eq!((stored.canary_weight, stored.revision), (10, 1));
    assert_eq!(store.release("nope").await.ok(), Some(None));
}

pub async fn events_are_appended_never_overwritten(store: &dyn ReleaseStore) {
    let event = |reason: &str| ReleaseEvent {
        release_id: "rel-2".into(),
        at: t0(),
        seq: 0,
        actor: "test".into(),
        kind: EventKind::Closed { status: ReleaseStatus::Aborted, reason: reason.into() },
    };
    let a = store.append_event(event("first")).await.unwrap_or_else(|e| panic!("append: {e}"));
    let b = store.append_event(event("second")).await.unwrap_or_else(|e| panic!("append: {e}"));
    let c = store.append_event(event("third")).await.unwrap_or_else(|e| panic!("append: {e}"));
    assert_eq!((a.seq, b.seq, c.seq), (0, 1, 2), "same-millisecond events get the next sequence number");
    let reasons: Vec<String> = store
        .events("rel-2")
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|e| match e.kind {
            EventKind::Closed { reason, .. } => reason,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(reasons, ["first", "second", "third"]);
}
