use std::collections::BTreeSet;

use chrono::{Duration, TimeZone};
use serde_json::json;

use super::*;
use crate::adapters::memory::MemoryStore;
use crate::domain::plan::{Plan, PlanFormat, parse_plan};
use crate::ports::WeeklyEvents;
use crate::release::EventKind;
use crate::simulate::{Scenario, SimOutcome, SimulatedRelease, simulate_into};

const PLAN: &str = r#"
name: checkout
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
"#;

fn plan() -> Plan {
    parse_plan(PLAN, PlanFormat::Yaml).unwrap_or_else(|e| panic!("{e:?}"))
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).single().unwrap_or_default()
}

/// Simulates release `id` of checkout `version` from `start` into `store`.
async fn release(store: &MemoryStore, id: &str, version: &str, start: DateTime<Utc>, scenario: &str) -> SimOutcome {
    let mut scenario: Scenario = crate::domain::yaml::from_str(scenario).unwrap_or_else(|e| panic!("{e}"));
    scenario.start = Some(start);
    let identity =
        SimulatedRelease { id: id.into(), service: "checkout".into(), environment: "production".into(), version: version.into() };
    simulate_into(store, &identity, &plan(), &scenario, None).await.unwrap_or_else(|e| panic!("{e}")).outcome
}

const HEALTHY: &str =
    "evidence: { tests_passed: true, high_vulnerabilities: 0 }\nmetrics: { error_rate: { canary: { level: 0.2, noise: 0.05, floor: 0 } } }";
const SPIKE: &str = "evidence: { tests_passed: true, high_vulnerabilities: 0 }\nmetrics: { error_rate: { canary: { level: 0.2, noise: 0.05, floor: 0, change: { at: 30m, to: 7 } } } }";
const OVERRIDDEN: &str = "author: dev\nevidence: { tests_passed: true, high_vulnerabilities: 2 }\n\
overrides: [{ item: high-vulns, justification: CVE-2026-1 not reachable, approver: release-manager }]\n\
metrics: { error_rate: { canary: { level: 0.2, noise: 0.05, floor: 0 } } }";
const MISSING_TESTS: &str = "evidence: { high_vulnerabilities: 0 }\nmetrics: { error_rate: { canary: { level: 0.2 } } }";

