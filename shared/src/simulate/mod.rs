//! The plan on a virtual clock, in-process: the same admission, traffic switch, gate check,
//! decision and rollback code as the deployed functions, against a metric scenario.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::adapters::memory::{MemoryStore, RecordingNotifier, RecordingWorkflow};
use crate::domain::checklist::{Evidence, Override};
use crate::domain::decision::Action;
use crate::domain::duration::HumanDuration;
use crate::domain::observation::Datapoint;
use crate::domain::plan::Plan;
use crate::domain::query::{QueryPlan, Side};
use crate::flow::rollback::{RestorePolicy, roll_back};
use crate::flow::traffic::{SwitchTarget, switch};
use crate::ports::{MetricError, MetricSource, ReleaseStore, RouterError, TrafficRouter};
use crate::release::route::RouteTarget;

/// A metric scenario: synthetic series or datapoints recorded from CloudWatch.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Virtual start time (default 2025-11-14T09:00:00Z).
    #[serde(default)]
    pub start: Option<DateTime<Utc>>,
    /// Seed of the noise.
    #[serde(default)]
    pub seed: u64,
    /// Per metric (the plan's metric names): canary and baseline series.
    #[serde(default)]
    pub metrics: BTreeMap<String, MetricScenario>,
    /// Datapoints recorded with `aws cloudwatch get-metric-data` (its JSON output), mapped by id.
    #[serde(default)]
    pub recorded: Option<Recorded>,
    /// How each approval is decided (by approval id); default: approved after 5m.
    #[serde(default)]
    pub approvals: BTreeMap<String, ApprovalScenario>,
    /// An evidence file (`{author, evidence, overrides}`, as `rollgate check` reads), relative
    /// to the scenario; read by the caller into `evidence`, `overrides` and `author`.
    #[serde(default)]
    pub evidence_file: Option<String>,
    #[serde(default)]
    pub evidence: Evidence,
    #[serde(default)]
    pub overrides: Vec<Override>,
    #[serde(default)]
    pub author: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricScenario {
    pub canary: Series,
    #[serde(default)]
    pub baseline: Option<Series>,
}

