//! traffic-switch and rollback-notifier against Lambda, ELBv2, DynamoDB, SNS and SQS on the
//! test endpoint.

use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rollgate::adapters::dynamodb::DynamoStore;
use rollgate::adapters::memory::RecordingNotifier;
use rollgate::adapters::routers::Routers;
use rollgate::adapters::sns::SnsNotifier;
use rollgate::flow::admit;
use rollgate::flow::rollback::RestorePolicy;
use rollgate::ports::{Fence, ReleaseStore, RouterError, StoreError, TrafficRouter};
use rollgate::release::route::{RouteState, RouteTarget};
use rollgate::release::{EventKind, Lease, Release, ReleaseEvent, ReleaseRequest, ReleaseStatus};
use rollgate_tests::{TestTable, aws, fixtures};
use serde_json::json;

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

async fn admit(store: &dyn ReleaseStore, service: &str, router: serde_json::Value, stable: &str, version: &str) -> String {
    let request: ReleaseRequest = serde_json::from_value(json!({
        "service": service, "environment": "production", "version": version, "stable_version": stable,
        "plan": {
            "name": format!("{service}-plan"),
            "traffic": { "router": router, "steps": [ { "weight": 10, "bake": "5m" }, { "weight": 50, "bake": "5m" }, { "weight": 100, "bake": "5m" } ] },
            "notifications": { "mention_on_failure": ["U0ONCALL"], "slack_channel": "#deployments" },
            "rollback": { "restore_within": "5m" }
        }
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    admit::admit(store, &rollgate::ports::NoPolicies, request, Utc::now()).await.unwrap_or_else(|e| panic!("{e}")).release.id
}

/// A SetWeight of step 1 claimed `id`'s route, then its router write failed: the release's
/// traffic may be on the router, and a rollback must restore it.
async fn claim_first_step(store: &dyn ReleaseStore, id: &str) {
    let release = store.release(id).await.ok().flatten().unwrap_or_else(|| panic!("{id} is stored"));
    let target = RouteTarget::for_release(&release, Some(0)).unwrap_or_else(|| panic!("a route"));
    let state = RouteState {
        key: rollgate::release::route::route_key(&target.router, &target.service, &target.environment),
        canary_weight: 10,
        stable_version: target.stable_version.clone(),
        canary_version: target.canary_version.clone(),
        release_id: release.id.clone(),
        version: 1,
        applied: false,
        updated_at: Utc::now(),
        stage: Some(rollgate::release::route::RouteStage::Step(0)),
    };
    let fence = Fence { service: &release.service, environment: &release.environment, holder: &release.id };
    store.claim_route(&state, None, fence).await.unwrap_or_else(|e| panic!("{e}"));
}

async fn switch(
    store: &dyn ReleaseStore,
    routers: &Routers,
    notifier: &RecordingNotifier,
    body: serde_json::Value,
) -> traffic_switch::SwitchOutput {
    traffic_switch::handler(body, store, routers, &rollgate::ports::NoHooks, notifier).await.unwrap_or_else(|e| panic!("{}: {e}", e.name()))
}

fn fast() -> RestorePolicy {
    RestorePolicy { attempts: 2, first_backoff: Duration::from_millis(10) }
}

#[tokio::test]
async fn lambda_alias_weights_move_step_by_step_and_promote() {
    let config = aws().await;
    let table = TestTable::create().await;
    let (routers, notifier) = (Routers::from_config(&config), RecordingNotifier::default());
    let function = unique("checkout");
    let (v1, v2) = fixtures::lambda_with_two_versions(&config, &function).await;
    let id = admit(&table.store, &function, json!({ "type": "lambda_alias", "function_name": function, "alias": "live" }), &v1, &v2).await;

    let first = switch(&table.store, &routers, &notifier, json!({ "release_id": id, "step": 0 })).await;
    assert_eq!((first.weight, first.changed, first.has_next_step), (10, true, true));
    assert_eq!(fixtures::alias_routing(&config, &function).await, (v1.clone(), vec![(v2.clone(), 0.1)]));

    let again = switch(&table.store, &routers, &notifier, json!({ "release_id": id, "step": 0 })).await;
    assert!(!again.changed, "setting the weight a step already has is a no-op");

    switch(&table.store, &routers, &notifier, json!({ "release_id": id, "step": 1 })).await;
    assert_eq!(fixtures::alias_routing(&config, &function).await, (v1.clone(), vec![(v2.clone(), 0.5)]));

    let promoted = switch(&table.store, &routers, &notifier, json!({ "release_id": id, "promote": true })).await;
    assert_eq!((promoted.weight, promoted.status.as_str()), (100, "promoted"));
    assert_eq!(fixtures::alias_routing(&config, &function).await, (v2.clone(), vec![]), "the new version is the alias target");
    assert_eq!(table.store.lock(&function, "production").await.ok().flatten(), None, "promotion releases the lock");

    let changes: Vec<(u32, u32)> = table
        .store
        .events(&id)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::WeightChanged(c) => Some((c.before, c.after)),
            _ => None,
        })
        .collect();
    assert_eq!(changes, [(0, 10), (10, 50), (50, 100)], "every change is in the audit trail with before and after");
    let published: Vec<&str> = notifier.published().iter().map(|n| n.event_name()).collect();
    // The no-op repeat announces nothing.
    assert_eq!(published, ["step_advanced", "step_advanced", "promoted"]);
}

#[tokio::test]
async fn rollback_restores_the_stable_version_and_notifies_over_sns() {
    let config = aws().await;
    let table = TestTable::create().await;
    let routers = Routers::from_config(&config);
    let function = unique("payments");
    let (v1, v2) = fixtures::lambda_with_two_versions(&config, &function).await;
    let name = unique("rollgate-events");
    let subscription = fixtures::topic_with_queue(&config, &name, &name).await;
    let sns = SnsNotifier::new(aws_sdk_sns::Client::new(&config), &subscription.topic_arn);
    let id = admit(&table.store, &function, json!({ "type": "lambda_alias", "function_name": function, "alias": "live" }), &v1, &v2).await;
    switch(&table.store, &routers, &RecordingNotifier::default(), json!({ "release_id": id, "step": 1 })).await;
    assert_eq!(fixtures::alias_routing(&config, &function).await.1, vec![(v2.clone(), 0.5)]);

    let request =
        json!({ "release_id": id, "reason": "critical: error_rate 7.2% meets the rollback condition > 5% over 10:05–10:10 (n=5)" });
    let out = rollback_notifier::handler(request.clone(), &table.store, &routers, &sns, fast())
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", e.name()));
    assert_eq!((out.status.as_str(), out.notified, out.within_target), ("rolled_back", true, Some(true)));
    assert_eq!(fixtures::alias_routing(&config, &function).await, (v1.clone(), vec![]), "100% on the stable version");
    assert_eq!(table.store.lock(&function, "production").await.ok().flatten(), None);
    let release = table.store.release(&id).await.ok().flatten().unwrap_or_else(|| panic!("release"));
    assert_eq!(release.status, ReleaseStatus::RolledBack);
    assert!(release.closed_reason.is_some_and(|r| r.contains("error_rate 7.2%")));
    let record = table.store.events(&id).await.unwrap_or_default().into_iter().find_map(|e| match e.kind {
        EventKind::RolledBack(r) => Some(r),
        _ => None,
    });
    assert!(record.is_some_and(|r| r.time_to_restore_secs >= 0 && r.weight_change.map(|c| (c.before, c.after)) == Some((50, 0))));

    let messages = fixtures::received(&config, &subscription.queue_url).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let envelope = &messages[0];
    let attribute = |name: &str| envelope["MessageAttributes"][name]["Value"].as_str().unwrap_or_default().to_string();
    assert_eq!(attribute("event"), "rolled_back");
    assert_eq!(attribute("severity"), "critical");
    assert_eq!(attribute("service"), function);
    assert_eq!(attribute("environment"), "production");
    let body: serde_json::Value =
        serde_json::from_str(envelope["Message"].as_str().unwrap_or_default()).unwrap_or_else(|e| panic!("body: {e}"));
    assert!(
        body["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("URGENT: deployment of") && s.contains(&format!("{v1} serves 100% of traffic"))),
        "{body}"
    );
    assert_eq!(body["canary_weight"], json!(0));
    assert_eq!(body["slack"]["channel"], json!("#deployments"));
    assert!(body["slack"]["blocks"].as_array().is_some_and(|b| b.len() >= 3));
    assert!(body["slack"]["blocks"].to_string().contains("<@U0ONCALL>"), "the on-call is mentioned");

    // A retried rollback (Step Functions Retry, or a late Catch) changes nothing.
    let again = rollback_notifier::handler(request, &table.store, &routers, &sns, fast()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((again.status.as_str(), again.notified), ("rolled_back", false));
}

#[tokio::test]
async fn alb_listener_weights_move_and_back() {
    let config = aws().await;
    let table = TestTable::create().await;
    let (routers, notifier) = (Routers::from_config(&config), RecordingNotifier::default());
    let alb = fixtures::alb_blue_green(&config, &unique("lb")).await;
    let router = json!({ "type": "alb", "listener_arn": alb.listener_arn, "stable_target_group_arn": alb.blue, "canary_target_group_arn": alb.green });
    let id = admit(&table.store, "greenlang-api", router, "1.2.2", "1.2.3").await;
    switch(&table.store, &routers, &notifier, json!({ "release_id": id, "step": 0 })).await;
    assert_eq!(fixtures::listener_weights(&config, &alb).await, (90, 10));
    switch(&table.store, &routers, &notifier, json!({ "release_id": id, "step": 1 })).await;
    assert_eq!(fixtures::listener_weights(&config, &alb).await, (50, 50));
    let out = rollback_notifier::handler(json!({ "release_id": id, "reason": "gate failed" }), &table.store, &routers, &notifier, fast())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status, "rolled_back");
    assert_eq!(fixtures::listener_weights(&config, &alb).await, (100, 0));
}

/// A store whose route reads are stale: right after rollgate reads the route, another writer
/// claims it: a second invocation of the same release (only the lock holder may claim a route).
struct RacingStore<'a> {
    inner: &'a DynamoStore,
    service: &'a str,
    holder: &'a str,
}

#[async_trait]
impl ReleaseStore for RacingStore<'_> {
    async fn acquire_lock(&self, lease: &Lease, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.inner.acquire_lock(lease, now).await
    }
    async fn release_lock(&self, service: &str, environment: &str, holder: &str) -> Result<bool, StoreError> {
        self.inner.release_lock(service, environment, holder).await
    }
    async fn lock(&self, service: &str, environment: &str) -> Result<Option<Lease>, StoreError> {
        self.inner.lock(service, environment).await
    }
    async fn create_release(&self, release: &Release) -> Result<(), StoreError> {
        self.inner.create_release(release).await
    }
    async fn update_release(&self, release: &mut Release) -> Result<(), StoreError> {
        self.inner.update_release(release).await
    }
    async fn locks(&self) -> Result<Vec<Lease>, StoreError> {
        self.inner.locks().await
    }
    async fn release(&self, id: &str) -> Result<Option<Release>, StoreError> {
        self.inner.release(id).await
    }
    async fn append(&self, events: Vec<ReleaseEvent>, release: Option<&mut Release>) -> Result<Vec<ReleaseEvent>, StoreError> {
        self.inner.append(events, release).await
    }
    async fn events(&self, release_id: &str) -> Result<Vec<ReleaseEvent>, StoreError> {
        self.inner.events(release_id).await
    }
    async fn route(&self, key: &str) -> Result<Option<RouteState>, StoreError> {
        let seen = self.inner.route(key).await?;
        let other = RouteState {
            key: key.to_string(),
            canary_weight: 30,
            stable_version: "other".into(),
            canary_version: "writer".into(),
            release_id: self.holder.into(),
            version: seen.as_ref().map_or(1, |s| s.version + 1),
            applied: true,
            updated_at: Utc::now(),
            stage: None,
        };
        let fence = Fence { service: self.service, environment: "production", holder: self.holder };
        self.inner.claim_route(&other, seen.as_ref().map(|s| s.version), fence).await?;
        Ok(seen)
    }
    async fn claim_route(&self, state: &RouteState, expected: Option<u64>, fence: Fence<'_>) -> Result<(), StoreError> {
        self.inner.claim_route(state, expected, fence).await
    }
}

