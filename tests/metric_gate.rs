//! The metric-gate handler against DynamoDB and CloudWatch on the test endpoint.

use chrono::{Duration, DurationRound, Utc};
use metric_gate::handler;
use rollgate::adapters::cloudwatch::CloudWatchSource;
use rollgate::boundary::{ErrorName, TaskError};
use rollgate::domain::decision::Action;
use rollgate::domain::gate::GateOutcome;
use rollgate::flow::admit;
use rollgate::ports::ReleaseStore;
use rollgate::release::{EventKind, ReleaseRequest};
use rollgate_tests::{TestTable, aws, fixtures, read_json, repo};

async fn put_latency(config: &aws_config::SdkConfig, namespace: &str, version: &str, value: f64) {
    fixtures::put_latency(config, namespace, &[("Version", version), ("Run", namespace)], Utc::now(), |i| value + (i % 3) as f64).await;
}

/// Admits a release whose plan reads `namespace`, and puts it 20 minutes into its first step.
async fn release_at_first_step(store: &dyn ReleaseStore, service: &str, namespace: &str) -> String {
    release_with_id_at_first_step(store, None, service, namespace).await
}

async fn release_with_id_at_first_step(store: &dyn ReleaseStore, release_id: Option<&str>, service: &str, namespace: &str) -> String {
    let plan = serde_json::json!({
        "name": format!("{service}-canary"),
        "traffic": { "router": { "type": "dry_run" }, "steps": [ { "weight": 10, "bake": "15m" }, { "weight": 100, "bake": "15m" } ] },
        "analysis": {
            "interval": "5m", "window": "15m", "min_samples": 5, "max_inconclusive": 2,
            "metrics": [ {
                "name": "latency", "unit": "ms",
                "query": {
                    "metric": { "namespace": namespace, "name": "Latency", "stat": "Average", "dimensions": { "Run": namespace } },
                    "canary": { "Version": "{version}" },
                    "baseline": { "Version": "{stable_version}" }
                },
                "must": { "below": 200 },
                "baseline": { "max_increase": 10 }
            } ]
        }
    });
    let request: ReleaseRequest = serde_json::from_value(serde_json::json!({
        "release_id": release_id, "service": service, "environment": "production", "version": "42", "stable_version": "41", "plan": plan
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    let admitted = admit::admit(store, &rollgate::ports::NoPolicies, request, Utc::now()).await.unwrap_or_else(|e| panic!("{e}"));
    let mut release = admitted.release;
    // What the traffic switch records when it sets the first step's weight.
    release.step = Some(0);
    release.step_started_at = Some(Utc::now().duration_trunc(Duration::seconds(1)).unwrap_or_else(|_| Utc::now()) - Duration::minutes(20));
    release.canary_weight = 10;
    store.update_release(&mut release).await.unwrap_or_else(|e| panic!("{e}"));
    release.id
}

#[tokio::test]
async fn healthy_canary_advances_and_the_check_is_recorded() {
    let table = TestTable::create().await;
    let config = aws().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
    let namespace = format!("RollgateTest/{}", uuid::Uuid::new_v4().simple());
    put_latency(&config, &namespace, "42", 101.0).await;
    put_latency(&config, &namespace, "41", 100.0).await;
    // The sample event in events/metric-gate/ names the release it checks.
    let event = read_json(&repo().join("events/metric-gate/check.json"));
    let id = release_with_id_at_first_step(&table.store, event["release_id"].as_str(), "checkout-api", &namespace).await;

    let out = handler(event, &table.store, &table.store, &CloudWatchSource::new(cloudwatch), &rollgate::ports::NoHooks)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", e.name()));
    assert_eq!((out.action, out.next_step, out.outcome), (Action::Advance, Some(1), Some(GateOutcome::Pass)), "{}", out.reason);

    let events = table.store.events(&id).await.unwrap_or_else(|e| panic!("{e}"));
    let verdict = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::GateJudged { verdict, .. } => Some(verdict.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("verdict recorded"));
    let latency = &verdict.metrics[0];
    // 15 one-minute datapoints, bucketed into periods by the endpoint: 14 or 15 land in the window.
    assert!(latency.canary.is_some_and(|c| (14..=15).contains(&c.samples)), "{:?}", latency.canary);
    assert!(latency.baseline.is_some_and(|b| (14..=15).contains(&b.samples)), "{:?}", latency.baseline);
    assert!(latency.checks.iter().any(|c| c.bound == "latency < 200 ms"), "{:?}", latency.checks);
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::Decided(d) if d.action == Action::Advance)));
}

#[tokio::test]
async fn a_regressed_canary_is_rolled_back_with_the_reason() {
    let table = TestTable::create().await;
    let config = aws().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
    let namespace = format!("RollgateTest/{}", uuid::Uuid::new_v4().simple());
    put_latency(&config, &namespace, "42", 130.0).await;
    put_latency(&config, &namespace, "41", 100.0).await;
    let id = release_at_first_step(&table.store, "search-api", &namespace).await;
    let out = handler(
        serde_json::json!({ "release_id": id }),
        &table.store,
        &table.store,
        &CloudWatchSource::new(cloudwatch),
        &rollgate::ports::NoHooks,
    )
    .await
    .unwrap_or_else(|e| panic!("{}: {e}", e.name()));
    assert_eq!(out.action, Action::Rollback);
    assert!(out.reason.starts_with("gate failed: latency 1"), "{}", out.reason);
    assert!(out.reason.contains("ms above baseline 10") && out.reason.contains("more than 10 ms"), "{}", out.reason);
}

#[tokio::test]
async fn missing_metrics_are_inconclusive_never_a_pass() {
    let table = TestTable::create().await;
    let config = aws().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
    let namespace = format!("RollgateTest/{}", uuid::Uuid::new_v4().simple());
    let id = release_at_first_step(&table.store, "ledger-api", &namespace).await;
    let source = CloudWatchSource::new(cloudwatch);
    let first = handler(serde_json::json!({ "release_id": id }), &table.store, &table.store, &source, &rollgate::ports::NoHooks)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((first.action, first.outcome), (Action::Bake, Some(GateOutcome::Inconclusive)), "{}", first.reason);
    assert_eq!(first.next_check_in_secs, 300);
    let second = handler(serde_json::json!({ "release_id": id }), &table.store, &table.store, &source, &rollgate::ports::NoHooks)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(second.action, Action::Bake);
    // The third inconclusive check exceeds the plan's allowance of 2; the default policy fails closed.
    let third = handler(serde_json::json!({ "release_id": id }), &table.store, &table.store, &source, &rollgate::ports::NoHooks)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(third.action, Action::Rollback, "{}", third.reason);
    assert!(third.reason.contains("3 inconclusive checks"), "{}", third.reason);
}

#[tokio::test]
async fn unknown_and_malformed_requests_get_named_errors() {
    let table = TestTable::create().await;
    let source = CloudWatchSource::new(aws_sdk_cloudwatch::Client::new(&aws().await));
    let missing =
        handler(serde_json::json!({ "release_id": "nope" }), &table.store, &table.store, &source, &rollgate::ports::NoHooks).await;
    assert!(matches!(missing, Err(TaskError { name: ErrorName::ReleaseNotFound, .. })), "{missing:?}");
    let malformed = handler(
        read_json(&repo().join("events/metric-gate/invalid-request.json")),
        &table.store,
        &table.store,
        &source,
        &rollgate::ports::NoHooks,
    )
    .await;
    assert!(
        matches!(&malformed, Err(e @ TaskError { name: ErrorName::InvalidRequest, .. }) if e.name() == "InvalidRequest"),
        "{malformed:?}"
    );
}
