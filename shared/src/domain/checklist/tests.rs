use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::domain::plan::{ChecklistItem, FreezePeriod, OverridePolicy, WeeklyWindow};

fn now() -> DateTime<Utc> {
    // A Wednesday, 10:00 UTC.
    Utc.with_ymd_and_hms(2025, 11, 12, 10, 0, 0).single().unwrap_or_default()
}

fn item(id: &str, mode: Option<EnforcementMode>, require: Requirement) -> ChecklistItem {
    ChecklistItem { id: id.into(), title: None, mode, require }
}

fn checklist(mode: EnforcementMode, items: Vec<ChecklistItem>) -> Checklist {
    Checklist { mode, items, overrides: OverridePolicy::default() }
}

fn evidence(v: Value) -> Evidence {
    serde_json::from_value(v).unwrap_or_default()
}

fn one(req: Requirement, ev: Value) -> ItemResult {
    let c = checklist(EnforcementMode::Strict, vec![item("x", None, req)]);
    let verdict = evaluate(&c, &evidence(ev), &[], None, now());
    verdict.items.into_iter().next().unwrap_or_else(|| panic!("no item"))
}

fn number(at_least: Option<f64>, below: Option<f64>) -> Requirement {
    Requirement::Number { evidence: "n".into(), at_least, at_most: None, above: None, below, unit: None }
}

#[test]
fn attestation_needs_literal_true() {
    let req = || Requirement::Attestation { evidence: "done".into() };
    assert_eq!(one(req(), json!({"done": true})).finding, Finding::Met);
    assert_eq!(one(req(), json!({"done": false})).finding, Finding::NotMet);
    assert_eq!(one(req(), json!({"done": "yes"})).finding, Finding::Malformed);
    assert_eq!(one(req(), json!({"done": null})).finding, Finding::Missing);
    assert_eq!(one(req(), json!({})).finding, Finding::Missing);
}

#[test]
fn numbers_at_their_boundaries() {
    assert_eq!(one(number(Some(80.0), None), json!({"n": 80})).finding, Finding::Met);
    let low = one(number(Some(80.0), None), json!({"n": 79.9}));
    assert_eq!(low.finding, Finding::NotMet);
    assert_eq!(low.detail, "79.9 < 80");
    assert_eq!(low.rule, "n ≥ 80");
    assert_eq!(one(number(None, Some(500.0)), json!({"n": 500})).finding, Finding::NotMet);
    assert_eq!(one(number(None, Some(500.0)), json!({"n": 499})).finding, Finding::Met);
    assert_eq!(one(number(None, Some(500.0)), json!({"n": "499"})).finding, Finding::Malformed);
    let zero_vulns = Requirement::Number { evidence: "n".into(), at_least: None, at_most: Some(0.0), above: None, below: None, unit: None };
    assert_eq!(one(zero_vulns.clone(), json!({"n": 0})).finding, Finding::Met);
    assert_eq!(one(zero_vulns, json!({"n": 1})).detail, "1 > 0");
}

#[test]
fn freshness_both_ways() {
    let within = Requirement::Freshness { evidence: "t".into(), max_age: Some(HumanDuration::from_secs(86_400)), min_age: None };
    assert_eq!(one(within.clone(), json!({"t": "2025-11-11T10:00:01Z"})).finding, Finding::Met);
    let old = one(within.clone(), json!({"t": "2025-11-11T09:59:59Z"}));
    assert_eq!(old.finding, Finding::NotMet);
    assert!(old.detail.contains("older than 1d"), "{}", old.detail);
    assert_eq!(one(within.clone(), json!({"t": "yesterday"})).finding, Finding::Malformed);
    assert_eq!(one(within, json!({"t": "2025-11-13T10:00:00Z"})).finding, Finding::Malformed, "future time");
    let stable = Requirement::Freshness { evidence: "t".into(), max_age: None, min_age: Some(HumanDuration::from_secs(48 * 3600)) };
    assert_eq!(one(stable.clone(), json!({"t": "2025-11-10T10:00:00Z"})).finding, Finding::Met);
    let young = one(stable, json!({"t": "2025-11-11T10:00:00Z"}));
    assert_eq!(young.finding, Finding::NotMet);
    assert_eq!(young.detail, "only 1d ago, less than 2d");
}

