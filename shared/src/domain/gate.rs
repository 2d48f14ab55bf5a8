//! Judging metric gates: canary (and baseline) datapoints against a plan's metric criteria.
//!
//! Plain Rust: the caller reads the datapoints (a `MetricSource`) and passes them in. Every
//! verdict carries, per metric, the values, the bound, the window, the sample counts and one
//! sentence a person can read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::bounds::{format_number, with_unit};
use crate::domain::duration::HumanDuration;
pub use crate::domain::observation::{Datapoint, MetricReading, Observation, lookback, period};
use crate::domain::plan::{Analysis, BaselineBound, Comparison, Direction, EffectMeasure, MetricGate, NanStrategy};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricOutcome {
    Pass,
    Inconclusive,
    Fail,
    /// Rolls back at once (critical tier or a sustained condition).
    Critical,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateOutcome {
    Pass,
    /// The score is between the marginal and the pass threshold: keep baking.
    Marginal,
    Inconclusive,
    Fail,
    Critical,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    MinSamples,
    Must,
    RollbackIf,
    Sustained,
    Baseline,
    Compare,
}

/// One criterion as judged: the bound, what was observed, whether it held.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CriterionCheck {
    pub criterion: Criterion,
    pub held: bool,
    /// The rule, e.g. `error_rate < 1%`.
    pub bound: String,
    /// What was seen, e.g. `1.8% (n=15)`.
    pub observed: String,
    /// The statistic behind a `compare` criterion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistic: Option<ComparisonDetail>,
}

