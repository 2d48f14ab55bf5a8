use super::*;
use crate::domain::plan::{PlanFormat, parse_plan};
use crate::release::EventKind;
use std::collections::BTreeMap;
use std::sync::Mutex;

const PLAN: &str = r#"
name: approvals
traffic:
  router: { type: dry_run }
  steps: [{ weight: 10, bake: 10m }, { weight: 100, bake: 10m, approval: go }]
approvals:
  - { id: go, approvers: [alice, bob, carol], quorum: 2, timeout: 1h }
"#;

async fn run(approvals: &str) -> Result<Simulation, SimulationError> {
    run_plan(PLAN, approvals).await
}

async fn run_plan(plan: &str, approvals: &str) -> Result<Simulation, SimulationError> {
    let plan = parse_plan(plan, PlanFormat::Yaml).unwrap_or_else(|e| panic!("{e:?}"));
    let scenario: Scenario = crate::domain::yaml::from_str(&format!("approvals: {approvals}")).unwrap_or_else(|e| panic!("{e}"));
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
    let approvals: Vec<&str> = sim.timeline.iter().filter(|t| t.kind == EntryKind::Approval).map(|t| t.text.as_str()).collect();
    assert_eq!(approvals, ["approval `go` granted by alice", "approval `go` granted by carol"]);
    // The simulator ran the deployed definition, through the approval wait.
    assert!(sim.states.iter().any(|s| s == "RequestApproval") && sim.states.last().map(String::as_str) == Some("Promoted"));
}

#[tokio::test]
async fn too_few_votes_expire_into_a_rollback_at_the_timeout() {
    let sim = run("{ go: { decision: approve, after: 20m, by: alice } }").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sim.outcome, SimOutcome::RolledBack);
    assert_eq!(sim.final_step, Some(1));
    assert!(sim.reason.contains("(1 of 2 approvals; its timeout of 1h ran out)"), "{}", sim.reason);
    // 10m bake of step 1, then the 1h the approval waited.
    assert_eq!(sim.duration_secs, 70 * 60);
}

#[tokio::test]
async fn an_approval_with_a_heartbeat_expires_when_no_one_voted_for_that_long() {
    let with_heartbeat = PLAN.replace("timeout: 1h }", "timeout: 1h, heartbeat: 15m }");
    let late =
        run_plan(&with_heartbeat, "{ go: { decision: approve, after: 20m, by: 'alice, carol' } }").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(late.outcome, SimOutcome::RolledBack);
    assert!(late.reason.contains("(0 of 2 approvals; no approver voted for 15m since it was requested"), "{}", late.reason);
    // Through the deployed definition's wait with a heartbeat, 15 minutes after it began.
    assert!(late.states.iter().any(|s| s == "RequestApprovalWithHeartbeat"), "{:?}", late.states);
    assert_eq!(late.duration_secs, 25 * 60);
    let in_time =
        run_plan(&with_heartbeat, "{ go: { decision: approve, after: 10m, by: 'alice, carol' } }").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(in_time.outcome, SimOutcome::Promoted, "{}", in_time.reason);
}

#[tokio::test]
async fn a_rejection_rolls_back_with_who_rejected() {
    let sim = run("{ go: { decision: reject, after: 5m, by: bob } }").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sim.outcome, SimOutcome::RolledBack);
    // The reason the deployed rollback-notifier gives, read from the recorded decision.
    assert_eq!(sim.reason, "the approval `go` was rejected by bob");
    assert_eq!(decided(&sim), ["bob:false"]);
}

#[tokio::test]
async fn a_vote_by_someone_who_may_not_approve_is_a_scenario_error() {
    let err = run("{ go: { decision: approve, by: mallory } }").await.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("approvals.go.by: mallory is not an approver of `go`; approvers: alice, bob, carol"), "{err}");
}

/// A scripted run of the deployed definition: each function answers from its list, in turn.
struct Script {
    answers: Mutex<BTreeMap<&'static str, std::collections::VecDeque<Result<serde_json::Value, &'static str>>>>,
}

impl Script {
    fn new(answers: &[(&'static str, Result<serde_json::Value, &'static str>)]) -> Self {
        let mut map: BTreeMap<&'static str, std::collections::VecDeque<_>> = BTreeMap::new();
        for (function, answer) in answers {
            map.entry(*function).or_default().push_back(answer.clone());
        }
        Self { answers: Mutex::new(map) }
    }
}

#[async_trait]
impl machine::Tasks for Script {
    async fn invoke(&self, function: &str, _payload: serde_json::Value, _wait: Option<Wait<'_>>, _now: DateTime<Utc>) -> Invocation {
        let next = self.answers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_mut(function).and_then(|q| q.pop_front());
        let result = match next {
            Some(Ok(value)) => Ok(value),
            Some(Err(error)) => Err(TaskFailure { error: error.into(), cause: format!("{{\"errorMessage\": \"{error}\"}}") }),
            None => Err(TaskFailure { error: "ScriptEnded".into(), cause: function.into() }),
        };
        Invocation { result, took: chrono::Duration::seconds(1) }
    }