#[tokio::test]
async fn a_stale_writer_gets_router_conflict_and_moves_nothing() {
    let config = aws().await;
    let table = TestTable::create().await;
    let (routers, notifier) = (Routers::from_config(&config), RecordingNotifier::default());
    let function = unique("ledger");
    let (v1, v2) = fixtures::lambda_with_two_versions(&config, &function).await;
    let id = admit(&table.store, &function, json!({ "type": "lambda_alias", "function_name": function, "alias": "live" }), &v1, &v2).await;
    let racing = RacingStore { inner: &table.store, service: &function, holder: &id };
    let result =
        traffic_switch::handler(json!({ "release_id": id, "step": 0 }), &racing, &routers, &rollgate::ports::NoHooks, &notifier).await;
    match result {
        Err(e) => assert_eq!(e.name(), "RouterConflict", "{e}"),
        Ok(out) => panic!("a stale writer must not move traffic: {out:?}"),
    }
    assert_eq!(fixtures::alias_routing(&config, &function).await, (v1, vec![]), "the router was not touched");
}

/// The router write is fenced at the alias itself: a write that names the revision read before
/// another write moves nothing (a process paused between its claim and its write, resumed after
/// the rollback). Every write makes a new revision, even one that changes no weight.
#[tokio::test]
async fn an_alias_write_after_another_writer_moved_it_moves_nothing() {
    let config = aws().await;
    let table = TestTable::create().await;
    let routers = Routers::from_config(&config);
    let function = unique("wallet");
    let (v1, v2) = fixtures::lambda_with_two_versions(&config, &function).await;
    let id = admit(&table.store, &function, json!({ "type": "lambda_alias", "function_name": function, "alias": "live" }), &v1, &v2).await;
    let release = table.store.release(&id).await.ok().flatten().unwrap_or_else(|| panic!("{id} is stored"));
    let target = RouteTarget::for_release(&release, Some(0)).unwrap_or_else(|| panic!("a route"));

    let paused = routers.read(&target).await.unwrap_or_else(|e| panic!("{e}"));
    let revision = paused.revision.clone().unwrap_or_else(|| panic!("a Lambda alias has a revision"));
    // Meanwhile the rollback writes 0%: the weight the alias already had.
    routers.set_weight(&target, 0, Some(&revision)).await.unwrap_or_else(|e| panic!("{e}"));
    let after = routers.read(&target).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(after.weight, 0);
    assert_ne!(after.revision.as_deref(), Some(revision.as_str()), "a write that changes no weight still makes a new revision");

    // The paused writer resumes with what it read.
    match routers.set_weight(&target, 10, Some(&revision)).await {
        Err(RouterError::Moved { expected, .. }) => assert_eq!(expected, revision),
        other => panic!("a write after another writer must be refused: {other:?}"),
    }
    assert_eq!(fixtures::alias_routing(&config, &function).await, (v1, vec![]), "the alias kept the rollback's weight");
}

