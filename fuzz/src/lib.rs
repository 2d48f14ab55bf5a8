//! What the fuzz targets check besides "no panic": the same promises as the property tests
//! (`shared/tests/properties.rs`), as assertions a fuzzer can break. A broken one is a crash:
//! libFuzzer saves the input under `fuzz/artifacts/<target>/`; checked in as a corpus seed, it is
//! replayed by `cargo test` (shared/tests/fuzz_corpus.rs runs these checks and the targets in
//! `src/targets/` without libFuzzer).

use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};
use rollgate::domain::checklist::{ChecklistVerdict, Effect, Evidence, Finding, Override, Verdict};
use rollgate::domain::gate::{GateOutcome, GateVerdict, MetricOutcome, Observation, period};
use rollgate::domain::plan::{Analysis, Bounds, Checklist, EnforcementMode, MetricGate, Plan, PlanFormat, PlanIssue, Requirement};
use rollgate::domain::plan::{limits, parse_plan, validate};
use serde_json::Value;

/// The reference plans (examples/), as every target knows them.
pub const REFERENCE_PLANS: [&str; 3] = [
    include_str!("../../examples/greenlang-production-deploy.yaml"),
    include_str!("../../examples/vision-to-code-production.yaml"),
    include_str!("../../examples/greenlang-first-enforcement.yaml"),
];

/// A small plan for the simulator: two steps, one metric with a bound, a critical tier and a
/// baseline bound.
pub const SIM_PLAN: &str = "name: sim\ntraffic:\n  router: { type: dry_run }\n  steps: [{ weight: 10, bake: 10m }, { weight: 100, bake: 10m }]\n\
analysis:\n  interval: 5m\n  min_samples: 3\n  metrics:\n    - name: m\n      query: { metric: { namespace: N, name: M, stat: Average }, baseline: { V: \"{stable_version}\" } }\n      \
must: { below: 1 }\n      rollback_if: { above: 5 }\n      baseline: { max_increase: 0.5 }\n";

pub fn plan(text: &str) -> Plan {
    match parse_plan(text, PlanFormat::Yaml) {
        Ok(plan) => plan,
        Err(issues) => panic!("a reference plan does not validate: {issues:?}"),
    }
}

/// The reference plans, parsed once.
pub fn reference_plans() -> &'static [Plan] {
    static PLANS: OnceLock<Vec<Plan>> = OnceLock::new();
    PLANS.get_or_init(|| REFERENCE_PLANS.iter().map(|t| plan(t)).collect())
}

/// One runtime for the targets that run async code (the simulator).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => panic!("tokio: {e}"),
    })
}