#[test]
fn reviewers_are_counted_distinct_without_the_author() {
    let req = Requirement::Count { evidence: "reviewers".into(), at_least: 2, distinct: true, exclude: Some("author".into()) };
    assert_eq!(one(req.clone(), json!({"reviewers": ["ann", "bob"], "author": "cat"})).finding, Finding::Met);
    let dup = one(req.clone(), json!({"reviewers": ["ann", "Ann"], "author": "cat"}));
    assert_eq!(dup.finding, Finding::NotMet);
    let own = one(req.clone(), json!({"reviewers": ["ann", "cat"], "author": "cat"}));
    assert_eq!(own.finding, Finding::NotMet);
    assert!(own.detail.contains("cat is excluded"), "{}", own.detail);
    assert_eq!(one(req.clone(), json!({"reviewers": ["ann", "bob"]})).finding, Finding::Missing, "author unknown");
    let c = checklist(EnforcementMode::Strict, vec![item("x", None, req.clone())]);
    let from_release = evaluate(&c, &evidence(json!({"reviewers": ["ann", "cat"]})), &[], Some("cat"), now());
    assert_eq!(from_release.items[0].finding, Finding::NotMet, "the release's author is excluded too");
    assert_eq!(one(req, json!({"reviewers": "ann,bob", "author": "cat"})).finding, Finding::Malformed);
}

#[test]
fn certificate_must_outlive_the_margin() {
    let req = Requirement::Date { evidence: "tls".into(), min_remaining: HumanDuration::from_secs(30 * 86_400) };
    assert_eq!(one(req.clone(), json!({"tls": "2026-01-01T00:00:00Z"})).finding, Finding::Met);
    assert_eq!(one(req.clone(), json!({"tls": "2025-12-12T10:00:00Z"})).finding, Finding::NotMet, "exactly 30d is not more than 30d");
    let expired = one(req, json!({"tls": "2025-11-01T00:00:00Z"}));
    assert_eq!(expired.finding, Finding::NotMet);
    assert!(expired.detail.contains("passed"), "{}", expired.detail);
}

fn window(allow: Vec<WeeklyWindow>, freeze: Vec<FreezePeriod>, tz: &str) -> Requirement {
    Requirement::Window { timezone: tz.into(), allow, freeze }
}

fn hours(days: Vec<Weekday>, from: &str, to: &str) -> WeeklyWindow {
    WeeklyWindow { days, from: from.into(), to: to.into() }
}

#[test]
fn windows_are_judged_in_the_named_zone() {
    let weekdays = vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri];
    // 10:00 UTC is 11:00 in Berlin (CET) and 05:00 in New York (EST).
    assert_eq!(one(window(vec![hours(weekdays.clone(), "09:00", "17:00")], vec![], "Europe/Berlin"), json!({})).finding, Finding::Met);
    let early = one(window(vec![hours(weekdays.clone(), "09:00", "17:00")], vec![], "America/New_York"), json!({}));
    assert_eq!(early.finding, Finding::NotMet);
    assert!(early.detail.contains("Wed 2025-11-12 05:00 America/New_York"), "{}", early.detail);
    assert_eq!(one(window(vec![hours(vec![Weekday::Sat], "00:00", "23:59")], vec![], "UTC"), json!({})).finding, Finding::NotMet);
    // Overnight window that started on Tuesday evening still holds at 01:00 Wednesday.
    assert_eq!(one(window(vec![hours(vec![Weekday::Tue], "22:00", "12:00")], vec![], "UTC"), json!({})).finding, Finding::Met);
}

#[test]
fn freezes_block_with_their_reason() {
    let freeze = FreezePeriod { from: "2025-11-10T00:00".into(), to: "2025-11-14T00:00".into(), reason: Some("re:Invent".into()) };
    let r = one(window(vec![], vec![freeze.clone()], "UTC"), json!({}));
    assert_eq!(r.finding, Finding::NotMet);
    assert!(r.detail.contains("inside freeze `re:Invent`"), "{}", r.detail);
    let later = FreezePeriod { from: "2025-12-20T00:00".into(), ..freeze };
    assert_eq!(one(window(vec![], vec![later], "UTC"), json!({})).finding, Finding::Met);
}

