use chrono::{Duration, TimeZone};

use super::*;
use crate::domain::plan::{Bounds, InconclusivePolicy, MetricQuery, MetricStat, SustainedCondition};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 11, 14, 10, 20, 0).single().unwrap_or_default()
}

fn query() -> MetricQuery {
    MetricQuery {
        metric: Some(MetricStat {
            namespace: "AWS/Lambda".into(),
            name: "Duration".into(),
            stat: "p95".into(),
            dimensions: Default::default(),
        }),
        expression: None,
        metrics: Default::default(),
        canary: Default::default(),
        baseline: Default::default(),
        period: None,
    }
}

fn gate(name: &str, unit: &str) -> MetricGate {
    MetricGate {
        name: name.into(),
        description: None,
        query: query(),
        unit: Some(unit.into()),
        min_samples: None,
        must: None,
        rollback_if: None,
        sustained: None,
        baseline: None,
        compare: None,
    }
}

fn analysis(metrics: Vec<MetricGate>) -> Analysis {
    Analysis {
        interval: HumanDuration::from_secs(300),
        window: Some(HumanDuration::from_secs(900)),
        min_samples: 5,
        consecutive_failures: 1,
        max_inconclusive: 2,
        on_inconclusive: InconclusivePolicy::Fail,
        score: None,
        metrics,
    }
}

/// One datapoint for each of the last `n` complete minutes, all `value`.
fn points(n: i64, value: f64) -> Vec<Datapoint> {
    (1..=n).map(|i| Datapoint { at: now() - Duration::minutes(i), value }).collect()
}

fn observe(name: &str, canary: Vec<Datapoint>, baseline: Option<Vec<Datapoint>>) -> Observation {
    Observation { now: now(), readings: [(name.to_string(), MetricReading { canary, baseline })].into() }
}

#[test]
fn absolute_bound_fails_with_a_readable_sentence() {
    let mut g = gate("p95_latency", "ms");
    g.must = Some(Bounds { below: Some(500.0), ..Bounds::default() });
    let a = analysis(vec![g]);
    let v = judge(&a, &observe("p95_latency", points(15, 612.0), None));
    assert_eq!(v.outcome, GateOutcome::Fail);
    assert_eq!(v.metrics[0].sentence, "p95_latency 612 ms ≥ 500 ms over 10:05–10:20 (n=15)");
    let ok = judge(&a, &observe("p95_latency", points(15, 499.0), None));
    assert_eq!(ok.outcome, GateOutcome::Pass);
    let edge = judge(&a, &observe("p95_latency", points(15, 500.0), None));
    assert_eq!(edge.outcome, GateOutcome::Fail, "below 500 excludes 500");
}

#[test]
fn too_few_or_missing_datapoints_are_inconclusive_never_zero() {
    let mut g = gate("error_rate", "%");
    g.must = Some(Bounds { below: Some(1.0), ..Bounds::default() });
    let a = analysis(vec![g]);
    let missing = judge(&a, &Observation { now: now(), readings: Default::default() });
    assert_eq!(missing.outcome, GateOutcome::Inconclusive);
    assert!(missing.metrics[0].sentence.contains("no canary data"), "{}", missing.metrics[0].sentence);
    let few = judge(&a, &observe("error_rate", points(4, 0.1), None));
    assert_eq!(few.outcome, GateOutcome::Inconclusive);
    assert!(few.metrics[0].sentence.contains("only 4 canary datapoints"));
    let nan = judge(&a, &observe("error_rate", points(15, f64::NAN), None));
    assert_eq!(nan.outcome, GateOutcome::Inconclusive, "NaN datapoints are not data");
    let old = observe("error_rate", (20..40).map(|i| Datapoint { at: now() - Duration::minutes(i), value: 0.1 }).collect(), None);
    assert_eq!(judge(&a, &old).outcome, GateOutcome::Inconclusive, "datapoints outside the window do not count");
}

#[test]
fn critical_tier_rolls_back_even_on_few_samples() {
    let mut g = gate("error_rate", "%");
    g.must = Some(Bounds { below: Some(1.0), ..Bounds::default() });
    g.rollback_if = Some(Bounds { above: Some(5.0), ..Bounds::default() });
    let a = analysis(vec![g]);
    assert_eq!(judge(&a, &observe("error_rate", points(2, 9.0), None)).outcome, GateOutcome::Critical);
    assert_eq!(judge(&a, &observe("error_rate", points(15, 5.0), None)).outcome, GateOutcome::Fail, "5 is not above 5, but fails must");
    assert_eq!(judge(&a, &observe("error_rate", points(15, 5.01), None)).outcome, GateOutcome::Critical);
}

