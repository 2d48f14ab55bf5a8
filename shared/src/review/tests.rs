use chrono::{Duration, TimeZone};

use super::*;
use crate::adapters::memory::MemoryStore;
use crate::domain::plan::{Plan, PlanFormat, parse_plan};
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
    compile(&store, &store, "2026-W47".parse().unwrap_or_else(|e| panic!("{e}")), at(23, 8)).await.unwrap_or_else(|e| panic!("{e}"))
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
    let r = review("2026-W47".parse().unwrap_or_else(|e| panic!("{e}")), &events, &[], at(23, 8));
    assert_eq!(r.approvals, ApprovalStats { requested: 3, approved: 1, rejected: 1, expired: 1, median_minutes_to_decide: Some(21.0) });
    assert!(r.recommendations.iter().any(|s| s.starts_with("1 approval(s) expired undecided")));
}

#[test]
fn an_empty_week_says_so() {
    let r = review("2026-W47".parse().unwrap_or_else(|e| panic!("{e}")), &[], &[], at(23, 8));
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
    let r =
        compile(&store, &store, "2026-W47".parse().unwrap_or_else(|e| panic!("{e}")), at(23, 8)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.likely_false_positives.len(), 1, "{:?}", r.likely_false_positives);
    assert_eq!(r.likely_false_positives[0].evidence, "the stable version measured the same: latency canary 650 ms vs. baseline 640 ms");
}
