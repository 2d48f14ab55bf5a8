use chrono::{Duration, TimeZone};
use serde_json::json;

use super::*;
use crate::adapters::memory::{MemoryStore, RecordingWorkflow, TaskOutcome};
use crate::flow::admit::admit;
use crate::ports::NoDirectory;
use crate::release::ReleaseRequest;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).single().unwrap_or_default()
}

/// A release waiting on approval `go` (approvers alice, bob, U0CAROL; quorum `quorum`).
async fn waiting(store: &MemoryStore, quorum: u32) -> String {
    let plan = json!({
        "name": "p",
        "traffic": {"router": {"type": "dry_run"}, "steps": [{"weight": 10, "bake": "5m", "approval": "go"}, {"weight": 100, "bake": "5m"}]},
        "approvals": [{"id": "go", "approvers": ["alice", "bob", "U0CAROL"], "quorum": quorum, "timeout": "1h"}]
    });
    let release_request = ReleaseRequest {
        release_id: Some("r1".into()),
        service: "svc".into(),
        environment: "prod".into(),
        version: "2".into(),
        stable_version: Some("1".into()),
        author: Some("bob".into()),
        requested_by: None,
        plan,
        evidence: Default::default(),
        overrides: vec![],
        execution: None,
    };
    let release = admit(store, &crate::ports::NoPolicies, release_request, t0()).await.unwrap_or_else(|e| panic!("{e}")).release;
    let requested =
        request(store, store, "approval-request", &release.id, 0, "go", "token-1", t0()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(requested.release.status, ReleaseStatus::AwaitingApproval);
    release.id
}

fn ids(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn vote(id: &str, names: &[&str], approved: bool) -> Vote {
    Vote { release_id: id.into(), identities: ids(names), approved, comment: None, on: None }
}

#[tokio::test]
async fn quorum_of_two_resumes_the_execution_with_both_names() {
    let (store, workflow) = (MemoryStore::new(), RecordingWorkflow::default());
    let id = waiting(&store, 2).await;
    let now = t0() + Duration::minutes(5);
    let first =
        resolve(&store, &store, &workflow, "cli", &NoDirectory, &vote(&id, &["alice"], true), now).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first, Resolution::Pending { approvals: 1, quorum: 2 });
    assert_eq!(workflow.outcome("token-1"), None, "one of two approvals does not resume");
    assert_eq!(workflow.heartbeats(), ["token-1"], "a vote short of the quorum renews the approval's heartbeat");
    // The same person twice is still one approval.
    let again =
        resolve(&store, &store, &workflow, "cli", &NoDirectory, &vote(&id, &["Alice"], true), now).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again, Resolution::Pending { approvals: 1, quorum: 2 });
    // A Slack user is matched by any of their names; the listed one is recorded.
    let second = resolve(&store, &store, &workflow, "slack", &NoDirectory, &vote(&id, &["U0CAROL", "carol"], true), now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(second, Resolution::Approved { approvers: ids(&["alice", "u0carol"]) });
    assert_eq!(workflow.outcome("token-1"), Some(TaskOutcome::Resumed(json!({"approved_by": ["alice", "u0carol"]}))));
    assert_eq!(workflow.heartbeats().len(), 2, "the deciding vote resumes the task instead");
}

#[tokio::test]
async fn a_rejection_fails_the_task_with_the_reason() {
    let (store, workflow) = (MemoryStore::new(), RecordingWorkflow::default());
    let id = waiting(&store, 2).await;
    let now = t0() + Duration::minutes(5);
    let rejected = resolve(
        &store,
        &store,
        &workflow,
        "cli",
        &NoDirectory,
        &Vote { comment: Some("error budget spent".into()), ..vote(&id, &["alice"], false) },
        now,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(rejected, Resolution::Rejected { ref reason, .. } if reason == "rejected by alice: error budget spent"));
    assert_eq!(
        workflow.outcome("token-1"),
        Some(TaskOutcome::Failed { error: REJECTED_ERROR.into(), cause: "rejected by alice: error budget spent".into() })
    );
    let trail = store.events(&id).await.unwrap_or_default();
    assert!(trail.iter().any(|e| matches!(&e.kind, EventKind::ApprovalDecided { by, approved: false, .. } if by == "alice")));
}

#[tokio::test]
async fn strangers_authors_and_late_deciders_are_refused_and_nothing_is_recorded() {
    let (store, workflow) = (MemoryStore::new(), RecordingWorkflow::default());
    let id = waiting(&store, 1).await;
    let before = store.events(&id).await.unwrap_or_default().len();
    let now = t0() + Duration::minutes(5);
    let stranger = resolve(&store, &store, &workflow, "slack", &NoDirectory, &vote(&id, &["U0MALLORY", "mallory"], true), now).await;
    assert!(matches!(stranger, Err(ApprovalError::NotAnApprover { ref by, .. }) if by == "U0MALLORY / mallory"), "{stranger:?}");
    let author = resolve(&store, &store, &workflow, "cli", &NoDirectory, &vote(&id, &["bob"], true), now).await;
    assert!(matches!(author, Err(ApprovalError::SelfApproval { .. })), "{author:?}");
    let late = resolve(&store, &store, &workflow, "cli", &NoDirectory, &vote(&id, &["alice"], true), t0() + Duration::hours(2)).await;
    assert!(matches!(late, Err(ApprovalError::Expired { .. })), "an expired approval is never a pass: {late:?}");
    assert_eq!(store.events(&id).await.unwrap_or_default().len(), before);
    assert_eq!(workflow.outcome("token-1"), None);
    let unknown = resolve(&store, &store, &workflow, "cli", &NoDirectory, &vote("nope", &["alice"], true), now).await;
    assert!(matches!(unknown, Err(ApprovalError::NothingPending(_))));
}

#[tokio::test]
async fn a_task_already_answered_is_reported_not_hidden() {
    let (store, workflow) = (MemoryStore::new(), RecordingWorkflow::default());
    let id = waiting(&store, 1).await;
    let now = t0() + Duration::minutes(5);
    resolve(&store, &store, &workflow, "cli", &NoDirectory, &vote(&id, &["alice"], true), now).await.unwrap_or_else(|e| panic!("{e}"));
    // The release is still awaiting approval until traffic-switch moves it on; a second click
    // finds the task gone.
    let twice = resolve(&store, &store, &workflow, "cli", &NoDirectory, &vote(&id, &["U0CAROL"], true), now).await;
    assert!(matches!(twice, Err(ApprovalError::Workflow(WorkflowError::TaskGone(_)))), "{twice:?}");
}

#[tokio::test]
async fn the_same_vote_twice_is_recorded_once() {
    let (store, workflow) = (MemoryStore::new(), RecordingWorkflow::default());
    let id = waiting(&store, 1).await;
    let now = t0() + Duration::minutes(5);
    let no = Vote { comment: Some("not today".into()), ..vote(&id, &["alice"], false) };
    resolve(&store, &store, &workflow, "slack", &NoDirectory, &no, now).await.unwrap_or_else(|e| panic!("{e}"));
    let retried = resolve(&store, &store, &workflow, "slack", &NoDirectory, &Vote { comment: Some("retry".into()), ..no }, now).await;
    assert!(matches!(retried, Err(ApprovalError::Workflow(WorkflowError::TaskGone(_)))), "{retried:?}");
    let decisions =
        store.events(&id).await.unwrap_or_default().into_iter().filter(|e| matches!(e.kind, EventKind::ApprovalDecided { .. })).count();
    assert_eq!(decisions, 1);
}

#[tokio::test]
async fn a_vote_on_an_earlier_approval_does_not_count_for_the_pending_one() {
    let (store, workflow) = (MemoryStore::new(), RecordingWorkflow::default());
    let id = waiting(&store, 1).await;
    let now = t0() + Duration::minutes(5);
    let old_button = Vote { on: Some(ApprovalRef { approval: "go".into(), step: 3 }), ..vote(&id, &["alice"], true) };
    let refused = resolve(&store, &store, &workflow, "slack", &NoDirectory, &old_button, now).await;
    assert!(matches!(refused, Err(ApprovalError::Superseded { voted_step: 3, pending_step: 0, .. })), "{refused:?}");
    assert_eq!(workflow.outcome("token-1"), None);
    let current = Vote { on: Some(ApprovalRef { approval: "go".into(), step: 0 }), ..vote(&id, &["alice"], true) };
    let approved = resolve(&store, &store, &workflow, "slack", &NoDirectory, &current, now).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(approved, Resolution::Approved { .. }));
}

