use chrono::{Duration, TimeZone};

use super::*;
use crate::domain::duration::HumanDuration;
use crate::domain::plan::{Analysis, BaselineBound, Bounds, InconclusivePolicy, MetricGate, MetricQuery, MetricStat, SustainedCondition};

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
        window: None,
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
        look_before_step: false,
        min_samples: 5,
        consecutive_failures: 1,
        max_inconclusive: 2,
        on_inconclusive: InconclusivePolicy::Fail,
        max_hold: None,
        score: None,
        metrics,
    }
}

/// One datapoint for each of the last `n` complete minutes, all `value`.
fn points(n: i64, value: f64) -> Vec<Datapoint> {
    (1..=n).map(|i| Datapoint { at: now() - Duration::minutes(i), value }).collect()
}

fn observe(name: &str, canary: Vec<Datapoint>, baseline: Option<Vec<Datapoint>>) -> Observation {
    Observation { now: now(), since: None, readings: [(name.to_string(), MetricReading { canary, baseline })].into() }
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
    let missing = judge(&a, &Observation { now: now(), since: None, readings: Default::default() });
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

// ---------------------------------------------------------------------------------------------
// Values that are not finite numbers never make a metric pass.

fn bounded(name: &str, must: Bounds) -> Analysis {
    let mut g = gate(name, "%");
    g.must = Some(must);
    analysis(vec![g])
}

#[test]
fn a_datapoint_that_is_not_finite_is_never_a_pass_and_is_named() {
    let a = bounded("error_rate", Bounds { below: Some(1.0), ..Bounds::default() });
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut canary = points(15, 0.2);
        canary[7].value = bad; // stamped 10:12
        let v = judge(&a, &observe("error_rate", canary, None));
        assert_eq!(v.outcome, GateOutcome::Inconclusive, "{bad}: {}", v.summary);
        let m = &v.metrics[0];
        assert_eq!(m.canary.map(|c| (c.value, c.samples)), Some((0.2, 14)), "left out of the mean");
        let named = format!("{} at 10:12", crate::domain::bounds::format_number(bad));
        assert!(m.sentence.contains(&named) && m.sentence.contains("not a finite number"), "{}", m.sentence);
        assert!(m.sentence.starts_with("error_rate: 1 of 15 canary datapoints over 10:05–10:20 is not a finite number"), "{}", m.sentence);
        let check = m.checks.iter().find(|c| c.criterion == Criterion::Finite).unwrap_or_else(|| panic!("a finite check"));
        assert!(!check.held && check.observed == format!("1 of 15 are not: {named}"), "{check:?}");
    }
    // A bound that fails on the finite datapoints still fails: not finite is no excuse either.
    let mut canary = points(15, 3.0);
    canary[0].value = f64::NAN;
    assert_eq!(judge(&a, &observe("error_rate", canary, None)).outcome, GateOutcome::Fail);
    // All finite: nothing is added.
    let ok = judge(&a, &observe("error_rate", points(15, 0.2), None));
    assert_eq!(ok.outcome, GateOutcome::Pass);
    assert!(ok.metrics[0].checks.iter().all(|c| c.criterion != Criterion::Finite));
}

#[test]
fn datapoints_that_are_not_finite_do_not_count_as_samples() {
    let a = bounded("error_rate", Bounds { below: Some(1.0), ..Bounds::default() });
    let mut canary = points(5, 0.2);
    canary[1].value = f64::INFINITY;
    let v = judge(&a, &observe("error_rate", canary, None));
    assert_eq!(v.outcome, GateOutcome::Inconclusive);
    assert!(v.metrics[0].sentence.contains("only 4 finite canary datapoints"), "{}", v.metrics[0].sentence);
    let nan = judge(&a, &observe("error_rate", points(15, f64::NAN), None));
    assert!(nan.metrics[0].sentence.contains("no finite canary datapoints"), "{}", nan.metrics[0].sentence);
    assert!(nan.metrics[0].sentence.contains("15 of 15 canary datapoints"), "{}", nan.metrics[0].sentence);
    assert!(nan.metrics[0].sentence.contains("12 more"), "names three, counts the rest: {}", nan.metrics[0].sentence);
}

