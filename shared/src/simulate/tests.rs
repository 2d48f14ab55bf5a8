use super::*;
use crate::domain::plan::{PlanFormat, parse_plan};
use crate::release::EventKind;

const PLAN: &str = r#"
name: approvals
traffic:
  router: { type: dry_run }
  steps: [{ weight: 10, bake: 10m }, { weight: 100, bake: 10m, approval: go }]
approvals:
  - { id: go, approvers: [alice, bob, carol], quorum: 2, timeout: 1h }
"#;

async fn run(approvals: &str) -> Result<Simulation, SimulationError> {
    let plan = parse_plan(PLAN, PlanFormat::Yaml).unwrap_or_else(|e| panic!("{e:?}"));
    let scenario: Scenario = serde_yaml::from_str(&format!("approvals: {approvals}")).unwrap_or_else(|e| panic!("{e}"));
    simulate(&plan, &scenario, None).await
}

fn decided(sim: &Simulation) -> Vec<String> {
    sim.trail
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ApprovalDecided { by, approved, .. } => Some(format!("{by}:{approved}")),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_quorum_of_votes_lets_the_release_through_and_is_in_the_trail() {
    let sim = run("{ go: { decision: approve, after: 20m, by: 'alice, carol' } }").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sim.outcome, SimOutcome::Promoted, "{}", sim.reason);
    assert_eq!(decided(&sim), ["alice:true", "carol:true"]);
    assert!(sim.trail.iter().any(|e| matches!(&e.kind, EventKind::ApprovalRequested { quorum: 2, .. })));
    assert!(sim.timeline.iter().any(|t| t.text == "approval `go` granted by alice, carol after 20m"));
}

#[tokio::test]
async fn too_few_votes_expire_into_a_rollback_at_the_timeout() {
    let sim = run("{ go: { decision: approve, after: 20m, by: alice } }").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sim.outcome, SimOutcome::RolledBack);
    assert_eq!(sim.final_step, Some(1));
    assert!(sim.reason.contains("expired after 1h"), "{}", sim.reason);
    // 10m bake of step 1, then the 1h the approval waited.
    assert_eq!(sim.duration_secs, 70 * 60);
}

#[tokio::test]
async fn a_rejection_rolls_back_with_who_rejected() {
    let sim = run("{ go: { decision: reject, after: 5m, by: bob } }").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sim.outcome, SimOutcome::RolledBack);
    assert_eq!(sim.reason, "approval `go` rejected by bob");
    assert_eq!(decided(&sim), ["bob:false"]);
}

#[tokio::test]
async fn a_vote_by_someone_who_may_not_approve_is_a_scenario_error() {
    let err = run("{ go: { decision: approve, by: mallory } }").await.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("approvals.go.by: mallory is not an approver of `go`; approvers: alice, bob, carol"), "{err}");
}