#[test]
fn sustained_condition_needs_the_whole_duration() {
    let mut g = gate("error_rate", "%");
    g.sustained =
        Some(SustainedCondition { at_least: None, at_most: None, above: Some(2.0), below: None, duration: HumanDuration::from_secs(900) });
    let a = analysis(vec![g]);
    assert_eq!(lookback(&a, &a.metrics[0]), HumanDuration::from_secs(900));
    assert_eq!(judge(&a, &observe("error_rate", points(15, 2.5), None)).outcome, GateOutcome::Critical);
    // One good minute in the last 15 breaks the streak.
    let mut mixed = points(15, 2.5);
    mixed[7].value = 1.0;
    assert_eq!(judge(&a, &observe("error_rate", mixed, None)).outcome, GateOutcome::Pass);
    // Ten minutes above 2% is not yet fifteen.
    assert_eq!(judge(&a, &observe("error_rate", points(10, 2.5), None)).outcome, GateOutcome::Pass);
}

#[test]
fn baseline_deltas_in_points_and_percent() {
    let mut g = gate("latency", "ms");
    g.baseline = Some(BaselineBound { max_increase: Some(10.0), ..BaselineBound::default() });
    let a = analysis(vec![g]);
    let v = judge(&a, &observe("latency", points(15, 95.0), Some(points(15, 84.0))));
    assert_eq!(v.outcome, GateOutcome::Fail);
    assert_eq!(
        v.metrics[0].sentence,
        "latency 95 ms is 11 ms above baseline 84 ms, more than 10 ms over 10:05–10:20 (canary n=15, baseline n=15)"
    );
    assert_eq!(judge(&a, &observe("latency", points(15, 94.0), Some(points(15, 84.0)))).outcome, GateOutcome::Pass);
    let mut pct = gate("latency", "ms");
    pct.baseline = Some(BaselineBound { max_increase_pct: Some(50.0), ..BaselineBound::default() });
    let a = analysis(vec![pct]);
    assert_eq!(judge(&a, &observe("latency", points(15, 151.0), Some(points(15, 100.0)))).outcome, GateOutcome::Fail);
    assert_eq!(judge(&a, &observe("latency", points(15, 150.0), Some(points(15, 100.0)))).outcome, GateOutcome::Pass);
    assert_eq!(judge(&a, &observe("latency", points(15, 150.0), None)).outcome, GateOutcome::Inconclusive, "no baseline, no comparison");
}

#[test]
fn the_worst_metric_decides_and_every_metric_explains_itself() {
    let mut errors = gate("error_rate", "%");
    errors.must = Some(Bounds { below: Some(1.0), ..Bounds::default() });
    let mut latency = gate("latency", "ms");
    latency.must = Some(Bounds { below: Some(500.0), ..Bounds::default() });
    let a = analysis(vec![errors, latency]);
    let mut obs = observe("error_rate", points(15, 0.2), None);
    obs.readings.insert("latency".into(), MetricReading { canary: points(15, 700.0), baseline: None });
    let v = judge(&a, &obs);
    assert_eq!(v.outcome, GateOutcome::Fail);
    assert_eq!(v.metrics.len(), 2);
    assert_eq!(v.metrics[0].checks.iter().find(|c| c.criterion == Criterion::Must).map(|c| c.observed.as_str()), Some("0.2% (n=15)"));
    assert!(v.summary.starts_with("latency 700 ms ≥ 500 ms"), "{}", v.summary);
}

/// One datapoint for each of the last `n` complete minutes, jittered.
fn series(n: i64, base: f64) -> Vec<Datapoint> {
    // Deterministic jitter so that the samples have spread but no drift.
    (1..=n).map(|i| Datapoint { at: now() - Duration::minutes(i), value: base + ((i * 7) % 11) as f64 }).collect()
}

fn compared(name: &str, critical: bool, critical_effect: Option<f64>, weight: f64) -> MetricGate {
    let mut g = gate(name, "ms");
    g.query.baseline = [("Version".to_string(), "{stable_version}".to_string())].into();
    g.compare = Some(crate::domain::plan::Comparison {
        direction: crate::domain::plan::Direction::Increase,
        confidence: 0.98,
        effect_measure: crate::domain::plan::EffectMeasure::MeanRatio,
        allowed_effect: Some(1.1),
        critical_effect,
        nan_strategy: crate::domain::plan::NanStrategy::Remove,
        remove_outliers: false,
        weight,
        critical,
    });
    g
}

fn scored(metrics: Vec<MetricGate>) -> Analysis {
    Analysis { score: Some(crate::domain::plan::ScoreThresholds { pass: 95.0, marginal: 75.0 }), ..analysis(metrics) }
}

