//! What a seed runs: which releases of which services, when CI submits them, their plans,
//! evidence and canary health, and what people do (votes, aborts).

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::adapters::Health;
use crate::rng::Rng;

/// One release CI will submit.
#[derive(Clone, Debug)]
pub struct PlannedRelease {
    pub id: String,
    pub service: String,
    pub version: String,
    pub submit_at: DateTime<Utc>,
    pub plan: Value,
    pub reviewed: bool,
    pub health: Health,
    /// When an operator aborts it, if one does.
    pub abort_at: Option<DateTime<Utc>>,
    /// How approvers answer its Go/No-Go.
    pub approvers: Voting,
}

/// How people answer an approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Voting {
    Approve,
    Reject,
    /// Nobody answers: the approval expires.
    Silence,
    /// Someone who may not decide clicks first, then an approver approves.
    StrangerThenApprove,
}

pub const SERVICES: [&str; 3] = ["svc-a", "svc-b", "svc-c"];
pub const ENVIRONMENT: &str = "prod";
/// The version every service serves before the run.
pub const INITIAL_VERSION: &str = "r0";
pub const APPROVERS: [&str; 3] = ["alice", "bob", "carol"];
pub const AUTHOR: &str = "dave";

pub fn releases(rng: &mut Rng, start: DateTime<Utc>) -> Vec<PlannedRelease> {
    let services = usize::try_from(rng.between(1, 3)).unwrap_or(1);
    let count = rng.between(2, 6);
    (1..=count)
        .map(|n| {
            let service = SERVICES[rng.index(services)].to_string();
            let submit_at = start + Duration::seconds(i64::try_from(rng.below(90 * 60)).unwrap_or(0));
            let health =
                [Health::Good, Health::Good, Health::Good, Health::Bad, Health::Critical, Health::Silent, Health::Flaky][rng.index(7)];
            let abort_at = rng.chance(0.15).then(|| submit_at + Duration::seconds(i64::try_from(rng.below(60 * 60)).unwrap_or(0)));
            let approvers =
                [Voting::Approve, Voting::Approve, Voting::Approve, Voting::Reject, Voting::Silence, Voting::StrangerThenApprove]
                    [rng.index(6)];
            PlannedRelease {
                id: format!("{service}-r{n}"),
                version: format!("r{n}"),
                plan: plan(rng, &service),
                service,
                submit_at,
                reviewed: rng.chance(0.9),
                health,
                abort_at,
                approvers,
            }
        })
        .collect()
}

/// A random valid plan: 1–3 steps, maybe an approval, maybe metric analysis; sometimes a 0%
/// first step, a watch after 100%, or a step with its own bounds.
fn plan(rng: &mut Rng, service: &str) -> Value {
    // The later shapes draw from a copy of the stream, so that the draws below (and the seeds
    // kept as regressions) stay as they were.
    let mut shapes = rng.clone();
    shapes.next_u64();
    let weights: &[u32] = [&[100][..], &[10, 100], &[25, 50], &[5, 50, 100], &[10, 25, 50]][rng.index(5)];
    let approval_step = rng.chance(0.35).then(|| rng.index(weights.len()));
    // A step bakes at least one analysis interval (the plan's validation asks so).
    let interval = rng.between(1, 2);
    let steps: Vec<Value> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let mut step = json!({ "weight": w, "bake": format!("{}m", rng.between(interval, 10)) });
            if approval_step == Some(i) {
                step["approval"] = json!("go");
            }
            step
        })
        .collect();
    let mut plan = json!({
        "name": format!("dst-{service}"),
        "checklist": { "items": [ { "id": "review", "require": { "kind": "attestation", "evidence": "reviewed" } } ] },
        "traffic": { "router": { "type": "lambda_alias", "function_name": service, "alias": "live" }, "steps": steps },
    });
    if approval_step.is_some() {
        plan["approvals"] = json!([{
            "id": "go",
            "approvers": APPROVERS,
            "quorum": rng.between(1, 2),
            "timeout": format!("{}m", rng.between(5, 60)),
        }]);
        // Sometimes a heartbeat: the approval expires when no one voted for that long.
        if rng.chance(0.3) {
            plan["approvals"][0]["heartbeat"] = json!(format!("{}m", rng.between(1, 4)));
        }
    }
    if rng.chance(0.75) {
        let on_inconclusive = ["fail", "hold", "pass"][rng.index(3)];
        plan["analysis"] = json!({
            "interval": format!("{interval}m"),
            "consecutive_failures": rng.between(1, 2),
            "max_inconclusive": rng.between(0, 2),
            "on_inconclusive": on_inconclusive,
            "metrics": [{
                "name": "errors",
                "query": { "metric": { "namespace": "Sim", "name": "Errors", "stat": "Sum" }, "canary": { "Release": "{service}/{version}" } },
                "must": { "below": 1 },
                "rollback_if": { "above": 10 },
            }],
        });
    }
    if rng.chance(0.5) {
        let all = ["started", "step_advanced", "waiting_for_approval", "promoted", "blocked", "rolled_back"];
        let events: Vec<&str> = all.iter().copied().filter(|_| rng.chance(0.7)).collect();
        plan["notifications"] = json!({ "events": events });
    }
    reshape(&mut shapes, &mut plan, interval);
    plan
}

/// The shapes runbooks add to a canary: a 0% step first (measured, no traffic shifted), a watch
/// after 100% (the weight kept), a step held to its own bound, a step hook.
fn reshape(shapes: &mut Rng, plan: &mut Value, interval: u64) {
    let bake = |shapes: &mut Rng| json!(format!("{}m", shapes.between(interval, 10)));
    let Some(steps) = plan["traffic"]["steps"].as_array_mut() else { return };
    if shapes.chance(0.15) {
        steps.insert(0, json!({ "weight": 0, "bake": bake(shapes) }));
    }
    if steps.last().and_then(|s| s["weight"].as_u64()) == Some(100) && shapes.chance(0.2) {
        steps.push(json!({ "weight": 100, "bake": bake(shapes) }));
    }
    let count = steps.len();
    if plan.get("analysis").is_some() && shapes.chance(0.25) {
        let step = shapes.index(count);
        plan["traffic"]["steps"][step]["analysis"] = json!({ "metrics": [ { "name": "errors", "must": { "below": 3 } } ] });
    }
    // A smoke test on a step: before its shift, at its first check, or at every check. It
    // answers as the release's canary behaves (`FaultyMetrics` runs it).
    if shapes.chance(0.25) {
        let step = shapes.index(count);
        let run = ["before_shift", "first_check", "every_check"][shapes.index(3)];
        plan["traffic"]["steps"][step]["hooks"] = json!([{ "name": "smoke", "run": run, "lambda": { "function": "dst-smoke" } }]);
    }
}

/// The release request CI submits, with the version serving now as the stable one.
pub fn request(release: &PlannedRelease, stable: &str) -> Value {
    json!({
        "release_id": release.id,
        "service": release.service,
        "environment": ENVIRONMENT,
        "version": release.version,
        "stable_version": stable,
        "author": AUTHOR,
        "requested_by": "ci",
        "plan": release.plan,
        "evidence": { "reviewed": release.reviewed },
    })
}
