//! The statistical comparison with the baseline (Mann-Whitney U and an effect size, as Kayenta
//! judges): the NaN strategy and outlier removal, the test, and the classification.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::metric::{Judgement, MetricContext};
use super::series::quantile;
use super::wire;
use super::{Criterion, CriterionCheck, MetricOutcome};
use crate::domain::bounds::{format_number, with_unit};
use crate::domain::observation::Datapoint;
use crate::domain::plan::{Comparison, Direction, EffectMeasure, NanStrategy};
use crate::domain::stats::{MannWhitney, Method, StatsError, mann_whitney};

/// How a statistical comparison classified a metric (Kayenta's High / Low / Pass).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    Pass,
    High,
    Low,
    /// Beyond the critical effect: rolls back at once.
    Critical,
    /// Nothing to judge: too few datapoints, or a number that is not finite.
    NoData,
}

/// The numbers behind a comparison, for the audit trail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComparisonDetail {
    pub classification: Classification,
    pub method: Method,
    #[serde(with = "wire::number")]
    pub u: f64,
    #[serde(with = "wire::number")]
    pub p_value: f64,
    /// Hodges-Lehmann shift canary − baseline.
    #[serde(with = "wire::number")]
    pub shift: f64,
    #[serde(with = "wire::number")]
    pub ci_low: f64,
    #[serde(with = "wire::number")]
    pub ci_high: f64,
    #[serde(with = "wire::number")]
    pub confidence: f64,
    pub effect_measure: EffectMeasure,
    /// The effect size; ±inf for a mean ratio against a baseline mean of 0.
    #[serde(with = "wire::number")]
    pub effect: f64,
    #[serde(with = "wire::number")]
    pub allowed_effect: f64,
    pub canary_samples: usize,
    pub baseline_samples: usize,
    /// Datapoints removed as outliers (canary, baseline).
    pub outliers_removed: (usize, usize),
}

/// Judges the metric's `compare` criterion: too few datapoints or a number that is not finite is
/// inconclusive, a critical effect rolls back, High and Low are only said (the score acts on them).
pub(super) fn judge_comparison(ctx: &MetricContext<'_>, judgement: &mut Judgement) {
    let Some(compare) = &ctx.metric.compare else { return };
    let name = ctx.name;
    let (check, classification) = compare_sides(ctx, compare);
    match classification {
        Classification::NoData => judgement.escalate(MetricOutcome::Inconclusive, format!("{name}: {}", check.observed)),
        Classification::Critical => judgement.escalate(MetricOutcome::Critical, format!("{name} critically shifted: {}", check.observed)),
        Classification::High | Classification::Low => judgement.note(format!("{name} {classification:?}: {}", check.observed)),
        Classification::Pass => {}
    }
    let effect = check.statistic.as_ref().map_or(0.0, |d| d.effect);
    if !effect.is_finite() && matches!(classification, Classification::High | Classification::Low) {
        // A shift was found, but how large it is cannot be said: not a pass either way.
        judgement.escalate(
            MetricOutcome::Inconclusive,
            format!("{name}: the effect size {} is not a finite number; not a pass", format_number(effect)),
        );
    }
    judgement.record(check);
}

fn compare_sides(ctx: &MetricContext<'_>, compare: &Comparison) -> (CriterionCheck, Classification) {
    let min_samples = ctx.min_samples;
    let bound = describe(ctx.name, compare);
    let (canary, canary_outliers) = prepare(&ctx.reading.canary, ctx.start, ctx.complete, compare);
    let (baseline, baseline_outliers) = prepare(ctx.reading.baseline.as_deref().unwrap_or_default(), ctx.start, ctx.complete, compare);
    let no_data = |observed: String, statistic: Option<ComparisonDetail>| {
        (CriterionCheck { criterion: Criterion::Compare, held: false, bound: bound.clone(), observed, statistic }, Classification::NoData)
    };
    if canary.len() < min_samples || baseline.len() < min_samples {
        let observed =
            format!("{} canary and {} baseline datapoints, fewer than the {min_samples} needed to compare", canary.len(), baseline.len());
        return no_data(observed, None);
    }
    let result = match mann_whitney(&canary, &baseline, compare.confidence) {
        Ok(r) => r,
        Err(StatsError::NoVariance) => {
            // Every datapoint on both sides is the same value: nothing moved.
            let observed = "canary and baseline identical".to_string();
            return (CriterionCheck { criterion: Criterion::Compare, held: true, bound, observed, statistic: None }, Classification::Pass);
        }
        Err(e) => return no_data(format!("cannot compare: {e}"), None),
    };
    if [result.u, result.p_value, result.estimate, result.ci_low, result.ci_high].iter().any(|v| !v.is_finite()) {
        return no_data("cannot compare: the test's shift, interval or p-value is not a finite number".into(), None);
    }
    let effect = effect(compare.effect_measure, &canary, &baseline, &result);
    let allowed = compare.allowed_effect.unwrap_or(neutral(compare.effect_measure));
    let mut classification = classify(compare, &result, effect, allowed);
    let mut observed = format!(
        "shift {}{} ({}% CI [{}, {}]), p={}, {} {} (allowed {}), n={}/{}",
        if result.estimate >= 0.0 { "+" } else { "" },
        with_unit(result.estimate, ctx.unit),
        format_number(compare.confidence * 100.0),
        format_number(result.ci_low),
        format_number(result.ci_high),
        format_p(result.p_value),
        match compare.effect_measure {
            EffectMeasure::MeanRatio => "mean ratio",
            EffectMeasure::Cles => "CLES",
        },
        format_number(effect),
        format_number(allowed),
        canary.len(),
        baseline.len()
    );
    if (!effect.is_finite() || !allowed.is_finite()) && classification == Classification::Pass {
        // A ratio that is not finite (a baseline mean of 0, or means too large to divide) never passes.
        classification = Classification::NoData;
        observed.push_str("; the effect size is not a finite number, so it cannot pass");
    }
    let detail = ComparisonDetail {
        classification,
        method: result.method,
        u: result.u,
        p_value: result.p_value,
        shift: result.estimate,
        ci_low: result.ci_low,
        ci_high: result.ci_high,
        confidence: result.confidence,
        effect_measure: compare.effect_measure,
        effect,
        allowed_effect: allowed,
        canary_samples: canary.len(),
        baseline_samples: baseline.len(),
        outliers_removed: (canary_outliers, baseline_outliers),
    };
    let check = CriterionCheck {
        criterion: Criterion::Compare,
        held: classification == Classification::Pass,
        bound,
        observed,
        statistic: Some(detail),
    };
    (check, classification)
}

