//! The plan on a virtual clock, in-process, against a metric scenario: the deployed state
//! machine definition, interpreted ([`machine`]), calling the same task functions as the
//! deployed Lambda handlers with in-memory adapters.

pub mod machine;
pub mod meter;

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::adapters::memory::{MemoryRouter, MemoryStore, RecordingNotifier, RecordingWorkflow, TaskOutcome};
use crate::boundary::{self, TaskError};
use crate::domain::checklist::{Evidence, Override};
use crate::domain::duration::HumanDuration;
use crate::domain::observation::Datapoint;
use crate::domain::plan::Plan;
use crate::domain::query::{QueryPlan, Side};
use crate::domain::yaml;
use crate::flow::rollback::RestorePolicy;
use crate::flow::tasks::actor;
use crate::ports::{MetricError, MetricSource, ReleaseStore, Workflow};
use crate::release::{EventKind, ReleaseEvent, ReleaseStatus};
use machine::{Invocation, TaskFailure, Wait};

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
    /// When the plan's `rollback_alarms` go to ALARM (by name); an alarm not named here stays OK.
    #[serde(default)]
    pub alarms: BTreeMap<String, AlarmScenario>,
    /// How the plan's step hooks answer (by hook name); a hook not named here passes.
    #[serde(default)]
    pub hooks: BTreeMap<String, HookScenario>,
    /// What operators do while the release runs (`rollgate pause`, `resume`, `skip`, `promote`).
    #[serde(default)]
    pub controls: Vec<ControlScenario>,
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
    /// The platform policy the release runs under (`docs/policy.md`): admission refuses a plan
    /// weaker than it, and its freezes hold the release at its weight (`simulate --policy`).
    #[serde(default)]
    pub policy: Option<crate::domain::policy::Policy>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricScenario {
    pub canary: Series,
    #[serde(default)]
    pub baseline: Option<Series>,
}

/// A synthetic series: a level with Gaussian noise, changed by level changes and ramps timed
/// from the start or from a step's start.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Series {
    #[serde(deserialize_with = "yaml::finite")]
    pub level: f64,
    #[serde(default, deserialize_with = "yaml::finite")]
    pub noise: f64,
    /// From `at` (after the start) on, the level is `to`.
    #[serde(default)]
    pub change: Option<StepChange>,
    /// From `from` to `to` (after the start) the level rises linearly by `by`, and stays.
    #[serde(default)]
    pub ramp: Option<Ramp>,
    /// Further changes, applied in the order they begin: each sets the level (`to`) or moves it
    /// by `by` (over `over`, a ramp), from `at` after the start or `after` into step `step`.
    #[serde(default)]
    pub changes: Vec<Change>,
    /// Values are never below this (rates and latencies are not negative).
    #[serde(default, deserialize_with = "yaml::finite_opt")]
    pub floor: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepChange {
    pub at: HumanDuration,
    #[serde(deserialize_with = "yaml::finite")]
    pub to: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ramp {
    pub from: HumanDuration,
    pub to: HumanDuration,
    #[serde(deserialize_with = "yaml::finite")]
    pub by: f64,
}

/// When an alarm goes to ALARM: `at` after the start, or `after` into step `step` (from 1).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmScenario {
    #[serde(default)]
    pub at: Option<HumanDuration>,
    #[serde(default)]
    pub step: Option<usize>,
    #[serde(default)]
    pub after: Option<HumanDuration>,
    /// CloudWatch's state reason, e.g. `Threshold Crossed: 3 datapoints were greater than 5.0`.
    #[serde(default)]
    pub reason: Option<String>,
}

/// When a step hook starts failing and how: from step `step` (counted from 1) on, before that
/// step's shift and at its checks, or only from `after` into that step; or from `at` after the
/// start. Until then it passes. From then on it fails saying `output`, or, when it `takes` longer
/// than its timeout, gives no answer.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookScenario {
    #[serde(default)]
    pub at: Option<HumanDuration>,
    #[serde(default)]
    pub step: Option<usize>,
    #[serde(default)]
    pub after: Option<HumanDuration>,
    /// What the hook says when it fails, e.g. `3 of 40 checkout requests failed`.
    #[serde(default)]
    pub output: Option<String>,
    /// How long each failing run takes (default 1s); longer than the hook's timeout is no answer.
    #[serde(default)]
    pub takes: Option<HumanDuration>,
}

/// An operator's control at `at` after the start, or `after` into step `step` (from 1).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlScenario {
    pub control: crate::release::Control,
    #[serde(default)]
    pub at: Option<HumanDuration>,
    #[serde(default)]
    pub step: Option<usize>,
    #[serde(default)]
    pub after: Option<HumanDuration>,
    /// Who (an IAM principal ARN, as the CLI records the AWS caller).
    #[serde(default = "default_operator")]
    pub by: String,
    pub reason: String,
    /// How long a pause lasts (`rollgate pause --for`; default 4h).
    #[serde(default, rename = "for")]
    pub lasting: Option<HumanDuration>,
}

fn default_operator() -> String {
    "arn:aws:sts::123456789012:assumed-role/operator/on-call".into()
}

/// One change of a series: when it begins (`at` after the start, or `after` into step `step`,
/// counted from 1 as the timeline counts) and what it does (`to` a level, or `by` an amount,
/// reached over `over` if given).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    #[serde(default)]
    pub at: Option<HumanDuration>,
    #[serde(default)]
    pub step: Option<usize>,
    #[serde(default)]
    pub after: Option<HumanDuration>,
    #[serde(default, deserialize_with = "yaml::finite_opt")]
    pub to: Option<f64>,
    #[serde(default, deserialize_with = "yaml::finite_opt")]
    pub by: Option<f64>,
    #[serde(default)]
    pub over: Option<HumanDuration>,
}

