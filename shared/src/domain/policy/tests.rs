//! A plan at least as strict as its policy passes; each way of being weaker is named.

use chrono::TimeZone;

use super::*;
use crate::domain::plan::{PlanFormat, parse_plan};

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, day, 10, 0, 0).single().unwrap_or_default()
}

fn policy() -> Policy {
    crate::domain::yaml::from_str(
        r#"
service: checkout
environment: production
checklist: { mode: soft, items: [security-review] }
metrics:
  - { name: error_rate, must: { below: 1 }, rollback_if: { above: 5 } }
rollback_alarms: [checkout-5xx]
approval: { before_weight: 50, approvers_any_of: [S0SRE], min_quorum: 1 }
first_step_at_most: 10
freezes:
  - { from: 2026-12-20T00:00:00Z, to: 2027-01-04T00:00:00Z, reason: year-end freeze }
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

const STRICT: &str = r#"
name: checkout
checklist:
  mode: strict
  items: [{ id: security-review, require: { kind: attestation, evidence: reviewed } }]
traffic:
  router: { type: dry_run }
  steps:
    - { weight: 5, bake: 10m }
    - { weight: 50, bake: 10m, approval: go }
    - { weight: 100, bake: 10m }
rollback_alarms: [checkout-5xx, checkout-latency]
roles: { sre: [S0SRE] }
approvals: [{ id: go, approvers: [sre], timeout: 1h }]
analysis:
  interval: 5m
  metrics:
    - name: error_rate
      query: { metric: { namespace: A, name: E, stat: Average } }
      must: { at_most: 0.5 }
      rollback_if: { at_least: 5 }
"#;

fn plan(text: &str) -> Plan {
    parse_plan(text, PlanFormat::Yaml).unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn a_plan_at_least_as_strict_as_the_policy_passes() {
    assert_eq!(policy().problems(), []);
    assert_eq!(policy().breaches(&plan(STRICT), at(1)), []);
}

#[test]
fn every_way_a_plan_is_weaker_is_named_with_its_rule() {
    let weak = STRICT
        .replace("mode: strict", "mode: warn")
        .replace("items: [{ id: security-review", "items: [{ id: smoke-test")
        .replace("must: { at_most: 0.5 }", "must: { below: 2 }")
        .replace("rollback_if: { at_least: 5 }", "rollback_if: { above: 8 }")
        .replace("rollback_alarms: [checkout-5xx, checkout-latency]", "rollback_alarms: [checkout-latency]")
        .replace("approvers: [sre]", "approvers: [U0BOB]")
        .replace("weight: 5, bake", "weight: 25, bake");
    let breaches = policy().breaches(&plan(&weak), at(21));
    let rules: Vec<&str> = breaches.iter().map(|b| b.rule.as_str()).collect();
    assert_eq!(
        rules,
        [
            "freezes",
            "checklist.mode",
            "checklist.items[0]",
            "metrics[0].must",
            "metrics[0].rollback_if",
            "rollback_alarms[0]",
            "approval",
            "first_step_at_most"
        ],
        "{breaches:#?}"
    );
    let text: Vec<String> = breaches.iter().map(ToString::to_string).collect();
    assert_eq!(
        text[0],
        "policy freezes: deploys are frozen until 2027-01-04 00:00 UTC: year-end freeze; start the release after the freeze"
    );
    assert_eq!(text[1], "policy checklist.mode: checklist item `smoke-test` is warn, looser than soft; make it soft (or stricter)");
    assert_eq!(
        text[3],
        "policy metrics[0].must: `error_rate` at steps 1, 2, 3: below 2 is looser than the policy's below 1; use below 1 or stricter"
    );
    assert_eq!(
        text[4],
        "policy metrics[0].rollback_if: `error_rate` at steps 1, 2, 3: above 8 is looser than the policy's above 5; roll back at above 5 or earlier"
    );
    assert!(
        text[6].contains("no approval with one of S0SRE among its approvers and a quorum of at least 1 guards step 2 (50%)"),
        "{}",
        text[6]
    );
    assert_eq!(text[7], "policy first_step_at_most: the first step shifts 25%, more than 10%; start at 10% or less");
}

#[test]
fn bounds_compare_by_what_they_let_through() {
    let must = |b: Bounds| looser(Some(&b), &Bounds { below: Some(1.0), ..Bounds::default() }, Strictness::Narrower);
    assert_eq!(must(Bounds { below: Some(1.0), ..Bounds::default() }), None);
    assert_eq!(must(Bounds { at_most: Some(0.99), ..Bounds::default() }), None);
    assert!(must(Bounds { at_most: Some(1.0), ..Bounds::default() }).is_some(), "at most 1 lets 1 through, below 1 does not");
    assert!(must(Bounds { above: Some(0.0), ..Bounds::default() }).is_some(), "no upper bound at all");
    let rollback = |b: Bounds| looser(Some(&b), &Bounds { above: Some(5.0), ..Bounds::default() }, Strictness::Wider);
    assert_eq!(rollback(Bounds { at_least: Some(5.0), ..Bounds::default() }), None, "at least 5 rolls back at 5 already");
    assert_eq!(rollback(Bounds { above: Some(3.0), ..Bounds::default() }), None);
    assert!(rollback(Bounds { above: Some(5.5), ..Bounds::default() }).is_some());
    let strict_rollback = |b: Bounds| looser(Some(&b), &Bounds { at_least: Some(5.0), ..Bounds::default() }, Strictness::Wider);
    assert!(strict_rollback(Bounds { above: Some(5.0), ..Bounds::default() }).is_some(), "above 5 misses exactly 5");
}

#[test]
fn a_policy_that_cannot_hold_says_where() {
    let mut broken = policy();
    broken.service = String::new();
    broken.metrics.push(MetricPolicy { name: "latency".into(), must: None, rollback_if: None });
    broken.first_step_at_most = Some(0);
    broken.freezes[0].to = broken.freezes[0].from;
    let rules: Vec<String> = broken.problems().into_iter().map(|b| b.rule).collect();
    assert_eq!(rules, ["service", "metrics[1]", "first_step_at_most", "freezes[0]"]);
}

/// Deploy windows (Mon–Thu 09:00–16:00 Berlin): a release starts and shifts traffic inside them
/// only; outside, admission says when the next opens, and a running release holds until then.
#[test]
fn deploy_windows_refuse_a_start_and_hold_traffic_outside_their_hours() {
    let mut windowed = policy();
    windowed.freezes.clear();
    windowed.deploy_windows = crate::domain::yaml::from_str(
        "{ timezone: Europe/Berlin, allow: [{ days: [mon, tue, wed, thu], from: \"09:00\", to: \"16:00\" }] }",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(windowed.problems(), []);
    // Wednesday 2 December 2026, 10:00 UTC = 11:00 in Berlin: open.
    assert_eq!(windowed.hold_at(at(2)), None);
    // Friday 4 December, 11:00 in Berlin: closed until Monday 09:00 Berlin (08:00 UTC).
    let held = windowed.hold_at(at(4)).unwrap_or_else(|| panic!("closed on Friday"));
    assert_eq!(held.to, Utc.with_ymd_and_hms(2026, 12, 7, 8, 0, 0).single().unwrap_or_default());
    assert!(held.reason.starts_with("outside the deploy windows Mon,Tue,Wed,Thu 09:00–16:00 (Europe/Berlin)"), "{}", held.reason);
    let refused = windowed.breaches(&plan(STRICT), at(4));
    assert_eq!(refused.iter().map(|b| b.rule.as_str()).collect::<Vec<_>>(), ["deploy_windows"]);
    assert!(refused[0].fix.contains("2026-12-07 08:00 UTC"), "{:?}", refused[0]);
    // Windows that cannot be read hold traffic, and the policy says why.
    windowed.deploy_windows = crate::domain::yaml::from_str("{ timezone: Mars/Olympus, allow: [{ from: \"9\", to: \"16:00\" }] }")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(windowed.hold_at(at(2)).is_some_and(|h| h.reason.contains("cannot be read")));
    let rules: Vec<String> = windowed.problems().into_iter().map(|b| b.rule).collect();
    assert_eq!(rules, ["deploy_windows.timezone", "deploy_windows.allow[0]"]);
}