/// A synthetic series: a level with Gaussian noise, optionally a step change or a ramp.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Series {
    pub level: f64,
    #[serde(default)]
    pub noise: f64,
    /// From `at` (after the start) on, the level is `to`.
    #[serde(default)]
    pub change: Option<StepChange>,
    /// From `from` to `to` (after the start) the level rises linearly by `by`, and stays.
    #[serde(default)]
    pub ramp: Option<Ramp>,
    /// Values are never below this (rates and latencies are not negative).
    #[serde(default)]
    pub floor: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepChange {
    pub at: HumanDuration,
    pub to: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ramp {
    pub from: HumanDuration,
    pub to: HumanDuration,
    pub by: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recorded {
    /// The output of `aws cloudwatch get-metric-data` (`MetricDataResults`).
    pub file: String,
    /// Result id → metric name and side, e.g. `m1: { metric: latency_p99, side: canary }`.
    pub ids: BTreeMap<String, RecordedId>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedId {
    pub metric: String,
    pub side: RecordedSide,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordedSide {
    Canary,
    Baseline,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalScenario {
    pub decision: ApprovalDecision,
    #[serde(default = "five_minutes")]
    pub after: HumanDuration,
    #[serde(default)]
    pub by: Option<String>,
}

fn five_minutes() -> HumanDuration {
    HumanDuration::from_secs(300)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalDecision {
    Approve,
    Reject,
    /// Nobody answers before the timeout (which rolls back: an expired approval is never a pass).
    Timeout,
}

/// One line of the timeline.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Seconds since the start.
    pub offset_secs: u64,
    pub at: DateTime<Utc>,
    pub step: Option<usize>,
    pub canary_weight: u32,
    pub kind: EntryKind,
    pub text: String,
    /// Per metric: (name, canary value, outcome).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricPoint>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MetricPoint {
    pub metric: String,
    pub canary: Option<f64>,
    pub baseline: Option<f64>,
    pub outcome: crate::domain::gate::MetricOutcome,
    pub sentence: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Checklist,
    Approval,
    Weight,
    Check,
    Promoted,
    RolledBack,
    Blocked,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimOutcome {
    Promoted,
    RolledBack,
    Blocked,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Simulation {
    pub plan: String,
    pub scenario: Option<String>,
    pub outcome: SimOutcome,
    /// The step (0-based) at which it ended, and why.
    pub final_step: Option<usize>,
    pub reason: String,
    pub duration_secs: u64,
    pub timeline: Vec<TimelineEntry>,
    /// Plan bounds per metric, for charts: (metric, label, value).
    pub thresholds: Vec<(String, String, f64)>,
    /// The simulated release's audit trail, as the real functions would have written it.
    #[serde(skip)]
    pub trail: Vec<crate::release::ReleaseEvent>,
}

#[derive(Debug, thiserror::Error)]
pub enum SimulationError {
    #[error("scenario: {0}")]
    Scenario(String),
    #[error("the simulated release could not run: {0}")]
    Run(String),
}

/// Runs `plan` against `scenario` on a virtual clock. `recorded` holds the parsed recorded file,
/// when the scenario names one.
pub async fn simulate(plan: &Plan, scenario: &Scenario, recorded: Option<serde_json::Value>) -> Result<Simulation, SimulationError> {
    let store = MemoryStore::new();
    let identity = SimulatedRelease::default();
    let mut simulation = simulate_into(&store, &identity, plan, scenario, recorded).await?;
    simulation.trail = store.events(&identity.id).await.map_err(|e| SimulationError::Run(e.to_string()))?;
    Ok(simulation)
}

/// Who the simulated release is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimulatedRelease {
    pub id: String,
    pub service: String,
    pub environment: String,
    pub version: String,
}

impl Default for SimulatedRelease {
    fn default() -> Self {
        Self { id: "simulated".into(), service: "simulated-service".into(), environment: "simulation".into(), version: "new".into() }
    }
}

/// [`simulate`], writing the release and its audit trail into `store` as the real functions
/// would: how a week of releases is replayed into a table (the weekly review's tests).
pub async fn simulate_into(
    store: &dyn ReleaseStore,
    identity: &SimulatedRelease,
    plan: &Plan,
    scenario: &Scenario,
    recorded: Option<serde_json::Value>,
) -> Result<Simulation, SimulationError> {
    let start = scenario
        .start
        .unwrap_or_else(|| DateTime::parse_from_rfc3339("2025-11-14T09:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default());
    let notifier = RecordingNotifier::default();
    let workflow = RecordingWorkflow::default();
    let router = SimRouter::default();
    let source = ScenarioSource::new(scenario, start, recorded)?;
    let run = |e: &dyn std::fmt::Display| SimulationError::Run(e.to_string());
    let mut timeline = Vec::new();
    let mut now = start;
    let entry = |timeline: &mut Vec<TimelineEntry>,
                 at: DateTime<Utc>,
                 step: Option<usize>,
                 weight: u32,
                 kind: EntryKind,
                 text: String,
                 metrics: Vec<MetricPoint>| {
        let offset_secs = u64::try_from((at - start).num_seconds().max(0)).unwrap_or(0);
        timeline.push(TimelineEntry { offset_secs, at, step, canary_weight: weight, kind, text, metrics });
    };

    let request = crate::release::ReleaseRequest {
        release_id: Some(identity.id.clone()),
        service: identity.service.clone(),
        environment: identity.environment.clone(),
        version: identity.version.clone(),
        stable_version: Some("stable".into()),
        author: scenario.author.clone(),
        requested_by: Some("rollgate simulate".into()),
        plan: serde_json::to_value(plan).map_err(|e| run(&e))?,
        evidence: scenario.evidence.clone(),
        overrides: scenario.overrides.clone(),
    };
    let admitted = crate::flow::admit::admit(store, request, now).await.map_err(|e| run(&e))?;
    let id = admitted.release.id.clone();
    if plan.checklist.items.is_empty() {
        entry(&mut timeline, now, None, 0, EntryKind::Checklist, "no checklist in the plan".into(), vec![]);
    } else {
        entry(
            &mut timeline,
            now,
            None,
            0,
            EntryKind::Checklist,
            format!("{:?}: {}", admitted.verdict.verdict, admitted.verdict.summary),
            vec![],
        );
    }
    if admitted.verdict.is_blocked() {
        return Ok(finish(plan, scenario, SimOutcome::Blocked, None, admitted.verdict.summary.clone(), start, now, timeline));
    }

    let mut step = 0usize;
    let steps = plan.traffic.steps.len();
    let mut weight = 0;
    loop {
        if let Some(gate) = plan.approval_for_step(step) {
            // The same path as the deployed flow: approval-request records the pending approval,
            // each approver's vote goes through the approval domain, the quorum resumes the task.
            let token = format!("simulated-task-{step}");
            let asked =
                crate::flow::approval::request(store, "approval-request", &id, step, &gate.id, &token, now).await.map_err(|e| run(&e))?;
            crate::flow::notify::announce(store, &notifier, "approval-request", &asked.release, &asked.notification)
                .await
                .map_err(|e| run(&e))?;
            let decided = scenario.approvals.get(&gate.id).cloned().unwrap_or(ApprovalScenario {
                decision: ApprovalDecision::Approve,
                after: five_minutes(),
                by: None,
            });
            let voters: Vec<String> = match &decided.by {
                Some(by) => by.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect(),
                None => gate.approvers.iter().take(gate.quorum as usize).cloned().collect(),
            };
            let in_time = decided.decision != ApprovalDecision::Timeout && decided.after <= gate.timeout;
            let mut failure = None;
            if in_time {
                now += decided.after.chrono();
                for voter in &voters {
                    let vote = crate::flow::approval::Vote {
                        release_id: id.clone(),
                        identities: vec![voter.clone()],
                        approved: decided.decision == ApprovalDecision::Approve,
                        comment: None,
                        on: Some(crate::flow::approval::ApprovalRef { approval: gate.id.clone(), step }),
                    };
                    let resolution = crate::flow::approval::resolve(store, &workflow, voter, &vote, now)
                        .await
                        .map_err(|e| SimulationError::Scenario(format!("approvals.{}.by: {e}", gate.id)))?;
                    match resolution {
                        crate::flow::approval::Resolution::Approved { .. } => break,
                        crate::flow::approval::Resolution::Rejected { reason, .. } => {
                            failure = Some(format!("approval `{}` {reason}", gate.id));
                            break;
                        }
                        crate::flow::approval::Resolution::Pending { .. } => {}
                    }
                }
            }
            if failure.is_none() && workflow.outcome(&token).is_none() {
                // Nobody (or too few) decided in time: the state machine's timeout fires.
                now = asked.expires_at;
                failure = Some(format!(
                    "approval `{}` expired after {} without a decision; an expired approval is a rejection",
                    gate.id, gate.timeout
                ));
            }
            let text = match &failure {
                None => format!("approval `{}` granted by {} after {}", gate.id, voters.join(", "), decided.after),
                Some(reason) => reason.clone(),
            };
            entry(&mut timeline, now, Some(step), weight, EntryKind::Approval, text, vec![]);
            if let Some(reason) = failure {
                return rolled_back(store, &router, &notifier, &id, plan, scenario, step, reason, start, now, timeline).await;
            }
        }
        let moved = switch(store, &router, &id, SwitchTarget::Step(step), now).await.map_err(|e| run(&e))?;
        weight = moved.weight;
        let bake = plan.traffic.steps[step].bake;
        entry(
            &mut timeline,
            now,
            Some(step),
            weight,
            EntryKind::Weight,
            format!("step {} of {steps}: {weight}% to the new version, bake {bake}", step + 1),
            vec![],
        );
        now += HumanDuration::from_secs(plan.first_check_after(step).unwrap_or(1)).chrono();
        loop {
            let result = crate::flow::gate_check::run(store, &source, &id, now).await.map_err(|e| run(&e))?;
            let metrics = result
                .verdict
                .as_ref()
                .map(|v| {
                    v.metrics
                        .iter()
                        .map(|m| MetricPoint {
                            metric: m.metric.clone(),
                            canary: m.canary.map(|c| c.value),
                            baseline: m.baseline.map(|b| b.value),
                            outcome: m.outcome,
                            sentence: m.sentence.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let outcome = result.verdict.as_ref().map_or("time only".to_string(), |v| format!("{:?}", v.outcome).to_lowercase());
            let decision = result.decision;
            let action = format!("{:?}", decision.action).to_lowercase();
            entry(&mut timeline, now, Some(step), weight, EntryKind::Check, format!("{outcome} → {action}: {}", decision.reason), metrics);
            match decision.action {
                Action::Bake => now += HumanDuration::from_secs(decision.next_check_in_secs.unwrap_or(60)).chrono(),
                Action::Advance => break,
                Action::Promote => {
                    let promoted = switch(store, &router, &id, SwitchTarget::Promote, now).await.map_err(|e| run(&e))?;
                    let text = format!("promoted: 100% on the new version after {}", fmt(now - start));
                    entry(&mut timeline, now, Some(step), promoted.weight, EntryKind::Promoted, text.clone(), vec![]);
                    return Ok(finish(plan, scenario, SimOutcome::Promoted, Some(step), text, start, now, timeline));
                }
                Action::Rollback => {
                    return rolled_back(store, &router, &notifier, &id, plan, scenario, step, decision.reason, start, now, timeline).await;
                }
            }
        }
        step += 1;
    }
}

#[allow(clippy::too_many_arguments)]
async fn rolled_back(
    store: &dyn ReleaseStore,
    router: &SimRouter,
    notifier: &RecordingNotifier,
    id: &str,
    plan: &Plan,
    scenario: &Scenario,
    step: usize,
    reason: String,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    mut timeline: Vec<TimelineEntry>,
) -> Result<Simulation, SimulationError> {
    roll_back(store, router, notifier, id, &reason, RestorePolicy::default(), || now)
        .await
        .map_err(|e| SimulationError::Run(e.to_string()))?;
    let offset_secs = u64::try_from((now - start).num_seconds().max(0)).unwrap_or(0);
    timeline.push(TimelineEntry {
        offset_secs,
        at: now,
        step: Some(step),
        canary_weight: 0,
        kind: EntryKind::RolledBack,
        text: format!("rolled back at step {}: {reason}", step + 1),
        metrics: vec![],
    });
    Ok(finish(plan, scenario, SimOutcome::RolledBack, Some(step), reason, start, now, timeline))
}

#[allow(clippy::too_many_arguments)]
fn finish(
    plan: &Plan,
    scenario: &Scenario,
    outcome: SimOutcome,
    final_step: Option<usize>,
    reason: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    timeline: Vec<TimelineEntry>,
) -> Simulation {
    let mut thresholds = Vec::new();
    for metric in plan.analysis.iter().flat_map(|a| &a.metrics) {
        for (label, bounds) in [("must", &metric.must), ("rollback", &metric.rollback_if)] {
            if let Some(b) = bounds {
                for v in [b.at_least, b.at_most, b.above, b.below].into_iter().flatten() {
                    thresholds.push((metric.name.clone(), label.to_string(), v));
                }
            }
        }
    }
    Simulation {
        plan: plan.name.clone(),
        scenario: scenario.name.clone(),
        outcome,
        final_step,
        reason,
        duration_secs: u64::try_from((end - start).num_seconds().max(0)).unwrap_or(0),
        timeline,
        thresholds,
        trail: Vec::new(),
    }
}

fn fmt(d: chrono::Duration) -> HumanDuration {
    HumanDuration::from_secs(u64::try_from(d.num_seconds().max(0)).unwrap_or(0))
}

/// A router that only remembers its weight.
#[derive(Default)]
struct SimRouter {
    weight: Mutex<u32>,
}

#[async_trait]
impl TrafficRouter for SimRouter {
    async fn set_weight(&self, _: &RouteTarget, weight: u32) -> Result<(), RouterError> {
        *self.weight.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = weight;
        Ok(())
    }

    async fn current_weight(&self, _: &RouteTarget) -> Result<u32, RouterError> {
        Ok(*self.weight.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

/// Datapoints from the scenario for whatever the plan queries.
struct ScenarioSource {
    metrics: BTreeMap<String, MetricScenario>,
    recorded: BTreeMap<(String, Side), Vec<Datapoint>>,
    start: DateTime<Utc>,
    seed: u64,
}

impl ScenarioSource {
    fn new(scenario: &Scenario, start: DateTime<Utc>, recorded: Option<serde_json::Value>) -> Result<Self, SimulationError> {
        let mut series = BTreeMap::new();
        if let (Some(spec), Some(data)) = (&scenario.recorded, recorded) {
            let results = data.get("MetricDataResults").and_then(|r| r.as_array()).cloned().ok_or_else(|| {
                SimulationError::Scenario(
                    "the recorded file has no MetricDataResults; save the output of `aws cloudwatch get-metric-data`".into(),
                )
            })?;
            for result in results {
                let id = result.get("Id").and_then(|v| v.as_str()).unwrap_or_default();
                let Some(mapping) = spec.ids.get(id) else { continue };
                let times = result.get("Timestamps").and_then(|v| v.as_array()).cloned().unwrap_or_default();
                let values = result.get("Values").and_then(|v| v.as_array()).cloned().unwrap_or_default();
                let points: Vec<Datapoint> = times
                    .iter()
                    .zip(values.iter())
                    .filter_map(|(t, v)| {
                        let at = DateTime::parse_from_rfc3339(t.as_str()?).ok()?.with_timezone(&Utc);
                        Some(Datapoint { at, value: v.as_f64()? })
                    })
                    .collect();
                let side = if mapping.side == RecordedSide::Canary { Side::Canary } else { Side::Baseline };
                series.entry((mapping.metric.clone(), side)).or_insert_with(Vec::new).extend(points);
            }
        }
        Ok(Self { metrics: scenario.metrics.clone(), recorded: series, start, seed: scenario.seed })
    }

    fn value(&self, series: &Series, at: DateTime<Utc>, salt: u64) -> f64 {
        let t = u64::try_from((at - self.start).num_seconds().max(0)).unwrap_or(0);
        let mut level = series.level;
        if let Some(ramp) = &series.ramp {
            let (from, to) = (ramp.from.as_secs(), ramp.to.as_secs().max(ramp.from.as_secs() + 1));
            let progress = if t <= from {
                0.0
            } else if t >= to {
                1.0
            } else {
                (t - from) as f64 / (to - from) as f64
            };
            level += ramp.by * progress;
        }
        if let Some(change) = &series.change
            && t >= change.at.as_secs()
        {
            level = change.to;
        }
        let value = level + series.noise * gaussian(self.seed ^ salt.rotate_left(17) ^ t);
        series.floor.map_or(value, |f| value.max(f))
    }
}

/// A standard normal deviate from a hash of `key` (deterministic, no state).
fn gaussian(key: u64) -> f64 {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let u1 = ((mix(key) >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let u2 = ((mix(key ^ 0xA5A5_A5A5) >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[async_trait]
impl MetricSource for ScenarioSource {
    async fn fetch(&self, plan: &QueryPlan) -> Result<BTreeMap<String, Vec<Datapoint>>, MetricError> {
        let mut out = BTreeMap::new();
        for (id, (metric, side)) in &plan.results {
            if let Some(points) = self.recorded.get(&(metric.clone(), *side)) {
                out.insert(id.clone(), points.iter().filter(|p| p.at >= plan.start && p.at < plan.end).copied().collect());
                continue;
            }
            let Some(spec) = self.metrics.get(metric) else { continue };
            let series = match side {
                Side::Canary => Some(&spec.canary),
                Side::Baseline => spec.baseline.as_ref(),
            };
            let Some(series) = series else { continue };
            let period = plan
                .queries
                .iter()
                .find(|q| &q.id == id)
                .map(|q| match &q.body {
                    crate::domain::query::QueryBody::Stat { period_secs, .. }
                    | crate::domain::query::QueryBody::Expression { period_secs, .. } => i64::from(*period_secs),
                })
                .unwrap_or(60)
                .max(1);
            let salt =
                metric.bytes().fold(if *side == Side::Canary { 1u64 } else { 2 }, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
            let mut points = Vec::new();
            // One datapoint per period, stamped with the period's start as CloudWatch stamps them,
            // within [start of the window, now).
            let since = (plan.start - self.start).num_seconds().max(0);
            let mut offset = (since + period - 1) / period * period;
            while self.start + chrono::Duration::seconds(offset) < plan.end {
                let at = self.start + chrono::Duration::seconds(offset);
                points.push(Datapoint { at, value: self.value(series, at, salt) });
                offset += period;
            }
            out.insert(id.clone(), points);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
