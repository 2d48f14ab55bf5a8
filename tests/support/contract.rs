//! The release store's contract, run against every adapter (DynamoDB on the endpoint, in-memory).

use chrono::{Duration, TimeZone, Utc};
use rollgate::ports::{Fence, ReleaseStore, StoreError};
use rollgate::release::route::RouteState;
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
        last_check: None,
        execution: None,
        paused: None,
        paused_secs: 0,
        asked: None,
        revision: 0,
    }
}

pub async fn releases_are_created_once_and_updated_optimistically(store: &dyn ReleaseStore) {
    let original = release("rel-1");
    // Created only while it holds its service's lock: a stopped admission that goes on after
    // its lock was given back stores nothing.
    assert!(matches!(store.create_release(&original).await, Err(StoreError::LockLost { .. })), "created without its lock");
    assert_eq!(store.release("rel-1").await.ok(), Some(None));
    store.acquire_lock(&lease("rel-other", 30), t0()).await.unwrap_or_else(|e| panic!("lock: {e}"));
    assert!(matches!(store.create_release(&original).await, Err(StoreError::LockLost { .. })), "created under another's lock");
    store.release_lock("checkout-api", "production", "rel-other").await.unwrap_or_else(|e| panic!("unlock: {e}"));
    store.acquire_lock(&lease("rel-1", 30), t0()).await.unwrap_or_else(|e| panic!("lock: {e}"));
    store.create_release(&original).await.unwrap_or_else(|e| panic!("create: {e}"));
    // The same release again is a retried write (its first answer was lost): done, once.
    store.create_release(&original).await.unwrap_or_else(|e| panic!("a retried create: {e}"));
    // Another release under the same id is refused.
    let other = Release { version: "43".into(), ..original.clone() };
    assert!(matches!(store.create_release(&other).await, Err(StoreError::ReleaseExists(_))));
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
    // An open release keeps its lock (checked in the same write): a stopped process that found
    // no release and went on after a retry stored it must not strand it without its lock.
    assert_eq!(store.release_lock("checkout-api", "production", "rel-1").await.ok(), Some(false), "an open release's lock");
    assert_eq!(store.lock("checkout-api", "production").await.ok().flatten().map(|l| l.holder).as_deref(), Some("rel-1"));
    let mut closed = stored;
    closed.status = ReleaseStatus::RolledBack;
    store.update_release(&mut closed).await.unwrap_or_else(|e| panic!("close: {e}"));
    assert_eq!(store.release_lock("checkout-api", "production", "rel-1").await.ok(), Some(true), "a closed release's lock goes back");
}