impl Change {
    /// What is wrong with it, in the words of the scenario file.
    fn problem(&self) -> Option<&'static str> {
        match (self.at.is_some(), self.step.is_some(), self.to.is_some(), self.by.is_some()) {
            (true, true, _, _) => Some("gives both `at` and `step`; time it from the start (`at`) or from a step (`step`, `after`)"),
            (false, false, _, _) => Some("says neither when (`at: 40m`) nor from which step (`step: 3`)"),
            (_, _, true, true) => Some("gives both `to` and `by`; set a level (`to`) or move it (`by`)"),
            (_, _, false, false) => Some("says neither `to` (a level) nor `by` (an amount)"),
            _ if self.after.is_some() && self.at.is_some() => Some("`after` counts from a step's start; with `at` leave it out"),
            _ if self.step == Some(0) => Some("steps count from 1, as the timeline does"),
            _ if self.over.is_some() && self.to.is_some() => Some("`over` ramps an amount; use it with `by`"),
            _ => None,
        }
    }
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
    /// What the approvers say with their decision (a rejection's reason).
    #[serde(default)]
    pub comment: Option<String>,
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
    /// An alarm of `rollback_alarms` went to ALARM between checks (EventBridge's rule).
    Alarm,
    /// A step's `before_shift` hooks ran.
    Hooks,
    /// An operator paused, resumed, skipped or promoted the release.
    Control,
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
    /// The states of the deployed state machine the simulated execution went through.
    pub states: Vec<String>,
    /// The simulated release's audit trail: the same records, in the same schema, that a
    /// deployed release writes (`rollgate history --json`).
    pub trail: Vec<crate::release::ReleaseEvent>,
    /// What the release asked of AWS (`rollgate cost` prices it).
    #[serde(default)]
    pub usage: crate::domain::cost::Usage,
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
    let store = meter::MeteredStore::new(MemoryStore::new());
    // Under a policy, the release is of the service and environment it governs.
    let identity = match &scenario.policy {
        Some(policy) => {
            SimulatedRelease { service: policy.service.clone(), environment: policy.environment.clone(), ..SimulatedRelease::default() }
        }
        None => SimulatedRelease::default(),
    };
    let mut simulation = simulate_into(&store, &identity, plan, scenario, recorded).await?;
    simulation.usage.dynamodb_read_units += store.read_units();
    simulation.usage.dynamodb_write_units += store.write_units();
    simulation.trail = store.events(&identity.id).await.map_err(|e| SimulationError::Run(e.to_string()))?;
    Ok(simulation)
}

/// A release that goes well: every metric of the plan steady at a level its bounds accept (the
/// canary and the baseline alike), every approval granted after five minutes (the scenario's
/// default). The checklist's evidence is the caller's to add.
pub fn healthy_scenario(plan: &Plan) -> Scenario {
    let steady = |level: f64| Series { level, ..Series::default() };
    let mut metrics = BTreeMap::new();
    for (name, variants) in metric_variants(plan) {
        let level = healthy_level(&variants);
        let baseline = variants.iter().any(|m| !m.query.baseline.is_empty()).then(|| steady(level));
        metrics.insert(name, MetricScenario { canary: steady(level), baseline });
    }
    Scenario { name: Some("healthy: every metric within its bounds, every approval granted".into()), metrics, ..Scenario::default() }
}

/// A level that meets `metric`'s bounds and none of its rollback conditions: the middle of its
/// bounds, or a value clear of the one bound it has.
/// Every metric the plan judges, by name, as each step judges it (a step may change its bounds).
fn metric_variants(plan: &Plan) -> BTreeMap<String, Vec<crate::domain::plan::MetricGate>> {
    let mut variants: BTreeMap<String, Vec<crate::domain::plan::MetricGate>> = BTreeMap::new();
    for step in 0..plan.traffic.steps.len() {
        for metric in plan.analysis_at(step).iter().flat_map(|a| a.metrics.iter()) {
            let seen = variants.entry(metric.name.clone()).or_default();
            if !seen.contains(metric) {
                seen.push(metric.clone());
            }
        }
    }
    variants
}

