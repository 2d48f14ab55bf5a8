//! The release store against DynamoDB on the test endpoint, and the same contract in memory.

use std::sync::Arc;

use chrono::Utc;
use rollgate::adapters::memory::MemoryStore;
use rollgate::flow::admit::{self, AdmissionError};
use rollgate::ports::{ReleaseStore, StoreError};
use rollgate::release::{EventKind, ReleaseRequest, ReleaseStatus};
use rollgate_tests::{TestTable, contract, read_json, repo};

#[tokio::test]
async fn dynamodb_lock_is_exclusive_until_it_expires() {
    let table = TestTable::create().await;
    contract::lock_is_exclusive_until_it_expires(&table.store).await;
}

#[tokio::test]
async fn dynamodb_releases_are_created_once_and_updated_optimistically() {
    let table = TestTable::create().await;
    contract::releases_are_created_once_and_updated_optimistically(&table.store).await;
}

#[tokio::test]
async fn dynamodb_events_are_appended_never_overwritten() {
    let table = TestTable::create().await;
    contract::events_are_appended_never_overwritten(&table.store).await;
}

#[tokio::test]
async fn dynamodb_paired_writes_stand_or_fall_together() {
    let table = TestTable::create().await;
    contract::paired_writes_stand_or_fall_together(&table.store).await;
    contract::concurrent_appends_leave_no_gap(&table.store).await;
}

#[tokio::test]
async fn dynamodb_route_claims_are_fenced_by_the_lock() {
    let table = TestTable::create().await;
    contract::route_claims_are_fenced_by_the_lock(&table.store).await;
}

#[tokio::test]
async fn dynamodb_task_tokens_are_kept_apart_from_the_trail() {
    let table = TestTable::create().await;
    contract::task_tokens_are_kept_per_approval_and_step(&table.tokens).await;
    contract::policies_are_written_over_the_version_read(&table.store).await;
    assert!(table.store.events("r1").await.unwrap_or_default().is_empty(), "no token in the trail's table");
}

#[tokio::test]
async fn dynamodb_appends_form_a_hash_chain() {
    let table = TestTable::create().await;
    contract::appended_events_form_a_hash_chain(&table.store).await;
}

#[tokio::test]
async fn memory_store_keeps_the_same_contract() {
    contract::appended_events_form_a_hash_chain(&MemoryStore::new()).await;
    contract::task_tokens_are_kept_per_approval_and_step(&MemoryStore::new()).await;
    contract::policies_are_written_over_the_version_read(&MemoryStore::new()).await;
    contract::route_claims_are_fenced_by_the_lock(&MemoryStore::new()).await;
    contract::paired_writes_stand_or_fall_together(&MemoryStore::new()).await;
    contract::concurrent_appends_leave_no_gap(&MemoryStore::new()).await;
    contract::lock_is_exclusive_until_it_expires(&MemoryStore::new()).await;
    contract::releases_are_created_once_and_updated_optimistically(&MemoryStore::new()).await;
    contract::events_are_appended_never_overwritten(&MemoryStore::new()).await;
}

fn sample_request(release_id: &str) -> ReleaseRequest {
    let mut event = read_json(&repo().join("events/checklist-validator/pass.json"));
    event["release_id"] = release_id.into();
    serde_json::from_value(event).unwrap_or_else(|e| panic!("sample request: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_admissions_admit_exactly_one() {
    let table = TestTable::create().await;
    let store: Arc<dyn ReleaseStore> = Arc::new(table.store.clone());
    let attempts: Vec<_> = (0..16)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                admit::admit(store.as_ref(), &rollgate::ports::NoPolicies, sample_request(&format!("race-{i}")), Utc::now()).await
            })
        })
        .collect();
    let mut admitted = Vec::new();
    let mut refusals = Vec::new();
    for attempt in attempts {
        match attempt.await.unwrap_or_else(|e| panic!("task: {e}")) {
            Ok(a) => admitted.push(a.release.id),
            Err(AdmissionError::Store(StoreError::LockHeld { holder, .. })) => refusals.push(holder),
            Err(other) => panic!("expected only the lock refusal, got: {other}"),
        }
    }
    assert_eq!(admitted.len(), 1, "exactly one release holds the lock: {admitted:?}");
    assert_eq!(refusals.len(), 15);
    assert!(refusals.iter().all(|h| h == &admitted[0]), "every refusal names the holder {}: {refusals:?}", admitted[0]);
    let lock = store.lock("checkout-api", "production").await.ok().flatten().map(|l| l.holder);
    assert_eq!(lock.as_ref(), Some(&admitted[0]));
    // The refused ones left nothing behind.
    for i in 0..16 {
        let id = format!("race-{i}");
        let stored = store.release(&id).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stored.is_some(), id == admitted[0], "{id}");
    }
}