pub async fn events_are_appended_never_overwritten(store: &dyn ReleaseStore) {
    let event = |reason: &str, at| {
        ReleaseEvent::new("rel-2", at, "test", EventKind::Closed { status: ReleaseStatus::Aborted, reason: reason.into() })
    };
    let a = store.append_event(event("first", t0())).await.unwrap_or_else(|e| panic!("append: {e}"));
    let b = store.append_event(event("second", t0())).await.unwrap_or_else(|e| panic!("append: {e}"));
    // A writer whose clock is behind still goes after what is already there.
    let c = store.append_event(event("third", t0() - Duration::minutes(1))).await.unwrap_or_else(|e| panic!("append: {e}"));
    assert_eq!((a.seq, b.seq, c.seq), (1, 2, 3), "events are numbered 1, 2, 3 in the order they were written");
    // The same event again (a retry after a lost answer) is stored once.
    let again = store.append_event(b.clone()).await.unwrap_or_else(|e| panic!("retry: {e}"));
    assert_eq!(again.seq, 2);
    let reasons = |events: Vec<ReleaseEvent>| -> Vec<(u64, String)> {
        events
            .into_iter()
            .map(|e| match e.kind {
                EventKind::Closed { reason, .. } => (e.seq, reason),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    };
    let trail = reasons(store.events("rel-2").await.unwrap_or_default());
    assert_eq!(trail, [(1, "first".to_string()), (2, "second".to_string()), (3, "third".to_string())]);
}

/// Events and the release they change are one write: at a stale revision nothing is stored.
pub async fn paired_writes_stand_or_fall_together(store: &dyn ReleaseStore) {
    let mut stored = release("rel-3");
    store.acquire_lock(&lease("rel-3", 30), t0()).await.unwrap_or_else(|e| panic!("lock: {e}"));
    store.create_release(&stored).await.unwrap_or_else(|e| panic!("create: {e}"));
    store.release_lock("checkout-api", "production", "rel-3").await.unwrap_or_else(|e| panic!("unlock: {e}"));
    let event = |reason: &str| {
        ReleaseEvent::new("rel-3", t0(), "test", EventKind::Closed { status: ReleaseStatus::Aborted, reason: reason.into() })
    };
    stored.canary_weight = 10;
    let written = store.append(vec![event("a"), event("b")], Some(&mut stored)).await.unwrap_or_else(|e| panic!("append: {e}"));
    assert_eq!(written.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(stored.revision, 1);
    let mut stale = stored.clone();
    stale.revision = 0;
    stale.canary_weight = 50;
    match store.append(vec![event("c")], Some(&mut stale)).await {
        Err(StoreError::RevisionConflict { expected, .. }) => assert_eq!(expected, 0),
        other => panic!("a stale release must refuse the whole write, got {other:?}"),
    }
    assert_eq!(store.events("rel-3").await.unwrap_or_default().len(), 2, "no event of the refused write");
    assert_eq!(store.release("rel-3").await.ok().flatten().map(|r| (r.canary_weight, r.revision)), Some((10, 1)));
}

/// Writers appending at once get every number once: no gap, no duplicate.
pub async fn concurrent_appends_leave_no_gap(store: &dyn ReleaseStore) {
    let write = |i: u32| {
        store.append_event(ReleaseEvent::new(
            "rel-4",
            t0(),
            "test",
            EventKind::Closed { status: ReleaseStatus::Aborted, reason: format!("{i}") },
        ))
    };
    let results = tokio::join!(write(0), write(1), write(2), write(3), write(4), write(5), write(6), write(7));
    for result in [results.0, results.1, results.2, results.3, results.4, results.5, results.6, results.7] {
        result.unwrap_or_else(|e| panic!("append: {e}"));
    }
    let seqs: Vec<u64> = store.events("rel-4").await.unwrap_or_default().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=8).collect::<Vec<u64>>());
}

fn route(holder: &str, version: u64, weight: u32) -> RouteState {
    RouteState {
        key: "dry_run:checkout-api#production".into(),
        canary_weight: weight,
        stable_version: "41".into(),
        canary_version: "42".into(),
        release_id: holder.into(),
        version,
        applied: false,
        updated_at: t0(),
        stage: None,
    }
}

fn fence(holder: &str) -> Fence<'_> {
    Fence { service: "checkout-api", environment: "production", holder }
}

/// A route is claimed only at its stored version and only by the release holding the lock,
/// both checked in one write: a release whose lock was taken over moves nothing.
pub async fn route_claims_are_fenced_by_the_lock(store: &dyn ReleaseStore) {
    let key = route("rel-a", 1, 10).key;
    match store.claim_route(&route("rel-a", 1, 10), None, fence("rel-a")).await {
        Err(StoreError::LockLost { release_id, .. }) => assert_eq!(release_id, "rel-a"),
        other => panic!("a claim without the lock must be refused with LockLost, got {other:?}"),
    }
    assert_eq!(store.route(&key).await.ok().flatten(), None, "nothing was written");
    store.acquire_lock(&lease("rel-a", 30), t0()).await.unwrap_or_else(|e| panic!("lock: {e}"));
    store.claim_route(&route("rel-a", 1, 10), None, fence("rel-a")).await.unwrap_or_else(|e| panic!("first claim: {e}"));
    match store.claim_route(&route("rel-a", 2, 20), Some(7), fence("rel-a")).await {
        Err(StoreError::RouterConflict { expected, .. }) => assert_eq!(expected, Some(7)),
        other => panic!("a stale version must be refused with RouterConflict, got {other:?}"),
    }
    store.claim_route(&route("rel-a", 2, 20), Some(1), fence("rel-a")).await.unwrap_or_else(|e| panic!("second claim: {e}"));
    // rel-a's lease expires and rel-b takes the service over: rel-a's claims are refused.
    store.acquire_lock(&lease("rel-b", 90), t0() + Duration::minutes(31)).await.unwrap_or_else(|e| panic!("takeover: {e}"));
    match store.claim_route(&route("rel-a", 3, 0), Some(2), fence("rel-a")).await {
        Err(StoreError::LockLost { .. }) => {}
        other => panic!("the old holder's claim must be refused with LockLost, got {other:?}"),
    }
    assert_eq!(store.route(&key).await.ok().flatten().map(|r| (r.version, r.canary_weight)), Some((2, 20)), "unchanged");
    store.claim_route(&route("rel-b", 3, 5), Some(2), fence("rel-b")).await.unwrap_or_else(|e| panic!("new holder: {e}"));
    // The sweeper reads every lock held.
    let held: Vec<String> = store.locks().await.unwrap_or_else(|e| panic!("locks: {e}")).into_iter().map(|l| l.holder).collect();
    assert_eq!(held, ["rel-b"]);
}

