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
    PastRelease { release, trail }
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
