//! Backtests of releases the simulator ran through the real flow, on the example plans.

use super::*;
use crate::adapters::memory::MemoryStore;
use crate::domain::plan::{PlanFormat, parse_plan};
use crate::simulate::{Scenario, SimOutcome, SimulatedRelease, simulate_into};

fn example(path: &str) -> String {
    let full = format!("{}/../examples/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn plan(text: &str) -> Plan {
    parse_plan(text, PlanFormat::Yaml).unwrap_or_else(|e| panic!("{e:?}"))
}

const PLAN: &str = "per-step-bounds.yaml";

/// Runs `scenario` under the example plan in the simulator and returns the release as a
/// backtest reads it from a store.
async fn past(scenario: &str, expected: SimOutcome) -> PastRelease {
    let store = MemoryStore::new();
    let scenario: Scenario = crate::domain::yaml::from_str(&example(&format!("scenarios/{scenario}"))).unwrap_or_else(|e| panic!("{e}"));
    let identity = SimulatedRelease { id: "r1".into(), ..SimulatedRelease::default() };
    let sim = simulate_into(&store, &identity, &plan(&example(PLAN)), &scenario, None).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sim.outcome, expected, "{}", sim.reason);
    let release = store.release("r1").await.ok().flatten().unwrap_or_else(|| panic!("no release"));
    let trail = store.events("r1").await.unwrap_or_default();
    PastRelease::new(release, trail)
}

#[tokio::test]
async fn the_same_plan_replays_as_what_happened_promoted_or_rolled_back() {
    let promoted = past("per-step-bounds.healthy.yaml", SimOutcome::Promoted).await;
    let rolled = past("per-step-bounds.production-breach.yaml", SimOutcome::RolledBack).await;
    let report = backtest(&plan(&example(PLAN)), &[promoted, rolled]);
    assert_eq!((report.same, report.earlier, report.not_at_all, report.not_comparable), (2, 0, 0, 0), "{}", report.text());
    let [healthy, breach] = report.releases.as_slice() else { panic!("two releases") };
    assert!(healthy.checks > 20, "{}", healthy.checks);
    assert_eq!((&healthy.happened, &healthy.new_plan), (&None, &None));
    assert!(healthy.notes.is_empty(), "{:?}", healthy.notes);
    // Both at the full-production step's first check, on the production bound.
    let (happened, new) =
        (breach.happened.clone().unwrap_or_else(|| panic!("happened")), breach.new_plan.clone().unwrap_or_else(|| panic!("new")));
    assert_eq!((happened.step, happened.check), (Some(2), new.check));
    assert_eq!(new.breaches.first().map(|b| b.metric.as_str()), Some("error_rate"));
    assert!(new.cause().contains("error_rate < 0.5%"), "{}", new.cause());
}

#[tokio::test]
async fn a_tightened_plan_would_have_rolled_back_earlier_on_the_metric_and_bound_that_fail() {
    let promoted = past("per-step-bounds.healthy.yaml", SimOutcome::Promoted).await;
    let rolled = past("per-step-bounds.production-breach.yaml", SimOutcome::RolledBack).await;
    // The canary bound on latency tightened from 4 s to 800 ms: the healthy release's 900 ms fails
    // at the first check.
    let tightened = example(PLAN).replace("{ name: latency_p95, must: { below: 4000 } }", "{ name: latency_p95, must: { below: 800 } }");
    let report = backtest(&plan(&tightened), &[promoted, rolled]);
    assert_eq!(report.earlier, 2, "{}", report.text());
    for r in &report.releases {
        let new = r.new_plan.clone().unwrap_or_else(|| panic!("{r:?}"));
        assert_eq!((new.step, new.check_in_step, new.check), (Some(0), Some(1), Some(1)));
        let breach = new.breaches.first().unwrap_or_else(|| panic!("{new:?}"));
        assert_eq!(breach.metric, "latency_p95");
        assert_eq!(breach.bound, "latency_p95 < 800 ms");
        assert!(breach.observed.ends_with("ms (n=5)"), "{}", breach.observed);
    }
    let text = report.text();
    assert!(text.contains("2 earlier"), "{text}");
    assert!(text.contains("rolls back at step 1 check 1"), "{text}");
    assert!(text.contains("new plan: latency_p95:"), "{text}");
}

#[tokio::test]
async fn a_loosened_plan_would_not_have_rolled_back_at_the_recorded_checks() {
    let rolled = past("per-step-bounds.production-breach.yaml", SimOutcome::RolledBack).await;
    let loosened = example(PLAN).replace("must: { below: 0.5 }", "must: { below: 2 }");
    let report = backtest(&plan(&loosened), &[rolled]);
    let r = &report.releases[0];
    assert_eq!(r.comparison, Comparison::NotAtAll, "{}", report.text());
    assert_eq!(r.new_plan, None);
    assert!(report.text().contains("happened: error_rate:"), "{}", report.text());
}