/// A level every step's version of a metric accepts: inside each `must`, outside each
/// `rollback_if` and `sustained` condition.
fn healthy_level(variants: &[crate::domain::plan::MetricGate]) -> f64 {
    let musts: Vec<_> = variants.iter().filter_map(|m| m.must.as_ref()).collect();
    let lower = musts.iter().flat_map(|m| [m.at_least, m.above]).flatten().fold(f64::NEG_INFINITY, f64::max);
    let upper = musts.iter().flat_map(|m| [m.at_most, m.below]).flatten().fold(f64::INFINITY, f64::min);
    let guess = match (lower.is_finite(), upper.is_finite()) {
        (true, true) => lower + (upper - lower) / 2.0,
        (false, true) if upper > 0.0 => upper / 2.0,
        (false, true) => upper - 1.0,
        (true, false) if lower >= 0.0 => lower * 2.0 + 1.0,
        (true, false) => lower + 1.0,
        (false, false) => 1.0,
    };
    let healthy = |v: f64| {
        variants.iter().all(|metric| {
            metric.must.as_ref().is_none_or(|b| b.holds(v))
                && !metric.rollback_if.as_ref().is_some_and(|b| b.holds(v))
                && !metric.sustained.as_ref().is_some_and(|c| c.bounds().holds(v))
        })
    };
    [guess, 0.0, 1.0, lower + 1.0, upper - 1.0, 100.0].into_iter().filter(|v| v.is_finite()).find(|v| healthy(*v)).unwrap_or(guess)
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
///
/// The simulator runs the deployed state machine definition ([`machine`]) and, for each Task,
/// the same boundary and flow functions the Lambda handlers call, with in-memory adapters and
/// a virtual clock. The timeline is read back from the audit trail the run wrote.
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
    let run = |e: &dyn std::fmt::Display| SimulationError::Run(e.to_string());
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
        execution: None,
    };
    let tasks = SimTasks {
        release_id: identity.id.clone(),
        controlled: std::sync::Mutex::new(std::collections::BTreeSet::new()),
        store,
        tokens: meter::MeteredStore::new(MemoryStore::new()),
        meter: meter::Meter::default(),
        router: MemoryRouter::default(),
        notifier: RecordingNotifier::default(),
        workflow: RecordingWorkflow::default(),
        source: ScenarioSource::new(scenario, start, recorded)?,
        policy: ScenarioPolicy(
            scenario.policy.clone().map(|policy| crate::ports::StoredPolicy {
                policy,
                version: 1,
                updated_by: "the scenario".into(),
                updated_at: start,
            }),
            std::sync::atomic::AtomicU64::new(0),
        ),
        scenario,
    };
    let definition = machine::Definition::deployed().map_err(|e| run(&e))?;
    let input = serde_json::to_value(&request).map_err(|e| run(&e))?;
    let execution = definition.run(&tasks, input, &format!("simulation:{}", identity.id), start).await.map_err(|e| run(&e))?;
    if let Some(failure) = tasks.scenario_error() {
        return Err(failure);
    }
    let release = store.release(&identity.id).await.map_err(|e| run(&e))?;
    let trail = store.events(&identity.id).await.map_err(|e| run(&e))?;
    let Some(release) = release else {
        return Err(SimulationError::Run(ending_text(&execution)));
    };
    let outcome = match release.status {
        ReleaseStatus::Promoted => SimOutcome::Promoted,
        ReleaseStatus::RolledBack | ReleaseStatus::Aborted => SimOutcome::RolledBack,
        ReleaseStatus::Blocked => SimOutcome::Blocked,
        _ => return Err(SimulationError::Run(format!("the release did not end: {}", ending_text(&execution)))),
    };
    let timeline = timeline(plan, &trail, start);
    let final_step = trail.iter().rev().find_map(|e| match &e.kind {
        EventKind::WeightChanged(c) if e.actor != actor::ROLLBACK_NOTIFIER => c.step,
        EventKind::ApprovalRequested { step, .. } | EventKind::GateJudged { step, .. } => Some(*step),
        _ => None,
    });
    let reason = match outcome {
        SimOutcome::Promoted => format!("promoted: 100% on the new version after {}", fmt(execution.end - start)),
        SimOutcome::RolledBack => trail
            .iter()
            .rev()
            .find_map(|e| match &e.kind {
                EventKind::RolledBack(record) => Some(record.reason.clone()),
                _ => None,
            })
            .or(release.closed_reason.clone())
            .unwrap_or_default(),
        SimOutcome::Blocked => trail
            .iter()
            .find_map(|e| match &e.kind {
                EventKind::ChecklistJudged(v) => Some(v.summary.clone()),
                _ => None,
            })
            .unwrap_or_default(),
    };
    Ok(Simulation {
        plan: plan.name.clone(),
        scenario: scenario.name.clone(),
        outcome,
        final_step: if outcome == SimOutcome::Blocked { None } else { final_step },
        reason,
        duration_secs: u64::try_from((execution.end - start).num_seconds().max(0)).unwrap_or(0),
        timeline,
        thresholds: thresholds(plan),
        states: execution.transitions.iter().map(|t| t.state.clone()).collect(),
        trail,
        usage: tasks.usage(&execution),
    })
}

fn ending_text(execution: &machine::Execution) -> String {
    // A Lambda error's cause is JSON with the function's own message.
    let message = |cause: &str| {
        serde_json::from_str::<serde_json::Value>(cause)
            .ok()
            .and_then(|v| v.get("errorMessage").and_then(|m| m.as_str()).map(str::to_string))
            .unwrap_or_else(|| cause.to_string())
    };
    match &execution.ending {
        machine::Ending::Succeeded { state, .. } => format!("the execution ended in {state}"),
        machine::Ending::Aborted { state, error, cause } => format!("the execution was stopped in {state}: {error}: {cause}"),
        machine::Ending::Failed { state, error, cause } => {
            // The Fail state's own cause is generic; the error a Catch kept says what happened.
            let caught = execution.caught.as_ref().and_then(|e| e.get("Cause")).and_then(|c| c.as_str()).map(message);
            format!("the execution ended in {state} ({error}): {}", caught.unwrap_or_else(|| message(cause)))
        }
    }
}