/// Step Functions times out a slow admission and retries it while the first attempt goes on
/// running: the attempts of one request race for the same release id. None of them may fail as
/// if another release held the id (a cold start on CI did, before the fix).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn attempts_of_one_admission_racing_each_other_admit_it_once() {
    let table = TestTable::create().await;
    let store: Arc<dyn ReleaseStore> = Arc::new(table.store.clone());
    let started = Utc::now();
    let attempts: Vec<_> = (0..6)
        .map(|i| {
            let store = Arc::clone(&store);
            // Each attempt runs at its own clock reading, as retries do.
            let now = started + chrono::Duration::milliseconds(i * 250);
            tokio::spawn(async move { admit::admit(store.as_ref(), &rollgate::ports::NoPolicies, sample_request("rel-twin"), now).await })
        })
        .collect();
    let mut admitted = 0;
    for attempt in attempts {
        match attempt.await.unwrap_or_else(|e| panic!("task: {e}")) {
            Ok(a) => {
                assert_eq!(a.release.id, "rel-twin");
                admitted += 1;
            }
            // Two attempts writing the release's next revision at once: the loser is retried.
            Err(AdmissionError::Store(err)) if err.is_transient() => {}
            Err(other) => panic!("an attempt of the same admission failed: {other}"),
        }
    }
    assert!(admitted >= 1, "at least one attempt admits the release");
    // The state machine's next retry finds the release admitted and judged.
    let retried = admit::admit(&table.store, &rollgate::ports::NoPolicies, sample_request("rel-twin"), Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(retried.release.status, ReleaseStatus::Progressing);
    let events = table.store.events("rel-twin").await.unwrap_or_else(|e| panic!("{e}"));
    let judged = events.iter().filter(|e| e.kind.name() == "checklist_judged").count();
    assert_eq!(judged, 1, "judged once: {:?}", events.iter().map(|e| e.kind.name()).collect::<Vec<_>>());
    let lock = table.store.lock("checkout-api", "production").await.ok().flatten().map(|l| l.holder);
    assert_eq!(lock.as_deref(), Some("rel-twin"));
}

#[tokio::test]
async fn admission_stores_the_verdict_with_its_explanation_and_is_idempotent() {
    let table = TestTable::create().await;
    let first = admit::admit(&table.store, &rollgate::ports::NoPolicies, sample_request("rel-idem"), Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.release.status, ReleaseStatus::Progressing);
    // A retried invocation (Step Functions Retry) continues instead of tripping on its own lock.
    let again = admit::admit(&table.store, &rollgate::ports::NoPolicies, sample_request("rel-idem"), Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.verdict, first.verdict);
    let events = table.store.events("rel-idem").await.unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.name()).collect();
    assert_eq!(kinds, ["admitted", "checklist_judged"], "judged once, recorded once");
    let Some(EventKind::ChecklistJudged(verdict)) = events.iter().map(|e| e.kind.clone()).nth(1) else { panic!("no verdict event") };
    let coverage = verdict.items.iter().find(|i| i.id == "coverage").unwrap_or_else(|| panic!("coverage line"));
    assert_eq!(coverage.rule, "new_code_coverage_pct ≥ 80%");
    assert_eq!(coverage.evidence, Some(serde_json::json!(86.4)));
}

