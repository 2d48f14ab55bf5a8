use chrono::TimeZone;
use rollgate::adapters::memory::{MemoryRouter, MemoryStore, RecordingNotifier, RecordingWorkflow, TaskOutcome};
use rollgate::flow::admit::admit;
use rollgate::ports::NoPolicies;
use rollgate::release::{ReleaseRequest, ReleaseStatus};

use super::*;

const ALICE: &str = "arn:aws:iam::123456789012:user/alice";
const BOB: &str = "arn:aws:sts::123456789012:assumed-role/release-managers/bob";
const CAROL: &str = "arn:aws:sts::123456789012:assumed-role/release-managers/carol";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).single().unwrap_or_default()
}

struct World {
    store: MemoryStore,
    workflow: RecordingWorkflow,
    router: MemoryRouter,
    notifier: RecordingNotifier,
}

impl World {
    fn new() -> Self {
        Self {
            store: MemoryStore::new(),
            workflow: RecordingWorkflow::default(),
            router: MemoryRouter::default(),
            notifier: RecordingNotifier::default(),
        }
    }

    fn deps(&self) -> Deps<'_> {
        Deps {
            store: &self.store,
            policies: &self.store,
            tokens: &self.store,
            workflow: &self.workflow,
            executions: &self.workflow,
            router: &self.router,
            notifier: &self.notifier,
        }
    }

    async fn send(&self, by: Option<&str>, release: &str, action: &str, body: Value) -> Result<Value, Refusal> {
        handle(&http_request(by, release, action, &body.to_string()), &self.deps(), || t0() + chrono::Duration::minutes(5)).await
    }

    async fn trail(&self, id: &str) -> Vec<String> {
        self.store.events(id).await.unwrap_or_default().iter().map(|e| e.kind.summary()).collect()
    }
}

