//! One metric check of a baking step: read, judge, decide, record.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::domain::alarm::AlarmReading;
use crate::domain::control;
use crate::domain::decision::{Decision, StepProgress, decide};
use crate::domain::gate::{GateVerdict, judge};
use crate::domain::hook::HookResult;
use crate::domain::observation::{MetricReading, Observation};
use crate::domain::plan::Analysis;
use crate::domain::plan::HookRun;
use crate::domain::query::{QueryContext, Side, plan_queries};
use crate::domain::recorded::RecordedCheck;
use crate::flow::trail::{record_with, renew_lock};
use crate::ports::{HookError, HookRunner, MetricError, MetricSource, PolicyStore, ReleaseStore, StoreError};
use crate::release::{EventKind, Release};

/// Who writes these events in the audit trail.
pub const ACTOR: &str = "metric-gate";

#[derive(Clone, Debug)]
pub struct CheckResult {
    pub release: Release,
    pub verdict: Option<GateVerdict>,
    pub decision: Decision,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("release {0} was not found; check the id")]
    ReleaseNotFound(String),
    #[error("release {id} is already {status}; nothing to check")]
    ReleaseClosed { id: String, status: &'static str },
    #[error("release {0} has no traffic step set yet; set the first step's weight before checking it")]
    NoStep(String),
    #[error(transparent)]
    Metrics(#[from] MetricError),
    /// A hook could not be run this time (worth retrying); a hook that ran and failed is part of
    /// the verdict instead.
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs one check of release `id` at `now`. `check` names it (the state machine's execution and
/// when it entered the check, the same on every retry): a check already recorded under that name
/// (its answer was lost, or its process stopped after the write) returns what it recorded.
pub async fn run(
    store: &dyn ReleaseStore,
    policies: &dyn PolicyStore,
    metrics: &dyn MetricSource,
    hooks: &dyn HookRunner,
    id: &str,
    check: Option<&str>,
    now: DateTime<Utc>,
) -> Result<CheckResult, CheckError> {
    let release = store.release(id).await?.ok_or_else(|| CheckError::ReleaseNotFound(id.to_string()))?;
    if check.is_some()
        && release.last_check.as_deref() == check
        && let Some(recorded) = recorded(store, &release).await?
    {
        return Ok(recorded);
    }
    if release.status.is_final() {
        return Err(CheckError::ReleaseClosed { id: id.to_string(), status: release.status.as_str() });
    }
    let (Some(step), Some(started_at)) = (release.step, release.step_started_at) else {
        return Err(CheckError::NoStep(id.to_string()));
    };
    // Checking is touching: keep the lease, and stop if another release took it over.
    renew_lock(store, &release, now).await?;

    // The analysis of the step that bakes: its own bounds where it has them.
    let analysis = release.plan.analysis_at(step);
    let observation = match &analysis {
        None => None,
        Some(analysis) => {
            let mut observation = observe(metrics, analysis, &query_context(&release), now).await?;
            observation.since = Some(started_at);
            Some(observation)
        }
    };
    // The plan's alarms, at every check: one in ALARM rolls back now, whatever the metrics say.
    let alarms = &release.plan.rollback_alarms;
    let readings = if alarms.is_empty() { Vec::new() } else { metrics.alarms(alarms).await? };
    // The step's hooks: at every check, and once at its first.
    let mut ran = crate::flow::hooks::run(hooks, &release, step, HookRun::EveryCheck, now).await?;
    if release.step_outcomes.is_empty() {
        ran.extend(crate::flow::hooks::run(hooks, &release, step, HookRun::FirstCheck, now).await?);
    }
    let judged = analysis.as_deref().zip(observation.as_ref());
    let verdict = check_verdict(judged, alarms, &readings, &ran, now);
    // What the metrics were judged on, kept with the verdict for backtests.
    let datapoints = judged.map(|(analysis, observation)| RecordedCheck::of(analysis, observation));
    let prior = release.step_outcomes.clone();
    let policy = policies.policy(&release.service, &release.environment).await?;
    // What operators asked: a pause stops the bake clock, a skip or a promotion (where the
    // policy allows it) counts the bake as served.
    let asked = release.asked.as_ref().filter(|a| policy.as_ref().is_none_or(|p| a.control.allowed_by(&p.policy)));
    let required = release.plan.traffic.steps.get(step).map_or(0, |s| s.bake.as_secs());
    let counted_from = control::bake_counted_from(started_at, release.paused_secs, release.paused.as_ref(), now);
    let skipped_from = control::with_skip(counted_from, step, release.paused.as_ref(), asked, required, now);
    let decision = decide(&release.plan, &StepProgress { step, started_at: skipped_from, prior }, verdict.as_ref(), now);
    let interval = release.plan.analysis_at(step).map_or(3600, |a| a.interval.as_secs());
    // A deploy freeze of the platform's policy, read at each check (it may begin mid-release):
    // no traffic shift while it lasts; the checks go on.
    let decision = match policy.as_ref().and_then(|stored| stored.policy.hold_at(now)) {
        Some(freeze) => crate::domain::decision::hold_for_freeze(decision, &freeze, interval, now),
        None => decision,
    };
    // The bake really served (a skip's decision says so, not the bake it counted as served).
    let served = u64::try_from(now.signed_duration_since(counted_from).num_seconds()).unwrap_or(0);
    let decision = control::with_operators(decision, release.paused.as_ref(), asked, interval, served, now);
    let mut release = release;
    let mut kinds = Vec::with_capacity(2);
    if let Some(verdict) = &verdict {
        kinds.push(EventKind::GateJudged { step, verdict: verdict.clone(), datapoints });
        // The step's history travels with the release, so a check reads one item, not the trail.
        release.step_outcomes.push(verdict.outcome);
        release.updated_at = now;
    }
    kinds.push(EventKind::Decided(decision.clone()));
    let named = check.is_some() && release.last_check.as_deref() != check;
    if named {
        release.last_check = check.map(str::to_string);
    }
    // The verdict, the decision and the release that acts on them: one atomic write.
    let changed = (verdict.is_some() || named).then_some(&mut release);
    record_with(store, ACTOR, id, changed, now, kinds).await?;
    Ok(CheckResult { release, verdict, decision })
}

/// A check's verdict from what it read: the metrics judged under the step's analysis (when it
/// has one), then the plan's alarms, then the step's hooks that ran. Pure: a backtest judges a
/// recorded check again through it.
pub fn check_verdict(
    judged: Option<(&Analysis, &Observation)>,
    alarms: &[String],
    readings: &[AlarmReading],
    ran: &[HookResult],
    now: DateTime<Utc>,
) -> Option<GateVerdict> {
    let verdict = judged.map(|(analysis, observation)| judge(analysis, observation));
    let verdict = if alarms.is_empty() { verdict } else { Some(crate::domain::alarm::with_alarms(verdict, alarms, readings, now)) };
    if ran.is_empty() { verdict } else { Some(crate::domain::hook::with_hooks(verdict, ran, now)) }
}

/// The check `release` last recorded, as it was decided: its decision and its verdict from the
/// trail. `None` if the trail does not hold it (then the check runs again).
async fn recorded(store: &dyn ReleaseStore, release: &Release) -> Result<Option<CheckResult>, CheckError> {
    let trail = store.events(&release.id).await?;
    let Some(decided_at) = trail.iter().rposition(|e| matches!(e.kind, EventKind::Decided(_))) else { return Ok(None) };
    let decision = trail.get(decided_at).and_then(|e| match &e.kind {
        EventKind::Decided(decision) => Some(decision.clone()),
        _ => None,
    });
    // Its verdict is written just before it, in the same write.
    let verdict = decided_at.checked_sub(1).and_then(|i| trail.get(i)).and_then(|e| match &e.kind {
        EventKind::GateJudged { verdict, .. } => Some(verdict.clone()),
        _ => None,
    });
    Ok(decision.map(|decision| CheckResult { release: release.clone(), verdict, decision }))
}

/// What a release's queries fill their placeholders with.
pub fn query_context(release: &Release) -> QueryContext {
    QueryContext {
        service: release.service.clone(),
        environment: release.environment.clone(),
        version: release.version.clone(),
        stable_version: release.stable_version.clone(),
    }
}

/// Reads a check's metrics through `source` and sorts the datapoints into readings by metric.
pub async fn observe(
    source: &dyn MetricSource,
    analysis: &Analysis,
    context: &QueryContext,
    now: DateTime<Utc>,
) -> Result<Observation, MetricError> {
    let plan = plan_queries(analysis, context, now).map_err(|e| MetricError::Plan(e.to_string()))?;
    let mut by_id = source.fetch(&plan).await?;
    let mut readings: BTreeMap<String, MetricReading> = BTreeMap::new();
    for (id, (metric, side)) in &plan.results {
        let points = by_id.remove(id).unwrap_or_default();
        let reading = readings.entry(metric.clone()).or_default();
        match side {
            Side::Canary => reading.canary = points,
            Side::Baseline => reading.baseline = Some(points),
        }
    }
    Ok(Observation { now, since: None, readings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{MemoryRouter, MemoryStore};
    use crate::flow::testing::{request, t0};
    use crate::flow::traffic::{SwitchTarget, switch};

    use crate::flow::testing::NoData;

    fn judged(trail: &[crate::release::ReleaseEvent]) -> usize {
        trail.iter().filter(|e| matches!(e.kind, EventKind::GateJudged { .. } | EventKind::Decided(_))).count()
    }

    #[tokio::test]
    async fn a_retried_check_returns_what_it_recorded_and_records_nothing_twice() {
        let store = MemoryStore::new();
        let plan = serde_json::json!({"name": "p",
            "traffic": {"router": {"type": "dry_run"}, "steps": [{"weight": 10, "bake": "10m"}, {"weight": 100, "bake": "10m"}]},
            "analysis": {"interval": "1m", "max_inconclusive": 1, "on_inconclusive": "fail", "metrics": [{"name": "errors", "must": {"below": 1},
                "query": {"metric": {"namespace": "App", "name": "Errors", "stat": "Sum"}}}]}});
        crate::flow::admit::admit(&store, &crate::ports::NoPolicies, request("r1", "svc", plan), t0())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        switch(&store, &MemoryRouter::default(), &crate::ports::NoHooks, "r1", SwitchTarget::Step(0), t0())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let at = |minutes| t0() + chrono::Duration::minutes(minutes);
        let first = run(&store, &crate::ports::NoPolicies, &NoData, &crate::ports::NoHooks, "r1", Some("exec@t1"), at(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // The same check again (its answer was lost), a little later: the recorded decision,
        // nothing written, the inconclusive check counted once.
        let retried = run(&store, &crate::ports::NoPolicies, &NoData, &crate::ports::NoHooks, "r1", Some("exec@t1"), at(2))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(retried.decision, first.decision);
        assert_eq!(retried.verdict.map(|v| v.outcome), first.verdict.map(|v| v.outcome));
        let trail = store.events("r1").await.unwrap_or_default();
        assert_eq!(judged(&trail), 2, "one verdict and one decision");
        assert_eq!(store.release("r1").await.ok().flatten().map(|r| r.step_outcomes.len()), Some(1));
        // The next check (another state entry) judges again; with two inconclusive checks the
        // allowance of one is spent.
        let next = run(&store, &crate::ports::NoPolicies, &NoData, &crate::ports::NoHooks, "r1", Some("exec@t2"), at(3))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(judged(&store.events("r1").await.unwrap_or_default()), 4);
        assert_ne!(next.decision.action, first.decision.action, "{:?} then {:?}", first.decision, next.decision);
    }
}