/// A week of checkout releases: 2.0 rolled back by an error spike on Monday and then promoted
/// unchanged on Tuesday; 2.1 promoted on Wednesday through an override; 2.2 blocked on Thursday.
async fn week() -> WeeklyReview {
    let store = MemoryStore::new();
    for (id, version, start, scenario, expected) in [
        ("r-mon", "2.0", at(16, 9), SPIKE, SimOutcome::RolledBack),
        ("r-tue", "2.0", at(17, 9), HEALTHY, SimOutcome::Promoted),
        ("r-wed", "2.1", at(18, 9), OVERRIDDEN, SimOutcome::Promoted),
        ("r-thu", "2.2", at(19, 9), MISSING_TESTS, SimOutcome::Blocked),
        // Next week's release is not this week's business.
        ("r-next", "2.3", at(23, 9), HEALTHY, SimOutcome::Promoted),
    ] {
        assert_eq!(release(&store, id, version, start, scenario).await, expected, "{id}");
    }
    compile(&store, &store, "2026-W47".parse().unwrap_or_else(|e| panic!("{e}")), DEFAULT_PREVIOUS_WEEKS, at(23, 8))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn weeks_parse_print_and_bound() {
    let week: ReviewWeek = "2026-W47".parse().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((week.start(), week.end()), (at(16, 0), at(23, 0)));
    assert_eq!(week.to_string(), "2026-W47");
    assert_eq!(ReviewWeek::before(at(23, 9)), week, "Monday's run reviews the week that just ended");
    assert_eq!(ReviewWeek::containing(at(22, 23)), week);
    assert!("2026-47".parse::<ReviewWeek>().is_err_and(|e| e.contains("like 2026-W47")));
    assert!("2026-W54".parse::<ReviewWeek>().is_err_and(|e| e.contains("no week 54")));
}

#[tokio::test]
async fn a_week_of_releases_counts_outcomes_gates_and_overrides() {
    let r = week().await;
    assert_eq!(r.releases, 4);
    assert_eq!(r.outcomes, Outcomes { promoted: 2, rolled_back: 1, blocked: 1, aborted: 0, open: 0 });
    let errors = r.metrics.get("error_rate").cloned().unwrap_or_default();
    assert!(errors.checks >= 10, "every check of every release counts: {errors:?}");
    assert_eq!((errors.releases_failed, errors.rollbacks), (1, 1));
    assert!(errors.failures >= 1 && errors.failure_rate > 0.0 && errors.failure_rate < 0.5, "{errors:?}");
    assert_eq!(r.checklist.get("tests").map(|i| (i.judged, i.blocked)), Some((4, 1)));
    assert_eq!(r.checklist.get("high-vulns").map(|i| i.overridden), Some(1));
    assert_eq!(r.overrides.len(), 1);
    assert_eq!((r.overrides[0].release_id.as_str(), r.overrides[0].approver.as_str()), ("r-wed", "release-manager"));
    assert_eq!(r.overrides[0].justification, "CVE-2026-1 not reachable");
}

#[tokio::test]
async fn a_rollback_of_a_version_later_promoted_unchanged_is_a_likely_false_positive() {
    let r = week().await;
    assert_eq!(r.rollbacks.len(), 1);
    let rollback = &r.rollbacks[0];
    assert_eq!((rollback.release_id.as_str(), rollback.metrics.clone()), ("r-mon", vec!["error_rate".to_string()]));
    assert_eq!((rollback.target_secs, rollback.within_target), (Some(300), Some(true)));
    assert_eq!(r.median_time_to_restore_secs, Some(rollback.time_to_restore_secs));
    assert_eq!(r.likely_false_positives.len(), 1);
    assert!(r.likely_false_positives[0].evidence.contains("2.0 was released again unchanged and promoted (r-tue)"));
    assert!(
        r.recommendations.iter().any(|s| s.starts_with("`error_rate` caused 1 rollback(s) that look like false positives")),
        "{:?}",
        r.recommendations
    );
    let text = r.text();
    for line in [
        "rollgate weekly review 2026-W47 (2026-11-16 to 2026-11-22)",
        "4 releases: 2 promoted, 1 rolled back, 1 blocked",
        "Likely false positives:",
        "r-wed `high-vulns` by release-manager",
    ] {
        assert!(text.contains(line), "the report lacks `{line}`:\n{text}");
    }
    assert!(r.subject().len() <= 100);
}

#[test]
fn approvals_count_decisions_expiries_and_time_to_decide() {
    let event = |id: &str, at: DateTime<Utc>, kind: EventKind| ReleaseEvent {
        release_id: id.into(),
        at,
        seq: 0,
        id: String::new(),
        actor: "t".into(),
        kind,
        hash: String::new(),
    };
    let asked =
        |expires_at| EventKind::ApprovalRequested { approval: "go".into(), step: 0, approvers: vec!["a".into()], quorum: 1, expires_at };
    let decided = |approved| EventKind::ApprovalDecided { approval: "go".into(), by: "a".into(), approved, comment: None, via: None };
    let events = vec![
        event("r1", at(16, 10), asked(at(16, 12))),
        event("r1", at(16, 10) + Duration::minutes(12), decided(true)),
        event("r2", at(17, 10), asked(at(17, 12))),
        event("r2", at(17, 10) + Duration::minutes(30), decided(false)),
        // Nobody answered: it expired, which is a rejection.
        event("r3", at(18, 10), asked(at(18, 11))),
    ];
    let r = review("2026-W47".parse().unwrap_or_else(|e| panic!("{e}")), DEFAULT_PREVIOUS_WEEKS, &events, &[], at(23, 8));
    assert_eq!(r.approvals, ApprovalStats { requested: 3, approved: 1, rejected: 1, expired: 1, median_minutes_to_decide: Some(21.0) });
    assert!(r.recommendations.iter().any(|s| s.starts_with("1 approval(s) expired undecided")));
}

#[test]
fn an_empty_week_says_so() {
    let r = review("2026-W47".parse().unwrap_or_else(|e| panic!("{e}")), DEFAULT_PREVIOUS_WEEKS, &[], &[], at(23, 8));
    assert_eq!(r.releases, 0);
    assert!(r.text().ends_with("Nothing to tune this week."));
}

#[tokio::test]
async fn a_bound_the_stable_version_breaks_too_is_a_likely_false_positive() {
    let plan = parse_plan(
        "name: shared\ntraffic: { router: { type: dry_run }, steps: [{ weight: 50, bake: 20m }, { weight: 100, bake: 10m }] }\n\
analysis: { interval: 5m, min_samples: 3, metrics: [{ name: latency, unit: ms, \
query: { metric: { namespace: App, name: Latency, stat: p99 }, canary: { Version: '{version}' }, baseline: { Version: '{stable_version}' } }, \
must: { below: 500 } }] }\n",
        PlanFormat::Yaml,
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    // A slow dependency makes both versions slow from 10 minutes in.
    let scenario: Scenario = crate::domain::yaml::from_str(
        "start: 2026-11-18T10:00:00Z\nmetrics: { latency: { canary: { level: 300, change: { at: 10m, to: 650 } }, baseline: { level: 300, change: { at: 10m, to: 640 } } } }",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let store = MemoryStore::new();
    let identity = SimulatedRelease { id: "r1".into(), service: "api".into(), environment: "prod".into(), version: "3".into() };
    let sim = simulate_into(&store, &identity, &plan, &scenario, None).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sim.outcome, SimOutcome::RolledBack);
    let r = compile(&store, &store, "2026-W47".parse().unwrap_or_else(|e| panic!("{e}")), DEFAULT_PREVIOUS_WEEKS, at(23, 8))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.likely_false_positives.len(), 1, "{:?}", r.likely_false_positives);
    assert_eq!(r.likely_false_positives[0].evidence, "the stable version measured the same: latency canary 650 ms vs. baseline 640 ms");
}

/// Checkout releases over three weeks: 2.0 rolled back in W45, 2.1 promoted in W46, then 2.0
/// promoted unchanged in W47 beside 2.2 through an override.
async fn three_weeks() -> MemoryStore {
    let store = MemoryStore::new();
    for (id, version, start, scenario, expected) in [
        ("r-w45", "2.0", at(3, 9), SPIKE, SimOutcome::RolledBack),
        ("r-w46", "2.1", at(10, 9), HEALTHY, SimOutcome::Promoted),
        ("r-w47", "2.0", at(17, 9), HEALTHY, SimOutcome::Promoted),
        ("r-w47b", "2.2", at(18, 9), OVERRIDDEN, SimOutcome::Promoted),
    ] {
        assert_eq!(release(&store, id, version, start, scenario).await, expected, "{id}");
    }
    store
}

/// [`three_weeks`], and a rollback in W47 of another service in another environment (cart in
/// staging).
async fn three_weeks_and_a_cart_rollback() -> MemoryStore {
    let store = three_weeks().await;
    let identity = SimulatedRelease { id: "cart-1".into(), service: "cart".into(), environment: "staging".into(), version: "9".into() };
    let mut scenario: Scenario = crate::domain::yaml::from_str(SPIKE).unwrap_or_else(|e| panic!("{e}"));
    scenario.start = Some(at(19, 9));
    let outcome = simulate_into(&store, &identity, &plan(), &scenario, None).await.unwrap_or_else(|e| panic!("{e}")).outcome;
    assert_eq!(outcome, SimOutcome::RolledBack, "cart-1");
    store
}

fn week_named(name: &str) -> ReviewWeek {
    name.parse().unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_rollback_is_a_false_positive_of_its_own_week_when_the_version_is_promoted_weeks_later() {
    let store = three_weeks().await;
    let r = compile(&store, &store, week_named("2026-W47"), DEFAULT_PREVIOUS_WEEKS, at(23, 8)).await.unwrap_or_else(|e| panic!("{e}"));
    let weeks: Vec<String> = r.history.iter().map(|w| w.week.to_string()).collect();
    assert_eq!(weeks, ["2026-W43", "2026-W44", "2026-W45", "2026-W46", "2026-W47"]);
    let w45 = &r.history[2];
    assert_eq!((w45.releases, w45.rollbacks, w45.gate_rollbacks, w45.likely_false_positives), (1, 1, 1, 1), "{w45:?}");
    assert_eq!(w45.false_positive_rate, Some(1.0));
    assert!(w45.gate_failure_rate.is_some_and(|r| r > 0.0), "{w45:?}");
    // Nothing was rolled back this week: its own list of suspects is empty.
    assert!(r.likely_false_positives.is_empty());
    assert_eq!((r.history[0].releases, r.history[0].gate_failure_rate, r.history[0].p90_time_to_rollback_secs), (0, None, None));

    // W45's own review reads W41 to W45 only: the promotion two weeks later is out of its reach.
    let then = compile(&store, &store, week_named("2026-W45"), DEFAULT_PREVIOUS_WEEKS, at(9, 8)).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(then.likely_false_positives.is_empty(), "{:?}", then.likely_false_positives);
    // Two weeks of trend reach the rollback and the promotion as well.
    let near = compile(&store, &store, week_named("2026-W47"), 2, at(23, 8)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(near.history.first().map(|w| (w.week.to_string(), w.likely_false_positives)), Some(("2026-W45".into(), 1)));
}

/// The weekly index of a store, read a few events a page and newest first: every release's
/// events come out of order, interleaved with other releases', over several pages.
struct NewestFirstPages(MemoryStore);

#[async_trait::async_trait]
impl crate::ports::WeeklyEvents for NewestFirstPages {
    async fn visit_events_in_week(
        &self,
        week: ReviewWeek,
        visit: &mut (dyn FnMut(ReleaseEvent) + Send),
    ) -> Result<(), crate::ports::StoreError> {
        let mut events = self.0.events_in_week(week).await?;
        events.sort_by_key(|e| std::cmp::Reverse((e.at, e.seq)));
        for page in events.chunks(3) {
            for e in page {
                visit(e.clone());
            }
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_review_fed_page_by_page_out_of_order_equals_the_review_of_the_same_events_at_once() {
    // A rollback this week, of another service.
    let store = three_weeks_and_a_cart_rollback().await;
    let week = week_named("2026-W47");
    let mut events = Vec::new();
    for w in window(week, DEFAULT_PREVIOUS_WEEKS) {
        events.extend(store.events_in_week(w).await.unwrap_or_else(|e| panic!("{e}")));
    }
    let at_once = review(week, DEFAULT_PREVIOUS_WEEKS, &events, &[], at(23, 8));
    assert!(at_once.releases == 3 && at_once.rollbacks.len() == 1 && at_once.overrides.len() == 1, "{at_once:?}");
    assert_eq!(at_once.history.iter().map(|w| w.likely_false_positives).sum::<usize>(), 1, "{:?}", at_once.history);

    let pages = NewestFirstPages(store);
    let paged = compile(&pages, &pages.0, week, DEFAULT_PREVIOUS_WEEKS, at(23, 8)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(paged, at_once);
    assert_eq!(paged.text(), at_once.text());
    assert_eq!(paged.emf_lines(), at_once.emf_lines());
}

#[tokio::test]
async fn trends_put_this_week_beside_each_previous_week_with_the_direction() {
    let store = three_weeks().await;
    let r = compile(&store, &store, week_named("2026-W47"), DEFAULT_PREVIOUS_WEEKS, at(23, 8)).await.unwrap_or_else(|e| panic!("{e}"));
    let trend = |f: Figure| r.trends.iter().find(|t| t.figure == f).cloned().unwrap_or_else(|| panic!("no trend of {f:?}"));
    let overrides = trend(Figure::OverrideRate);
    assert_eq!((overrides.this_week, overrides.previous_mean, overrides.direction), (Some(0.5), Some(0.0), Direction::Up));
    assert_eq!(overrides.previous.iter().map(|w| w.value).collect::<Vec<_>>(), [None, None, Some(0.0), Some(0.0)]);
    let gates = trend(Figure::GateFailureRate);
    assert_eq!((gates.this_week, gates.direction), (Some(0.0), Direction::Down));
    assert_eq!(trend(Figure::FalsePositiveRate).direction, Direction::NoData);
    let restore = trend(Figure::P90TimeToRollbackSecs);
    assert_eq!((restore.this_week, restore.direction), (None, Direction::NoData));
    // The simulator's router restores at once: W45's one rollback took 0 s, which is a value.
    assert_eq!(restore.previous[2].value, Some(0.0), "{restore:?}");

    let text = r.text();
    for line in [
        "Trends (this week against the 4 week(s) before; lower is better):",
        "  override rate: 50% this week; 2026-W43 -, 2026-W44 -, 2026-W45 0%, 2026-W46 0%; up from a mean of 0% (worse)",
        "  false-positive rate: - this week; 2026-W43 -, 2026-W44 -, 2026-W45 100%, 2026-W46 -; nothing to measure this week",
    ] {
        assert!(text.contains(line), "the report lacks `{line}`:\n{text}");
    }
    let json = serde_json::to_value(&r).unwrap_or_default();
    assert_eq!(json["trends"][1]["figure"], "override_rate");
    assert_eq!(json["trends"][1]["direction"], "up");
    assert_eq!(json["history"][2]["false_positive_rate"], 1.0);
    // No trends asked for: the report says nothing of them.
    let alone = compile(&store, &store, week_named("2026-W47"), 0, at(23, 8)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(alone.history.len(), 1);
    assert!(!alone.text().contains("Trends"));
}

/// The CloudWatch units an EMF metric may name.
const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// One line against the embedded metric format specification: a JSON object whose `_aws` holds
/// exactly `Timestamp` (milliseconds) and `CloudWatchMetrics` (directives of exactly
/// `Namespace`, `Dimensions`, `Metrics`); every dimension a root member with a string value of
/// 1 to 1,024 characters, at most 30 per set; every metric (at most 100) exactly `Name` and
/// `Unit`, a root member with a number value, with a CloudWatch unit. Returns the metric names.
fn emf_metric_names(line: &str, timestamp: i64) -> Vec<String> {
    assert!(!line.contains('\n'), "one line: {line}");
    let root: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    let keys = |v: &serde_json::Value| v.as_object().map(|o| o.keys().cloned().collect::<BTreeSet<_>>()).unwrap_or_default();
    let aws = &root["_aws"];
    assert_eq!(keys(aws), BTreeSet::from(["CloudWatchMetrics".to_string(), "Timestamp".to_string()]), "{line}");
    assert_eq!(aws["Timestamp"].as_i64(), Some(timestamp));
    let directives = aws["CloudWatchMetrics"].as_array().cloned().unwrap_or_default();
    assert_eq!(directives.len(), 1, "{line}");
    let d = &directives[0];
    assert_eq!(keys(d), BTreeSet::from(["Dimensions".into(), "Metrics".into(), "Namespace".into()]), "{line}");
    assert_eq!(d["Namespace"], emf::NAMESPACE);
    let sets = d["Dimensions"].as_array().cloned().unwrap_or_default();
    assert_eq!(sets.len(), 1);
    for set in &sets {
        let names = set.as_array().cloned().unwrap_or_default();
        assert!(!names.is_empty() && names.len() <= 30, "{set}");
        for name in names {
            let value = root[name.as_str().unwrap_or_default()].as_str().unwrap_or_default();
            assert!(!value.is_empty() && value.chars().count() <= 1024, "dimension {name} = `{value}`");
        }
    }
    let metrics = d["Metrics"].as_array().cloned().unwrap_or_default();
    assert!(!metrics.is_empty() && metrics.len() <= 100, "{line}");
    let mut names = Vec::new();
    for m in metrics {
        assert_eq!(keys(&m), BTreeSet::from(["Name".into(), "Unit".into()]), "{m}");
        let name = m["Name"].as_str().unwrap_or_default().to_string();
        assert!(root[&name].as_f64().is_some_and(f64::is_finite), "metric {name} has no number value: {line}");
        assert!(UNITS.contains(&m["Unit"].as_str().unwrap_or_default()), "{m}");
        assert!(!emf::DIMENSIONS.contains(&name.as_str()), "{name} is a dimension too");
        names.push(name);
    }
    names
}

#[tokio::test]
async fn the_figures_go_out_as_one_emf_line_per_service_and_environment() {
    // Another service, another environment, this week: a line of its own.
    let store = three_weeks_and_a_cart_rollback().await;
    let r = compile(&store, &store, week_named("2026-W47"), DEFAULT_PREVIOUS_WEEKS, at(23, 8)).await.unwrap_or_else(|e| panic!("{e}"));

    let lines = r.emf_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let documents: Vec<serde_json::Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap_or_default()).collect();
    assert_eq!(
        documents.iter().map(|d| (d["Service"].clone(), d["Environment"].clone(), d["Week"].clone())).collect::<Vec<_>>(),
        [(json!("cart"), json!("staging"), json!("2026-W47")), (json!("checkout"), json!("production"), json!("2026-W47"))]
    );
    let all: BTreeSet<&str> = emf::METRICS.iter().map(|(name, _)| *name).collect();
    for line in &lines {
        let names = emf_metric_names(line, at(23, 0).timestamp_millis());
        assert!(names.iter().all(|n| all.contains(n.as_str())), "{names:?}");
    }
    // cart rolled back: every metric has a value, the rates in percent.
    let cart = &documents[0];
    assert_eq!(emf_metric_names(&lines[0], at(23, 0).timestamp_millis()).len(), emf::METRICS.len());
    assert_eq!((cart["Releases"].as_f64(), cart["Rollbacks"].as_f64(), cart["OverrideRate"].as_f64()), (Some(1.0), Some(1.0), Some(0.0)));
    assert!(cart["GateFailureRate"].as_f64().is_some_and(|p| p > 0.0 && p <= 100.0), "{cart}");
    assert_eq!(cart["TimeToRollbackP90"].as_f64(), Some(0.0), "the simulator's router restores at once: {cart}");
    // checkout rolled nothing back: no time to roll back and no false-positive rate, rather than 0.
    let checkout = &documents[1];
    assert_eq!(checkout["OverrideRate"].as_f64(), Some(50.0));
    assert!(checkout.get("TimeToRollbackP90").is_none() && checkout.get("FalsePositiveRate").is_none(), "{checkout}");
    assert_eq!(checkout["Rollbacks"].as_f64(), Some(0.0));
}

#[test]
fn a_dimension_value_is_never_empty_nor_too_long() {
    let week = week_named("2026-W47");
    let mut r = review(week, 0, &[], &[], at(23, 8));
    let figures = r.history[0].clone();
    r.services = vec![
        ServiceFigures { service: String::new(), environment: "é".repeat(2000), figures: figures.clone() },
        ServiceFigures { service: "api".into(), environment: "prod".into(), figures },
    ];
    let lines = r.emf_lines();
    let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap_or_default();
    assert_eq!(first["Service"], UNKNOWN);
    assert_eq!(first["Environment"].as_str().map(|e| e.chars().count()), Some(1024));
    // An empty week publishes its counts (zero releases) and no rate.
    assert_eq!(emf_metric_names(&lines[1], at(23, 0).timestamp_millis()), ["Releases", "GateChecks", "Rollbacks", "LikelyFalsePositives"]);
}