#[test]
fn a_mean_that_overflows_is_not_a_pass() {
    // Every datapoint is finite, but their sum is not: the mean is inf, which is `at least 0`.
    let a = bounded("throughput", Bounds { at_least: Some(0.0), ..Bounds::default() });
    let v = judge(&a, &observe("throughput", points(15, f64::MAX), None));
    assert_eq!(v.outcome, GateOutcome::Inconclusive, "{}", v.summary);
    assert!(v.metrics[0].sentence.contains("the mean of the 15 canary datapoints over 10:05–10:20 is inf%"), "{}", v.metrics[0].sentence);
    // The verdict, inf and all, goes into the audit trail and reads back.
    let text = serde_json::to_string(&v).unwrap_or_else(|e| panic!("{e}"));
    let back: GateVerdict = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(back.metrics[0].canary.map(|c| c.value), Some(f64::INFINITY));
}

#[test]
fn baseline_changes_that_are_not_finite_are_not_a_pass() {
    // Against a baseline of exactly 0 the change in percent is infinite: only a decrease is
    // limited, but an infinite change cannot be judged.
    let mut g = gate("success", "count");
    g.baseline = Some(BaselineBound { max_decrease_pct: Some(10.0), ..BaselineBound::default() });
    let a = analysis(vec![g]);
    let v = judge(&a, &observe("success", points(15, 5.0), Some(points(15, 0.0))));
    assert_eq!(v.outcome, GateOutcome::Inconclusive, "{}", v.summary);
    assert!(v.metrics[0].sentence.contains("the change inf% against baseline 0 count is not a finite number"), "{}", v.metrics[0].sentence);
    // 0 against 0 is no change at all.
    assert_eq!(judge(&a, &observe("success", points(15, 0.0), Some(points(15, 0.0)))).outcome, GateOutcome::Pass);
    // A baseline datapoint that is not finite is named like a canary one.
    let mut baseline = points(15, 5.0);
    baseline[2].value = f64::NAN;
    let v = judge(&a, &observe("success", points(15, 5.0), Some(baseline)));
    assert_eq!(v.outcome, GateOutcome::Inconclusive, "{}", v.summary);
    assert!(
        v.metrics[0].sentence.contains("1 of 15 baseline datapoints over 10:05–10:20 is not a finite number (NaN at 10:17)"),
        "{}",
        v.summary
    );
    // A difference that overflows: canary far below a baseline far above (one datapoint each, so
    // the means themselves are finite).
    let mut g = gate("latency", "ms");
    g.baseline = Some(BaselineBound { max_increase: Some(10.0), ..BaselineBound::default() });
    g.min_samples = Some(1);
    let a = analysis(vec![g]);
    let v = judge(&a, &observe("latency", points(1, -1.5e308), Some(points(1, 1.5e308))));
    assert_eq!(v.outcome, GateOutcome::Inconclusive, "{}", v.summary);
    assert!(v.metrics[0].sentence.contains("the difference -inf ms is not a finite number"), "{}", v.summary);
}

/// `values` stamped one a minute before `now()`.
fn valued(values: &[f64]) -> Vec<Datapoint> {
    values.iter().enumerate().map(|(i, v)| Datapoint { at: now() - Duration::minutes(i as i64 + 1), value: *v }).collect()
}

#[test]
fn an_effect_ratio_that_is_not_finite_is_not_a_pass() {
    // The baseline's mean is exactly 0, the canary's slightly above: no significant shift, but a
    // mean ratio of inf.
    let baseline: Vec<f64> = (0..15).map(|k| f64::from(k) - 7.0).collect();
    let canary: Vec<f64> = (0..15).map(|k| f64::from(k) - 6.5).collect();
    let a = scored(vec![compared("latency", false, None, 1.0)]);
    let v = judge(&a, &observe("latency", valued(&canary), Some(valued(&baseline))));
    assert_eq!(v.outcome, GateOutcome::Inconclusive, "{}", v.summary);
    let detail = v.metrics[0].checks.iter().find_map(|c| c.statistic.clone()).unwrap_or_else(|| panic!("statistic recorded"));
    assert_eq!((detail.classification, detail.effect), (Classification::NoData, f64::INFINITY));
    assert!(v.metrics[0].sentence.contains("the effect size is not a finite number"), "{}", v.metrics[0].sentence);
    assert_eq!(v.score, None, "a comparison that could not be judged does not count in the score");

    // Means that overflow divide to NaN.
    let huge: Vec<f64> = (0..15).map(|k| 1e308 * (1.0 + f64::from(k) / 100.0)).collect();
    let shifted: Vec<f64> = huge.iter().map(|v| v * 1.001).collect();
    let v = judge(&a, &observe("latency", valued(&shifted), Some(valued(&huge))));
    assert_ne!(v.outcome, GateOutcome::Pass, "{}", v.summary);
    assert_eq!(v.metrics[0].outcome, MetricOutcome::Inconclusive, "{}", v.summary);

    // A real shift against a baseline of 0 is still High (the score acts on it), and the metric is
    // not a pass; the infinite ratio reads back from the audit trail.
    let up: Vec<f64> = baseline.iter().map(|v| v + 100.0).collect();
    let v = judge(&a, &observe("latency", valued(&up), Some(valued(&baseline))));
    let detail = v.metrics[0].checks.iter().find_map(|c| c.statistic.clone()).unwrap_or_else(|| panic!("statistic recorded"));
    assert_eq!((detail.classification, detail.effect), (Classification::High, f64::INFINITY));
    assert_eq!(v.metrics[0].outcome, MetricOutcome::Inconclusive, "{}", v.summary);
    assert_eq!(v.score.as_ref().map(|s| s.value), Some(0.0));
    let text = serde_json::to_string(&v).unwrap_or_else(|e| panic!("{e}"));
    let back: GateVerdict = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(back.metrics[0].checks.iter().find_map(|c| c.statistic.as_ref()).map(|d| d.effect), Some(f64::INFINITY));
}