#[test]
fn incidents_at_or_above_severity_in_the_period_block() {
    let req =
        Requirement::Incidents { evidence: "inc".into(), severity_at_or_above: "P1".into(), within: HumanDuration::from_secs(48 * 3600) };
    assert_eq!(one(req.clone(), json!({"inc": []})).finding, Finding::Met);
    let p2 = json!({"inc": [{"id": "INC-1", "severity": "P2", "started_at": "2025-11-12T08:00:00Z"}]});
    assert_eq!(one(req.clone(), p2).finding, Finding::Met);
    let old_p0 =
        json!({"inc": [{"id": "INC-2", "severity": "P0", "started_at": "2025-11-01T08:00:00Z", "resolved_at": "2025-11-01T09:00:00Z"}]});
    assert_eq!(one(req.clone(), old_p0).finding, Finding::Met);
    let recent_p1 =
        json!({"inc": [{"id": "INC-3", "severity": "p1", "started_at": "2025-11-09T08:00:00Z", "resolved_at": "2025-11-11T09:00:00Z"}]});
    let r = one(req.clone(), recent_p1);
    assert_eq!(r.finding, Finding::NotMet);
    assert!(r.detail.contains("INC-3"), "{}", r.detail);
    let open_sev0 = json!({"inc": [{"id": "INC-4", "severity": "SEV0", "started_at": "2025-10-01T08:00:00Z"}]});
    assert_eq!(one(req.clone(), open_sev0).finding, Finding::NotMet);
    assert_eq!(
        one(req.clone(), json!({"inc": [{"id": "x", "severity": "high", "started_at": "2025-11-12T08:00:00Z"}]})).finding,
        Finding::Malformed
    );
    assert_eq!(one(req, json!({})).finding, Finding::Missing, "no evidence is not a clean record");
}

fn coverage_item(mode: EnforcementMode) -> ChecklistItem {
    item("coverage", Some(mode), number(Some(80.0), None))
}

#[test]
fn modes_decide_the_effect_of_a_failure() {
    let ev = evidence(json!({"n": 50}));
    let effect = |mode| {
        let v = evaluate(&checklist(EnforcementMode::Strict, vec![coverage_item(mode)]), &ev, &[], None, now());
        (v.verdict, v.items[0].effect)
    };
    assert_eq!(effect(EnforcementMode::Monitor), (Verdict::Pass, Effect::Recorded));
    assert_eq!(effect(EnforcementMode::Warn), (Verdict::Warn, Effect::Warning));
    assert_eq!(effect(EnforcementMode::Soft), (Verdict::Blocked, Effect::Blocked));
    assert_eq!(effect(EnforcementMode::Strict), (Verdict::Blocked, Effect::Blocked));
}

#[test]
fn missing_evidence_never_passes_soft_or_strict() {
    for mode in [EnforcementMode::Soft, EnforcementMode::Strict] {
        let v = evaluate(&checklist(mode, vec![item("a", None, number(Some(1.0), None))]), &Evidence::new(), &[], None, now());
        assert_eq!(v.verdict, Verdict::Blocked);
        assert_eq!(v.items[0].finding, Finding::Missing);
    }
}

fn ov(item: &str, approver: &str) -> Override {
    Override { item: item.into(), justification: "Hotfix for production incident INC-1234".into(), approver: approver.into() }
}

#[test]
fn soft_override_passes_and_is_recorded() {
    let ev = evidence(json!({"n": 50}));
    let c = checklist(EnforcementMode::Strict, vec![coverage_item(EnforcementMode::Soft)]);
    let v = evaluate(&c, &ev, &[ov("coverage", "bob")], Some("alice"), now());
    assert_eq!(v.verdict, Verdict::Warn);
    assert_eq!(v.items[0].effect, Effect::Overridden);
    assert_eq!(v.overrides.len(), 1);
    assert!(v.overrides[0].accepted);
    assert_eq!(v.overrides[0].request.approver, "bob");
}

#[test]
fn overrides_are_refused_with_a_reason() {
    let ev = evidence(json!({"n": 50}));
    let soft = checklist(EnforcementMode::Strict, vec![coverage_item(EnforcementMode::Soft)]);
    let strict = checklist(EnforcementMode::Strict, vec![coverage_item(EnforcementMode::Strict)]);
    let refused = |c: &Checklist, o: Override| {
        let v = evaluate(c, &ev, &[o], Some("alice"), now());
        assert_eq!(v.verdict, Verdict::Blocked);
        v.overrides.into_iter().next().and_then(|r| r.note).unwrap_or_default()
    };
    assert!(refused(&strict, ov("coverage", "bob")).contains("strict"));
    assert!(refused(&soft, ov("coverage", "alice")).contains("author"));
    assert!(refused(&soft, ov("coverage", " ")).contains("approver"));
    assert!(refused(&soft, Override { justification: "pls".into(), ..ov("coverage", "bob") }).contains("justification"));
    assert!(refused(&soft, ov("covrage", "bob")).contains("no checklist item"));
    let mut listed = soft.clone();
    listed.overrides.approvers = vec!["release-managers".into()];
    assert!(refused(&listed, ov("coverage", "bob")).contains("may not approve"));
}