fn describe(name: &str, compare: &Comparison) -> String {
    format!(
        "{name} not shifted {} against the baseline (Mann-Whitney, {}% CI, {:?} within {})",
        match compare.direction {
            Direction::Increase => "up",
            Direction::Decrease => "down",
            Direction::Either => "either way",
        },
        format_number(compare.confidence * 100.0),
        compare.effect_measure,
        format_number(compare.allowed_effect.unwrap_or(neutral(compare.effect_measure)))
    )
}

/// Applies the NaN strategy and, if asked, removes values beyond 1.5 IQR. `replace` stands a 0 in
/// for a NaN (a count that is absent when nothing happened); ±inf is never taken for 0.
fn prepare(points: &[Datapoint], since: DateTime<Utc>, until: DateTime<Utc>, compare: &Comparison) -> (Vec<f64>, usize) {
    let mut values: Vec<f64> = points
        .iter()
        .filter(|p| p.at >= since && p.at <= until)
        .filter_map(|p| match (p.value.is_finite(), compare.nan_strategy) {
            (true, _) => Some(p.value),
            (false, NanStrategy::Replace) if p.value.is_nan() => Some(0.0),
            (false, _) => None,
        })
        .collect();
    if !compare.remove_outliers || values.len() < 4 {
        return (values, 0);
    }
    values.sort_unstable_by(f64::total_cmp);
    let (q1, q3) = (quantile(&values, 0.25), quantile(&values, 0.75));
    let iqr = q3 - q1;
    let (low, high) = (q1 - 1.5 * iqr, q3 + 1.5 * iqr);
    let before = values.len();
    values.retain(|v| *v >= low && *v <= high);
    let removed = before - values.len();
    (values, removed)
}

/// The effect size: canary mean / baseline mean, or P(canary > baseline).
fn effect(measure: EffectMeasure, canary: &[f64], baseline: &[f64], result: &MannWhitney) -> f64 {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    match measure {
        EffectMeasure::MeanRatio => {
            let (c, b) = (mean(canary), mean(baseline));
            if b != 0.0 {
                c / b
            } else if c == 0.0 {
                1.0
            } else {
                f64::INFINITY * c.signum()
            }
        }
        EffectMeasure::Cles => result.u / (canary.len() * baseline.len()) as f64,
    }
}

/// High when the shift is up beyond the allowed effect, Low when down beyond its mirror, Critical
/// beyond the critical effect; an effect that is NaN is none of these.
fn classify(compare: &Comparison, result: &MannWhitney, effect: f64, allowed: f64) -> Classification {
    let up = matches!(compare.direction, Direction::Increase | Direction::Either);
    let down = matches!(compare.direction, Direction::Decrease | Direction::Either);
    let mirror = |limit: f64| match compare.effect_measure {
        EffectMeasure::MeanRatio => 1.0 / limit,
        EffectMeasure::Cles => 1.0 - limit,
    };
    let high = up && result.ci_low > 0.0 && effect > allowed;
    let low = down && result.ci_high < 0.0 && effect < mirror(allowed);
    let critical = compare.critical_effect.is_some_and(|limit| (high && effect >= limit) || (low && effect <= mirror(limit)));
    if critical {
        Classification::Critical
    } else if high {
        Classification::High
    } else if low {
        Classification::Low
    } else {
        Classification::Pass
    }
}

fn neutral(measure: EffectMeasure) -> f64 {
    match measure {
        EffectMeasure::MeanRatio => 1.0,
        EffectMeasure::Cles => 0.5,
    }
}

fn format_p(p: f64) -> String {
    if p < 0.0001 { format!("{p:.1e}") } else { format_number(p) }
}