#[tokio::test]
async fn a_failed_restore_keeps_the_release_open_and_locked_and_says_so() {
    let config = aws().await;
    let table = TestTable::create().await;
    let (routers, notifier) = (Routers::from_config(&config), RecordingNotifier::default());
    // The alias does not exist yet: restoring traffic fails the way an unreachable router does.
    let function = unique("search");
    let id = admit(&table.store, &function, json!({ "type": "lambda_alias", "function_name": function, "alias": "live" }), "1", "2").await;
    claim_first_step(&table.store, &id).await;
    let result =
        rollback_notifier::handler(json!({ "release_id": id, "reason": "gate failed" }), &table.store, &routers, &notifier, fast()).await;
    assert!(matches!(&result, Err(e) if e.name() == "RestoreFailed"), "{result:?}");
    let release = table.store.release(&id).await.ok().flatten().unwrap_or_else(|| panic!("release"));
    assert!(!release.status.is_final(), "not closed while traffic is not restored");
    assert_eq!(table.store.lock(&function, "production").await.ok().flatten().map(|l| l.holder), Some(id.clone()));
    let loud = notifier.published().into_iter().last().unwrap_or_else(|| panic!("a notification"));
    assert!(loud.summary.contains("FAILED; traffic is still split"), "{}", loud.summary);
    assert!(table.store.events(&id).await.unwrap_or_default().iter().any(|e| e.kind.name() == "rollback_failed"));

    // Once the router answers, the retry completes the rollback.
    fixtures::lambda_with_two_versions(&config, &function).await;
    let retried =
        rollback_notifier::handler(json!({ "release_id": id, "reason": "gate failed" }), &table.store, &routers, &notifier, fast())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(retried.status, "rolled_back");
    assert_eq!(table.store.lock(&function, "production").await.ok().flatten(), None);
}