    async fn integrate(&self, _resource: &str, _parameters: serde_json::Value, _now: DateTime<Utc>) -> Invocation {
        Invocation { result: Ok(serde_json::json!({})), took: chrono::Duration::zero() }
    }
}

const VALIDATE: &str = "${ChecklistValidatorFunctionArn}";
const APPROVE: &str = "${ApprovalRequestFunctionArn}";
const SWITCH: &str = "${TrafficSwitchFunctionArn}";
const GATE: &str = "${MetricGateFunctionArn}";
const ROLLBACK: &str = "${RollbackNotifierFunctionArn}";

fn admitted(approval: Option<&str>) -> Result<serde_json::Value, &'static str> {
    Ok(
        serde_json::json!({ "release_id": "r", "approval": approval, "approval_timeout_secs": approval.map(|_| 3600), "approval_heartbeat_secs": null }),
    )
}

fn switched(next_approval: Option<&str>) -> Result<serde_json::Value, &'static str> {
    Ok(serde_json::json!({ "weight": 10, "first_check_in_secs": 60, "next_approval": next_approval,
        "next_approval_timeout_secs": next_approval.map(|_| 3600), "next_approval_heartbeat_secs": null, "status": "progressing" }))
}

fn gate(action: &str, next_step: Option<usize>) -> Result<serde_json::Value, &'static str> {
    Ok(serde_json::json!({ "action": action, "next_step": next_step, "next_check_in_secs": 60, "reason": action }))
}

async fn run_script(answers: &[(&'static str, Result<serde_json::Value, &'static str>)]) -> machine::Execution {
    run_script_on(serde_json::json!({}), answers).await
}

