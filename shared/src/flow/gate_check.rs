//! One metric check of a baking step: read, judge, decide, record.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::domain::decision::{Decision, StepProgress, decide};
use crate::domain::gate::{GateVerdict, judge};
use crate::domain::observation::{MetricReading, Observation};
use crate::domain::plan::Analysis;
use crate::domain::query::{QueryContext, Side, plan_queries};
use crate::flow::trail::{record_with, renew_lock};
use crate::ports::{MetricError, MetricSource, ReleaseStore, StoreError};
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
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs one check of release `id` at `now`.
pub async fn run(store: &dyn ReleaseStore, metrics: &dyn MetricSource, id: &str, now: DateTime<Utc>) -> Result<CheckResult, CheckError> {
    let release = store.release(id).await?.ok_or_else(|| CheckError::ReleaseNotFound(id.to_string()))?;
    if release.status.is_final() {
        return Err(CheckError::ReleaseClosed { id: id.to_string(), status: release.status.as_str() });
    }
    let (Some(step), Some(started_at)) = (release.step, release.step_started_at) else {
        return Err(CheckError::NoStep(id.to_string()));
    };
    // Checking is touching: keep the lease, and stop if another release took it over.
    renew_lock(store, &release, now).await?;

    let verdict = match &release.plan.analysis {
        None => None,
        Some(analysis) => {
            let context = QueryContext {
                service: release.service.clone(),
                environment: release.environment.clone(),
                version: release.version.clone(),
                stable_version: release.stable_version.clone(),
            };
            let observation = observe(metrics, analysis, &context, now).await?;
            Some(judge(analysis, &observation))
        }
    };
    let prior = release.step_outcomes.clone();
    let decision = decide(&release.plan, &StepProgress { step, started_at, prior }, verdict.as_ref(), now);
    let mut release = release;
    let mut kinds = Vec::with_capacity(2);
    if let Some(verdict) = &verdict {
        kinds.push(EventKind::GateJudged { step, verdict: verdict.clone() });
        // The step's history travels with the release, so a check reads one item, not the trail.
        release.step_outcomes.push(verdict.outcome);
        release.updated_at = now;
    }
    kinds.push(EventKind::Decided(decision.clone()));
    // The verdict, the decision and the release that acts on them: one atomic write.
    let changed = verdict.is_some().then_some(&mut release);
    record_with(store, ACTOR, id, changed, now, kinds).await?;
    Ok(CheckResult { release, verdict, decision })
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
    Ok(Observation { now, readings })
}