/// The timeline, read from a release's audit trail (simulated or deployed; `start` is offset
/// zero): what a person reads of a release, and what its chart draws.
pub fn timeline(plan: &Plan, trail: &[ReleaseEvent], start: DateTime<Utc>) -> Vec<TimelineEntry> {
    let steps = plan.traffic.steps.len();
    let mut out = Vec::new();
    let (mut weight, mut step) = (0u32, None);
    let mut verdict: Option<&crate::domain::gate::GateVerdict> = None;
    for event in trail {
        let offset_secs = u64::try_from((event.at - start).num_seconds().max(0)).unwrap_or(0);
        let mut push = |kind: EntryKind, step: Option<usize>, weight: u32, text: String, metrics: Vec<MetricPoint>| {
            out.push(TimelineEntry { offset_secs, at: event.at, step, canary_weight: weight, kind, text, metrics });
        };
        match &event.kind {
            EventKind::ChecklistJudged(v) => {
                let text = if plan.checklist.items.is_empty() {
                    "no checklist in the plan".to_string()
                } else {
                    format!("{:?}: {}", v.verdict, v.summary)
                };
                push(EntryKind::Checklist, None, 0, text, vec![]);
            }
            EventKind::ApprovalRequested { step: s, .. } => step = Some(*s),
            EventKind::ApprovalDecided { .. } => push(EntryKind::Approval, step, weight, event.kind.summary(), vec![]),
            EventKind::WeightChanged(change) => {
                weight = change.after;
                if event.actor != actor::ROLLBACK_NOTIFIER {
                    step = change.step.or(step);
                    let text = match change.step.and_then(|s| plan.traffic.steps.get(s)) {
                        Some(planned) if change.after != 100 || planned.weight == 100 => {
                            let what = match (change.before == change.after, change.after) {
                                (true, 0) => "0% (the new version measured, no traffic shifted)".to_string(),
                                (true, kept) => format!("{kept}% kept"),
                                (false, after) => format!("{after}% to the new version"),
                            };
                            format!("step {} of {steps}: {what}, bake {}", change.step.map_or(0, |s| s + 1), planned.bake)
                        }
                        _ => format!("{}% to the new version", change.after),
                    };
                    push(EntryKind::Weight, step, weight, text, vec![]);
                }
            }
            EventKind::GateJudged { step: s, verdict: v, .. } => {
                step = Some(*s);
                verdict = Some(v);
            }
            EventKind::Decided(decision) => {
                let judged = verdict.take();
                let metrics = judged
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
                            // The hooks that ran with the check, each on a line of its own.
                            .chain(v.hooks.iter().map(|h| MetricPoint {
                                metric: h.hook.clone(),
                                canary: None,
                                baseline: None,
                                outcome: if h.passed() {
                                    crate::domain::gate::MetricOutcome::Pass
                                } else {
                                    crate::domain::gate::MetricOutcome::Critical
                                },
                                sentence: h.sentence(),
                            }))
                            .collect()
                    })
                    .unwrap_or_default();
                let outcome = judged.map_or("time only".to_string(), |v| format!("{:?}", v.outcome).to_lowercase());
                let action = format!("{:?}", decision.action).to_lowercase();
                push(EntryKind::Check, Some(decision.step), weight, format!("{outcome} → {action}: {}", decision.reason), metrics);
            }
            EventKind::Closed { status: ReleaseStatus::Promoted, .. } => {
                let text = format!("promoted: 100% on the new version after {}", fmt(event.at - start));
                push(EntryKind::Promoted, step, weight, text, vec![]);
            }
            EventKind::HooksRan { .. } => push(EntryKind::Hooks, step, weight, event.kind.summary(), vec![]),
            EventKind::Controlled { .. } => push(EntryKind::Control, step, weight, event.kind.summary(), vec![]),
            EventKind::AlarmRaised(alarm) => push(EntryKind::Alarm, step, weight, crate::domain::alarm::raised(alarm), vec![]),
            EventKind::RolledBack(record) => {
                let at = step.map(|s| format!(" at step {}", s + 1)).unwrap_or_default();
                push(EntryKind::RolledBack, step, 0, format!("rolled back{at}: {}", record.reason), vec![]);
            }
            EventKind::RollbackFailed { error, .. } => {
                push(EntryKind::RolledBack, step, weight, format!("ROLLBACK FAILED: {error}"), vec![])
            }
            EventKind::Closed { status: ReleaseStatus::Blocked, reason } => push(EntryKind::Blocked, None, 0, reason.clone(), vec![]),
            _ => {}
        }
    }
    out
}

/// Plan bounds per metric, for charts; a bound that only some steps apply names them.
pub fn thresholds(plan: &Plan) -> Vec<(String, String, f64)> {
    let steps = plan.traffic.steps.len();
    let mut at: BTreeMap<(String, &'static str, u64), Vec<usize>> = BTreeMap::new();
    for step in 0..steps {
        for metric in plan.analysis_at(step).iter().flat_map(|a| a.metrics.iter()) {
            for (label, bounds) in [("must", &metric.must), ("rollback", &metric.rollback_if)] {
                for v in bounds.iter().flat_map(|b| [b.at_least, b.at_most, b.above, b.below]).flatten() {
                    at.entry((metric.name.clone(), label, v.to_bits())).or_default().push(step);
                }
            }
        }
    }
    at.into_iter()
        .map(|((metric, label, bits), at_steps)| {
            let label = if at_steps.len() == steps {
                label.to_string()
            } else {
                let names: Vec<String> = at_steps.iter().map(|s| (s + 1).to_string()).collect();
                format!("{label} (step {})", names.join(", "))
            };
            (metric, label, f64::from_bits(bits))
        })
        .collect()
}

fn fmt(d: chrono::Duration) -> HumanDuration {
    HumanDuration::from_secs(u64::try_from(d.num_seconds().max(0)).unwrap_or(0))
}

/// The tasks of the definition, run in-process: each goes through the same boundary function a
/// deployed Lambda handler calls.
struct SimTasks<'a> {
    store: &'a dyn ReleaseStore,
    /// The approvals' task tokens (the deployed token table's part).
    tokens: meter::MeteredStore<MemoryStore>,
    meter: meter::Meter,
    router: MemoryRouter,
    notifier: RecordingNotifier,
    workflow: RecordingWorkflow,
    source: ScenarioSource,
    policy: ScenarioPolicy,
    scenario: &'a Scenario,
    release_id: String,
    /// The scenario's controls already applied (by index).
    controlled: std::sync::Mutex<std::collections::BTreeSet<usize>>,
}