/// Task tokens are kept per release, approval and step; a key never kept has none, and keeping
/// one again (a retried request) keeps the newest.
pub async fn task_tokens_are_kept_per_approval_and_step(tokens: &dyn rollgate::ports::TaskTokens) {
    use rollgate::ports::TokenKey;
    let key = |approval, step| TokenKey { release_id: "r1", approval, step };
    let until = t0() + Duration::hours(1);
    tokens.keep_token(key("go", 0), "token-a", until).await.unwrap_or_else(|e| panic!("{e}"));
    tokens.keep_token(key("go", 1), "token-b", until).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tokens.token(key("go", 0)).await.ok().flatten().as_deref(), Some("token-a"));
    assert_eq!(tokens.token(key("go", 1)).await.ok().flatten().as_deref(), Some("token-b"));
    assert_eq!(tokens.token(key("other", 0)).await.ok().flatten(), None);
    assert_eq!(tokens.token(TokenKey { release_id: "r2", approval: "go", step: 0 }).await.ok().flatten(), None);
    tokens.keep_token(key("go", 0), "token-c", until).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tokens.token(key("go", 0)).await.ok().flatten().as_deref(), Some("token-c"));
}

/// Every append links its events into the release's hash chain: the trail verifies, and a
/// changed event no longer does.
pub async fn appended_events_form_a_hash_chain(store: &dyn ReleaseStore) {
    let kinds = |names: &[&str]| -> Vec<ReleaseEvent> {
        names.iter().map(|n| ReleaseEvent::new("chained", t0(), "test", EventKind::Notified { event: (*n).into(), via: None })).collect()
    };
    store.append(kinds(&["a"]), None).await.unwrap_or_else(|e| panic!("{e}"));
    store.append(kinds(&["b", "c"]), None).await.unwrap_or_else(|e| panic!("{e}"));
    store.append(kinds(&["d"]), None).await.unwrap_or_else(|e| panic!("{e}"));
    let trail = store.events("chained").await.unwrap_or_else(|e| panic!("{e}"));
    let verified = rollgate::release::chain::verify(&trail).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((verified.events, verified.unchained), (4, 0));
    let mut changed = trail.clone();
    changed[1].actor = "someone else".into();
    assert_eq!(rollgate::release::chain::verify(&changed).map_err(|b| b.seq), Err(2));
}

/// A policy is written once per service and environment, then only over the version read
/// (two platform engineers saving at once: the second is told, nothing is lost), and read back
/// as written.
pub async fn policies_are_written_over_the_version_read(policies: &dyn rollgate::ports::PolicyStore) {
    use rollgate::ports::StoredPolicy;
    let policy: rollgate::domain::policy::Policy =
        rollgate::domain::yaml::from_str("service: checkout\nenvironment: production\nrollback_alarms: [checkout-5xx]\n")
            .unwrap_or_else(|e| panic!("{e}"));
    let stored = |version: u64, by: &str| StoredPolicy { policy: policy.clone(), version, updated_by: by.into(), updated_at: t0() };
    assert_eq!(policies.policy("checkout", "production").await.ok().flatten(), None);
    policies.put_policy(&stored(1, "arn:aws:iam::1:user/ana"), None).await.unwrap_or_else(|e| panic!("{e}"));
    let twice = policies.put_policy(&stored(1, "arn:aws:iam::1:user/ben"), None).await;
    assert!(matches!(twice, Err(StoreError::PolicyConflict { expected: None, .. })), "{twice:?}");
    policies.put_policy(&stored(2, "arn:aws:iam::1:user/ben"), Some(1)).await.unwrap_or_else(|e| panic!("{e}"));
    let stale = policies.put_policy(&stored(2, "arn:aws:iam::1:user/ana"), Some(1)).await;
    assert!(matches!(stale, Err(StoreError::PolicyConflict { expected: Some(1), .. })), "{stale:?}");
    assert_eq!(policies.policy("checkout", "production").await.ok().flatten(), Some(stored(2, "arn:aws:iam::1:user/ben")));
    assert_eq!(policies.policy("checkout", "staging").await.ok().flatten(), None);
}
