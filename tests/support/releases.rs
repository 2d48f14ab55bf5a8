//! Whole releases on the local stack, for the end-to-end tests (tests/e2e.rs, tests/faults.rs):
//! start an execution of the state machine, wait for its end, read what it went through; the
//! request a test sends; the notifications it published; the shape of its audit trail.

use std::time::{Duration, Instant};

use chrono::Utc;
use rollgate::release::EventKind;
use serde_json::{Value, json};

use crate::fixtures;
use crate::local_stack::Stack;

pub struct Finished {
    pub status: String,
    pub error: Option<String>,
    /// Names of the states entered, in order.
    pub states: Vec<String>,
    /// Lambda tasks scheduled per state name.
    pub scheduled: Vec<String>,
    /// The execution's history, one line an event: its type, the state, the error if any.
    pub history: Vec<String>,
}

pub async fn run(stack: &Stack, release_id: &str, input: Value, limit: Duration) -> Finished {
    let arn = start(stack, release_id, input).await;
    finish(stack, release_id, &arn, limit).await
}

pub async fn start(stack: &Stack, release_id: &str, input: Value) -> String {
    let execution = stack
        .sfn
        .start_execution()
        .state_machine_arn(&stack.state_machine)
        .name(release_id)
        .input(input.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("StartExecution: {e:?}"));
    execution.execution_arn().to_string()
}

/// Waits for the execution's end; panics if it still runs after `limit`.
pub async fn finish(stack: &Stack, release_id: &str, arn: &str, limit: Duration) -> Finished {
    finish_within(stack, arn, limit).await.unwrap_or_else(|| panic!("execution {release_id} still running after {limit:?}"))
}

/// Waits for the execution's end; `None` if it still runs after `limit`.
pub async fn finish_within(stack: &Stack, arn: &str, limit: Duration) -> Option<Finished> {
    let started = Instant::now();
    let described = loop {
        let described =
            stack.sfn.describe_execution().execution_arn(arn).send().await.unwrap_or_else(|e| panic!("DescribeExecution: {e:?}"));
        if described.status().as_str() != "RUNNING" {
            break described;
        }
        if started.elapsed() >= limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let (states, scheduled, history) = history(stack, arn).await;
    Some(Finished {
        status: described.status().as_str().to_string(),
        error: described.error().map(str::to_string),
        states,
        scheduled,
        history,
    })
}

/// The states entered, the tasks scheduled per state, and the history one line an event.
pub async fn history(stack: &Stack, arn: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let history = stack.sfn.get_execution_history().execution_arn(arn).max_results(1000).send().await.unwrap_or_else(|e| panic!("{e:?}"));
    let mut states = Vec::new();
    let mut scheduled = Vec::new();
    let mut lines = Vec::new();
    let mut current = String::new();
    for event in history.events() {
        if let Some(entered) = event.state_entered_event_details() {
            current = entered.name().to_string();
            states.push(current.clone());
        }
        let kind = event.r#type().as_str();
        if kind.ends_with("Scheduled") {
            scheduled.push(current.clone());
        }
        let failure = event
            .task_failed_event_details()
            .map(|d| (d.error().unwrap_or_default(), d.cause().unwrap_or_default()))
            .or_else(|| event.task_timed_out_event_details().map(|d| (d.error().unwrap_or_default(), d.cause().unwrap_or_default())))
            .or_else(|| event.execution_failed_event_details().map(|d| (d.error().unwrap_or_default(), d.cause().unwrap_or_default())));
        let at =
            event.timestamp().to_millis().ok().and_then(chrono::DateTime::<Utc>::from_timestamp_millis).map(|t| t.format("%H:%M:%S%.3f"));
        let at = at.map(|t| t.to_string()).unwrap_or_default();
        lines.push(match failure {
            Some((error, cause)) => format!("{at} {kind} [{current}] {error}: {}", rollgate::domain::text::clip(cause, 200)),
            None => format!("{at} {kind} [{current}]"),
        });
    }
    (states, scheduled, lines)
}

pub async fn put_latency(config: &aws_config::SdkConfig, namespace: &str, version: &str, value: f64) {
    fixtures::put_latency(config, namespace, &[("Version", version), ("Run", namespace)], Utc::now(), |i| value + (i % 3) as f64).await;
}

/// A release request: a two-step canary (20%, 60%) judged on latency in `namespace`, with one
/// checklist item (the attestation `security_review_done`).
pub fn request(release_id: &str, service: &str, router: Value, namespace: &str, evidence: Value, stable: &str, version: &str) -> Value {
    json!({
        "release_id": release_id, "service": service, "environment": "e2e", "version": version, "stable_version": stable,
        "author": "alice",
        "evidence": evidence,
        "plan": {
            "name": format!("{service}-e2e"),
            "checklist": { "items": [ { "id": "security-review", "require": { "kind": "attestation", "evidence": "security_review_done" } } ] },
            "traffic": { "router": router, "steps": [ { "weight": 20, "bake": "2s" }, { "weight": 60, "bake": "2s" } ] },
            "analysis": {
                // The test puts its datapoints before the release starts and its steps last
                // seconds: the checks read back before the step began.
                "interval": "2s", "window": "15m", "min_samples": 5, "look_before_step": true,
                "metrics": [ {
                    "name": "latency", "unit": "ms",
                    "query": {
                        "metric": { "namespace": namespace, "name": "Latency", "stat": "Average", "dimensions": { "Run": namespace } },
                        "canary": { "Version": "{version}" }, "baseline": { "Version": "{stable_version}" }
                    },
                    "must": { "below": 200 },
                    "baseline": { "max_increase": 10 }
                } ]
            }
        }
    })
}

/// The events this release published, read from the queue subscribed to the topic.
pub async fn published(stack: &Stack, service: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for _ in 0..3 {
        for envelope in fixtures::received(&stack.config, &stack.queue_url).await {
            let body: Value = serde_json::from_str(envelope["Message"].as_str().unwrap_or_default()).unwrap_or_default();
            if body["service"] == service {
                out.push((envelope["MessageAttributes"]["event"]["Value"].as_str().unwrap_or_default().to_string(), body));
            }
        }
    }
    out
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

/// The shape of a trail, times and ids aside: each event's kind, with its step, the verdict's
/// outcome, the decision, the weights, the notification's event and the final status.
pub fn trail_shape(trail: &[rollgate::release::ReleaseEvent]) -> Vec<String> {
    trail
        .iter()
        .map(|e| match &e.kind {
            EventKind::GateJudged { step, verdict, .. } => format!("gate_judged step {step}: {:?}", verdict.outcome),
            EventKind::Decided(d) => format!("decided step {}: {:?}", d.step, d.action),
            EventKind::WeightChanged(c) => format!("weight_changed {:?}: {} -> {}", c.step, c.before, c.after),
            EventKind::Notified { event, .. } | EventKind::NotificationFailed { event, .. } => format!("{} {event}", e.kind.name()),
            EventKind::ChecklistJudged(v) => format!("checklist_judged {:?}", v.verdict),
            EventKind::Closed { status, .. } => format!("closed {}", status.as_str()),
            other => other.name().to_string(),
        })
        .collect()
}