impl SimTasks<'_> {
    /// What the execution asked of AWS, but for the release store (its caller meters it).
    fn usage(&self, execution: &machine::Execution) -> crate::domain::cost::Usage {
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        crate::domain::cost::Usage {
            state_transitions: u64::try_from(execution.transitions.len()).unwrap_or(u64::MAX),
            lambda_invocations: self.meter.invocations(),
            dynamodb_read_units: self.tokens.read_units() + self.policy.1.load(relaxed),
            dynamodb_write_units: self.tokens.write_units(),
            get_metric_data_calls: self.source.calls.load(relaxed),
            metrics_requested: self.source.requested.load(relaxed),
            sns_publishes: u64::try_from(self.notifier.published().len()).unwrap_or(u64::MAX) + self.meter.integrations(),
            api_requests: self.meter.api_requests(),
            hook_wait_ms: self.source.hook_wait_ms.load(relaxed),
        }
    }
}

/// A task's error as Lambda reports it: the name, and a JSON cause with the message.
pub fn failure(err: TaskError) -> TaskFailure {
    let cause = serde_json::json!({ "errorType": err.name(), "errorMessage": err.message }).to_string();
    TaskFailure { error: err.name().to_string(), cause }
}

/// A task function's result as the state machine receives it (an instant on the virtual clock).
pub fn done<T: Serialize>(result: Result<T, TaskError>) -> Invocation {
    let result = result
        .map_err(failure)
        .and_then(|output| serde_json::to_value(output).map_err(|e| TaskFailure { error: "States.Runtime".into(), cause: e.to_string() }));
    Invocation { result, took: chrono::Duration::zero() }
}

/// A scenario problem found while a task ran (an approver the plan does not allow): reported
/// as such instead of as a rolled-back release.
const SCENARIO_ERROR: &str = "Simulation.ScenarioInvalid";

impl SimTasks<'_> {
    fn scenario_error(&self) -> Option<SimulationError> {
        self.workflow.outcome(SCENARIO_ERROR).map(|o| match o {
            TaskOutcome::Failed { cause, .. } => SimulationError::Scenario(cause),
            TaskOutcome::Resumed(v) => SimulationError::Scenario(v.to_string()),
        })
    }

    /// The people the scenario says decide an approval, voting through the same approval domain
    /// the Slack webhook and the CLI use; the waiting task is answered by the workflow port.
    async fn decide(&self, payload: &serde_json::Value, wait: Wait<'_>, now: DateTime<Utc>) -> Invocation {
        let approval_id = payload.get("approval").and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let release_id = payload.get("release_id").and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let step = payload.get("step").and_then(serde_json::Value::as_u64).and_then(|s| usize::try_from(s).ok()).unwrap_or(0);
        let timeout = wait.timeout_secs.map(HumanDuration::from_secs).map_or(chrono::Duration::MAX, HumanDuration::chrono);
        let (gate, approvers) = match self.store.release(&release_id).await {
            Ok(Some(release)) => {
                let gate = release.plan.approvals.iter().find(|a| a.id == approval_id).cloned();
                let approvers = gate.as_ref().map(|g| release.plan.approvers_of(g)).unwrap_or_default();
                (gate, approvers)
            }
            _ => (None, Vec::new()),
        };
        let decided = self.scenario.approvals.get(&approval_id).cloned().unwrap_or(ApprovalScenario {
            decision: ApprovalDecision::Approve,
            after: five_minutes(),
            by: None,
            comment: None,
        });
        let voters: Vec<String> = match (&decided.by, &gate) {
            (Some(by), _) => by.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect(),
            // The first approvers the plan names (roles as their members); a Slack user group
            // stands for as many of its members as the quorum needs.
            (None, Some(gate)) => {
                let quorum = usize::try_from(gate.quorum).unwrap_or(usize::MAX);
                let people = approvers.iter().flat_map(|a| match crate::domain::identity::principal(a) {
                    crate::domain::identity::Principal::SlackGroup => (1..=quorum).map(|n| format!("U{}{n}", &a[1..])).collect(),
                    _ => vec![a.clone()],
                });
                people.take(quorum).collect()
            }
            (None, None) => Vec::new(),
        };
        let mut after = decided.after.chrono();
        // An approval outside the gate's decision window is refused with the next opening; the
        // approvers come back then (a rejection is taken at any time).
        if decided.decision == ApprovalDecision::Approve
            && let Some(window) = gate.as_ref().and_then(|g| g.decide_within.as_ref())
            && let Some(at) = now.checked_add_signed(after)
            && let Ok(crate::domain::checklist::WindowAt::Closed { next: Some(next) }) =
                crate::domain::checklist::weekly_window_at(&window.timezone, &window.allow, at)
        {
            after = next - now;
        }
        // The plan's heartbeat: the approval expires when no vote came for that long (the votes
        // of a scenario come together, so only the first one can be late for it).
        let heartbeat = wait.heartbeat_secs.map(HumanDuration::from_secs).map(HumanDuration::chrono).filter(|h| *h < timeout);
        if let Some(heartbeat) = heartbeat
            && (decided.decision == ApprovalDecision::Timeout || after > heartbeat)
        {
            let cause = format!("approval `{approval_id}` had no vote for {} (its heartbeat)", fmt(heartbeat));
            return Invocation { result: Err(TaskFailure { error: "States.HeartbeatTimeout".into(), cause }), took: heartbeat };
        }
        if decided.decision != ApprovalDecision::Timeout && after <= timeout {
            let at = now.checked_add_signed(after).unwrap_or(now);
            for voter in &voters {
                let vote = crate::release::approval::Vote {
                    release_id: release_id.clone(),
                    identities: vec![voter.clone()],
                    approved: decided.decision == ApprovalDecision::Approve,
                    comment: decided.comment.clone(),
                    on: Some(crate::release::approval::ApprovalRef { approval: approval_id.clone(), step }),
                };
                self.meter.voted();
                if let Err(e) =
                    crate::flow::approval::resolve(self.store, &self.tokens, &self.workflow, voter, &ScenarioMembers, &vote, at).await
                {
                    let problem = format!("approvals.{approval_id}.by: {e}");
                    let _ = self.workflow.fail(SCENARIO_ERROR, SCENARIO_ERROR, &problem).await;
                    return Invocation { result: Err(TaskFailure { error: SCENARIO_ERROR.into(), cause: problem }), took: after };
                }
                if self.workflow.outcome(wait.token).is_some() {
                    break;
                }
            }
            match self.workflow.outcome(wait.token) {
                Some(TaskOutcome::Resumed(output)) => return Invocation { result: Ok(output), took: after },
                Some(TaskOutcome::Failed { error, cause }) => return Invocation { result: Err(TaskFailure { error, cause }), took: after },
                None => {}
            }
        }
        // Nobody (or too few) decided in time: the state machine's timeout fires.
        let cause = format!("approval `{approval_id}` expired after {} without a decision", fmt(timeout));
        Invocation { result: Err(TaskFailure { error: "States.Timeout".into(), cause }), took: timeout }
    }
}