/// The event API Gateway hands over for `POST /releases/{release}/{action}`, signed by `by`.
fn http_request(by: Option<&str>, release: &str, action: &str, body: &str) -> ApiGatewayV2httpRequest {
    let authorizer = by.map(|arn| json!({"iam": {"accessKey": "AKIAEXAMPLE", "accountId": "123456789012", "callerId": "AIDAEXAMPLE", "userArn": arn, "userId": "AIDAEXAMPLE"}}));
    serde_json::from_value(json!({
        "version": "2.0",
        "routeKey": "POST /releases/{release}/{action}",
        "rawPath": format!("/releases/{release}/{action}"),
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {"accountId": "123456789012", "apiId": "api", "authorizer": authorizer, "domainName": "api.example",
            "http": {"method": "POST", "path": format!("/releases/{release}/{action}"), "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "rollgate"},
            "requestId": "req", "routeKey": "POST /releases/{release}/{action}", "stage": "$default", "time": "20/Nov/2026:10:05:00 +0000", "timeEpoch": 0},
        "pathParameters": {"release": release, "action": action},
        "body": body,
        "isBase64Encoded": false
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

fn release_request(id: &str, plan: Value) -> ReleaseRequest {
    ReleaseRequest {
        release_id: Some(id.into()),
        service: "orders".into(),
        environment: "prod".into(),
        version: "2".into(),
        stable_version: Some("1".into()),
        author: Some("dave".into()),
        requested_by: None,
        plan,
        evidence: Default::default(),
        overrides: vec![],
        execution: Some("arn:aws:states:us-east-1:123456789012:execution:release:r1".into()),
    }
}

/// Release r1 baking its first step (10%, an hour).
async fn baking(world: &World) {
    let plan = json!({"name": "p", "traffic": {"router": {"type": "dry_run"}, "steps": [{"weight": 10, "bake": "1h"}, {"weight": 100, "bake": "1h"}]}});
    admit(&world.store, &NoPolicies, release_request("r1", plan), t0()).await.unwrap_or_else(|e| panic!("{e}"));
    rollgate::flow::traffic::switch(
        &world.store,
        &world.router,
        &rollgate::ports::NoHooks,
        "r1",
        rollgate::flow::traffic::SwitchTarget::Step(0),
        t0(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn a_request_without_an_iam_identity_is_refused_and_records_nothing() {
    let world = World::new();
    baking(&world).await;
    let before = world.trail("r1").await;
    let refused = world.send(None, "r1", "pause", json!({"reason": "x"})).await;
    assert!(matches!(&refused, Err(r) if r.status == 403 && r.reason.contains("AWS_IAM")), "{refused:?}");
    // An identity in the body is not an identity: the body has no such field.
    let claimed = world.send(Some(ALICE), "r1", "pause", json!({"reason": "x", "by": "root"})).await;
    assert!(matches!(&claimed, Err(r) if r.status == 400 && r.reason.contains("unknown field `by`")), "{claimed:?}");
    assert_eq!(world.trail("r1").await, before);
}

#[tokio::test]
async fn controls_are_recorded_with_the_iam_caller_and_bad_requests_say_what_to_fix() {
    let world = World::new();
    baking(&world).await;
    let paused =
        world.send(Some(ALICE), "r1", "pause", json!({"reason": "provider degraded", "for": "2h"})).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((paused["by"].as_str(), paused["status"].as_str()), (Some(ALICE), Some("progressing")));
    assert!(paused["message"].as_str().unwrap_or_default().starts_with("paused until 2026-11-20 12:05 UTC"), "{paused}");
    assert!(world.trail("r1").await.contains(&format!("pause by {ALICE}: provider degraded")));

    let cases = [
        ("resume", json!({}), 400, "needs a reason"),
        ("resume", json!({"reason": "  "}), 400, "needs a reason"),
        ("skip", json!({"reason": "ok", "for": "1h"}), 400, "a pause's length"),
        ("pause", json!({"reason": "again", "for": "soon"}), 400, "`for`"),
        ("pause", json!({"reason": "again"}), 409, "already paused"),
        ("launch", json!({"reason": "x"}), 404, "no action `launch`"),
        ("resume", json!({"reason": "é".repeat(MAX_REASON_CHARS + 1)}), 400, "characters long"),
        ("resume", json!(["reason"]), 400, "JSON object"),
    ];
    for (action, body, status, says) in cases {
        let refused = world.send(Some(ALICE), "r1", action, body.clone()).await;
        match refused {
            Err(r) => {
                assert!(r.status == status && r.reason.contains(says), "{action} {body}: {status} `{says}`, got {} {r}", r.status)
            }
            Ok(v) => panic!("{action} {body} was accepted: {v}"),
        }
    }
    let unknown = world.send(Some(ALICE), "r404", "resume", json!({"reason": "x"})).await;
    assert!(matches!(&unknown, Err(r) if r.status == 404), "{unknown:?}");
    let not_json = handle(&http_request(Some(ALICE), "r1", "resume", "reason=x"), &world.deps(), t0).await;
    assert!(matches!(&not_json, Err(Refusal { status: 400, .. })), "{not_json:?}");

    world.send(Some(BOB), "r1", "resume", json!({"reason": "recovered"})).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(world.trail("r1").await.contains(&format!("resume by {BOB}: recovered")));
}

#[tokio::test]
async fn an_abort_stops_the_recorded_execution_and_ends_the_release_aborted() {
    let world = World::new();
    baking(&world).await;
    let aborted = world.send(Some(ALICE), "r1", "abort", json!({"reason": "INC-1 error spike"})).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(aborted["status"], "aborted", "{aborted}");
    let stopped = world.workflow.stopped();
    assert_eq!(stopped.len(), 1);
    assert_eq!((stopped[0].1.as_str(), stopped[0].2.as_str()), ("Aborted", format!("aborted by {ALICE}: INC-1 error spike").as_str()));
    let release = world.store.release("r1").await.ok().flatten().unwrap_or_else(|| panic!("stored"));
    assert_eq!(release.status, ReleaseStatus::Aborted);
    let again = world.send(Some(ALICE), "r1", "abort", json!({"reason": "twice"})).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(again["message"].as_str().unwrap_or_default().contains("had already ended"), "{again}");
    assert_eq!(world.workflow.stopped().len(), 1, "an ended release's execution is not stopped again");
}

#[tokio::test]
async fn the_quorum_is_counted_here_and_only_its_last_vote_resumes_the_execution() {
    let world = World::new();
    let plan = json!({"name": "p",
        "traffic": {"router": {"type": "dry_run"}, "steps": [{"weight": 10, "bake": "5m", "approval": "go"}, {"weight": 100, "bake": "5m"}]},
        "approvals": [{"id": "go", "approvers": [ALICE, "arn:aws:iam::123456789012:role/release-managers"], "quorum": 2, "timeout": "1h"}]});
    admit(&world.store, &NoPolicies, release_request("r1", plan), t0()).await.unwrap_or_else(|e| panic!("{e}"));
    rollgate::flow::approval::request(&world.store, &world.store, "approval-request", "r1", 0, "go", "token-1", t0())
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let stranger = world.send(Some("arn:aws:iam::123456789012:user/mallory"), "r1", "approve", json!({})).await;
    assert!(matches!(&stranger, Err(r) if r.status == 403 && r.reason.contains("not an approver")), "{stranger:?}");
    let first = world.send(Some(BOB), "r1", "approve", json!({"reason": "dashboards fine"})).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first["status"], "awaiting_approval", "{first}");
    assert_eq!(world.workflow.outcome("token-1"), None, "one vote of two resumes nothing");
    // Two sessions of one role are one approver: the role is what the plan lists.
    let same_role = world.send(Some(CAROL), "r1", "approve", json!({})).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(world.workflow.outcome("token-1"), None, "{same_role}");
    world.send(Some(ALICE), "r1", "approve", json!({})).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(world.workflow.outcome("token-1"), Some(TaskOutcome::Resumed(_))), "the quorum resumes the execution");
    let trail = world.trail("r1").await.join("\n");
    assert!(!trail.contains("token-1"), "no task token in the trail:\n{trail}");
}