pub fn at(text: &str) -> DateTime<Utc> {
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => t.with_timezone(&Utc),
        Err(e) => panic!("{text}: {e}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Plans

/// Rust's words that must never reach a person reading a plan's problems.
const RUST_WORDS: [&str; 7] = ["u32", "u64", "i64", "f64", "usize", "struct ", "enum "];

/// An accepted plan validates, reads back from its own JSON, holds only finite numbers and
/// bounded waits; a refusal has problems, each with a fix, in plain words.
pub fn check_plan_result(input: &str, result: &Result<Plan, Vec<PlanIssue>>) {
    match result {
        Ok(plan) => {
            assert_eq!(validate(plan), Vec::new(), "an accepted plan has problems");
            let json = serde_json::to_string(plan).unwrap_or_default();
            assert!(parse_plan(&json, PlanFormat::Json).is_ok(), "an accepted plan does not read back: {json}");
            assert!(finite_numbers(plan), "a number that is not finite in {plan:?}");
            assert!(plan.lock_lease() <= limits::LOCK_LEASE, "lock lease {}", plan.lock_lease());
            let mut previous = 0;
            for step in &plan.traffic.steps {
                assert!((1..=100).contains(&step.weight) && step.weight >= previous, "{:?}", plan.traffic.steps);
                assert!(step.bake <= limits::BAKE);
                previous = step.weight;
            }
        }
        Err(issues) => {
            assert!(!issues.is_empty(), "refused without a reason: {input:?}");
            for issue in issues {
                assert!(!issue.problem.trim().is_empty() && !issue.fix.trim().is_empty(), "{issue:?}");
                let said = issue.to_string();
                if !input.contains("u32") && !input.contains("u64") && !input.contains("i64") && !input.contains("f64") {
                    for word in RUST_WORDS.iter().filter(|w| !input.contains(**w)) {
                        assert!(!said.contains(word), "`{word}` in {said}");
                    }
                }
            }
        }
    }
}

pub fn finite_numbers(plan: &Plan) -> bool {
    let bounds = |b: &Bounds| [b.at_least, b.at_most, b.above, b.below].into_iter().flatten().all(f64::is_finite);
    let checklist = plan.checklist.items.iter().all(|item| match &item.require {
        Requirement::Number { at_least, at_most, above, below, .. } => {
            [*at_least, *at_most, *above, *below].into_iter().flatten().all(f64::is_finite)
        }
        _ => true,
    });
    let analysis = plan.analysis.as_ref().is_none_or(|a| {
        a.score.as_ref().is_none_or(|s| s.pass.is_finite() && s.marginal.is_finite())
            && a.metrics.iter().all(|m| {
                m.must.as_ref().is_none_or(bounds)
                    && m.rollback_if.as_ref().is_none_or(bounds)
                    && m.sustained.as_ref().is_none_or(|s| bounds(&s.bounds()))
                    && m.baseline.as_ref().is_none_or(|b| {
                        [b.max_increase, b.max_increase_pct, b.max_decrease, b.max_decrease_pct].into_iter().flatten().all(f64::is_finite)
                    })
                    && m.compare.as_ref().is_none_or(|c| {
                        c.confidence.is_finite()
                            && c.weight.is_finite()
                            && [c.allowed_effect, c.critical_effect].into_iter().flatten().all(f64::is_finite)
                    })
            })
    });
    checklist && analysis
}

// ---------------------------------------------------------------------------------------------
// The checklist

/// Everything the checklist's verdict promises: one explained line per item; missing or
/// malformed evidence never passes; overrides only for failed `soft` items, from an allowed
/// approver who is not the author, with a reason; the verdict is the worst effect.
pub fn check_checklist_verdict(
    checklist: &Checklist,
    evidence: &Evidence,
    overrides: &[Override],
    author: Option<&str>,
    v: &ChecklistVerdict,
) {
    assert_eq!(v.items.len(), checklist.items.len());
    let mut accepted: Vec<&str> = Vec::new();
    for record in v.overrides.iter().filter(|r| r.accepted) {
        let item = v.items.iter().find(|i| i.id == record.request.item);
        assert!(item.is_some_and(|i| i.mode == EnforcementMode::Soft && i.finding != Finding::Met), "{record:?} for {item:?}");
        let approver = record.request.approver.trim();
        assert!(!approver.is_empty(), "{record:?}");
        assert!(record.request.justification.trim().chars().count() >= 10, "{record:?}");
        assert!(author.is_none_or(|a| !a.trim().eq_ignore_ascii_case(approver)), "the author approved their own override: {record:?}");
        let allowed = &checklist.overrides.approvers;
        assert!(allowed.is_empty() || allowed.iter().any(|a| a.eq_ignore_ascii_case(approver)), "{record:?}");
        let unique_ids = checklist.items.iter().filter(|i| i.id == record.request.item).count() == 1;
        assert!(!unique_ids || !accepted.contains(&record.request.item.as_str()), "two overrides accepted: {record:?}");
        accepted.push(&record.request.item);
    }
    for (item, result) in checklist.items.iter().zip(&v.items) {
        assert_eq!(item.id, result.id);
        let mode = item.mode.unwrap_or(checklist.mode);
        assert_eq!(result.mode, mode);
        let allowed: &[Effect] = match (result.finding, mode) {
            (Finding::Met, _) => &[Effect::Passed],
            (_, EnforcementMode::Monitor) => &[Effect::Recorded],
            (_, EnforcementMode::Warn) => &[Effect::Warning],
            (_, EnforcementMode::Strict) => &[Effect::Blocked],
            (_, EnforcementMode::Soft) => &[Effect::Blocked, Effect::Overridden],
        };
        assert!(allowed.contains(&result.effect), "{result:?}");
        if result.effect == Effect::Overridden {
            assert!(accepted.contains(&result.id.as_str()), "overridden without an accepted override: {result:?}");
        }
        assert!(!result.rule.is_empty() && !result.detail.is_empty(), "{result:?}");
        if result.finding == Finding::Met {
            let given = |key: &str| evidence.get(key).filter(|v| !v.is_null());
            match &item.require {
                Requirement::Attestation { evidence: key } => assert_eq!(given(key), Some(&Value::Bool(true))),
                Requirement::Number { evidence: key, at_least, at_most, above, below, .. } => {
                    let n = given(key).and_then(Value::as_f64);
                    let bounds = Bounds { at_least: *at_least, at_most: *at_most, above: *above, below: *below };
                    assert!(n.is_some_and(|n| n.is_finite() && bounds.holds(n)), "{n:?} met {bounds:?}");
                }
                Requirement::Freshness { evidence: key, .. } | Requirement::Date { evidence: key, .. } => {
                    assert!(given(key).is_some_and(Value::is_string), "{result:?}")
                }
                Requirement::Count { evidence: key, at_least, .. } => {
                    let entries = given(key).and_then(Value::as_array).map_or(0, Vec::len);
                    assert!(entries as u64 >= u64::from(*at_least), "{entries} entries met at_least {at_least}");
                }
                Requirement::Incidents { evidence: key, .. } => assert!(given(key).is_some_and(Value::is_array), "{result:?}"),
                Requirement::Window { timezone, .. } => assert!(rollgate::domain::timezone::Zone::exists(timezone), "{result:?}"),
            }
        }
    }
    // Every request is answered, except those for a `monitor` or `warn` item that did not hold.
    let unanswered = overrides
        .iter()
        .filter(|o| {
            v.items
                .iter()
                .any(|i| i.id == o.item && i.finding != Finding::Met && matches!(i.mode, EnforcementMode::Monitor | EnforcementMode::Warn))
        })
        .count();
    let unique = checklist.items.iter().enumerate().all(|(n, i)| checklist.items.iter().skip(n + 1).all(|j| j.id != i.id));
    assert!(!unique || v.overrides.len() + unanswered == overrides.len(), "{:?} for {overrides:?}", v.overrides);
    let blocked = v.items.iter().any(|i| i.effect == Effect::Blocked);
    let flagged = v.items.iter().any(|i| matches!(i.effect, Effect::Warning | Effect::Overridden));
    let expected = if blocked {
        Verdict::Blocked
    } else if flagged {
        Verdict::Warn
    } else {
        Verdict::Pass
    };
    assert_eq!(v.verdict, expected);
    assert_eq!(v.lines().len(), v.items.len());
    let text = serde_json::to_string(v).unwrap_or_default();
    assert!(serde_json::from_str::<ChecklistVerdict>(&text).is_ok(), "the verdict does not read back: {text}");
}

// ---------------------------------------------------------------------------------------------
// The gate judge

/// The datapoints a check judges: inside the window, in a complete period.
pub fn judged(
    analysis: &Analysis,
    metric: &MetricGate,
    now: DateTime<Utc>,
    reading: Option<&[rollgate::domain::gate::Datapoint]>,
) -> Vec<f64> {
    let since = analysis.window.unwrap_or(analysis.interval).before(now);
    let complete = now - Duration::seconds(i64::from(period(metric)));
    reading.unwrap_or_default().iter().filter(|p| p.at >= since && p.at <= complete).map(|p| p.value).collect()
}

/// Never a pass on a judged value that is not finite, nor on too few datapoints; a passing
/// metric's mean is finite and within its bounds; the gate is never better than its worst metric.
pub fn check_gate_verdict(analysis: &Analysis, observation: &Observation, v: &GateVerdict) {
    assert_eq!(v.metrics.len(), analysis.metrics.len());
    for (metric, m) in analysis.metrics.iter().zip(&v.metrics) {
        let reading = observation.readings.get(&metric.name);
        let canary = judged(analysis, metric, observation.now, reading.map(|r| r.canary.as_slice()));
        let baseline = judged(analysis, metric, observation.now, reading.and_then(|r| r.baseline.as_deref()));
        let judges_baseline = metric.baseline.is_some() || metric.compare.is_some();
        let min_samples = metric.min_samples.unwrap_or(analysis.min_samples).max(1) as usize;
        if canary.iter().any(|v| !v.is_finite()) || (judges_baseline && baseline.iter().any(|v| !v.is_finite())) {
            assert_ne!(m.outcome, MetricOutcome::Pass, "{}", m.sentence);
            assert_ne!(v.outcome, GateOutcome::Pass, "{}", v.summary);
        }
        if canary.iter().filter(|v| v.is_finite()).count() < min_samples {
            assert_ne!(m.outcome, MetricOutcome::Pass, "missing data passed: {}", m.sentence);
        }
        if m.outcome == MetricOutcome::Pass {
            let mean = m.canary.map_or(f64::NAN, |c| c.value);
            assert!(mean.is_finite(), "{m:?}");
            assert!(
                metric.must.as_ref().is_none_or(|b| b.holds(mean)),
                "{} passed with mean {mean} against {:?}",
                metric.name,
                metric.must
            );
            assert!(metric.rollback_if.as_ref().is_none_or(|b| !b.holds(mean)), "{} passed in its rollback condition", metric.name);
            assert!(!judges_baseline || m.baseline.is_none_or(|b| b.value.is_finite()), "{m:?}");
        }
        let floor = match m.outcome {
            MetricOutcome::Pass => GateOutcome::Pass,
            MetricOutcome::Inconclusive => GateOutcome::Inconclusive,
            MetricOutcome::Fail => GateOutcome::Fail,
            MetricOutcome::Critical => GateOutcome::Critical,
        };
        assert!(v.outcome >= floor, "{:?} < {floor:?}", v.outcome);
    }
    let text = serde_json::to_string(v).unwrap_or_default();
    assert!(serde_json::from_str::<GateVerdict>(&text).is_ok(), "the verdict does not read back: {text}");
}

// ---------------------------------------------------------------------------------------------
// Text

/// A character a one-line subject may hold.
pub fn one_line(c: char) -> bool {
    !c.is_control() && !matches!(c, '\u{2028}' | '\u{2029}')
}

/// A subject is one line under SNS's 100 characters (counted in bytes), and `full` itself or a
/// cut of it on a character boundary, marked `…`.
pub fn check_subject(subject: &str, full: &str) {
    assert!(subject.len() < 100, "{} bytes: {subject:?}", subject.len());
    assert!(subject.chars().all(one_line), "a line break or control character in {subject:?}");
    let flat: String = full.chars().map(|c| if one_line(c) { c } else { ' ' }).collect();
    if flat.len() <= 99 {
        assert_eq!(subject, flat);
    } else {
        assert!(subject.strip_suffix('…').is_some_and(|k| flat.starts_with(k)), "{subject:?} is not a cut of {flat:?}");
    }
}