#[tokio::test]
async fn the_sweeper_finishes_a_rollback_that_could_not_complete() {
    let config = aws().await;
    let table = TestTable::create().await;
    let (routers, notifier) = (Routers::from_config(&config), RecordingNotifier::default());
    // The alias does not exist yet: restoring traffic fails the way an unreachable router does.
    let function = unique("sweep");
    let id = admit(&table.store, &function, json!({ "type": "lambda_alias", "function_name": function, "alias": "live" }), "1", "2").await;
    claim_first_step(&table.store, &id).await;
    let result =
        rollback_notifier::handler(json!({ "release_id": id, "reason": "gate failed" }), &table.store, &routers, &notifier, fast()).await;
    assert!(matches!(&result, Err(e) if e.name() == "RestoreFailed"), "{result:?}");

    // The scheduled invocation, while the state machine may still retry: nothing to do yet.
    let early = rollback_notifier::invoke(
        json!({ "sweep": true }),
        &table.store,
        &routers,
        &notifier,
        &rollgate::adapters::memory::RecordingWorkflow::default(),
        fast(),
    )
    .await;
    assert!(matches!(&early, Ok(rollback_notifier::Output::Sweep(r)) if r.rolled_back.is_empty()), "{early:?}");
    // The router answers again; after the state machine's retries, the sweeper finishes it.
    fixtures::lambda_with_two_versions(&config, &function).await;
    let later = || Utc::now() + chrono::Duration::minutes(20);
    let report = rollgate::boundary::sweep(&table.store, &routers, &notifier, fast(), later).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.rolled_back.iter().map(|s| s.release_id.as_str()).collect::<Vec<_>>(), [id.as_str()], "{report:?}");
    let release = table.store.release(&id).await.ok().flatten().unwrap_or_else(|| panic!("release"));
    assert_eq!(release.status, ReleaseStatus::RolledBack);
    assert_eq!(table.store.lock(&function, "production").await.ok().flatten(), None, "the lock is released");
    let trail = table.store.events(&id).await.unwrap_or_default();
    let seqs: Vec<u64> = trail.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=trail.len() as u64).collect::<Vec<_>>(), "the trail is in sequence, without a gap");
    assert!(trail.iter().any(|e| matches!(&e.kind, EventKind::RolledBack(r) if r.reason.contains("the sweeper rolled it back"))));
}