#[async_trait]
impl machine::Tasks for SimTasks<'_> {
    async fn invoke(&self, function: &str, payload: serde_json::Value, wait: Option<Wait<'_>>, now: DateTime<Utc>) -> Invocation {
        self.meter.invoked(function);
        let store = self.store;
        match function {
            "${ChecklistValidatorFunctionArn}" => {
                done(boundary::validate_checklist(payload, store, &self.policy, &self.notifier, now).await)
            }
            "${ApprovalRequestFunctionArn}" => {
                let requested = boundary::request_approval(payload.clone(), store, &self.tokens, &self.notifier, None, now).await;
                match (requested, wait) {
                    (Err(e), _) => done::<()>(Err(e)),
                    (Ok(_), Some(wait)) => self.decide(&payload, wait, now).await,
                    (Ok(output), None) => done(Ok(output)),
                }
            }
            "${TrafficSwitchFunctionArn}" => {
                *self.source.now.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = now;
                let switched = boundary::set_weight(payload, store, &self.router, &self.source, &self.notifier, now).await;
                if let Ok(output) = &switched
                    && let Some(step) = output.step
                {
                    self.source.step_started(step, now);
                }
                done(switched)
            }
            "${MetricGateFunctionArn}" => {
                *self.source.now.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = now;
                done(boundary::evaluate_gates(payload, store, &self.policy, &self.source, &self.source, now).await)
            }
            "${RollbackNotifierFunctionArn}" => done(
                boundary::rollback_function(payload, store, &self.router, &self.notifier, &self.workflow, RestorePolicy::default(), || now)
                    .await,
            ),
            other => Invocation {
                result: Err(TaskFailure {
                    error: "Lambda.ResourceNotFoundException".into(),
                    cause: format!("no function {other} in the simulator"),
                }),
                took: chrono::Duration::zero(),
            },
        }
    }

    /// The scenario's alarms that go to ALARM while the execution waits: EventBridge's rule
    /// invokes the rollback function with the state change, as deployed; the execution ends if
    /// that stopped it.
    async fn meanwhile(&self, execution_id: &str, from: DateTime<Utc>, until: DateTime<Utc>) -> Option<machine::Stop> {
        // Operators' controls, as the CLI records them (taken by the release's next check).
        let mut due: Vec<(DateTime<Utc>, usize)> = self
            .scenario
            .controls
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let begins = self.source.begins(c.at, c.step, c.after)?;
                let at =
                    chrono::Duration::try_seconds(i64::try_from(begins).ok()?).and_then(|d| self.source.start.checked_add_signed(d))?;
                (at <= until).then_some((at, i))
            })
            .collect();
        due.sort();
        for (at, i) in due {
            if !self.controlled.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(i) {
                continue;
            }
            let Some(c) = self.scenario.controls.get(i) else { continue };
            // A control the release refuses (not paused, forbidden) is what the CLI would print.
            let _ = crate::flow::control::request(
                self.store,
                &self.policy,
                &self.release_id,
                c.control,
                &c.by,
                &c.reason,
                c.lasting,
                at.max(from),
            )
            .await;
        }
        for (at, name, alarm) in self.source.alarms_firing(from, until) {
            let mut state = serde_json::json!({ "value": "ALARM", "timestamp": at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string() });
            if let Some(reason) = &alarm.reason {
                state["reason"] = reason.clone().into();
            }
            let event = serde_json::json!({
                "version": "0", "id": format!("simulated-{name}"), "detail-type": "CloudWatch Alarm State Change",
                "source": "aws.cloudwatch", "time": at, "detail": { "alarmName": name, "state": state },
            });
            self.meter.invoked("${RollbackNotifierFunctionArn}");
            // A rollback that could not finish is recorded in the trail; the execution is stopped either way.
            let _ = boundary::rollback_function(
                event,
                self.store,
                &self.router,
                &self.notifier,
                &self.workflow,
                RestorePolicy::default(),
                || at,
            )
            .await;
            if let Some((_, error, cause)) = self.workflow.stopped().into_iter().find(|(stopped, ..)| stopped == execution_id) {
                return Some(machine::Stop { at, error, cause });
            }
        }
        None
    }

    async fn integrate(&self, resource: &str, _parameters: serde_json::Value, _now: DateTime<Utc>) -> Invocation {
        // The alarm topic (a rollback that could not finish): nothing to simulate beyond
        // succeeding; the trail already holds the failed rollback.
        let result = match resource {
            "arn:aws:states:::sns:publish" => {
                self.meter.published();
                Ok(serde_json::json!({ "MessageId": "simulated" }))
            }
            other => Err(TaskFailure { error: "States.Runtime".into(), cause: format!("the simulator does not run {other}") }),
        };
        Invocation { result, took: chrono::Duration::zero() }
    }
}

