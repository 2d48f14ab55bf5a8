//! One full metric check: 20 metrics, canary and baseline series, every criterion (bounds,
//! critical tier, sustained condition, baseline delta, Mann-Whitney comparison and score),
//! judged and decided. Run with `make bench`.

use std::hint::black_box;

use chrono::{Duration, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use rollgate::domain::decision::{StepProgress, decide};
use rollgate::domain::gate::judge;
use rollgate::domain::observation::{Datapoint, MetricReading, Observation};
use rollgate::domain::plan::{Plan, PlanFormat, parse_plan};

fn plan(metrics: usize) -> Plan {
    let mut text = String::from(
        "name: bench\ntraffic:\n  router: { type: dry_run }\n  steps: [{ weight: 10, bake: 1h }, { weight: 100, bake: 1h }]\nanalysis:\n  interval: 5m\n  window: 1h\n  min_samples: 5\n  score: { pass: 95, marginal: 75 }\n  metrics:\n",
    );
    for i in 0..metrics {
        for line in [
            format!("    - name: m{i}"),
            "      unit: ms".to_string(),
            "      query:".to_string(),
            format!("        metric: {{ namespace: Bench, name: M{i}, stat: p95 }}"),
            "        canary: { Version: \"{version}\" }".to_string(),
            "        baseline: { Version: \"{stable_version}\" }".to_string(),
            "      must: { below: 500 }".to_string(),
            "      rollback_if: { above: 2000 }".to_string(),
            "      sustained: { above: 800, for: 30m }".to_string(),
            "      baseline: { max_increase_pct: 50 }".to_string(),
            "      compare: { direction: increase, allowed_effect: 1.1, remove_outliers: true }".to_string(),
        ] {
            text.push_str(&line);
            text.push('\n');
        }
    }
    parse_plan(&text, PlanFormat::Yaml).unwrap_or_else(|e| panic!("{e:?}"))
}

/// `points` datapoints ending at `now`, spread evenly over the hour, with deterministic noise.
fn series(points: usize, level: f64, seed: u64) -> Vec<Datapoint> {
    let now = Utc.with_ymd_and_hms(2025, 11, 14, 11, 0, 0).single().unwrap_or_default();
    let step_ms = 3_600_000 / points as i64;
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..points)
        .map(|i| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let noise = ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 40.0;
            Datapoint { at: now - Duration::milliseconds(step_ms * i as i64), value: level + noise }
        })
        .collect()
}

fn observation(metrics: usize, points: usize) -> Observation {
    let now = Utc.with_ymd_and_hms(2025, 11, 14, 11, 0, 0).single().unwrap_or_default();
    let readings = (0..metrics)
        .map(|i| {
            let reading = MetricReading { canary: series(points, 210.0, i as u64), baseline: Some(series(points, 200.0, 1000 + i as u64)) };
            (format!("m{i}"), reading)
        })
        .collect();
    Observation { now, since: None, readings }
}

fn full_check(c: &mut Criterion) {
    let plan = plan(20);
    let Some(analysis) = plan.analysis.clone() else { return };
    let progress =
        StepProgress { step: 0, started_at: Utc.with_ymd_and_hms(2025, 11, 14, 10, 0, 0).single().unwrap_or_default(), prior: Vec::new() };
    let mut group = c.benchmark_group("full check (20 metrics, judged and decided)");
    let small = observation(20, 60);
    group.bench_function("60 points per side", |b| {
        b.iter(|| {
            let verdict = judge(&analysis, black_box(&small));
            decide(&plan, &progress, Some(&verdict), small.now)
        })
    });
    let large = observation(20, 10_000);
    group.sample_size(10);
    group.bench_function("10,000 points per side", |b| {
        b.iter(|| {
            let verdict = judge(&analysis, black_box(&large));
            decide(&plan, &progress, Some(&verdict), large.now)
        })
    });
    group.finish();
}

fn mann_whitney(c: &mut Criterion) {
    let values = |points: usize, level: f64, seed: u64| series(points, level, seed).into_iter().map(|p| p.value).collect::<Vec<_>>();
    let (canary, baseline) = (values(60, 210.0, 1), values(60, 200.0, 2));
    c.bench_function("Mann-Whitney with interval, 60 vs 60", |b| {
        b.iter(|| rollgate::domain::stats::mann_whitney(black_box(&canary), black_box(&baseline), 0.98))
    });
}

criterion_group!(benches, full_check, mann_whitney);
criterion_main!(benches);
