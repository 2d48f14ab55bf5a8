//! One side's datapoints inside a window, and the rule that a value that is not a finite number
//! is never a pass.
//!
//! A datapoint that is NaN or ±inf is not data: it is left out of every mean, bound and count
//! (so it can also leave a metric short of `min_samples`), and it is counted and named, because
//! it makes the metric inconclusive however many finite datapoints surround it. The same holds
//! for a mean that is not finite (finite values whose sum overflows).

use chrono::{DateTime, Utc};

use super::metric::{Judgement, MetricContext};
use super::{Criterion, CriterionCheck, MetricOutcome, SideSummary};
use crate::domain::bounds::{format_number, with_unit};
use crate::domain::observation::Datapoint;

/// The datapoints of one side stamped within `[since, until]`.
#[derive(Clone, Debug, Default)]
pub(super) struct Series {
    /// The finite values, in the order read.
    pub values: Vec<f64>,
    /// The datapoints whose value is NaN or ±inf.
    pub not_finite: Vec<Datapoint>,
}

impl Series {
    pub fn within(points: &[Datapoint], since: DateTime<Utc>, until: DateTime<Utc>) -> Self {
        let mut series = Series::default();
        for p in points.iter().filter(|p| p.at >= since && p.at <= until) {
            if p.value.is_finite() {
                series.values.push(p.value);
            } else {
                series.not_finite.push(*p);
            }
        }
        series
    }

    /// The mean of the finite values and how many there are; `None` without any.
    pub fn summary(&self) -> Option<SideSummary> {
        mean(&self.values).map(|value| SideSummary { value, samples: self.values.len() })
    }
}

/// The arithmetic mean; not finite when the sum of finite values overflows.
pub(super) fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Quantile of sorted values with linear interpolation (R's type 7).
pub(crate) fn quantile(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    let fraction = h - lo as f64;
    let gap = sorted[hi] - sorted[lo];
    if fraction == 0.0 {
        sorted[lo]
    } else if gap.is_finite() {
        sorted[lo] + fraction * gap
    } else {
        // The two values are too far apart to subtract: weigh them instead.
        sorted[lo] * (1.0 - fraction) + sorted[hi] * fraction
    }
}

/// Which side a check is about, as the sentences name it.
#[derive(Clone, Copy, Debug)]
pub(super) enum Side {
    Canary,
    Baseline,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Canary => "canary",
            Side::Baseline => "baseline",
        }
    }
}

/// Fails the `Finite` criterion (the metric is at least inconclusive) when `series` holds a value
/// that is not a finite number, or its mean is not one; records nothing when all is finite.
pub(super) fn judge_finite(ctx: &MetricContext<'_>, side: Side, series: &Series, judgement: &mut Judgement) {
    let name = ctx.name;
    let span = &ctx.span;
    let who = side.name();
    let total = series.values.len() + series.not_finite.len();
    if !series.not_finite.is_empty() {
        let k = series.not_finite.len();
        const NAMED: usize = 3;
        let mut named: Vec<String> =
            series.not_finite.iter().take(NAMED).map(|p| format!("{} at {}", format_number(p.value), ctx.stamp(p.at))).collect();
        if k > NAMED {
            named.push(format!("{} more", k - NAMED));
        }
        let named = named.join(", ");
        judgement.record(CriterionCheck {
            criterion: Criterion::Finite,
            held: false,
            bound: format!("every {who} datapoint is a finite number"),
            observed: format!("{k} of {total} are not: {named}"),
            statistic: None,
        });
        let verb = if k == 1 { "is" } else { "are" };
        judgement.escalate(
            MetricOutcome::Inconclusive,
            format!("{name}: {k} of {total} {who} datapoints over {span} {verb} not a finite number ({named}); left out, and not a pass"),
        );
    }
    if let Some(summary) = series.summary().filter(|s| !s.value.is_finite()) {
        let value = with_unit(summary.value, ctx.unit);
        let n = summary.samples;
        judgement.record(CriterionCheck {
            criterion: Criterion::Finite,
            held: false,
            bound: format!("the mean of the {who} datapoints is a finite number"),
            observed: format!("{value} (n={n}): the values are too large to add up"),
            statistic: None,
        });
        judgement.escalate(
            MetricOutcome::Inconclusive,
            format!("{name}: the mean of the {n} {who} datapoints over {span} is {value}, not a finite number (the values are too large to add up); not a pass"),
        );
    }
}
