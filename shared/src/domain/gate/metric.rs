//! One metric judged: the window, then each concern in turn, each adding its check and, when it
//! does not hold, raising the outcome and saying why.

use chrono::{DateTime, Utc};

use super::series::{Series, Side};
use super::{CriterionCheck, MetricOutcome, MetricVerdict, SideSummary};
use super::{baseline, compare, series, sustained, thresholds};
use crate::domain::bounds::with_unit;
use crate::domain::observation::{MetricReading, Observation, period, window};
use crate::domain::plan::{Analysis, MetricGate};

/// What every concern needs to know about the metric and its window.
pub(super) struct MetricContext<'a> {
    pub metric: &'a MetricGate,
    pub name: &'a str,
    pub unit: Option<&'a str>,
    pub reading: &'a MetricReading,
    pub now: DateTime<Utc>,
    /// The start of the analysis window (never before `since`).
    pub start: DateTime<Utc>,
    /// When the step being judged began, when windows stop there.
    pub since: Option<DateTime<Utc>>,
    /// Datapoints stamped after this describe a period still in progress and are left out.
    pub complete: DateTime<Utc>,
    /// The window as people read it, e.g. `10:05–10:20`.
    pub span: String,
    pub min_samples: usize,
    /// Windows of a day or more name dates as well as times.
    long: bool,
}

impl<'a> MetricContext<'a> {
    pub fn new(
        analysis: &Analysis,
        metric: &'a MetricGate,
        reading: &'a MetricReading,
        now: DateTime<Utc>,
        since: Option<DateTime<Utc>>,
    ) -> Self {
        let window = window(analysis, metric);
        let period_secs = i64::from(period(metric)).max(1);
        let since = since.filter(|_| !analysis.look_before_step);
        // The window is whole periods: it starts on a period boundary (a check at 10:05:30 with a
        // 5m window of 1m periods judges the five periods 10:00–10:04, as one at 10:05:00 does),
        // and not before the step began: a datapoint is stamped with its period's start, so one
        // stamped before the step describes (partly) the previous weight and is left out.
        let start = align_down(window.before(now), period_secs).max(since.unwrap_or(DateTime::<Utc>::MIN_UTC));
        // A datapoint is stamped with the start of its period: one stamped less than a period ago
        // describes a period still in progress (a partial sum, a few requests), so it is left out.
        let complete = now.checked_sub_signed(chrono::Duration::seconds(i64::from(period(metric)))).unwrap_or(DateTime::<Utc>::MIN_UTC);
        let long = window.as_secs() >= 86_400;
        let mut ctx = MetricContext {
            metric,
            name: &metric.name,
            unit: metric.unit.as_deref(),
            reading,
            now,
            start,
            since,
            complete,
            span: String::new(),
            min_samples: metric.min_samples.unwrap_or(analysis.min_samples) as usize,
            long,
        };
        ctx.span = format!("{}–{}", ctx.stamp(start), ctx.stamp(now));
        ctx
    }

    /// A time as the sentences write it.
    pub fn stamp(&self, at: DateTime<Utc>) -> String {
        if self.long { at.format("%m-%d %H:%M").to_string() } else { at.format("%H:%M").to_string() }
    }
}

/// The checks made so far, the worst outcome and the sentences that explain it.
#[derive(Debug)]
pub(super) struct Judgement {
    outcome: MetricOutcome,
    checks: Vec<CriterionCheck>,
    sentences: Vec<String>,
}

impl Default for Judgement {
    fn default() -> Self {
        Self { outcome: MetricOutcome::Pass, checks: Vec::new(), sentences: Vec::new() }
    }
}

impl Judgement {
    pub fn record(&mut self, check: CriterionCheck) {
        self.checks.push(check);
    }

    /// Raises the outcome to at least `outcome`, saying why.
    pub fn escalate(&mut self, outcome: MetricOutcome, sentence: String) {
        self.outcome = self.outcome.max(outcome);
        self.sentences.push(sentence);
    }

    /// Says something that does not change the outcome (a shift only the score acts on).
    pub fn note(&mut self, sentence: String) {
        self.sentences.push(sentence);
    }

    fn into_verdict(self, ctx: &MetricContext<'_>, canary: Option<SideSummary>, baseline: Option<SideSummary>) -> MetricVerdict {
        let name = ctx.name;
        let span = &ctx.span;
        let sentence = if self.sentences.is_empty() {
            match canary {
                Some(c) => format!("{name} {} within bounds over {span} (n={})", with_unit(c.value, ctx.unit), c.samples),
                None => format!("{name}: no data over {span}"),
            }
        } else {
            self.sentences.join("; ")
        };
        MetricVerdict {
            metric: name.to_string(),
            outcome: self.outcome,
            unit: ctx.metric.unit.clone(),
            window_start: ctx.start,
            window_end: ctx.now,
            canary,
            baseline,
            checks: self.checks,
            sentence,
        }
    }
}

/// `at` on the multiple of `period_secs` (Unix time) at or before it.
fn align_down(at: DateTime<Utc>, period_secs: i64) -> DateTime<Utc> {
    let secs = at.timestamp();
    DateTime::<Utc>::from_timestamp(secs - secs.rem_euclid(period_secs), 0).unwrap_or(at)
}

/// Judges one metric of the analysis against what was read for it.
pub(super) fn judge_metric(
    analysis: &Analysis,
    metric: &MetricGate,
    reading: Option<&MetricReading>,
    observation: &Observation,
) -> MetricVerdict {
    let empty = MetricReading::default();
    let ctx = MetricContext::new(analysis, metric, reading.unwrap_or(&empty), observation.now, observation.since);
    let canary_series = Series::within(&ctx.reading.canary, ctx.start, ctx.complete);
    let baseline_series = ctx.reading.baseline.as_ref().map(|b| Series::within(b, ctx.start, ctx.complete));
    let canary = canary_series.summary();
    let baseline = baseline_series.as_ref().and_then(Series::summary);

    let mut judgement = Judgement::default();
    thresholds::judge_critical_tier(&ctx, canary, &mut judgement);
    sustained::judge_sustained(&ctx, &mut judgement);
    series::judge_finite(&ctx, Side::Canary, &canary_series, &mut judgement);
    if let Some(baseline_series) = baseline_series.as_ref().filter(|_| metric.baseline.is_some() || metric.compare.is_some()) {
        series::judge_finite(&ctx, Side::Baseline, baseline_series, &mut judgement);
    }
    let enough = thresholds::judge_min_samples(&ctx, &canary_series, &mut judgement);
    if enough {
        thresholds::judge_must(&ctx, canary, &mut judgement);
    }
    baseline::judge_against_baseline(&ctx, canary, baseline, enough, &mut judgement);
    compare::judge_comparison(&ctx, &mut judgement);
    judgement.into_verdict(&ctx, canary, baseline)
}
