//! What a backtest costs: a changed plan against 1,000 past releases of 20 metric checks each,
//! from the datapoints their checks kept (no CloudWatch call), in memory. Run with `make bench`;
//! the goal is at most 5 s for the whole backtest.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rollgate::adapters::memory::MemoryStore;
use rollgate::domain::plan::{PlanFormat, parse_plan};
use rollgate::ports::ReleaseStore;
use rollgate::review::backtest::{PastRelease, backtest};
use rollgate::simulate::{Scenario, SimOutcome, SimulatedRelease, simulate_into};

/// Two steps of 50 minutes judged every 5 minutes (20 checks), three metrics over 15-minute
/// windows, one of them against the baseline.
const PLAN: &str = "name: api
traffic: { router: { type: dry_run }, steps: [{ weight: 10, bake: 50m }, { weight: 100, bake: 50m }] }
analysis:
  interval: 5m
  window: 15m
  min_samples: 3
  metrics:
    - { name: errors, unit: '%', query: { metric: { namespace: Api, name: Errors, stat: Average } }, must: { below: 1 }, rollback_if: { above: 5 } }
    - { name: latency, unit: ms, query: { metric: { namespace: Api, name: Latency, stat: p95 }, baseline: { Version: stable } }, must: { below: 900 }, baseline: { max_increase_pct: 20 } }
    - { name: saturation, query: { metric: { namespace: Api, name: Saturation, stat: Maximum } }, must: { below: 0.8 } }
";

const SCENARIO: &str = "start: 2026-11-02T09:00:00Z
seed: 3
metrics:
  errors: { canary: { level: 0.3, noise: 0.1, floor: 0 } }
  latency: { canary: { level: 400, noise: 30 }, baseline: { level: 390, noise: 30 } }
  saturation: { canary: { level: 0.4, noise: 0.05 } }
";

fn releases() -> Vec<PastRelease> {
    let plan = parse_plan(PLAN, PlanFormat::Yaml).unwrap_or_else(|e| panic!("{e:?}"));
    let scenario: Scenario = rollgate::domain::yaml::from_str(SCENARIO).unwrap_or_else(|e| panic!("{e}"));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
    let one = runtime.block_on(async {
        let store = MemoryStore::new();
        let identity = SimulatedRelease { id: "api-0".into(), ..SimulatedRelease::default() };
        let sim = simulate_into(&store, &identity, &plan, &scenario, None).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sim.outcome, SimOutcome::Promoted, "{}", sim.reason);
        let release = store.release("api-0").await.ok().flatten().unwrap_or_else(|| panic!("no release"));
        PastRelease::new(release, store.events("api-0").await.unwrap_or_default())
    });
    let checks = one.trail.iter().filter(|e| e.kind.name() == "gate_judged").count();
    assert_eq!(checks, 20, "the bench's release has 20 checks");
    (0..1_000)
        .map(|i| {
            let mut past = one.clone();
            past.release.id = format!("api-{i}");
            past
        })
        .collect()
}

fn thousand_releases(c: &mut Criterion) {
    let releases = releases();
    // The same plan replays every check (nothing rolls back); the tightened one stops early.
    let same = parse_plan(PLAN, PlanFormat::Yaml).unwrap_or_else(|e| panic!("{e:?}"));
    let tightened =
        parse_plan(&PLAN.replace("must: { below: 900 }", "must: { below: 300 }"), PlanFormat::Yaml).unwrap_or_else(|e| panic!("{e:?}"));
    let mut group = c.benchmark_group("backtest 1,000 releases x 20 checks");
    group.sample_size(10);
    group.bench_function("same plan (every check judged again)", |b| b.iter(|| black_box(backtest(&same, black_box(&releases))).same));
    group.bench_function("tightened plan (rolls back at the first check)", |b| {
        b.iter(|| black_box(backtest(&tightened, black_box(&releases))).earlier)
    });
    group.finish();
}

criterion_group!(benches, thousand_releases);
criterion_main!(benches);