#[test]
fn an_unshifted_canary_scores_100() {
    let a = scored(vec![compared("latency", false, None, 1.0)]);
    let v = judge(&a, &observe("latency", series(15, 100.0), Some(series(15, 100.0))));
    assert_eq!(v.outcome, GateOutcome::Pass, "{}", v.summary);
    assert_eq!(v.score.as_ref().map(|s| s.value), Some(100.0));
    let detail = v.metrics[0].checks.iter().find_map(|c| c.statistic.clone()).unwrap_or_else(|| panic!("statistic recorded"));
    assert_eq!(detail.classification, Classification::Pass);
    assert!(detail.ci_low <= 0.0 && detail.ci_high >= 0.0, "{detail:?}");
}

#[test]
fn a_shifted_canary_is_high_and_lowers_the_score() {
    let a = scored(vec![compared("latency", false, None, 1.0), compared("cpu", false, None, 3.0)]);
    let mut obs = observe("latency", series(15, 130.0), Some(series(15, 100.0)));
    obs.readings.insert("cpu".into(), MetricReading { canary: series(15, 40.0), baseline: Some(series(15, 40.0)) });
    let v = judge(&a, &obs);
    assert_eq!(v.score.as_ref().map(|s| s.value), Some(75.0));
    assert_eq!(v.outcome, GateOutcome::Marginal, "{}", v.summary);
    assert!(v.summary.contains("latency High"), "{}", v.summary);
    assert!(v.summary.contains("98% CI"), "{}", v.summary);
    let detail = v.metrics[0].checks.iter().find_map(|c| c.statistic.clone()).unwrap_or_else(|| panic!("statistic"));
    assert_eq!(detail.classification, Classification::High);
    assert!(detail.ci_low > 0.0 && detail.effect > 1.1, "{detail:?}");
}

#[test]
fn a_critical_metric_that_shifts_zeroes_the_score() {
    let a = scored(vec![compared("latency", true, None, 1.0), compared("cpu", false, None, 3.0)]);
    let mut obs = observe("latency", series(15, 130.0), Some(series(15, 100.0)));
    obs.readings.insert("cpu".into(), MetricReading { canary: series(15, 40.0), baseline: Some(series(15, 40.0)) });
    let v = judge(&a, &obs);
    assert_eq!(v.score.as_ref().map(|s| (s.value, s.zeroed_by.clone())), Some((0.0, Some("latency".into()))));
    assert_eq!(v.outcome, GateOutcome::Fail);
    assert!(v.summary.contains("critical metric latency shifted"), "{}", v.summary);
}

#[test]
fn beyond_the_critical_effect_rolls_back_at_once() {
    let a = scored(vec![compared("latency", false, Some(1.5), 1.0)]);
    let v = judge(&a, &observe("latency", series(15, 200.0), Some(series(15, 100.0))));
    assert_eq!(v.outcome, GateOutcome::Critical, "{}", v.summary);
}

#[test]
fn comparison_without_enough_baseline_is_inconclusive() {
    let a = scored(vec![compared("latency", false, None, 1.0)]);
    let v = judge(&a, &observe("latency", series(15, 100.0), Some(series(3, 100.0))));
    assert_eq!(v.outcome, GateOutcome::Inconclusive);
    assert!(v.metrics[0].sentence.contains("3 baseline datapoints"), "{}", v.metrics[0].sentence);
}

#[test]
fn outliers_can_be_removed_before_comparing() {
    let mut g = compared("latency", false, None, 1.0);
    let mut canary = series(15, 100.0);
    for p in canary.iter_mut().take(3) {
        p.value = 5000.0;
    }
    let with = judge(&scored(vec![g.clone()]), &observe("latency", canary.clone(), Some(series(15, 100.0))));
    if let Some(c) = g.compare.as_mut() {
        c.remove_outliers = true;
    }
    let without = judge(&scored(vec![g]), &observe("latency", canary, Some(series(15, 100.0))));
    let removed = without.metrics[0].checks.iter().find_map(|c| c.statistic.clone()).map(|d| d.outliers_removed);
    assert_eq!(removed, Some((3, 0)));
    assert_eq!(without.outcome, GateOutcome::Pass, "{}", without.summary);
    assert_ne!(with.metrics[0].checks.iter().find_map(|c| c.statistic.clone()).map(|d| d.canary_samples), Some(12));
}

#[test]
fn a_period_still_in_progress_is_not_judged() {
    // CloudWatch stamps a datapoint with the start of its period: the one stamped 30 s ago holds
    // half a minute of errors and must not decide anything yet.
    let mut errors = gate("errors", "count");
    errors.must = Some(Bounds { below: Some(10.0), ..Default::default() });
    let mut canary = points(15, 2.0);
    canary.push(Datapoint { at: now() - Duration::seconds(30), value: 500.0 });
    let verdict = judge(&analysis(vec![errors]), &observe("errors", canary, None));
    assert_eq!(verdict.outcome, GateOutcome::Pass, "{}", verdict.summary);
    assert_eq!(verdict.metrics[0].canary.map(|c| c.samples), Some(15));
}
