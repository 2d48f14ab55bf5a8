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
    GateVerdict { outcome, judged_at: t0(), metrics: Vec::new(), score: None, summary: format!("{outcome:?}") }
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