/// The approval's task token alone moves no traffic: the traffic switch shifts past an approval
/// only when the trail holds its quorum of recorded approvals and no rejection.
#[tokio::test]
async fn the_traffic_switch_moves_past_an_approval_only_on_recorded_decisions() {
    use crate::adapters::memory::MemoryRouter;
    use crate::flow::traffic::{SwitchError, SwitchTarget, switch};
    let (store, workflow, router) = (MemoryStore::new(), RecordingWorkflow::default(), MemoryRouter::default());
    let id = waiting(&store, 2).await;
    let now = t0() + Duration::minutes(5);
    // Resumed with the token and nothing decided (or too little): refused, nothing moved.
    let refused = switch(&store, &router, &crate::ports::NoHooks, &id, SwitchTarget::Step(0), now).await;
    assert!(matches!(&refused, Err(SwitchError::NotApproved { step: 0, why, .. }) if why.contains("0 of the 2")), "{refused:?}");
    resolve(&store, &store, &workflow, "cli", &NoDirectory, &vote(&id, &["alice"], true), now).await.unwrap_or_else(|e| panic!("{e}"));
    let refused = switch(&store, &router, &crate::ports::NoHooks, &id, SwitchTarget::Step(0), now).await;
    assert!(
        matches!(&refused, Err(SwitchError::NotApproved { why, .. }) if why.contains("1 of the 2 approvals it needs (alice)")),
        "{refused:?}"
    );
    assert!(!store.events(&id).await.unwrap_or_default().iter().any(|e| matches!(e.kind, EventKind::WeightChanged(_))));
    // The quorum recorded: it moves.
    resolve(&store, &store, &workflow, "slack", &NoDirectory, &vote(&id, &["U0CAROL"], true), now).await.unwrap_or_else(|e| panic!("{e}"));
    let moved = switch(&store, &router, &crate::ports::NoHooks, &id, SwitchTarget::Step(0), now).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(moved.weight, 10);
}

