//! Invokes the checklist-validator handler on every sample event in events/, against DynamoDB
//! on the test endpoint, and checks the verdict and what was recorded.

use checklist_validator::handler;
use rollgate::adapters::memory::RecordingNotifier;
use rollgate::boundary::{ErrorName, TaskError};
use rollgate::domain::checklist::{Effect, Verdict};
use rollgate::ports::ReleaseStore;
use rollgate::release::{EventKind, ReleaseStatus};
use rollgate_tests::{TestTable, read_json, repo};

struct Invoked {
    table: TestTable,
    notifier: RecordingNotifier,
}

async fn invoke(name: &str) -> (Invoked, String, Result<checklist_validator::ChecklistOutput, TaskError>) {
    let table = TestTable::create().await;
    let notifier = RecordingNotifier::default();
    let event = read_json(&repo().join("events/checklist-validator").join(name));
    let id = event["release_id"].as_str().unwrap_or_default().to_string();
    let result = handler(event, &table.store, &table.store, &notifier).await;
    (Invoked { table, notifier }, id, result)
}

fn published(invoked: &Invoked) -> Vec<&'static str> {
    invoked.notifier.published().iter().map(|n| n.event_name()).collect()
}

async fn verdict_event(store: &dyn ReleaseStore, id: &str) -> rollgate::domain::checklist::ChecklistVerdict {
    let events = store.events(id).await.unwrap_or_else(|e| panic!("{e}"));
    events
        .into_iter()
        .find_map(|e| match e.kind {
            EventKind::ChecklistJudged(v) => Some(v),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no checklist verdict recorded for {id}"))
}

#[tokio::test]
async fn pass() {
    let (invoked, id, result) = invoke("pass.json").await;
    let out = result.unwrap_or_else(|e| panic!("{}: {e}", e.name()));
    assert_eq!(out.verdict, Verdict::Pass);
    let recorded = verdict_event(&invoked.table.store, &id).await;
    // The monitored item that did not hold is recorded, not hidden.
    assert!(recorded.items.iter().any(|i| i.id == "docs-updated" && i.effect == Effect::Recorded));
    assert_eq!(invoked.table.store.lock("checkout-api", "production").await.ok().flatten().map(|l| l.holder), Some(id));
    assert_eq!(published(&invoked), ["started"]);
}

#[tokio::test]
async fn warn() {
    let (invoked, id, result) = invoke("warn.json").await;
    let out = result.unwrap_or_else(|e| panic!("{}: {e}", e.name()));
    assert_eq!(out.verdict, Verdict::Warn);
    assert_eq!(out.flagged, ["migration-time"]);
    let line = verdict_event(&invoked.table.store, &id).await.items.into_iter().find(|i| i.id == "migration-time");
    assert_eq!(line.map(|l| (l.effect, l.detail)), Some((Effect::Warning, "7 min ≥ 5 min".to_string())));
}

async fn assert_blocked_and_closed(invoked: &Invoked, id: &str, service: &str) {
    let release = invoked.table.store.release(id).await.ok().flatten().unwrap_or_else(|| panic!("release {id} recorded"));
    assert_eq!(release.status, ReleaseStatus::Blocked);
    assert!(release.closed_reason.is_some_and(|r| r.starts_with("checklist blocked")));
    assert_eq!(invoked.table.store.lock(service, "production").await.ok().flatten(), None, "a blocked release gives the lock back");
    let kinds: Vec<&str> = invoked.table.store.events(id).await.unwrap_or_default().iter().map(|e| e.kind.name()).collect();
    assert_eq!(kinds, ["admitted", "checklist_judged", "closed", "notified"]);
    assert_eq!(published(invoked), ["blocked"]);
    let blocked = &invoked.notifier.published()[0];
    assert!(blocked.summary.contains("blocked before any traffic moved"), "{}", blocked.summary);
    assert!(!blocked.explanation.is_empty(), "the notification says which items blocked");
}

#[tokio::test]
async fn blocked_for_missing_evidence() {
    let (invoked, id, result) = invoke("blocked-missing-evidence.json").await;
    match result {
        Err(e @ TaskError { name: ErrorName::ChecklistBlocked, .. }) => {
            assert_eq!(e.name(), "ChecklistBlocked");
            assert!(e.to_string().contains("no evidence `new_code_coverage_pct` was submitted"), "{e}");
        }
        other => panic!("expected ChecklistBlocked, got {other:?}"),
    }
    assert_blocked_and_closed(&invoked, &id, "ledger-api").await;
}

#[tokio::test]
async fn blocked_for_a_freeze_window() {
    let (invoked, id, result) = invoke("blocked-freeze.json").await;
    let message = match result {
        Err(e @ TaskError { name: ErrorName::ChecklistBlocked, .. }) => e.to_string(),
        other => panic!("expected ChecklistBlocked, got {other:?}"),
    };
    assert!(message.contains("inside freeze `platform migration freeze (until further notice)`"), "{message}");
    assert!(message.contains("Europe/Berlin"), "{message}");
    assert_blocked_and_closed(&invoked, &id, "orders-api").await;
}

#[tokio::test]
async fn soft_override_passes_and_is_recorded_with_justification_and_approver() {
    let (invoked, id, result) = invoke("soft-override.json").await;
    let out = result.unwrap_or_else(|e| panic!("{}: {e}", e.name()));
    assert_eq!(out.verdict, Verdict::Warn);
    assert_eq!(out.flagged, ["high-vulnerabilities"]);
    let recorded = verdict_event(&invoked.table.store, &id).await;
    let item = recorded.items.iter().find(|i| i.id == "high-vulnerabilities").unwrap_or_else(|| panic!("item"));
    assert_eq!(item.effect, Effect::Overridden);
    assert_eq!(recorded.overrides.len(), 1);
    let used = &recorded.overrides[0];
    assert!(used.accepted);
    assert_eq!(used.request.approver, "deployment-lead");
    assert!(used.request.justification.contains("SEC-881"));
}

#[tokio::test]
async fn a_malformed_request_is_refused_with_its_path() {
    let table = TestTable::create().await;
    let notifier = RecordingNotifier::default();
    let mut event = read_json(&repo().join("events/checklist-validator/pass.json"));
    event["plan"]["traffic"]["steps"][1]["weight"] = serde_json::json!(5);
    match handler(event, &table.store, &table.store, &notifier).await {
        Err(e @ TaskError { name: ErrorName::PlanInvalid, .. }) => {
            assert!(e.to_string().contains("traffic.steps[1].weight: 5 is below the previous step's 10"), "{e}")
        }
        other => panic!("expected PlanInvalid, got {other:?}"),
    }
    let mut event = read_json(&repo().join("events/checklist-validator/pass.json"));
    event["version"] = serde_json::json!(42);
    assert!(
        matches!(handler(event, &table.store, &table.store, &notifier).await, Err(TaskError { name: ErrorName::InvalidRequest, message: m }) if m.contains("version"))
    );
}
