//! A condition that rolls back once it has held for a duration (error rate above 2% for 15m).

use super::metric::{Judgement, MetricContext};
use super::series::Series;
use super::{Criterion, CriterionCheck, MetricOutcome};
use crate::domain::duration::HumanDuration;

/// Critical when (nearly) every datapoint of the whole duration meets the condition: nine in ten
/// of the periods it spans must be there, and all that are there must meet it. Datapoints that
/// are not finite numbers are left out (they neither meet the condition nor break it).
pub(super) fn judge_sustained(ctx: &MetricContext<'_>, judgement: &mut Judgement) {
    let Some(sustained) = &ctx.metric.sustained else { return };
    let (name, unit) = (ctx.name, ctx.unit);
    // Within the step being judged, as every window.
    let since = sustained.duration.before(ctx.now).max(ctx.since.unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC));
    let period = ctx.metric.query.period.unwrap_or(HumanDuration::from_secs(60)).as_secs().max(1);
    let needed = ((sustained.duration.as_secs() / period).saturating_mul(9) / 10).max(1) as usize;
    let values = Series::within(&ctx.reading.canary, since, ctx.complete).values;
    let cond = sustained.bounds();
    let meeting = values.iter().filter(|v| cond.holds(**v)).count();
    let all_meet = values.len() >= needed && meeting == values.len();
    judgement.record(CriterionCheck {
        criterion: Criterion::Sustained,
        held: !all_meet,
        bound: format!("roll back if {} for {}", cond.describe(name, unit), sustained.duration),
        observed: if values.len() < needed {
            format!("{} of the {needed} datapoints needed to judge {}", values.len(), sustained.duration)
        } else {
            format!("{meeting} of {} datapoints meet it", values.len())
        },
        statistic: None,
    });
    if all_meet {
        judgement.escalate(
            MetricOutcome::Critical,
            format!(
                "{name} {} for {} (all {} datapoints since {})",
                cond.describe("", unit).trim(),
                sustained.duration,
                values.len(),
                since.format("%H:%M")
            ),
        );
    }
}
