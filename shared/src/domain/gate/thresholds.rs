//! Absolute thresholds on the canary's mean: the critical tier (`rollback_if`), enough datapoints
//! (`min_samples`) and the bounds every check must meet (`must`).

use super::metric::{Judgement, MetricContext};
use super::series::Series;
use super::{Criterion, CriterionCheck, MetricOutcome, SideSummary};
use crate::domain::bounds::with_unit;

/// A critical breach is acted on even on few samples: rolling back is the safe direction.
pub(super) fn judge_critical_tier(ctx: &MetricContext<'_>, canary: Option<SideSummary>, judgement: &mut Judgement) {
    let (Some(cond), Some(c)) = (&ctx.metric.rollback_if, canary) else { return };
    let (name, unit, n) = (ctx.name, ctx.unit, c.samples);
    let breached = cond.holds(c.value);
    judgement.record(CriterionCheck {
        criterion: Criterion::RollbackIf,
        held: !breached,
        bound: format!("roll back if {}", cond.describe(name, unit)),
        observed: format!("{} (n={n})", with_unit(c.value, unit)),
        statistic: None,
    });
    if breached {
        judgement.escalate(
            MetricOutcome::Critical,
            format!(
                "{name} {} meets the rollback condition {} over {} (n={n})",
                with_unit(c.value, unit),
                cond.describe("", unit).trim(),
                ctx.span
            ),
        );
    }
}

/// Whether the canary has the datapoints a conclusive check needs; missing data is not a pass.
pub(super) fn judge_min_samples(ctx: &MetricContext<'_>, canary: &Series, judgement: &mut Judgement) -> bool {
    let (name, span, min_samples) = (ctx.name, &ctx.span, ctx.min_samples);
    let n = canary.values.len();
    let enough = n >= min_samples;
    judgement.record(CriterionCheck {
        criterion: Criterion::MinSamples,
        held: enough,
        bound: format!("at least {min_samples} canary datapoints"),
        observed: format!("{n}"),
        statistic: None,
    });
    if !enough {
        // Datapoints that are not finite numbers were read but do not count.
        let finite = if canary.not_finite.is_empty() { "" } else { " finite" };
        judgement.escalate(
            MetricOutcome::Inconclusive,
            if n == 0 && canary.not_finite.is_empty() {
                format!("{name}: no canary data over {span}; missing data is not a pass")
            } else if n == 0 {
                format!("{name}: no finite canary datapoints over {span}; missing data is not a pass")
            } else {
                format!("{name}: only {n}{finite} canary datapoints over {span}, fewer than the {min_samples} required")
            },
        );
    }
    enough
}

/// The bounds every check must meet, judged on the canary's mean.
pub(super) fn judge_must(ctx: &MetricContext<'_>, canary: Option<SideSummary>, judgement: &mut Judgement) {
    let (Some(bounds), Some(c)) = (&ctx.metric.must, canary) else { return };
    let (name, unit, n) = (ctx.name, ctx.unit, c.samples);
    let unmet = bounds.first_unmet(c.value);
    judgement.record(CriterionCheck {
        criterion: Criterion::Must,
        held: unmet.is_none(),
        bound: bounds.describe(name, unit),
        observed: format!("{} (n={n})", with_unit(c.value, unit)),
        statistic: None,
    });
    if let Some((op, limit)) = unmet {
        judgement.escalate(
            MetricOutcome::Fail,
            format!("{name} {} {} {} over {} (n={n})", with_unit(c.value, unit), op.negated_symbol(), with_unit(limit, unit), ctx.span),
        );
    }
}