/// A summary of one side's datapoints in the window.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SideSummary {
    /// Mean of the datapoints in the window.
    pub value: f64,
    pub samples: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricVerdict {
    pub metric: String,
    pub outcome: MetricOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<SideSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<SideSummary>,
    pub checks: Vec<CriterionCheck>,
    /// One sentence a person can read.
    pub sentence: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateVerdict {
    pub outcome: GateOutcome,
    pub judged_at: DateTime<Utc>,
    pub metrics: Vec<MetricVerdict>,
    /// The weighted score of the statistical comparisons, when the plan has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<Score>,
    pub summary: String,
}

/// Judges every metric of the analysis against what was observed.
pub fn judge(analysis: &Analysis, observation: &Observation) -> GateVerdict {
    let metrics: Vec<MetricVerdict> =
        analysis.metrics.iter().map(|m| judge_metric(analysis, m, observation.readings.get(&m.name), observation.now)).collect();
    let mut outcome = metrics.iter().map(|m| m.outcome).max().map_or(GateOutcome::Pass, |worst| match worst {
        MetricOutcome::Pass => GateOutcome::Pass,
        MetricOutcome::Inconclusive => GateOutcome::Inconclusive,
        MetricOutcome::Fail => GateOutcome::Fail,
        MetricOutcome::Critical => GateOutcome::Critical,
    });
    let score = score(analysis, &metrics);
    let mut notes: Vec<String> = metrics.iter().filter(|m| m.outcome != MetricOutcome::Pass).map(|m| m.sentence.clone()).collect();
    if let (Some(score), Some(thresholds)) = (&score, &analysis.score) {
        // Metrics the comparison classified High or Low, which only the score acts on.
        let shifted: Vec<String> = metrics
            .iter()
            .filter(|m| m.outcome == MetricOutcome::Pass && m.checks.iter().any(|c| c.criterion == Criterion::Compare && !c.held))
            .map(|m| m.sentence.clone())
            .collect();
        let zeroed = score.zeroed_by.as_ref().map(|m| format!(" (critical metric {m} shifted)")).unwrap_or_default();
        let verdict = if score.value >= thresholds.pass {
            None
        } else if score.value >= thresholds.marginal {
            Some((
                GateOutcome::Marginal,
                format!(
                    "score {} is marginal (pass {}, marginal {})",
                    format_number(score.value),
                    format_number(thresholds.pass),
                    format_number(thresholds.marginal)
                ),
            ))
        } else {
            Some((
                GateOutcome::Fail,
                format!("score {}{zeroed} < marginal {}", format_number(score.value), format_number(thresholds.marginal)),
            ))
        };
        if let Some((score_outcome, text)) = verdict {
            outcome = outcome.max(score_outcome);
            notes.push(if shifted.is_empty() { text } else { format!("{text}: {}", shifted.join("; ")) });
        }
    }
    let summary = if notes.is_empty() { format!("all {} metrics within bounds", metrics.len()) } else { notes.join("; ") };
    GateVerdict { outcome, judged_at: observation.now, metrics, score, summary }
}

fn finite(points: &[Datapoint], since: DateTime<Utc>, until: DateTime<Utc>) -> Vec<f64> {
    points.iter().filter(|p| p.at >= since && p.at <= until && p.value.is_finite()).map(|p| p.value).collect()
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn judge_metric(analysis: &Analysis, metric: &MetricGate, reading: Option<&MetricReading>, now: DateTime<Utc>) -> MetricVerdict {
    let unit = metric.unit.as_deref();
    let window = analysis.window.unwrap_or(analysis.interval);
    let start = window.before(now);
    // A datapoint is stamped with the start of its period: one stamped less than a period ago
    // describes a period still in progress (a partial sum, a few requests), so it is left out.
    let complete = now - chrono::Duration::seconds(i64::from(period(metric)));
    let span = if window.as_secs() >= 86_400 {
        format!("{}–{}", start.format("%m-%d %H:%M"), now.format("%m-%d %H:%M"))
    } else {
        format!("{}–{}", start.format("%H:%M"), now.format("%H:%M"))
    };
    let min_samples = metric.min_samples.unwrap_or(analysis.min_samples) as usize;
    let empty = MetricReading::default();
    let reading = reading.unwrap_or(&empty);
    let canary_values = finite(&reading.canary, start, complete);
    let canary = mean(&canary_values).map(|value| SideSummary { value, samples: canary_values.len() });
    let baseline_values = reading.baseline.as_ref().map(|b| finite(b, start, complete));
    let baseline = baseline_values.as_ref().and_then(|v| mean(v).map(|value| SideSummary { value, samples: v.len() }));

    let mut checks = Vec::new();
    let mut outcome = MetricOutcome::Pass;
    let mut sentences = Vec::new();
    let name = &metric.name;
    let n = canary_values.len();

    // A critical breach is acted on even on few samples: rolling back is the safe direction.
    if let (Some(cond), Some(c)) = (&metric.rollback_if, canary) {
        let breached = cond.holds(c.value);
        checks.push(CriterionCheck {
            criterion: Criterion::RollbackIf,
            held: !breached,
            bound: format!("roll back if {}", cond.describe(name, unit)),
            observed: format!("{} (n={n})", with_unit(c.value, unit)),
            statistic: None,
        });
        if breached {
            outcome = MetricOutcome::Critical;
            sentences.push(format!(
                "{name} {} meets the rollback condition {} over {span} (n={n})",
                with_unit(c.value, unit),
                cond.describe("", unit).trim()
            ));
        }
    }
    if let Some(sustained) = &metric.sustained {
        let since = sustained.duration.before(now);
        let period = metric.query.period.unwrap_or(HumanDuration::from_secs(60)).as_secs().max(1);
        let needed = ((sustained.duration.as_secs() / period) * 9 / 10).max(1) as usize;
        let values = finite(&reading.canary, since, complete);
        let cond = sustained.bounds();
        let all_meet = values.len() >= needed && values.iter().all(|v| cond.holds(*v));
        checks.push(CriterionCheck {
            criterion: Criterion::Sustained,
            held: !all_meet,
            bound: format!("roll back if {} for {}", cond.describe(name, unit), sustained.duration),
            observed: if values.len() < needed {
                format!("{} of the {needed} datapoints needed to judge {}", values.len(), sustained.duration)
            } else {
                format!("{} of {} datapoints meet it", values.iter().filter(|v| cond.holds(**v)).count(), values.len())
            },
            statistic: None,
        });
        if all_meet {
            outcome = MetricOutcome::Critical;
            sentences.push(format!(
                "{name} {} for {} (all {} datapoints since {})",
                cond.describe("", unit).trim(),
                sustained.duration,
                values.len(),
                since.format("%H:%M")
            ));
        }
    }

    let enough = n >= min_samples;
    checks.push(CriterionCheck {
        criterion: Criterion::MinSamples,
        held: enough,
        bound: format!("at least {min_samples} canary datapoints"),
        observed: format!("{n}"),
        statistic: None,
    });
    if !enough {
        outcome = outcome.max(MetricOutcome::Inconclusive);
        sentences.push(if n == 0 {
            format!("{name}: no canary data over {span}; missing data is not a pass")
        } else {
            format!("{name}: only {n} canary datapoints over {span}, fewer than the {min_samples} required")
        });
    }

    if let (Some(bounds), Some(c), true) = (&metric.must, canary, enough) {
        let unmet = bounds.first_unmet(c.value);
        checks.push(CriterionCheck {
            criterion: Criterion::Must,
            held: unmet.is_none(),
            bound: bounds.describe(name, unit),
            observed: format!("{} (n={n})", with_unit(c.value, unit)),
            statistic: None,
        });
        if let Some((op, limit)) = unmet {
            outcome = outcome.max(MetricOutcome::Fail);
            sentences.push(format!(
                "{name} {} {} {} over {span} (n={n})",
                with_unit(c.value, unit),
                op.negated_symbol(),
                with_unit(limit, unit)
            ));
        }
    }

    if let Some(limits) = &metric.baseline {
        let base_n = baseline.map_or(0, |b| b.samples);
        match (canary, baseline) {
            (Some(c), Some(b)) if enough && base_n >= min_samples => {
                let (held, observed, breach) = judge_baseline(limits, c.value, b.value, unit);
                checks.push(CriterionCheck {
                    criterion: Criterion::Baseline,
                    held,
                    bound: describe_baseline(limits, name, unit),
                    observed,
                    statistic: None,
                });
                if let Some(breach) = breach {
                    outcome = outcome.max(MetricOutcome::Fail);
                    sentences.push(format!("{name} {breach} over {span} (canary n={n}, baseline n={base_n})"));
                }
            }
            _ if enough => {
                checks.push(CriterionCheck {
                    criterion: Criterion::Baseline,
                    held: false,
                    bound: describe_baseline(limits, name, unit),
                    observed: format!("baseline has {base_n} datapoints, fewer than {min_samples}"),
                    statistic: None,
                });
                outcome = outcome.max(MetricOutcome::Inconclusive);
                sentences.push(format!("{name}: baseline has only {base_n} datapoints over {span}; cannot compare"));
            }
            _ => {}
        }
    }

    if let Some(compare) = &metric.compare {
        let (check, classification) = judge_compare(name, compare, reading, start, complete, min_samples, unit);
        match classification {
            Classification::NoData => {
                outcome = outcome.max(MetricOutcome::Inconclusive);
                sentences.push(format!("{name}: {}", check.observed));
            }
            Classification::Critical => {
                outcome = MetricOutcome::Critical;
                sentences.push(format!("{name} critically shifted: {}", check.observed));
            }
            Classification::High | Classification::Low => sentences.push(format!("{name} {classification:?}: {}", check.observed)),
            Classification::Pass => {}
        }
        checks.push(check);
    }

    let sentence = if sentences.is_empty() {
        match canary {
            Some(c) => format!("{name} {} within bounds over {span} (n={n})", with_unit(c.value, unit)),
            None => format!("{name}: no data over {span}"),
        }
    } else {
        sentences.join("; ")
    };
    MetricVerdict {
        metric: name.clone(),
        outcome,
        unit: metric.unit.clone(),
        window_start: start,
        window_end: now,
        canary,
        baseline,
        checks,
        sentence,
    }
}

fn describe_baseline(limits: &BaselineBound, name: &str, unit: Option<&str>) -> String {
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

/// (held, observed, breach sentence).
fn judge_baseline(limits: &BaselineBound, canary: f64, baseline: f64, unit: Option<&str>) -> (bool, String, Option<String>) {
    let delta = canary - baseline;
    let pct = if baseline != 0.0 {
        delta / baseline.abs() * 100.0
    } else if delta == 0.0 {
        0.0
    } else {
        f64::INFINITY * delta.signum()
    };
    let observed = format!(
        "canary {} vs baseline {}: {}{} ({}{}%)",
        with_unit(canary, unit),
        with_unit(baseline, unit),
        if delta >= 0.0 { "+" } else { "" },
        with_unit(delta, unit),
        if pct >= 0.0 { "+" } else { "" },
        format_number(pct)
    );
    let base = with_unit(baseline, unit);
    let now = with_unit(canary, unit);
    let breach = if let Some(max) = limits.max_increase.filter(|m| delta > *m) {
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
    };
    (breach.is_none(), observed, breach)
}

/// How a statistical comparison classified a metric (Kayenta's High / Low / Pass).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    Pass,
    High,
    Low,
    /// Beyond the critical effect: rolls back at once.
    Critical,
    NoData,
}

/// The numbers behind a comparison, for the audit trail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComparisonDetail {
    pub classification: Classification,
    pub method: crate::domain::stats::Method,
    pub u: f64,
    pub p_value: f64,
    /// Hodges-Lehmann shift canary − baseline.
    pub shift: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub confidence: f64,
    pub effect_measure: EffectMeasure,
    pub effect: f64,
    pub allowed_effect: f64,
    pub canary_samples: usize,
    pub baseline_samples: usize,
    /// Datapoints removed as outliers (canary, baseline).
    pub outliers_removed: (usize, usize),
}

/// The weighted score of the compared metrics (0–100).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub value: f64,
    pub passed_weight: f64,
    pub total_weight: f64,
    /// A critical metric classified High or Low zeroes the score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zeroed_by: Option<String>,
}

