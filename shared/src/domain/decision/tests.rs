use chrono::{Duration, TimeZone};

use super::*;
use crate::domain::plan::{PlanFormat, parse_plan};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 11, 14, 10, 0, 0).single().unwrap_or_default()
}

fn plan(extra: &str) -> Plan {
    let text = format!(
        "name: p\ntraffic:\n  router: {{ type: dry_run }}\n  steps:\n    - {{ weight: 10, bake: 15m }}\n    - {{ weight: 100, bake: 30m }}\n\
analysis:\n  interval: 5m\n  consecutive_failures: 2\n  max_inconclusive: 1\n{extra}  metrics:\n    - name: e\n      query: {{ metric: {{ namespace: N, name: M, stat: Sum }} }}\n      must: {{ below: 1 }}\n"
    );
    parse_plan(&text, PlanFormat::Yaml).unwrap_or_else(|e| panic!("{e:?}"))
}

fn verdict(outcome: GateOutcome) -> GateVerdict {
    GateVerdict { outcome, summary: format!("{outcome:?}"), ..GateVerdict::empty(t0()) }
}

fn at(step: usize, minutes: i64, prior: Vec<GateOutcome>) -> (StepProgress, DateTime<Utc>) {
    (StepProgress { step, started_at: t0(), prior }, t0() + Duration::minutes(minutes))
}

#[test]
fn passing_checks_bake_until_the_bake_is_served_then_advance() {
    let p = plan("");
    let (progress, now) = at(0, 5, vec![]);
    let d = decide(&p, &progress, Some(&verdict(GateOutcome::Pass)), now);
    assert_eq!((d.action, d.next_check_in_secs), (Action::Bake, Some(300)));
    let (progress, now) = at(0, 13, vec![GateOutcome::Pass, GateOutcome::Pass]);
    let d = decide(&p, &progress, Some(&verdict(GateOutcome::Pass)), now);
    assert_eq!((d.action, d.next_check_in_secs), (Action::Bake, Some(120)), "the next check lands on the end of the bake");
    let (progress, now) = at(0, 15, vec![GateOutcome::Pass, GateOutcome::Pass]);
    let d = decide(&p, &progress, Some(&verdict(GateOutcome::Pass)), now);
    assert_eq!((d.action, d.next_step), (Action::Advance, Some(1)));
    let (progress, now) = at(1, 30, vec![GateOutcome::Pass; 5]);
    assert_eq!(decide(&p, &progress, Some(&verdict(GateOutcome::Pass)), now).action, Action::Promote);
}

#[test]
fn failures_roll_back_after_the_consecutive_limit() {
    let p = plan("");
    let (progress, now) = at(0, 5, vec![]);
    let first = decide(&p, &progress, Some(&verdict(GateOutcome::Fail)), now);
    assert_eq!((first.action, first.consecutive_failures), (Action::Bake, 1));
    let (progress, now) = at(0, 10, vec![GateOutcome::Fail]);
    let second = decide(&p, &progress, Some(&verdict(GateOutcome::Fail)), now);
    assert_eq!(second.action, Action::Rollback);
    assert!(second.reason.contains("2 checks in a row"), "{}", second.reason);
    // A pass in between resets the count.
    let (progress, now) = at(0, 15, vec![GateOutcome::Fail, GateOutcome::Pass]);
    assert_eq!(decide(&p, &progress, Some(&verdict(GateOutcome::Fail)), now).action, Action::Bake);
    // A failing check at the end of the bake does not advance.
    let (progress, now) = at(0, 20, vec![GateOutcome::Pass]);
    assert_eq!(decide(&p, &progress, Some(&verdict(GateOutcome::Fail)), now).action, Action::Bake);
}

#[test]
fn critical_rolls_back_at_once() {
    let (progress, now) = at(0, 1, vec![]);
    let d = decide(&plan(""), &progress, Some(&verdict(GateOutcome::Critical)), now);
    assert_eq!(d.action, Action::Rollback);
    assert!(d.reason.starts_with("critical"));
}