#[tokio::test]
async fn a_failed_publish_does_not_undo_the_rollback() {
    let config = aws().await;
    let table = TestTable::create().await;
    let routers = Routers::from_config(&config);
    let notifier = RecordingNotifier::default();
    notifier.fail.store(true, Ordering::SeqCst);
    let id = admit(&table.store, "orders-api", json!({ "type": "dry_run" }), "7", "8").await;
    switch(&table.store, &routers, &notifier, json!({ "release_id": id, "step": 0 })).await;
    let out = rollback_notifier::handler(json!({ "release_id": id, "reason": "gate failed" }), &table.store, &routers, &notifier, fast())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((out.status.as_str(), out.notified), ("rolled_back", false));
    let kinds: Vec<&str> = table.store.events(&id).await.unwrap_or_default().iter().map(|e| e.kind.name()).collect();
    assert!(kinds.contains(&"notification_failed") && kinds.contains(&"rolled_back"), "{kinds:?}");
}

#[tokio::test]
async fn the_sample_events_drive_a_release_from_first_step_to_rollback() {
    let config = aws().await;
    let table = TestTable::create().await;
    let (routers, notifier) = (Routers::from_config(&config), RecordingNotifier::default());
    let event = |path: &str| rollgate_tests::read_json(&rollgate_tests::repo().join("events").join(path));
    let id = event("traffic-switch/first-step.json")["release_id"].as_str().unwrap_or_default().to_string();
    let request: ReleaseRequest = serde_json::from_value(json!({
        "release_id": id, "service": "checkout-api", "environment": "production", "version": "42", "stable_version": "41",
        "plan": { "name": "p", "traffic": { "router": { "type": "dry_run" }, "steps": [ { "weight": 10, "bake": "5m" }, { "weight": 50, "bake": "5m" } ] } }
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    admit::admit(&table.store, &rollgate::ports::NoPolicies, request, Utc::now()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(switch(&table.store, &routers, &notifier, event("traffic-switch/first-step.json")).await.weight, 10);
    assert_eq!(switch(&table.store, &routers, &notifier, event("traffic-switch/next-step.json")).await.weight, 50);
    let out = rollback_notifier::handler(event("rollback-notifier/caught-error.json"), &table.store, &routers, &notifier, fast())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status, "rolled_back");
    assert!(out.reason.contains("a step failed with RouterFailed: lambda alias checkout-api:live is unreachable"), "{}", out.reason);
    // The other samples parse as requests of their functions.
    let promote =
        traffic_switch::handler(event("traffic-switch/promote.json"), &table.store, &routers, &rollgate::ports::NoHooks, &notifier).await;
    assert!(matches!(&promote, Err(e) if e.name() == "ReleaseClosed"), "{promote:?}");
    let again = rollback_notifier::handler(event("rollback-notifier/gate-failed.json"), &table.store, &routers, &notifier, fast()).await;
    assert!(matches!(&again, Ok(o) if o.status == "rolled_back"), "{again:?}");
}