fn score(analysis: &Analysis, metrics: &[MetricVerdict]) -> Option<Score> {
    let mut passed = 0.0;
    let mut total = 0.0;
    let mut zeroed_by = None;
    for (gate, verdict) in analysis.metrics.iter().zip(metrics) {
        let (Some(compare), Some(detail)) = (&gate.compare, verdict.checks.iter().find_map(|c| c.statistic.as_ref())) else { continue };
        total += compare.weight;
        match detail.classification {
            Classification::Pass => passed += compare.weight,
            Classification::High | Classification::Low | Classification::Critical if compare.critical => {
                zeroed_by.get_or_insert_with(|| gate.name.clone());
            }
            _ => {}
        }
    }
    if total == 0.0 {
        return None;
    }
    let value = if zeroed_by.is_some() { 0.0 } else { 100.0 * passed / total };
    Some(Score { value, passed_weight: passed, total_weight: total, zeroed_by })
}

/// Applies the NaN strategy and, if asked, removes values beyond 1.5 IQR.
fn prepare(points: &[Datapoint], since: DateTime<Utc>, until: DateTime<Utc>, compare: &Comparison) -> (Vec<f64>, usize) {
    let mut values: Vec<f64> = points
        .iter()
        .filter(|p| p.at >= since && p.at <= until)
        .filter_map(|p| match (p.value.is_finite(), compare.nan_strategy) {
            (true, _) => Some(p.value),
            (false, NanStrategy::Replace) => Some(0.0),
            (false, NanStrategy::Remove) => None,
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
    (values.clone(), before - values.len())
}

/// Quantile of sorted values with linear interpolation (R's type 7).
pub(crate) fn quantile(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

fn judge_compare(
    name: &str,
    compare: &Comparison,
    reading: &MetricReading,
    start: DateTime<Utc>,
    until: DateTime<Utc>,
    min_samples: usize,
    unit: Option<&str>,
) -> (CriterionCheck, Classification) {
    let bound = format!(
        "{name} not shifted {} against the baseline (Mann-Whitney, {}% CI, {:?} within {})",
        match compare.direction {
            Direction::Increase => "up",
            Direction::Decrease => "down",
            Direction::Either => "either way",
        },
        format_number(compare.confidence * 100.0),
        compare.effect_measure,
        format_number(compare.allowed_effect.unwrap_or(neutral(compare.effect_measure)))
    );
    let (canary, canary_outliers) = prepare(&reading.canary, start, until, compare);
    let (baseline, baseline_outliers) = prepare(reading.baseline.as_deref().unwrap_or_default(), start, until, compare);
    let no_data = |observed: String| {
        (
            CriterionCheck { criterion: Criterion::Compare, held: false, bound: bound.clone(), observed, statistic: None },
            Classification::NoData,
        )
    };
    if canary.len() < min_samples || baseline.len() < min_samples {
        return no_data(format!(
            "{} canary and {} baseline datapoints, fewer than the {min_samples} needed to compare",
            canary.len(),
            baseline.len()
        ));
    }
    let result = match crate::domain::stats::mann_whitney(&canary, &baseline, compare.confidence) {
        Ok(r) => r,
        Err(crate::domain::stats::StatsError::NoVariance) => {
            // Every datapoint on both sides is the same value: nothing moved.
            let check = CriterionCheck {
                criterion: Criterion::Compare,
                held: true,
                bound,
                observed: "canary and baseline identical".into(),
                statistic: None,
            };
            return (check, Classification::Pass);
        }
        Err(e) => return no_data(format!("cannot compare: {e}")),
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let effect = match compare.effect_measure {
        EffectMeasure::MeanRatio => {
            let (c, b) = (mean(&canary), mean(&baseline));
            if b != 0.0 {
                c / b
            } else if c == 0.0 {
                1.0
            } else {
                f64::INFINITY * c.signum()
            }
        }
        EffectMeasure::Cles => result.u / (canary.len() * baseline.len()) as f64,
    };
    let allowed = compare.allowed_effect.unwrap_or(neutral(compare.effect_measure));
    let up = matches!(compare.direction, Direction::Increase | Direction::Either);
    let down = matches!(compare.direction, Direction::Decrease | Direction::Either);
    let mirror = |limit: f64| match compare.effect_measure {
        EffectMeasure::MeanRatio => 1.0 / limit,
        EffectMeasure::Cles => 1.0 - limit,
    };
    let high = up && result.ci_low > 0.0 && effect > allowed;
    let low = down && result.ci_high < 0.0 && effect < mirror(allowed);
    let critical = compare.critical_effect.is_some_and(|limit| (high && effect >= limit) || (low && effect <= mirror(limit)));
    let classification = if critical {
        Classification::Critical
    } else if high {
        Classification::High
    } else if low {
        Classification::Low
    } else {
        Classification::Pass
    };
    let observed = format!(
        "shift {}{} ({}% CI [{}, {}]), p={}, {} {} (allowed {}), n={}/{}",
        if result.estimate >= 0.0 { "+" } else { "" },
        with_unit(result.estimate, unit),
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

fn neutral(measure: EffectMeasure) -> f64 {
    match measure {
        EffectMeasure::MeanRatio => 1.0,
        EffectMeasure::Cles => 0.5,
    }
}

fn format_p(p: f64) -> String {
    if p < 0.0001 { format!("{p:.1e}") } else { format_number(p) }
}

#[cfg(test)]
mod tests;
