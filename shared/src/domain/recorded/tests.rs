use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::domain::observation::{Datapoint, MetricReading, Observation};

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_760_000_000 + secs, 0).unwrap_or_default()
}

fn points(pairs: &[(i64, f64)]) -> Vec<Datapoint> {
    pairs.iter().map(|(s, v)| Datapoint { at: t(*s), value: *v }).collect()
}

fn round_trip(series: &RecordedSeries) -> RecordedSeries {
    let text = serde_json::to_string(series).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Compares values bit for bit (NaN included).
fn same(a: &[Datapoint], b: &[Datapoint]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.at == y.at && x.value.to_bits() == y.value.to_bits())
}

#[test]
fn a_series_on_its_period_is_a_start_and_values_with_gaps_as_null() {
    let read = points(&[(0, 1.5), (60, 0.1 + 0.2), (180, f64::NAN), (240, f64::INFINITY)]);
    let series = RecordedSeries::of(&read, 60);
    let json = serde_json::to_string(&series).unwrap_or_default();
    assert!(json.contains(r#""values":[1.5,0.30000000000000004,null,"NaN","inf"]"#), "{json}");
    assert!(!json.contains("offsets"), "{json}");
    let back = round_trip(&series).points().unwrap_or_default();
    assert!(same(&back, &read), "{back:?}");
}

#[test]
fn datapoints_off_the_grid_or_out_of_order_keep_their_offsets_and_order() {
    for read in [points(&[(0, 1.0), (90, 2.0), (120, 3.0)]), points(&[(120, 3.0), (0, 1.0), (60, 2.0)])] {
        let series = RecordedSeries::of(&read, 60);
        assert!(!series.offsets_ms.is_empty());
        let back = round_trip(&series).points().unwrap_or_default();
        assert!(same(&back, &read), "{back:?}");
    }
    // Two datapoints a day apart on a one-minute grid: offsets, not 1,440 nulls.
    let sparse = RecordedSeries::of(&points(&[(0, 1.0), (86_400, 2.0)]), 60);
    assert_eq!(sparse.values.len(), 2);
    assert_eq!(RecordedSeries::of(&[], 60), RecordedSeries::default());
    assert_eq!(RecordedSeries::default().points(), Some(Vec::new()));
}

#[test]
fn a_record_that_does_not_add_up_is_refused() {
    let bad = RecordedSeries { start: Some(t(0)), period: 60, values: vec![Slot(Some(1.0))], offsets_ms: vec![0, 60_000] };
    assert_eq!(bad.points(), None);
    let far = RecordedSeries {
        start: Some(DateTime::<Utc>::MAX_UTC),
        period: 60,
        values: vec![Slot(None), Slot(Some(1.0))],
        ..Default::default()
    };
    assert_eq!(far.points(), None);
    assert!(serde_json::from_str::<RecordedSeries>(r#"{"start":"2026-01-01T00:00:00Z","period":60,"values":["lots"]}"#).is_err());
}

fn analysis(metrics: &[&str]) -> crate::domain::plan::Analysis {
    let metrics: Vec<serde_json::Value> = metrics
        .iter()
        .map(|m| serde_json::json!({"name": m, "must": {"below": 1}, "query": {"metric": {"namespace": "App", "name": m, "stat": "Sum"}}}))
        .collect();
    serde_json::from_value(serde_json::json!({"interval": "5m", "window": "10m", "metrics": metrics})).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_check_keeps_what_it_read_and_cuts_whole_metrics_beyond_the_budget_smallest_kept() {
    let now = t(36_000);
    let small: Vec<Datapoint> = (0..10).map(|i| Datapoint { at: t(i * 60), value: 0.5 }).collect();
    // Values of full precision: about 20 bytes each, so 20,000 of them are far beyond the budget.
    let big: Vec<Datapoint> = (0..20_000).map(|i| Datapoint { at: t(i * 60), value: 1.0 / (i as f64 + 3.0) }).collect();
    let mut observation = Observation { now, since: Some(t(60)), readings: Default::default() };
    observation.readings.insert("errors".into(), MetricReading { canary: small.clone(), baseline: Some(small.clone()) });
    observation.readings.insert("latency".into(), MetricReading { canary: big, baseline: None });
    let recorded = RecordedCheck::of(&analysis(&["errors", "latency"]), &observation);
    assert_eq!(recorded.cut, vec!["latency".to_string()]);
    assert_eq!(recorded.from, now - Duration::minutes(10));
    assert!(serde_json::to_string(&recorded).map(|s| s.len()).unwrap_or(usize::MAX) <= BUDGET_BYTES);
    let back = recorded.observation(now).unwrap_or_default();
    assert_eq!(back.since, Some(t(60)));
    assert!(same(&back.readings["errors"].canary, &small));
    assert!(!back.readings.contains_key("latency"));
}