async fn run_script_on(
    input: serde_json::Value,
    answers: &[(&'static str, Result<serde_json::Value, &'static str>)],
) -> machine::Execution {
    let definition = machine::Definition::deployed().unwrap_or_else(|e| panic!("{e}"));
    let start = DateTime::parse_from_rfc3339("2025-11-14T09:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default();
    definition.run(&Script::new(answers), input, "script", start).await.unwrap_or_else(|e| panic!("{e}"))
}

fn ended_in(execution: &machine::Execution) -> &str {
    match &execution.ending {
        machine::Ending::Succeeded { state, .. } | machine::Ending::Failed { state, .. } | machine::Ending::Aborted { state, .. } => state,
    }
}

/// Every state of the deployed definition is one the simulator's driver reaches, and every path
/// ends where the definition says.
#[tokio::test]
async fn the_driver_reaches_every_state_of_the_deployed_definition() {
    let promoted =
        run_script(&[(VALIDATE, admitted(None)), (SWITCH, switched(None)), (GATE, gate("promote", None)), (SWITCH, switched(None))]).await;
    assert_eq!(ended_in(&promoted), "Promoted");
    let rolled_back = run_script(&[
        (VALIDATE, admitted(Some("go"))),
        (APPROVE, Ok(serde_json::json!({ "approved_by": ["alice"] }))),
        (SWITCH, switched(None)),
        (GATE, Err("Transient")),
        (GATE, gate("bake", None)),
        (GATE, gate("advance", Some(1))),
        (SWITCH, switched(None)),
        (GATE, gate("rollback", None)),
        (ROLLBACK, Ok(serde_json::json!({ "status": "rolled_back", "reason": "gate" }))),
    ])
    .await;
    assert_eq!(ended_in(&rolled_back), "RolledBack");
    let blocked = run_script(&[(VALIDATE, Err("ChecklistBlocked"))]).await;
    assert_eq!(ended_in(&blocked), "Blocked");
    let refused = run_script(&[(VALIDATE, Err("LockHeld"))]).await;
    assert_eq!(ended_in(&refused), "Refused");
    let failed = run_script(&[(VALIDATE, Err("StoreFailed"))]).await;
    assert_eq!(ended_in(&failed), "AdmissionFailed");
    // A request that names its release is undone (the release aborted, the lock given back),
    // and still ends AdmissionFailed.
    let undone = run_script_on(
        serde_json::json!({ "release_id": "r", "service": "s", "environment": "e", "version": "2" }),
        &[(VALIDATE, Err("StoreFailed")), (ROLLBACK, Ok(serde_json::json!({ "status": "aborted" })))],
    )
    .await;
    assert_eq!(ended_in(&undone), "AdmissionFailed");
    assert!(undone.transitions.iter().any(|t| t.state == "UndoAdmission"));
    // An approval with a heartbeat waits in its own state; no vote for that long expires it.
    let with_heartbeat = admitted(Some("go")).map(|mut a| {
        a["approval_heartbeat_secs"] = serde_json::json!(600);
        a
    });
    let expired = run_script(&[
        (VALIDATE, with_heartbeat),
        (APPROVE, Err("States.HeartbeatTimeout")),
        (ROLLBACK, Ok(serde_json::json!({ "status": "rolled_back", "reason": "the approval expired" }))),
    ])
    .await;
    assert_eq!(ended_in(&expired), "RolledBack");
    assert!(expired.transitions.iter().any(|t| t.state == "ApprovalExpired"));
    let restore: Vec<_> = std::iter::repeat_n((ROLLBACK, Err("RestoreFailed")), 10).collect();
    let mut stuck = vec![(VALIDATE, admitted(None)), (SWITCH, Err("RouterFailed"))];
    stuck.extend(restore);
    let stuck = run_script(&stuck).await;
    assert_eq!(ended_in(&stuck), "RollbackFailed");
    assert!(stuck.transitions.iter().any(|t| t.state == "AlarmRollbackFailed"));
    // RestoreFailed is retried (6 times) before the alarm.
    assert!(stuck.end - stuck.transitions[0].at > chrono::Duration::minutes(5));

    let reached: std::collections::BTreeSet<&str> = [&promoted, &rolled_back, &blocked, &refused, &failed, &undone, &expired, &stuck]
        .iter()
        .flat_map(|e| e.transitions.iter().map(|t| t.state.as_str()))
        .collect();
    let definition = machine::Definition::deployed().unwrap_or_else(|e| panic!("{e}"));
    let all: std::collections::BTreeSet<&str> = definition.states().keys().map(String::as_str).collect();
    assert_eq!(reached, all, "states the driver never reached: {:?}", all.difference(&reached).collect::<Vec<_>>());
}

/// Every error name the definition retries or catches is one the Rust code can produce (or a
/// name of Step Functions or Lambda itself), and every name the Rust code produces is routed.
#[test]
fn the_definitions_error_names_are_the_ones_the_code_produces() {
    let definition = machine::Definition::deployed().unwrap_or_else(|e| panic!("{e}"));
    let ours: Vec<&str> =
        crate::boundary::ErrorName::ALL.iter().map(|n| n.as_str()).chain([crate::release::approval::REJECTED_ERROR]).collect();
    let mut routed = std::collections::BTreeSet::new();
    for (state, body) in definition.states() {
        for rule in ["Retry", "Catch"].iter().flat_map(|k| body.get(*k).and_then(|r| r.as_array()).cloned().unwrap_or_default()) {
            for name in rule["ErrorEquals"].as_array().into_iter().flatten().filter_map(|n| n.as_str()) {
                let platform = ["States.", "Lambda.", "Sandbox.", "Runtime."].iter().any(|p| name.starts_with(p));
                assert!(platform || ours.contains(&name), "{state} routes on `{name}`, which no Rust code produces");
                routed.insert(name.to_string());
            }
        }
    }
    for name in &ours {
        assert!(routed.contains(*name) || routed.contains("States.ALL"), "`{name}` is routed nowhere");
    }
}

/// A deploy freeze of the policy begins mid-release: the step that would advance holds its
/// weight, checked at its interval, until the freeze ends; then the release goes on. A plan
/// weaker than the policy is refused before it starts, naming the rule.
#[tokio::test]
async fn a_freeze_holds_the_release_at_its_weight_and_a_weaker_plan_is_refused() {
    let plan = parse_plan(
        "name: f\ntraffic:\n  router: { type: dry_run }\n  steps: [{ weight: 10, bake: 30m }, { weight: 100, bake: 30m }]\n\
         analysis:\n  interval: 10m\n  metrics:\n    - { name: errors, query: { metric: { namespace: A, name: E, stat: Average } }, must: { below: 1 } }\n",
        PlanFormat::Yaml,
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let scenario: Scenario = crate::domain::yaml::from_str(
        "start: 2026-12-01T09:00:00Z\nmetrics: { errors: { canary: { level: 0.1 } } }\n\
         policy:\n  service: s\n  environment: e\n  freezes: [{ from: 2026-12-01T09:20:00Z, to: 2026-12-01T10:05:00Z, reason: database migration }]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let sim = simulate(&plan, &scenario, None).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sim.outcome, SimOutcome::Promoted, "{}", sim.reason);
    let holds =
        sim.timeline.iter().filter(|t| t.text.contains("deploys are frozen until 2026-12-01 10:05 UTC (database migration)")).count();
    // Step 1 baked by 09:30 and held at the checks of 09:30 … 10:00; advanced at 10:05.
    assert_eq!(holds, 4, "{:#?}", sim.timeline.iter().map(|t| &t.text).collect::<Vec<_>>());
    let advanced = sim.timeline.iter().find(|t| t.text.contains("step 2 of 2")).map(|t| t.offset_secs);
    assert_eq!(advanced, Some(65 * 60), "the step advanced when the freeze ended");

    let mut strict = scenario.clone();
    if let Some(policy) = strict.policy.as_mut() {
        policy.first_step_at_most = Some(5);
    }
    let refused = simulate(&plan, &strict, None).await.map(|s| s.outcome);
    let said = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(said.contains("policy first_step_at_most: the first step shifts 10%, more than 5%"), "{said}");
}