#[test]
fn inconclusive_checks_follow_the_plans_policy() {
    let (progress, now) = at(0, 20, vec![GateOutcome::Inconclusive]);
    // Default policy fails closed.
    assert_eq!(decide(&plan(""), &progress, Some(&verdict(GateOutcome::Inconclusive)), now).action, Action::Rollback);
    let held = decide(&plan("  on_inconclusive: hold\n"), &progress, Some(&verdict(GateOutcome::Inconclusive)), now);
    assert_eq!((held.action, held.next_check_in_secs), (Action::Bake, Some(300)));
    let passed = decide(&plan("  on_inconclusive: pass\n"), &progress, Some(&verdict(GateOutcome::Inconclusive)), now);
    assert_eq!(passed.action, Action::Advance);
    // Within the allowance, an inconclusive check never advances, even with the bake served.
    let (progress, now) = at(0, 20, vec![GateOutcome::Pass]);
    assert_eq!(decide(&plan(""), &progress, Some(&verdict(GateOutcome::Inconclusive)), now).action, Action::Bake);
}

#[test]
fn plans_without_analysis_advance_on_time() {
    let p = parse_plan(
        "name: p\ntraffic:\n  router: { type: dry_run }\n  steps: [{ weight: 50, bake: 10m }, { weight: 100, bake: 10m }]\n",
        PlanFormat::Yaml,
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let (progress, now) = at(0, 4, vec![]);
    assert_eq!(decide(&p, &progress, None, now).next_check_in_secs, Some(360));
    let (progress, now) = at(0, 10, vec![]);
    assert_eq!(decide(&p, &progress, None, now).action, Action::Advance);
}

/// Decides each check of a step every 5 minutes, every one of them inconclusive (no data), until
/// the decision is no longer to bake; returns the minute and that decision.
fn hold_until_decided(p: &Plan, step: usize) -> (i64, Decision) {
    let mut prior = Vec::new();
    for check in 1..=1000 {
        let (progress, now) = at(step, 5 * check, prior.clone());
        let d = decide(p, &progress, Some(&verdict(GateOutcome::Inconclusive)), now);
        if d.action != Action::Bake {
            return (5 * check, d);
        }
        prior.push(GateOutcome::Inconclusive);
    }
    panic!("still holding after 1000 checks")
}

#[test]
fn a_hold_without_data_fails_closed_after_the_bake_by_default() {
    let p = plan("  on_inconclusive: hold\n");
    // Step 0 bakes 15m: the checks at 5, 10 and 15 minutes hold, the one at 20 rolls back.
    let (minute, d) = hold_until_decided(&p, 0);
    assert_eq!((minute, d.action), (20, Action::Rollback), "{}", d.reason);
    assert!(d.reason.contains("inconclusive for 20m, longer than max_hold 15m; failing closed"), "{}", d.reason);
    // Step 1 bakes 30m.
    let (minute, d) = hold_until_decided(&p, 1);
    assert_eq!((minute, d.action), (35, Action::Rollback), "{}", d.reason);
    assert!(d.reason.contains("longer than max_hold 30m"), "{}", d.reason);
}

#[test]
fn max_hold_bounds_the_hold() {
    let p = plan("  on_inconclusive: hold\n  max_hold: 45m\n");
    let (minute, d) = hold_until_decided(&p, 0);
    assert_eq!((minute, d.action), (50, Action::Rollback), "{}", d.reason);
    assert!(d.reason.contains("inconclusive for 50m, longer than max_hold 45m; failing closed"), "{}", d.reason);
    // While holding, the reason says how long it has held.
    let (progress, now) = at(0, 25, vec![GateOutcome::Inconclusive; 4]);
    let held = decide(&p, &progress, Some(&verdict(GateOutcome::Inconclusive)), now);
    assert_eq!(held.action, Action::Bake);
    assert!(held.reason.contains("inconclusive for 25m of max_hold 45m"), "{}", held.reason);
}

#[test]
fn a_passing_check_restarts_the_hold() {
    let p = plan("  on_inconclusive: hold\n  max_hold: 15m\n");
    let inc = GateOutcome::Inconclusive;
    // At 30 minutes into step 1 (bake 30m): three inconclusive checks since the last pass.
    let (progress, now) = at(1, 30, vec![inc, inc, GateOutcome::Pass, inc, inc]);
    assert_eq!(decide(&p, &progress, Some(&verdict(inc)), now).action, Action::Bake);
    // Without that pass, six in a row: 30m, longer than 15m.
    let (progress, now) = at(1, 30, vec![inc; 5]);
    assert_eq!(decide(&p, &progress, Some(&verdict(inc)), now).action, Action::Rollback);
    // A failing check is no pass: it does not restart the hold.
    let (progress, now) = at(1, 30, vec![inc, inc, GateOutcome::Fail, inc, inc]);
    assert_eq!(decide(&p, &progress, Some(&verdict(inc)), now).action, Action::Rollback);
}

#[test]
fn a_max_hold_shorter_than_the_interval_is_refused() {
    let text = "name: p\ntraffic:\n  router: { type: dry_run }\n  steps: [{ weight: 100, bake: 30m }]\n\
analysis:\n  interval: 5m\n  on_inconclusive: hold\n  max_hold: 1m\n  metrics:\n    - name: e\n      query: { metric: { namespace: N, name: M, stat: Sum } }\n      must: { below: 1 }\n";
    let issues = parse_plan(text, PlanFormat::Yaml).err().unwrap_or_default();
    assert!(issues.iter().any(|i| i.path == "analysis.max_hold"), "{issues:?}");
}

mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::duration::HumanDuration;

    fn outcome() -> impl Strategy<Value = GateOutcome> {
        prop_oneof![
            Just(GateOutcome::Pass),
            Just(GateOutcome::Marginal),
            Just(GateOutcome::Inconclusive),
            Just(GateOutcome::Fail),
            Just(GateOutcome::Critical),
        ]
    }

    fn secs() -> impl Strategy<Value = u64> {
        prop_oneof![Just(0), Just(1), 1..100_000u64, Just(u64::MAX / 2), Just(u64::MAX)]
    }

    fn policy() -> impl Strategy<Value = InconclusivePolicy> {
        prop_oneof![Just(InconclusivePolicy::Fail), Just(InconclusivePolicy::Hold), Just(InconclusivePolicy::Pass)]
    }

    fn time() -> impl Strategy<Value = DateTime<Utc>> {
        prop_oneof![
            Just(DateTime::<Utc>::MIN_UTC),
            Just(DateTime::<Utc>::MAX_UTC),
            (-10_000_000i64..10_000_000).prop_map(|s| t0() + Duration::seconds(s)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn decide_never_panics(
            bakes in prop::collection::vec(secs(), 0..4),
            interval in secs(),
            max_hold in prop::option::of(secs()),
            (consecutive_failures, max_inconclusive) in (0..5u32, 0..5u32),
            on_inconclusive in policy(),
            with_analysis in any::<bool>(),
            step in prop_oneof![0..5usize, Just(usize::MAX)],
            prior in prop::collection::vec(outcome(), 0..40),
            latest in prop::option::of(outcome()),
            (started_at, now) in (time(), time()),
        ) {
            let mut p = plan("");
            p.traffic.steps = bakes.iter().enumerate().map(|(i, b)| crate::domain::plan::Step {
                name: None,
                weight: (i as u32 + 1) * 20,
                bake: HumanDuration::from_secs(*b),
                approval: None,
                analysis: None,
                hooks: Vec::new(),
            }).collect();
            match p.analysis.as_mut() {
                Some(a) if with_analysis => {
                    a.interval = HumanDuration::from_secs(interval);
                    a.max_hold = max_hold.map(HumanDuration::from_secs);
                    a.consecutive_failures = consecutive_failures;
                    a.max_inconclusive = max_inconclusive;
                    a.on_inconclusive = on_inconclusive;
                }
                _ => p.analysis = None,
            }
            let progress = StepProgress { step, started_at, prior };
            let d = decide(&p, &progress, latest.map(verdict).as_ref(), now);
            if d.action == Action::Bake {
                prop_assert!(d.next_check_in_secs.is_some_and(|s| s >= 1), "{d:?}");
            }
        }
    }
}
