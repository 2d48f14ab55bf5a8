//! The weekly review over 1,000,000 trail events (goal: at most 1 s and 200 MB at peak). The
//! events are made from simulated releases (promoted, rolled back, blocked, overridden) copied
//! across 50 services in 3 environments over the review's five weeks (the reviewed one and the 4
//! before it, for the trends); each release's service, environment and version come from its
//! `admitted` event, as in `review::compile`. As `review::compile` does with each page the index
//! returns, the events are fed to a `ReviewInput` as they are made and never held: only the four
//! templates are. The peak resident memory of feeding and reviewing the whole window is printed
//! (the process's peak from just before, read from /proc), and criterion times it. The time
//! leaves out reading and parsing the events (the bench makes each by editing its template in
//! place). Run with `make bench`.

use std::hint::black_box;

use chrono::{DateTime, Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use rollgate::adapters::memory::MemoryStore;
use rollgate::domain::plan::{PlanFormat, parse_plan};
use rollgate::ports::WeeklyEvents;
use rollgate::release::{EventKind, ReleaseEvent};
use rollgate::review::{DEFAULT_PREVIOUS_WEEKS, ReviewInput, ReviewWeek, WeeklyReview, window};
use rollgate::simulate::{Scenario, SimulatedRelease, simulate_into};

/// A figure of this process from /proc/self/status (`VmRSS`, `VmHWM`: resident now and at
/// peak), in bytes; Linux only (the workspace forbids `unsafe`, so no counting allocator).
fn memory(field: &str) -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse::<usize>().ok().map(|kb| kb * 1024)
}

/// Resets the process's resident peak (`VmHWM`) to what is resident now.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

const MB: f64 = 1024.0 * 1024.0;
const EVENTS: usize = 1_000_000;

const PLAN: &str = r#"
name: bench
checklist:
  mode: strict
  overrides: { approvers: [release-manager] }
  items:
    - { id: tests, require: { kind: attestation, evidence: tests_passed } }
    - { id: high-vulns, mode: soft, require: { kind: number, evidence: high_vulnerabilities, at_most: 0 } }
traffic:
  router: { type: dry_run }
  steps: [{ weight: 10, bake: 20m }, { weight: 50, bake: 20m }, { weight: 100, bake: 10m }]
rollback: { restore_within: 5m }
analysis:
  interval: 5m
  min_samples: 3
  metrics:
    - name: error_rate
      unit: "%"
      query: { metric: { namespace: App, name: Errors, stat: Average }, canary: { Version: "{version}" } }
      must: { below: 1 }
      rollback_if: { above: 5 }
    - name: latency_p99
      unit: ms
      query: { metric: { namespace: App, name: Latency, stat: p99 }, canary: { Version: "{version}" } }
      must: { below: 800 }
"#;

const SCENARIOS: [&str; 4] = [
    // Promoted.
    "evidence: { tests_passed: true, high_vulnerabilities: 0 }\nmetrics: { error_rate: { canary: { level: 0.2, noise: 0.05, floor: 0 } }, latency_p99: { canary: { level: 400, noise: 20 } } }",
    // Rolled back by an error spike.
    "evidence: { tests_passed: true, high_vulnerabilities: 0 }\nmetrics: { error_rate: { canary: { level: 0.2, noise: 0.05, floor: 0, change: { at: 30m, to: 7 } } }, latency_p99: { canary: { level: 400 } } }",
    // Promoted through an override.
    "author: dev\nevidence: { tests_passed: true, high_vulnerabilities: 2 }\noverrides: [{ item: high-vulns, justification: not reachable, approver: release-manager }]\nmetrics: { error_rate: { canary: { level: 0.2 } }, latency_p99: { canary: { level: 400 } } }",
    // Blocked.
    "evidence: { high_vulnerabilities: 0 }\nmetrics: { error_rate: { canary: { level: 0.2 } }, latency_p99: { canary: { level: 400 } } }",
];

fn week() -> ReviewWeek {
    "2026-W47".parse().unwrap_or_else(|e| panic!("{e}"))
}

/// The first Monday of the review's window.
fn first_monday() -> DateTime<Utc> {
    window(week(), DEFAULT_PREVIOUS_WEEKS).first().map_or_else(|| week().start(), |w| w.start())
}