/// The scenario's policy, whatever the simulated release's service and environment are called;
/// each read is counted (the deployed functions read it with a consistent GetItem: one unit).
struct ScenarioPolicy(Option<crate::ports::StoredPolicy>, std::sync::atomic::AtomicU64);

#[async_trait]
impl crate::ports::PolicyStore for ScenarioPolicy {
    async fn policy(&self, _service: &str, _environment: &str) -> Result<Option<crate::ports::StoredPolicy>, crate::ports::StoreError> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(self.0.clone())
    }

    async fn put_policy(&self, policy: &crate::ports::StoredPolicy, expected: Option<u64>) -> Result<(), crate::ports::StoreError> {
        crate::ports::NoPolicies.put_policy(policy, expected).await
    }
}

/// Slack user groups in a simulation: the scenario's voters are who it says, members of any
/// group the approval lists.
struct ScenarioMembers;

#[async_trait]
impl crate::ports::Directory for ScenarioMembers {
    async fn is_member(&self, _group: &str, _user: &str) -> Result<bool, crate::ports::DirectoryError> {
        Ok(true)
    }
}

/// Datapoints from the scenario for whatever the plan queries.
struct ScenarioSource {
    metrics: BTreeMap<String, MetricScenario>,
    alarms: BTreeMap<String, AlarmScenario>,
    hooks: BTreeMap<String, HookScenario>,
    recorded: BTreeMap<(String, Side), Vec<Datapoint>>,
    start: DateTime<Utc>,
    seed: u64,
    /// When each step (0-based) began, as the traffic switch set it: changes timed from a step.
    step_starts: std::sync::Mutex<BTreeMap<usize, DateTime<Utc>>>,
    /// The time of the check being run (alarms are read as of then).
    now: std::sync::Mutex<DateTime<Utc>>,
    /// GetMetricData calls, and the metric queries they carried.
    calls: std::sync::atomic::AtomicU64,
    requested: std::sync::atomic::AtomicU64,
    /// How long the functions waited for hooks, in milliseconds (billed duration).
    hook_wait_ms: std::sync::atomic::AtomicU64,
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
        for (metric, spec) in &scenario.metrics {
            for (side, series) in [("canary", Some(&spec.canary)), ("baseline", spec.baseline.as_ref())] {
                for (i, change) in series.iter().flat_map(|s| s.changes.iter()).enumerate() {
                    if let Some(problem) = change.problem() {
                        return Err(SimulationError::Scenario(format!("metrics.{metric}.{side}.changes[{i}]: {problem}")));
                    }
                }
            }
        }
        for (name, alarm) in &scenario.alarms {
            if alarm.at.is_some() == alarm.step.is_some() || (alarm.at.is_some() && alarm.after.is_some()) || alarm.step == Some(0) {
                return Err(SimulationError::Scenario(format!(
                    "alarms.{name}: say when it fires, either `at: 40m` (after the start) or `step: 3` (from 1) with an optional `after: 10m`"
                )));
            }
        }
        Ok(Self {
            metrics: scenario.metrics.clone(),
            alarms: scenario.alarms.clone(),
            hooks: scenario.hooks.clone(),
            recorded: series,
            start,
            seed: scenario.seed,
            step_starts: std::sync::Mutex::default(),
            now: std::sync::Mutex::new(start),
            calls: Default::default(),
            requested: Default::default(),
            hook_wait_ms: Default::default(),
        })
    }

    fn value(&self, series: &Series, at: DateTime<Utc>, salt: u64) -> f64 {
        let t = u64::try_from((at - self.start).num_seconds().max(0)).unwrap_or(0);
        let mut level = series.level;
        if let Some(ramp) = &series.ramp {
            let (from, to) = (ramp.from.as_secs(), ramp.to.as_secs().max(ramp.from.as_secs().saturating_add(1)));
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
        level = self.changed(series, level, t);
        let value = level + series.noise * gaussian(self.seed ^ salt.rotate_left(17) ^ t);
        series.floor.map_or(value, |f| value.max(f))
    }
}