#[tokio::test]
async fn a_rejected_approval_never_lets_the_traffic_switch_move() {
    use crate::adapters::memory::MemoryRouter;
    use crate::flow::traffic::{SwitchError, SwitchTarget, switch};
    let (store, workflow, router) = (MemoryStore::new(), RecordingWorkflow::default(), MemoryRouter::default());
    let id = waiting(&store, 1).await;
    let now = t0() + Duration::minutes(5);
    resolve(&store, &store, &workflow, "cli", &NoDirectory, &vote(&id, &["alice"], false), now).await.unwrap_or_else(|e| panic!("{e}"));
    let refused = switch(&store, &router, &crate::ports::NoHooks, &id, SwitchTarget::Step(0), now).await;
    assert!(matches!(&refused, Err(SwitchError::NotApproved { why, .. }) if why.contains("rejected by alice")), "{refused:?}");
}

#[tokio::test]
async fn an_approval_outside_its_decision_window_is_refused_with_the_next_opening_and_a_rejection_is_not() {
    let (store, workflow) = (MemoryStore::new(), RecordingWorkflow::default());
    let plan = json!({
        "name": "p",
        "traffic": {"router": {"type": "dry_run"}, "steps": [{"weight": 10, "bake": "5m", "approval": "go"}, {"weight": 100, "bake": "5m"}]},
        "approvals": [{"id": "go", "approvers": ["alice", "bob"], "timeout": "6h",
            "decide_within": {"timezone": "Europe/Berlin", "allow": [{"days": ["fri"], "from": "14:00", "to": "15:00"}]}}]
    });
    let request_of = |id: &str| ReleaseRequest {
        release_id: Some(id.into()),
        service: format!("svc-{id}"),
        environment: "prod".into(),
        version: "2".into(),
        stable_version: Some("1".into()),
        author: None,
        requested_by: None,
        plan: plan.clone(),
        evidence: Default::default(),
        overrides: vec![],
        execution: None,
    };
    for (id, token) in [("r1", "token-1"), ("r2", "token-2")] {
        admit(&store, &crate::ports::NoPolicies, request_of(id), t0()).await.unwrap_or_else(|e| panic!("{e}"));
        request(&store, &store, "approval-request", id, 0, "go", token, t0()).await.unwrap_or_else(|e| panic!("{e}"));
    }
    // Friday 2026-11-20, 11:05 in Berlin: the meeting is at 14:00.
    let early = t0() + Duration::minutes(5);
    let refused = resolve(&store, &store, &workflow, "slack", &NoDirectory, &vote("r1", &["alice"], true), early).await;
    match &refused {
        Err(e @ ApprovalError::OutsideWindow { .. }) => assert_eq!(
            e.to_string(),
            "approvals of `go` are given Fri 14:00–15:00 (Europe/Berlin); the next window opens Fri 2026-11-20 14:00 Europe/Berlin"
        ),
        other => panic!("{other:?}"),
    }
    assert!(
        !store.events("r1").await.unwrap_or_default().iter().any(|e| matches!(e.kind, EventKind::ApprovalDecided { .. })),
        "a refused vote records nothing"
    );
    // In the window (13:30 UTC is 14:30 in Berlin) it counts.
    let in_window = t0() + Duration::minutes(210);
    let approved = resolve(&store, &store, &workflow, "slack", &NoDirectory, &vote("r1", &["alice"], true), in_window).await;
    assert!(matches!(approved, Ok(Resolution::Approved { .. })), "{approved:?}");
    // Stopping a release is never out of hours.
    let rejected = resolve(&store, &store, &workflow, "slack", &NoDirectory, &vote("r2", &["bob"], false), early).await;
    assert!(matches!(rejected, Ok(Resolution::Rejected { .. })), "{rejected:?}");
}

