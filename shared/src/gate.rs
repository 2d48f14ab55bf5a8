//! Judging metric gates: canary (and baseline) datapoints against a plan's metric criteria.
//!
//! Plain Rust: the caller reads the datapoints (a `MetricSource`) and passes them in. Every
//! verdict carries, per metric, the values, the bound, the window, the sample counts and one
//! sentence a person can read.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::bounds::{format_number, with_unit};
use crate::duration::HumanDuration;
use crate::plan::{Analysis, BaselineBound, MetricGate};

/// One datapoint: CloudWatch's value of a metric for one period.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Datapoint {
    pub at: DateTime<Utc>,
    pub value: f64,
}

/// What a metric source returned for one metric.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricReading {
    pub canary: Vec<Datapoint>,
    /// Absent when the metric has no baseline query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Vec<Datapoint>>,
}

/// Everything read for one check, up to `now`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub now: DateTime<Utc>,
    pub readings: BTreeMap<String, MetricReading>,
}

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
    pub summary: String,
}

/// How far back a metric must be read: the analysis window, or longer for a sustained condition.
pub fn lookback(analysis: &Analysis, metric: &MetricGate) -> HumanDuration {
    let window = analysis.window.unwrap_or(analysis.interval);
    metric.sustained.as_ref().map_or(window, |s| s.duration.max(window))
}

/// Judges every metric of the analysis against what was observed.
pub fn judge(analysis: &Analysis, observation: &Observation) -> GateVerdict {
    let metrics: Vec<MetricVerdict> =
        analysis.metrics.iter().map(|m| judge_metric(analysis, m, observation.readings.get(&m.name), observation.now)).collect();
    let outcome = metrics.iter().map(|m| m.outcome).max().map_or(GateOutcome::Pass, |worst| match worst {
        MetricOutcome::Pass => GateOutcome::Pass,
        MetricOutcome::Inconclusive => GateOutcome::Inconclusive,
        MetricOutcome::Fail => GateOutcome::Fail,
        MetricOutcome::Critical => GateOutcome::Critical,
    });
    let summary = match outcome {
        GateOutcome::Pass | GateOutcome::Marginal => format!("all {} metrics within bounds", metrics.len()),
        _ => metrics.iter().filter(|m| m.outcome != MetricOutcome::Pass).map(|m| m.sentence.clone()).collect::<Vec<_>>().join("; "),
    };
    GateVerdict { outcome, judged_at: observation.now, metrics, summary }
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
    let start = now - window.chrono();
    let span = format!("{}–{}", start.format("%H:%M"), now.format("%H:%M"));
    let min_samples = metric.min_samples.unwrap_or(analysis.min_samples) as usize;
    let empty = MetricReading::default();
    let reading = reading.unwrap_or(&empty);
    let canary_values = finite(&reading.canary, start, now);
    let canary = mean(&canary_values).map(|value| SideSummary { value, samples: canary_values.len() });
    let baseline_values = reading.baseline.as_ref().map(|b| finite(b, start, now));
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
        let since = now - sustained.duration.chrono();
        let period = metric.query.period.unwrap_or(HumanDuration::from_secs(60)).as_secs().max(1);
        let needed = ((sustained.duration.as_secs() / period) * 9 / 10).max(1) as usize;
        let values = finite(&reading.canary, since, now);
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
                });
                outcome = outcome.max(MetricOutcome::Inconclusive);
                sentences.push(format!("{name}: baseline has only {base_n} datapoints over {span}; cannot compare"));
            }
            _ => {}
        }
    }

    if metric.compare.is_some() {
        // Statistical comparison is judged by the Mann-Whitney judge (not in this build yet);
        // without it the metric cannot pass on this criterion, so it stays inconclusive.
        checks.push(CriterionCheck {
            criterion: Criterion::Compare,
            held: false,
            bound: format!("{name} not shifted against the baseline (Mann-Whitney)"),
            observed: "not judged: the statistical comparison is not available in this build".into(),
        });
        outcome = outcome.max(MetricOutcome::Inconclusive);
        sentences.push(format!("{name}: statistical comparison not available; not a pass"));
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

#[cfg(test)]
mod tests;