#[tokio::test]
async fn what_the_old_checks_did_not_read_is_said_not_guessed() {
    let promoted = past("per-step-bounds.healthy.yaml", SimOutcome::Promoted).await;
    // A new metric: left out of the judgement, and said.
    let added = example(PLAN).replace(
        "analysis_templates:",
        "    - { name: cold_starts, query: { metric: { namespace: App, name: ColdStarts, stat: Sum } }, must: { below: 0 } }\n\nanalysis_templates:",
    );
    let report = backtest(&plan(&added), std::slice::from_ref(&promoted));
    let r = &report.releases[0];
    assert_eq!(r.comparison, Comparison::Same, "{}", report.text());
    assert!(r.notes.iter().any(|n| n.contains("metric `cold_starts` left out: the old checks did not read it")), "{:?}", r.notes);

    // A check whose datapoints were cut, and checks recorded before checks kept datapoints.
    for (change, why) in
        [("cut", "the datapoints of `error_rate` were cut"), ("old", "recorded before metric checks kept their datapoints")]
    {
        let mut edited = promoted.clone();
        for event in &mut edited.trail {
            if let EventKind::GateJudged { datapoints: Some(d), .. } = &mut event.kind
                && change == "cut"
            {
                d.metrics.remove("error_rate");
                d.cut.push("error_rate".into());
            }
            if let EventKind::GateJudged { datapoints, .. } = &mut event.kind
                && change == "old"
            {
                *datapoints = None;
            }
        }
        let report = backtest(&plan(&example(PLAN)), &[edited]);
        let r = &report.releases[0];
        assert_eq!(r.comparison, Comparison::NotComparable, "{}", report.text());
        assert!(
            r.not_comparable.as_deref().is_some_and(|w| w.starts_with("step 1 check 1: ") && w.contains(why)),
            "{:?}",
            r.not_comparable
        );
    }
}

#[tokio::test]
async fn checks_are_mapped_by_step_index_when_the_steps_change() {
    let rolled = past("per-step-bounds.production-breach.yaml", SimOutcome::RolledBack).await;
    // Two steps only: the release's checks at step 3 have no step in the new plan.
    let shorter = example(PLAN).replace("    - { name: full-production, weight: 100, bake: 1h }\n", "");
    let shorter = shorter[..shorter.find("    - name: one-day-watch").unwrap_or(shorter.len())].to_string()
        + &shorter[shorter.find("\nanalysis:").unwrap_or(0)..];
    let report = backtest(&plan(&shorter), &[rolled]);
    let r = &report.releases[0];
    assert!(r.notes.iter().any(|n| n.contains("mapped to the new plan's steps by step index")), "{:?}", r.notes);
    assert!(
        r.notes.iter().any(|n| n.contains("the new plan promotes at step 2"))
            || r.not_comparable.as_deref().is_some_and(|w| w.contains("no step 3")),
        "{}",
        report.text()
    );
}

/// A metric source that answers with a healthy release's values once a minute over the range
/// read (error rate 0.1 %, p95 500 ms, no throttles) and CPU at `cpu`, and counts the reads; or fails.
struct Steady {
    cpu: Option<f64>,
    reads: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl MetricSource for Steady {
    async fn fetch(
        &self,
        plan: &crate::domain::query::QueryPlan,
    ) -> Result<BTreeMap<String, Vec<crate::domain::observation::Datapoint>>, crate::ports::MetricError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let cpu = self.cpu.ok_or_else(|| crate::ports::MetricError::Backend {
            operation: "GetMetricData",
            transient: false,
            source: "the endpoint is down".into(),
        })?;
        let minutes = (plan.end - plan.start).num_minutes();
        let series = |value| -> Vec<_> {
            (0..minutes).map(|m| crate::domain::observation::Datapoint { at: plan.start + chrono::Duration::minutes(m), value }).collect()
        };
        let value = |metric: &str| match metric {
            "error_rate" => 0.1,
            "latency_p95" => 500.0,
            "cpu" => cpu,
            _ => 0.0,
        };
        Ok(plan.results.iter().map(|(id, (metric, _))| (id.clone(), series(value(metric)))).collect())
    }

    async fn alarms(&self, _: &[String]) -> Result<Vec<crate::domain::alarm::AlarmReading>, crate::ports::MetricError> {
        Ok(Vec::new())
    }
}

/// The example plan with a metric the releases never read: CPU, at every step.
fn with_new_metric() -> Plan {
    let text = example(PLAN);
    let last_bound = "      must: { below: 2000 }\n";
    assert!(text.contains(last_bound), "the example's plan-wide metrics changed");
    plan(&text.replace(
        last_bound,
        &format!("{last_bound}    - {{ name: cpu, query: {{ metric: {{ namespace: App, name: Cpu, stat: Average }} }}, must: {{ below: 80 }} }}\n"),
    ))
}