#[test]
fn replace_stands_zero_in_for_nan_but_never_for_inf() {
    let mut g = compared("errors", false, None, 1.0);
    if let Some(c) = g.compare.as_mut() {
        c.nan_strategy = crate::domain::plan::NanStrategy::Replace;
    }
    let a = scored(vec![g]);
    let samples = |bad: f64| {
        let mut canary = series(15, 100.0);
        canary[3].value = bad;
        let v = judge(&a, &observe("errors", canary, Some(series(15, 100.0))));
        assert_ne!(v.outcome, GateOutcome::Pass, "{bad}: {}", v.summary);
        v.metrics[0].checks.iter().find_map(|c| c.statistic.clone()).map(|d| d.canary_samples)
    };
    assert_eq!(samples(f64::NAN), Some(15), "NaN compared as 0");
    assert_eq!(samples(f64::INFINITY), Some(14), "inf is left out, not taken for 0");
}

mod properties;

#[test]
fn a_window_is_whole_periods_whenever_the_check_runs() {
    let mut g = gate("error_rate", "%");
    g.must = Some(Bounds { below: Some(1.0), ..Bounds::default() });
    let a = Analysis { window: Some(HumanDuration::from_secs(300)), ..analysis(vec![g]) };
    // The five complete minutes 10:15–10:19, judged at 10:20:00 and again 30 s later.
    let five: Vec<Datapoint> = (1..=6).map(|i| Datapoint { at: now() - Duration::minutes(i), value: 0.1 }).collect();
    for late in [0, 30] {
        let at = now() + Duration::seconds(late);
        let v = judge(
            &a,
            &Observation {
                now: at,
                since: None,
                readings: [("error_rate".to_string(), MetricReading { canary: five.clone(), baseline: None })].into(),
            },
        );
        assert_eq!(v.metrics[0].canary.map(|c| c.samples), Some(5), "at +{late}s: {}", v.metrics[0].sentence);
    }
}

#[test]
fn no_window_reaches_back_before_its_step_unless_the_plan_says_so() {
    let mut g = gate("error_rate", "%");
    g.must = Some(Bounds { below: Some(1.0), ..Bounds::default() });
    g.sustained =
        Some(SustainedCondition { at_least: None, at_most: None, above: Some(2.0), below: None, duration: HumanDuration::from_secs(600) });
    let a = Analysis { min_samples: 1, ..analysis(vec![g]) };
    // Bad at the previous weight, healthy since the step began at 10:16:30 (the period stamped
    // 10:16 began before it and is left out).
    let points: Vec<Datapoint> =
        (1..=15).map(|i| Datapoint { at: now() - Duration::minutes(i), value: if i <= 3 { 0.2 } else { 9.0 } }).collect();
    let reading = MetricReading { canary: points, baseline: None };
    let step = Observation {
        now: now(),
        since: Some(now() - Duration::seconds(210)),
        readings: [("error_rate".to_string(), reading.clone())].into(),
    };
    let v = judge(&a, &step);
    assert_eq!(v.outcome, GateOutcome::Pass, "{}", v.summary);
    assert_eq!(v.metrics[0].canary.map(|c| c.samples), Some(3), "10:17, 10:18 and 10:19: {}", v.metrics[0].sentence);
    assert!(v.metrics[0].sentence.contains("10:16–10:20 (n=3)"), "{}", v.metrics[0].sentence);
    // Allowed to look back, the same check sees the previous weight's errors.
    let across = Analysis { look_before_step: true, ..a };
    assert_eq!(judge(&across, &step).outcome, GateOutcome::Fail);
}
