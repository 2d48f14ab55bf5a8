//! Bounds relative to the baseline (the stable version): how far the canary's mean may rise or
//! fall, in the metric's unit or in percent of the baseline.

use super::metric::{Judgement, MetricContext};
use super::{Criterion, CriterionCheck, MetricOutcome, SideSummary};
use crate::domain::bounds::{format_number, with_unit};
use crate::domain::plan::BaselineBound;

/// Compares the canary's mean with the baseline's once both sides have enough datapoints; a
/// baseline short of datapoints is inconclusive (only once the canary has enough).
pub(super) fn judge_against_baseline(
    ctx: &MetricContext<'_>,
    canary: Option<SideSummary>,
    baseline: Option<SideSummary>,
    enough: bool,
    judgement: &mut Judgement,
) {
    let Some(limits) = &ctx.metric.baseline else { return };
    let (name, unit, span, min_samples) = (ctx.name, ctx.unit, &ctx.span, ctx.min_samples);
    let base_n = baseline.map_or(0, |b| b.samples);
    match (canary, baseline) {
        (Some(c), Some(b)) if enough && base_n >= min_samples => {
            let n = c.samples;
            let change = Change::of(c.value, b.value);
            let breach = change.breach(limits, unit);
            let not_finite = if breach.is_none() { change.not_finite(limits, unit) } else { None };
            let observed = change.describe(unit);
            judgement.record(CriterionCheck {
                criterion: Criterion::Baseline,
                held: breach.is_none() && not_finite.is_none(),
                bound: describe_limits(limits, name, unit),
                observed: match &not_finite {
                    Some(what) => format!("{observed}: {what}"),
                    None => observed,
                },
                statistic: None,
            });
            if let Some(breach) = breach {
                judgement.escalate(MetricOutcome::Fail, format!("{name} {breach} over {span} (canary n={n}, baseline n={base_n})"));
            } else if let Some(what) = not_finite {
                judgement.escalate(
                    MetricOutcome::Inconclusive,
                    format!("{name}: {what} over {span} (canary n={n}, baseline n={base_n}); cannot compare, not a pass"),
                );
            }
        }
        _ if enough => {
            judgement.record(CriterionCheck {
                criterion: Criterion::Baseline,
                held: false,
                bound: describe_limits(limits, name, unit),
                observed: format!("baseline has {base_n} datapoints, fewer than {min_samples}"),
                statistic: None,
            });
            judgement.escalate(
                MetricOutcome::Inconclusive,
                format!("{name}: baseline has only {base_n} datapoints over {span}; cannot compare"),
            );
        }
        _ => {}
    }
}

fn describe_limits(limits: &BaselineBound, name: &str, unit: Option<&str>) -> String {
    let mut parts = Vec::new();
    if let Some(v) = limits.max_increase {
        parts.push(format!("rises at most {}", with_unit(v, unit)));
    }
    if let Some(v) = limits.max_increase_pct {
        parts.push(format!("rises at most {}%", format_number(v)));
    }
    if let Some(v) = limits.max_decrease {
        parts.push(format!("falls at most {}", with_unit(v, unit)));
    }
    if let Some(v) = limits.max_decrease_pct {
        parts.push(format!("falls at most {}%", format_number(v)));
    }
    format!("{name} {} against the baseline", parts.join(" and "))
}

/// The canary's mean against the baseline's: the difference and the difference in percent.
struct Change {
    canary: f64,
    baseline: f64,
    delta: f64,
    /// Percent of the baseline; ±inf from a baseline of exactly 0 (and 0 when both are 0: no
    /// change at all).
    pct: f64,
}

impl Change {
    fn of(canary: f64, baseline: f64) -> Self {
        let delta = canary - baseline;
        let pct = if baseline != 0.0 {
            delta / baseline.abs() * 100.0
        } else if delta == 0.0 {
            0.0
        } else {
            f64::INFINITY * delta.signum()
        };
        Change { canary, baseline, delta, pct }
    }

    /// `canary 95 ms vs baseline 84 ms: +11 ms (+13.0952%)`.
    fn describe(&self, unit: Option<&str>) -> String {
        format!(
            "canary {} vs baseline {}: {}{} ({}{}%)",
            with_unit(self.canary, unit),
            with_unit(self.baseline, unit),
            if self.delta >= 0.0 { "+" } else { "" },
            with_unit(self.delta, unit),
            if self.pct >= 0.0 { "+" } else { "" },
            format_number(self.pct)
        )
    }

    /// The first limit the change exceeds, as a sentence.
    fn breach(&self, limits: &BaselineBound, unit: Option<&str>) -> Option<String> {
        let (delta, pct) = (self.delta, self.pct);
        let base = with_unit(self.baseline, unit);
        let now = with_unit(self.canary, unit);
        if let Some(max) = limits.max_increase.filter(|m| delta > *m) {
            Some(format!("{now} is {} above baseline {base}, more than {}", with_unit(delta, unit), with_unit(max, unit)))
        } else if let Some(max) = limits.max_increase_pct.filter(|m| pct > *m) {
            Some(format!("{now} is {}% above baseline {base}, more than {}%", format_number(pct), format_number(max)))
        } else if let Some(max) = limits.max_decrease.filter(|m| -delta > *m) {
            Some(format!("{now} is {} below baseline {base}, more than {}", with_unit(-delta, unit), with_unit(max, unit)))
        } else {
            limits
                .max_decrease_pct
                .filter(|m| -pct > *m)
                .map(|max| format!("{now} is {}% below baseline {base}, more than {}%", format_number(-pct), format_number(max)))
        }
    }

    /// What a limit is judged on that is not a finite number (the means, the difference, or the
    /// percent of a baseline of 0), as words; `None` when every number judged is finite.
    fn not_finite(&self, limits: &BaselineBound, unit: Option<&str>) -> Option<String> {
        if !self.canary.is_finite() || !self.baseline.is_finite() {
            return Some(format!(
                "canary {} vs baseline {}: a mean is not a finite number",
                with_unit(self.canary, unit),
                with_unit(self.baseline, unit)
            ));
        }
        let absolute = limits.max_increase.is_some() || limits.max_decrease.is_some();
        let percent = limits.max_increase_pct.is_some() || limits.max_decrease_pct.is_some();
        if absolute && !self.delta.is_finite() {
            return Some(format!("the difference {} is not a finite number", with_unit(self.delta, unit)));
        }
        if percent && !self.pct.is_finite() {
            return Some(format!(
                "the change {}% against baseline {} is not a finite number",
                format_number(self.pct),
                with_unit(self.baseline, unit)
            ));
        }
        None
    }
}