#[tokio::test]
async fn a_metric_the_releases_never_read_is_read_again_from_the_metric_source_and_judged() {
    let promoted = past("per-step-bounds.healthy.yaml", SimOutcome::Promoted).await;
    let plan = with_new_metric();
    let mut releases = vec![promoted];
    let now = releases[0].release.updated_at + chrono::Duration::days(1);

    // On the trail alone, cpu is left out and the release replays as it ran.
    let alone = backtest(&plan, &releases);
    assert_eq!(alone.same, 1, "{}", alone.text());
    assert!(alone.releases[0].notes.iter().any(|n| n.contains("metric `cpu` left out")), "{:?}", alone.releases[0].notes);

    // Read again at 95 % CPU: the new plan rolls back at the first check, on cpu.
    let source = Steady { cpu: Some(95.0), reads: Default::default() };
    let read = read_again(&source, &plan, &mut releases, now).await;
    assert!(read > 0 && read == source.reads.load(std::sync::atomic::Ordering::Relaxed), "{read}");
    let report = backtest(&plan, &releases);
    let r = &report.releases[0];
    assert_eq!(r.comparison, Comparison::Earlier, "{}", report.text());
    let new = r.new_plan.clone().unwrap_or_else(|| panic!("{r:?}"));
    assert_eq!((new.step, new.check), (Some(0), Some(1)));
    assert!(new.breaches.iter().any(|b| b.metric == "cpu" && b.bound == "cpu < 80"), "{:?}", new.breaches);
    assert_eq!((r.read_from_cloudwatch, report.read_from_cloudwatch), (1, 1), "{}", report.text());
    assert!(!r.notes.iter().any(|n| n.contains("`cpu` left out")), "{:?}", r.notes);
    assert!(report.text().contains("1 check(s) judged on datapoints read again from CloudWatch"), "{}", report.text());

    // Read again at 20 %: it passes where the release passed.
    let mut releases = vec![past("per-step-bounds.healthy.yaml", SimOutcome::Promoted).await];
    read_again(&Steady { cpu: Some(20.0), reads: Default::default() }, &plan, &mut releases, now).await;
    let report = backtest(&plan, &releases);
    assert_eq!(report.releases[0].comparison, Comparison::Same, "{}", report.text());
    assert!(report.releases[0].read_from_cloudwatch > 1, "{}", report.text());
}

#[tokio::test]
async fn checks_past_cloudwatchs_retention_or_its_errors_are_judged_on_the_trail_and_say_why() {
    let plan = with_new_metric();
    // A year later CloudWatch no longer keeps one-minute datapoints: nothing is read.
    let mut releases = vec![past("per-step-bounds.healthy.yaml", SimOutcome::Promoted).await];
    let later = releases[0].release.updated_at + chrono::Duration::days(365);
    let source = Steady { cpu: Some(95.0), reads: Default::default() };
    assert_eq!(read_again(&source, &plan, &mut releases, later).await, 0);
    assert_eq!(source.reads.load(std::sync::atomic::Ordering::Relaxed), 0);
    let report = backtest(&plan, &releases);
    let r = &report.releases[0];
    assert_eq!((r.comparison, r.read_from_cloudwatch), (Comparison::Same, 0), "{}", report.text());
    assert!(
        r.notes.iter().any(|n| n == "not read again from CloudWatch: older than CloudWatch keeps datapoints of a 1m period (15d)"),
        "{:?}",
        r.notes
    );
    assert!(r.notes.iter().any(|n| n.contains("metric `cpu` left out")), "{:?}", r.notes);

    // CloudWatch failing: never a pass on data it did not give; the trail as far as it goes.
    let mut releases = vec![past("per-step-bounds.healthy.yaml", SimOutcome::Promoted).await];
    let now = releases[0].release.updated_at;
    let down = Steady { cpu: None, reads: Default::default() };
    assert_eq!(read_again(&down, &plan, &mut releases, now).await, 0);
    // Asked once; the other checks are not asked again.
    assert_eq!(down.reads.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert!(releases[0].read_again.len() > 1 && releases[0].read_again.values().all(Result::is_err));
    let report = backtest(&plan, &releases);
    let r = &report.releases[0];
    assert_eq!(r.comparison, Comparison::Same, "{}", report.text());
    assert!(r.notes.iter().any(|n| n.starts_with("not read again from CloudWatch: CloudWatch could not be read")), "{:?}", r.notes);
    assert!(r.notes.iter().any(|n| n.ends_with("the endpoint is down); not asked again for the other checks")), "{:?}", r.notes);
}

#[tokio::test]
async fn checks_the_trail_answers_are_not_read_again() {
    let mut releases = vec![past("per-step-bounds.healthy.yaml", SimOutcome::Promoted).await];
    let now = releases[0].release.updated_at;
    let source = Steady { cpu: Some(1.0), reads: Default::default() };
    let tightened = example(PLAN).replace("{ name: latency_p95, must: { below: 4000 } }", "{ name: latency_p95, must: { below: 800 } }");
    assert_eq!(read_again(&source, &plan(&tightened), &mut releases, now).await, 0);
    assert_eq!(source.reads.load(std::sync::atomic::Ordering::Relaxed), 0);
    assert!(releases[0].read_again.is_empty());
}