/// The scenario's hooks: each passes until its failure begins, and answers no more than its
/// timeout allows.
#[async_trait]
impl crate::ports::HookRunner for ScenarioSource {
    async fn run(
        &self,
        hook: &crate::domain::plan::Hook,
        context: &crate::domain::hook::HookContext,
    ) -> Result<crate::domain::hook::HookAnswer, crate::ports::HookError> {
        use crate::domain::hook::{HookAnswer, HookOutcome};
        let Some(spec) = self.hooks.get(&hook.name) else {
            self.hook_wait_ms.fetch_add(1000, std::sync::atomic::Ordering::Relaxed);
            return Ok(HookAnswer::new(HookOutcome::Passed, "", std::time::Duration::from_secs(1)));
        };
        let now = *self.now.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let t = u64::try_from((now - self.start).num_seconds().max(0)).unwrap_or(0);
        let failing = match (spec.at, spec.step) {
            (Some(at), _) => at.as_secs() <= t,
            (None, Some(step)) if context.step > step => true,
            (None, Some(step)) if context.step == step => {
                spec.after.is_none() || self.begins(None, Some(step), spec.after).is_some_and(|begins| begins <= t)
            }
            _ => false,
        };
        // Before its failure begins a hook passes in a second; from then on it takes `takes`, and
        // fails, or gives no answer if that is longer than its timeout.
        let takes = spec.takes.map_or(std::time::Duration::from_secs(1), HumanDuration::std);
        let answer = match failing {
            false => HookAnswer::new(HookOutcome::Passed, "", std::time::Duration::from_secs(1)),
            true if takes > hook.timeout.std() => HookAnswer::new(HookOutcome::NoAnswer, "", hook.timeout.std()),
            true => HookAnswer::new(HookOutcome::Failed, spec.output.as_deref().unwrap_or("the test failed"), takes),
        };
        self.hook_wait_ms.fetch_add(answer.took_ms, std::sync::atomic::Ordering::Relaxed);
        Ok(answer)
    }
}

impl ScenarioSource {
    /// Step `step` (0-based) began at `at`; the first time counts (a retried switch changes nothing).
    fn step_started(&self, step: usize, at: DateTime<Utc>) {
        self.step_starts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(step).or_insert(at);
    }

    /// Seconds after the start at which something timed `at`, or `after` into step `step`
    /// (counted from 1), begins; `None` while that step has not begun.
    fn begins(&self, at: Option<HumanDuration>, step: Option<usize>, after: Option<HumanDuration>) -> Option<u64> {
        match (at, step) {
            (Some(at), _) => Some(at.as_secs()),
            (None, Some(step)) => {
                let starts = self.step_starts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let started = starts.get(&step.checked_sub(1)?)?;
                let offset = u64::try_from((*started - self.start).num_seconds().max(0)).ok()?;
                Some(offset.saturating_add(after.map_or(0, HumanDuration::as_secs)))
            }
            (None, None) => None,
        }
    }

    /// The alarms that go to ALARM after `from` and by `until`, earliest first, with when.
    fn alarms_firing(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<(DateTime<Utc>, String, AlarmScenario)> {
        let mut firing: Vec<_> = self
            .alarms
            .iter()
            .filter_map(|(name, alarm)| {
                let begins = self.begins(alarm.at, alarm.step, alarm.after)?;
                let at = chrono::Duration::try_seconds(i64::try_from(begins).ok()?).and_then(|d| self.start.checked_add_signed(d))?;
                (from < at && at <= until).then(|| (at, name.clone(), alarm.clone()))
            })
            .collect();
        firing.sort_by_key(|(at, ..)| *at);
        firing
    }

    /// `level` at `t` seconds after the start with the series' `changes` that began by then.
    fn changed(&self, series: &Series, mut level: f64, t: u64) -> f64 {
        if series.changes.is_empty() {
            return level;
        }
        let mut begun: Vec<(u64, &Change)> = series
            .changes
            .iter()
            .filter_map(|change| {
                let begins = self.begins(change.at, change.step, change.after)?;
                (begins <= t).then_some((begins, change))
            })
            .collect();
        begun.sort_by_key(|(begins, _)| *begins);
        for (begins, change) in begun {
            match (change.to, change.by) {
                (Some(to), _) => level = to,
                (None, Some(by)) => {
                    let over = change.over.map_or(0, HumanDuration::as_secs);
                    let progress = if over == 0 { 1.0 } else { ((t - begins) as f64 / over as f64).min(1.0) };
                    level += by * progress;
                }
                (None, None) => {}
            }
        }
        level
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
    async fn alarms(&self, names: &[String]) -> Result<Vec<crate::domain::alarm::AlarmReading>, MetricError> {
        use crate::domain::alarm::{AlarmReading, AlarmState};
        let now = *self.now.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let t = u64::try_from((now - self.start).num_seconds().max(0)).unwrap_or(0);
        Ok(names
            .iter()
            .map(|name| {
                let fired = self.alarms.get(name).and_then(|a| Some((self.begins(a.at, a.step, a.after)?, a)));
                match fired {
                    Some((begins, alarm)) if begins <= t => AlarmReading {
                        name: name.clone(),
                        state: AlarmState::Alarm,
                        reason: alarm.reason.clone(),
                        since: chrono::Duration::try_seconds(i64::try_from(begins).unwrap_or(i64::MAX))
                            .and_then(|d| self.start.checked_add_signed(d)),
                    },
                    _ => AlarmReading { name: name.clone(), state: AlarmState::Ok, reason: None, since: None },
                }
            })
            .collect())
    }

    async fn fetch(&self, plan: &QueryPlan) -> Result<BTreeMap<String, Vec<Datapoint>>, MetricError> {
        // As the CloudWatch adapter asks: one call per 500 queries; each metric it retrieves is
        // billed (math expressions are not).
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        let metrics = plan.queries.iter().filter(|q| matches!(q.body, crate::domain::query::QueryBody::Stat { .. })).count();
        self.calls.fetch_add(count(plan.queries.len()).div_ceil(500).max(1), std::sync::atomic::Ordering::Relaxed);
        self.requested.fetch_add(count(metrics), std::sync::atomic::Ordering::Relaxed);
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
            while let Some(at) = chrono::Duration::try_seconds(offset).and_then(|d| self.start.checked_add_signed(d))
                && at < plan.end
            {
                points.push(Datapoint { at, value: self.value(series, at, salt) });
                let Some(next) = offset.checked_add(period) else { break };
                offset = next;
            }
            out.insert(id.clone(), points);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