/// A Slack user group the approval lists (through a role) lets its members decide, each under
/// their own id; Slack is asked at the vote, and a failed answer refuses the vote, saying why.
#[tokio::test]
async fn members_of_a_listed_user_group_decide_under_their_own_ids() {
    let (store, workflow) = (MemoryStore::new(), RecordingWorkflow::default());
    let plan = json!({
        "name": "p",
        "traffic": {"router": {"type": "dry_run"}, "steps": [{"weight": 10, "bake": "5m", "approval": "go"}, {"weight": 100, "bake": "5m"}]},
        "roles": {"sre": ["S0SRE"], "lead": ["U0LEAD"]},
        "approvals": [{"id": "go", "approvers": ["sre", "lead"], "quorum": 2, "timeout": "1h"}]
    });
    admit(&store, &crate::ports::NoPolicies, crate::flow::testing::request("r1", "svc", plan), t0())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    request(&store, &store, "approval-request", "r1", 0, "go", "token-1", t0()).await.unwrap_or_else(|e| panic!("{e}"));
    let asked = store.events("r1").await.unwrap_or_default().into_iter().find_map(|e| match e.kind {
        EventKind::ApprovalRequested { approvers, .. } => Some(approvers),
        _ => None,
    });
    assert_eq!(asked, Some(ids(&["S0SRE", "U0LEAD"])), "the request records the roles' members");

    let slack =
        crate::adapters::memory::MemoryDirectory { groups: [("S0SRE".to_string(), ids(&["U0ANA", "U0BEN"]))].into_iter().collect() };
    let now = t0() + Duration::minutes(5);
    let outsider = resolve(&store, &store, &workflow, "slack", &slack, &vote("r1", &["U0EVE"], true), now).await;
    assert!(matches!(outsider, Err(ApprovalError::NotAnApprover { .. })), "{outsider:?}");
    let unreadable = resolve(&store, &store, &workflow, "slack", &NoDirectory, &vote("r1", &["U0ANA"], true), now).await;
    assert!(
        matches!(&unreadable, Err(e @ ApprovalError::Directory { .. }) if e.to_string().contains("S0SRE") && !e.is_transient()),
        "{unreadable:?}"
    );

    let first = resolve(&store, &store, &workflow, "slack", &slack, &vote("r1", &["U0ANA"], true), now).await;
    assert_eq!(first.ok(), Some(Resolution::Pending { approvals: 1, quorum: 2 }));
    let again = resolve(&store, &store, &workflow, "slack", &slack, &vote("r1", &["U0ANA"], true), now).await;
    assert_eq!(again.ok(), Some(Resolution::Pending { approvals: 1, quorum: 2 }), "one person is one approval");
    let second = resolve(&store, &store, &workflow, "slack", &slack, &vote("r1", &["U0BEN"], true), now).await;
    assert_eq!(second.ok(), Some(Resolution::Approved { approvers: ids(&["u0ana", "u0ben"]) }), "two members are two approvals");
    assert!(matches!(workflow.outcome("token-1"), Some(TaskOutcome::Resumed(_))));
    let decided: Vec<(String, Option<String>)> = store
        .events("r1")
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::ApprovalDecided { by, via, .. } => Some((by, via)),
            _ => None,
        })
        .collect();
    assert_eq!(decided, [("U0ANA".to_string(), Some("S0SRE".to_string())), ("U0BEN".to_string(), Some("S0SRE".to_string()))]);
    assert!(granted(&store.events("r1").await.unwrap_or_default(), "go", 0).is_ok(), "the traffic switch counts them too");
}