/// The trails of the four kinds of release, each from the window's first Monday 09:00.
fn templates() -> Vec<Vec<ReleaseEvent>> {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap_or_else(|e| panic!("{e}"));
    let plan = parse_plan(PLAN, PlanFormat::Yaml).unwrap_or_else(|e| panic!("{e:?}"));
    let start = first_monday() + Duration::hours(9);
    SCENARIOS
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let store = MemoryStore::new();
            let mut scenario: Scenario = rollgate::domain::yaml::from_str(text).unwrap_or_else(|e| panic!("{e}"));
            scenario.start = Some(start);
            let identity = SimulatedRelease { id: format!("t{i}"), service: "svc".into(), environment: "prod".into(), version: "1".into() };
            runtime.block_on(async {
                simulate_into(&store, &identity, &plan, &scenario, None).await.unwrap_or_else(|e| panic!("{e}"));
                let mut events = store.events_in_week(ReviewWeek::containing(start)).await.unwrap_or_else(|e| panic!("{e}"));
                events.sort_by_key(|e| e.seq);
                assert!(events.len() > 3, "template {i} has a trail: {events:?}");
                events
            })
        })
        .collect()
}

/// The templates, made into about `EVENTS` events one release at a time.
struct Fleet {
    templates: Vec<Vec<ReleaseEvent>>,
    /// Each template event's own time: each release's are shifted from these.
    times: Vec<Vec<DateTime<Utc>>>,
}

impl Fleet {
    fn new() -> Self {
        let templates = templates();
        let times = templates.iter().map(|t| t.iter().map(|e| e.at).collect()).collect();
        Self { templates, times }
    }

    /// Hands `visit` about `EVENTS` events, release by release as they are made: the templates
    /// copied over 50 services in 3 environments, spread over the window's five weeks, with
    /// versions repeating so that some rollbacks are promoted again unchanged, in the same week
    /// or a later one. Each event is its template edited in place, so that no more than the
    /// templates is ever held. Returns the number of events and of releases.
    fn visit(&mut self, visit: &mut dyn FnMut(&ReleaseEvent)) -> (usize, usize) {
        let (mut events, mut n) = (0usize, 0usize);
        while events < EVENTS {
            // Each service and environment cycles through the four kinds, one per round of 150 releases.
            let kind = (n + n / 150) % self.templates.len();
            let (service, environment) = (format!("service-{:02}", n % 50), ["dev", "staging", "prod"][n % 3]);
            // The same version comes back every 150 releases (the next service round, about four
            // days later): a rolled-back one is then promoted unchanged.
            let version = format!("1.{}", n / 600);
            let id = format!("rel-{n:07}");
            // Spread over the window, in order, so that every trail ends before the reviewed week does.
            let shift = Duration::seconds((n as i64 * 60).min(34 * 86_400));
            for (e, &at) in self.templates[kind].iter_mut().zip(&self.times[kind]) {
                e.release_id.clone_from(&id);
                e.at = at + shift;
                if let EventKind::Admitted { service: s, environment: env, version: v, .. } = &mut e.kind {
                    s.clone_from(&service);
                    environment.clone_into(env);
                    v.clone_from(&version);
                }
                visit(e);
                events += 1;
            }
            n += 1;
        }
        (events, n)
    }

    /// Feeds every event into the review's input, then reviews the week.
    fn review(&mut self) -> (WeeklyReview, usize, usize) {
        let mut input = ReviewInput::new(week(), DEFAULT_PREVIOUS_WEEKS);
        let (events, releases) = self.visit(&mut |e| input.add(e));
        (input.review(&[], now()), events, releases)
    }
}

fn now() -> DateTime<Utc> {
    week().end() + Duration::hours(8)
}

fn bench(c: &mut Criterion) {
    let mut fleet = Fleet::new();
    let mb = |bytes: Option<usize>| bytes.map_or_else(|| "unknown".to_string(), |b| format!("{:.0} MB", b as f64 / MB));
    let before = memory("VmRSS:");
    let reset = reset_peak();

    let started = std::time::Instant::now();
    let mut input = ReviewInput::new(week(), DEFAULT_PREVIOUS_WEEKS);
    let (events, releases) = fleet.visit(&mut |e| input.add(e));
    let fed = started.elapsed();
    let r = black_box(input.review(&[], now()));
    let took = started.elapsed();
    let peak = memory("VmHWM:").filter(|_| reset);
    println!(
        "weekly review: {events} events of {releases} releases fed one at a time and reviewed in {:.0} ms ({:.0} ms feeding, {:.0} ms reviewing); \
resident peak {} ({} before: the bench and its templates; goal: 1 s, 200 MB); this week {} releases, {} rollbacks, {} likely false positives; {} releases in the window",
        took.as_secs_f64() * 1000.0,
        fed.as_secs_f64() * 1000.0,
        (took - fed).as_secs_f64() * 1000.0,
        mb(peak),
        mb(before),
        r.releases,
        r.rollbacks.len(),
        r.likely_false_positives.len(),
        r.history.iter().map(|w| w.releases).sum::<usize>()
    );

    let mut group = c.benchmark_group("weekly review");
    group.sample_size(10);
    group.bench_function("1,000,000 trail events, fed and reviewed", |b| b.iter(|| black_box(fleet.review())));
    group.bench_function("1,000,000 trail events, reviewed once fed", |b| b.iter(|| input.review(&[], now())));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
