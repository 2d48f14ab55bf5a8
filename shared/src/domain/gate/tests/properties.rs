//! Properties of the judge on arbitrary series and plans: it never panics, and a metric whose
//! judged series holds a value that is not a finite number, or whose judged numbers are not
//! finite, never passes.

use chrono::Duration;
use proptest::prelude::*;

use super::{analysis, gate, now};
use crate::domain::duration::HumanDuration;
use crate::domain::gate::{Datapoint, GateOutcome, GateVerdict, MetricOutcome, MetricReading, Observation, judge};
use crate::domain::plan::{
    Analysis, BaselineBound, Bounds, Comparison, Direction, EffectMeasure, MetricGate, NanStrategy, ScoreThresholds, SustainedCondition,
};

/// Values that break arithmetic, and ordinary ones.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.0),
            Just(-0.0),
            Just(f64::MAX),
            Just(f64::MIN),
            Just(f64::MAX / 2.0),
            Just(f64::MIN_POSITIVE),
            Just(5e-324),
            Just(-5e-324),
            Just(1e308),
            Just(-1e308),
        ],
        2 => prop::num::f64::ANY,
        5 => -1000.0..1000.0f64,
    ]
}

/// A series: empty, one point, all equal, or arbitrary (sometimes longer than the window).
fn series() -> impl Strategy<Value = Vec<f64>> {
    prop_oneof![
        Just(Vec::new()),
        value().prop_map(|v| vec![v]),
        (value(), 1..30usize).prop_map(|(v, n)| vec![v; n]),
        prop::collection::vec(value(), 0..30),
    ]
}

/// One datapoint a minute before `now()`: the first 14 are inside the 15-minute window and
/// complete; later ones are older than the window.
fn datapoints(values: &[f64]) -> Vec<Datapoint> {
    values.iter().enumerate().map(|(i, v)| Datapoint { at: now() - Duration::minutes(i as i64 + 1), value: *v }).collect()
}

const IN_WINDOW: usize = 15;

fn any_not_finite(values: &[f64]) -> bool {
    values.iter().take(IN_WINDOW).any(|v| !v.is_finite())
}

/// A finite number for a plan (plans refuse others).
fn limit() -> impl Strategy<Value = f64> {
    value().prop_filter("plans hold finite numbers", |v| v.is_finite())
}

fn bounds() -> impl Strategy<Value = Bounds> {
    (prop::option::of(limit()), prop::option::of(limit()), prop::option::of(limit()), prop::option::of(limit()))
        .prop_map(|(at_least, at_most, above, below)| Bounds { at_least, at_most, above, below })
}

fn sustained() -> impl Strategy<Value = SustainedCondition> {
    (bounds(), 5..=30u64).prop_map(|(b, minutes)| SustainedCondition {
        at_least: b.at_least,
        at_most: b.at_most,
        above: b.above,
        below: b.below,
        duration: HumanDuration::from_secs(minutes * 60),
    })
}

fn baseline_bound() -> impl Strategy<Value = BaselineBound> {
    let non_negative = || prop::option::of(limit().prop_map(f64::abs));
    (non_negative(), non_negative(), non_negative(), non_negative()).prop_map(
        |(max_increase, max_increase_pct, max_decrease, max_decrease_pct)| BaselineBound {
            max_increase,
            max_increase_pct,
            max_decrease,
            max_decrease_pct,
        },
    )
}

fn comparison() -> impl Strategy<Value = Comparison> {
    (
        prop_oneof![Just(Direction::Increase), Just(Direction::Decrease), Just(Direction::Either)],
        0.5..0.999f64,
        prop_oneof![Just(EffectMeasure::MeanRatio), Just(EffectMeasure::Cles)],
        prop::option::of(limit()),
        prop::option::of(limit()),
        prop_oneof![Just(NanStrategy::Remove), Just(NanStrategy::Replace)],
        any::<bool>(),
        0.1..10.0f64,
        any::<bool>(),
    )
        .prop_map(
            |(direction, confidence, effect_measure, allowed_effect, critical_effect, nan_strategy, remove_outliers, weight, critical)| {
                Comparison {
                    direction,
                    confidence,
                    effect_measure,
                    allowed_effect,
                    critical_effect,
                    nan_strategy,
                    remove_outliers,
                    weight,
                    critical,
                }
            },
        )
}

fn metric() -> impl Strategy<Value = MetricGate> {
    (
        prop::option::of(bounds()),
        prop::option::of(bounds()),
        prop::option::of(sustained()),
        prop::option::of(baseline_bound()),
        prop::option::of(comparison()),
        prop::option::of(1..10u32),
    )
        .prop_map(|(must, rollback_if, sustained, baseline, compare, min_samples)| {
            let mut g = gate("m", "ms");
            g.query.baseline = [("Version".to_string(), "{stable_version}".to_string())].into();
            MetricGate { must, rollback_if, sustained, baseline, compare, min_samples, ..g }
        })
}

fn plan_analysis() -> impl Strategy<Value = Analysis> {
    (metric(), 1..10u32, (0.0..=100.0f64, 0.0..=100.0f64)).prop_map(|(m, min_samples, (a, b))| {
        let score = m.compare.is_some().then(|| ScoreThresholds { pass: a.max(b), marginal: a.min(b) });
        Analysis { min_samples, score, ..analysis(vec![m]) }
    })
}

fn judged(analysis: &Analysis, canary: &[f64], baseline: Option<&[f64]>) -> GateVerdict {
    let reading = MetricReading { canary: datapoints(canary), baseline: baseline.map(datapoints) };
    judge(analysis, &Observation { now: now(), since: None, readings: [("m".to_string(), reading)].into() })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_series_with_a_value_that_is_not_finite_never_passes(
        a in plan_analysis(),
        canary in series(),
        baseline in prop::option::of(series()),
    ) {
        let v = judged(&a, &canary, baseline.as_deref());
        let m = &v.metrics[0];
        let judges_baseline = a.metrics[0].baseline.is_some() || a.metrics[0].compare.is_some();
        let bad_canary = any_not_finite(&canary);
        let bad_baseline = judges_baseline && baseline.as_deref().is_some_and(any_not_finite);
        if bad_canary || bad_baseline {
            prop_assert_ne!(m.outcome, MetricOutcome::Pass, "{}", m.sentence);
            prop_assert_ne!(v.outcome, GateOutcome::Pass, "{}", v.summary);
            prop_assert!(m.sentence.contains("not a finite number"), "{}", m.sentence);
        }
        if m.outcome == MetricOutcome::Pass {
            // Every number a pass rests on is finite.
            prop_assert!(m.canary.is_none_or(|c| c.value.is_finite()), "{m:?}");
            prop_assert!(!judges_baseline || m.baseline.is_none_or(|b| b.value.is_finite()), "{m:?}");
            for detail in m.checks.iter().filter_map(|c| c.statistic.as_ref()) {
                prop_assert!(detail.effect.is_finite() && detail.shift.is_finite(), "{detail:?}");
            }
        }
        // Whatever it holds, the verdict is stored as JSON in the audit trail and reads back.
        let text = serde_json::to_string(&v).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: Result<GateVerdict, _> = serde_json::from_str(&text);
        prop_assert!(back.is_ok(), "{back:?}: {text}");
    }

    #[test]
    fn judging_the_same_series_on_both_sides_never_panics(a in plan_analysis(), values in series()) {
        let v = judged(&a, &values, Some(&values));
        prop_assert_eq!(v.metrics.len(), 1);
        if any_not_finite(&values) {
            prop_assert_ne!(v.outcome, GateOutcome::Pass, "{}", v.summary);
        }
    }
}