#[tokio::test]
async fn an_admission_that_stopped_after_storing_the_release_is_completed_by_its_retry() {
    let table = TestTable::create().await;
    let first = admit::admit(&MemoryStore::new(), &rollgate::ports::NoPolicies, sample_request("rel-half"), Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The function died right after storing the release: no lock release, no admission event.
    let mut stored = first.release.clone();
    stored.status = ReleaseStatus::Admitted;
    stored.revision = 0;
    let lease = rollgate::flow::trail::lease(&stored, Utc::now());
    table.store.acquire_lock(&lease, Utc::now()).await.unwrap_or_else(|e| panic!("{e}"));
    table.store.create_release(&stored).await.unwrap_or_else(|e| panic!("{e}"));
    let retried = admit::admit(&table.store, &rollgate::ports::NoPolicies, sample_request("rel-half"), Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(retried.release.status, ReleaseStatus::Progressing);
    let events = table.store.events("rel-half").await.unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<(u64, &str)> = events.iter().map(|e| (e.seq, e.kind.name())).collect();
    assert_eq!(kinds, [(1, "admitted"), (2, "checklist_judged")], "the retry records the admission it missed, once");
    let lock = table.store.lock(&stored.service, &stored.environment).await.ok().flatten().map(|l| l.holder);
    assert_eq!(lock, Some("rel-half".to_string()), "the release holds its lock");
}

/// A trail begun before trails had their own partition (under `REL#<id>`, as older releases
/// stored it) reads whole, and appends go on from its counter under `TRAIL#<id>`: the sequence
/// has no gap and the hash chain holds across the two.
#[tokio::test]
async fn dynamodb_a_trail_begun_under_the_release_key_goes_on_in_its_own_partition() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use rollgate::release::{EventKind, ReleaseEvent};
    let table = TestTable::create().await;
    let notified = |name: &str| {
        ReleaseEvent::new("old", chrono::Utc::now(), "traffic-switch", EventKind::Notified { event: name.into(), via: Some("sns".into()) })
    };
    for name in ["started", "step_advanced"] {
        table.store.append_event(notified(name)).await.unwrap_or_else(|e| panic!("{e}"));
    }
    // Move the trail where older releases kept it.
    let client = aws_sdk_dynamodb::Client::new(&rollgate_tests::aws().await);
    let items = client
        .query()
        .table_name(table.store.table())
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("TRAIL#old".into()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(items.items().len(), 5, "the counter, two ids and two events are in the trail's own partition");
    for mut item in items.items().iter().cloned() {
        let sk = item.get("sk").cloned().unwrap_or_else(|| AttributeValue::S(String::new()));
        client
            .delete_item()
            .table_name(table.store.table())
            .key("pk", AttributeValue::S("TRAIL#old".into()))
            .key("sk", sk)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        item.insert("pk".into(), AttributeValue::S("REL#old".into()));
        client.put_item().table_name(table.store.table()).set_item(Some(item)).send().await.unwrap_or_else(|e| panic!("{e:?}"));
    }
    assert_eq!(table.store.events("old").await.unwrap_or_default().len(), 2, "the old trail reads from its old place");

    table.store.append_event(notified("promoted")).await.unwrap_or_else(|e| panic!("{e}"));
    let trail = table.store.events("old").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(trail.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(rollgate::release::chain::verify(&trail).is_ok(), "the chain holds across the two partitions");
}

/// A week of the `by-week` index larger than a page (DynamoDB returns at most 1 MB of items a
/// page) reaches the visitor whole, page after page, and nothing of the next week does.
#[tokio::test]
async fn dynamodb_a_week_larger_than_a_page_is_visited_whole() {
    use rollgate::ports::WeeklyEvents;
    use rollgate::release::ReleaseEvent;
    use rollgate::release::week::ReviewWeek;
    let table = TestTable::create().await;
    let week: ReviewWeek = "2026-W47".parse().unwrap_or_else(|e| panic!("{e}"));
    // Eight events of about 300 KB each (a rollback's error can be long), over three releases.
    let error = "x".repeat(300_000);
    let mut appended = Vec::new();
    for i in 0..8 {
        let kind = EventKind::RollbackFailed { reason: "restore".into(), error: error.clone(), aborted: false };
        let event = ReleaseEvent::new(&format!("r{}", i % 3), week.start() + chrono::Duration::hours(i), "rollback", kind);
        let stored = table.store.append_event(event).await.unwrap_or_else(|e| panic!("{e}"));
        appended.push((stored.release_id, stored.seq));
    }
    let next_week = ReleaseEvent::new("r0", week.end(), "rollback", EventKind::Notified { event: "rolled_back".into(), via: None });
    table.store.append_event(next_week).await.unwrap_or_else(|e| panic!("{e}"));

    let (mut visited, mut bytes) = (Vec::new(), 0);
    table
        .store
        .visit_events_in_week(week, &mut |e| {
            bytes += serde_json::to_string(&e).map_or(0, |body| body.len());
            visited.push((e.release_id, e.seq));
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(bytes > 2_000_000, "the week spans at least three pages: {bytes} bytes");
    visited.sort();
    appended.sort();
    assert_eq!(visited, appended);
    let collected = table.store.events_in_week(week).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(collected.len(), appended.len(), "collecting reads the same pages");
}
