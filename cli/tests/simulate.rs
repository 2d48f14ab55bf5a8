//! `rollgate simulate` on every reference plan, healthy and failing, through the real binary.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn simulate(plan: &str, scenario: &str, chart: Option<&Path>) -> (serde_json::Value, Duration) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rollgate"));
    command.current_dir(repo()).args([
        "--json",
        "simulate",
        &format!("examples/{plan}.yaml"),
        "--scenario",
        &format!("examples/scenarios/{scenario}.yaml"),
    ]);
    if let Some(path) = chart {
        command.arg("--chart").arg(path);
    }
    let started = Instant::now();
    let output = command.output().unwrap_or_else(|e| panic!("rollgate: {e}"));
    let elapsed = started.elapsed();
    assert!(output.status.success(), "{plan} / {scenario}: {}", String::from_utf8_lossy(&output.stderr));
    (serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout))), elapsed)
}

fn check_failing(plan: &str, step: u64, reason_has: &[&str]) {
    let (sim, _) = simulate(plan, &format!("{plan}.failing"), None);
    assert_eq!(sim["outcome"], "rolled_back", "{sim:#}");
    assert_eq!(sim["final_step"], step, "{plan}: rolled back at the wrong step: {}", sim["reason"]);
    let reason = sim["reason"].as_str().unwrap_or_default();
    for part in reason_has {
        assert!(reason.contains(part), "{plan}: reason `{reason}` lacks `{part}`");
    }
}

#[test]
fn failing_scenarios_roll_back_at_the_step_and_for_the_reason_they_imply() {
    // Error rate 6.5% from minute 40: the 50% step (index 2), the critical tier (> 5%).
    check_failing("greenlang-production-deploy", 2, &["critical: error_rate", "rollback condition > 5%"]);
    // p99 climbs from 1h: the 25% step (index 2), the delta against blue.
    check_failing("vision-to-code-production", 2, &["latency_p99", "above baseline", "more than 10 ms"]);
    // Overrides at 30% half a day into soft enforcement: phase 3 (index 2).
    check_failing("greenlang-first-enforcement", 2, &["override_rate", "≥ 10%"]);
}

#[test]
fn healthy_scenarios_are_promoted_and_charted() {
    for plan in ["greenlang-production-deploy", "vision-to-code-production", "greenlang-first-enforcement"] {
        let chart = std::env::temp_dir().join(format!("rollgate-{plan}-{}.svg", std::process::id()));
        let (sim, _) = simulate(plan, &format!("{plan}.healthy"), Some(&chart));
        assert_eq!(sim["outcome"], "promoted", "{plan}: {}", sim["reason"]);
        let svg = std::fs::read_to_string(&chart).unwrap_or_default();
        assert!(svg.starts_with("<svg") && svg.contains("<polyline") && svg.contains("canary weight"), "{plan}: chart");
        let _ = std::fs::remove_file(&chart);
    }
}

#[test]
fn expect_fails_when_the_outcome_differs() {
    let output = Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .current_dir(repo())
        .args([
            "simulate",
            "examples/greenlang-production-deploy.yaml",
            "-s",
            "examples/scenarios/greenlang-production-deploy.failing.yaml",
            "--expect",
            "promoted",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("expected the simulation to end promoted (it ended rolled_back)"));
}

fn simulate_expecting(plan: &str, scenario: &str, expect: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .current_dir(repo())
        .args(["simulate", &format!("examples/{plan}.yaml"), "-s", &format!("examples/scenarios/{scenario}.yaml")])
        .args(expect)
        .output()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The example of each plan capability ends as its scenario says: the outcome, the step (as the
/// timeline counts) and the reason, checked by `--expect`, `--at-step` and `--reason`.
#[test]
fn capability_examples_end_at_the_step_and_for_the_reason_their_scenarios_say() {
    for (plan, scenario, outcome, step, reason) in [
        // Canary and production bounds: only production is breached, at the production step,
        // and the reason names the production bound.
        ("per-step-bounds", "healthy", "promoted", "4", "promoted"),
        ("per-step-bounds", "production-breach", "rolled_back", "3", "error_rate 1.2"),
        ("per-step-bounds", "production-breach", "rolled_back", "3", "≥ 0.5%"),
        // A watch after full traffic, with a metric of its own, still rolls back.
        ("per-step-bounds", "watch-breach", "rolled_back", "4", "throttles 40 > 10"),
        // A 0% step is judged like any other.
        ("shadow-then-canary", "healthy", "promoted", "4", "promoted"),
        ("shadow-then-canary", "shadow-failure", "rolled_back", "1", "index_lag"),
        // A comparison phase: both versions run, the new one's outputs compared with the old.
        ("side-by-side-comparison", "healthy", "promoted", "3", "promoted"),
        ("side-by-side-comparison", "drift", "rolled_back", "1", "invoice_total"),
        // Scenario changes timed from a step, several per series, a level then a ramp.
        ("per-step-bounds", "step-timed", "rolled_back", "3", "error_rate"),
        // Approvals in their decision window: refused before it and given in it; refused after
        // it, the approval expires.
        ("friday-go-no-go", "healthy", "promoted", "3", "promoted"),
        ("friday-go-no-go", "missed", "rolled_back", "2", "expired"),
        // A CloudWatch alarm in ALARM rolls back at the next check, naming it.
        ("alarm-stops-the-canary", "healthy", "promoted", "3", "promoted"),
        // A policy's freeze holds the release at 50% from 10:45 to 12:00: promoted an hour later.
        ("alarm-stops-the-canary", "freeze", "promoted", "3", "after 2h30m"),
        // Outside the policy's deploy windows the release holds its weight overnight.
        ("alarm-stops-the-canary", "after-hours", "promoted", "3", "after 23h30m"),
        // The alarm rolls back when it fires (10:42, EventBridge's rule), not at the next check (10:45).
        ("alarm-stops-the-canary", "alarm", "rolled_back", "2", "alarm `orders-api-p99-high` went to ALARM at 2026-11-30 10:42:00 UTC"),
        // Step hooks: a smoke suite before a shift, a load test once, a probe at every check. A
        // failure before the shift rolls back where the release stands (no user reached green),
        // a check's failure at that step; each with the hook's own output.
        ("smoke-tested-canary", "healthy", "promoted", "4", "promoted"),
        (
            "smoke-tested-canary",
            "smoke-failure",
            "rolled_back",
            "1",
            "before step 2's traffic shift, hook `smoke` failed: 2 of 41 smoke tests failed",
        ),
        ("smoke-tested-canary", "load-failure", "rolled_back", "3", "hook `load` failed: locust 150pct: p95 812 ms"),
        ("smoke-tested-canary", "silent-probe", "rolled_back", "2", "hook `health` gave no answer within 10s"),
        // Operators: a pause holds the weight and stops the bake clock (promoted 45 minutes later);
        // a failure while paused still rolls back; a skip and a promotion are taken by the next
        // passing check, with who asked and why.
        ("alarm-stops-the-canary", "paused", "promoted", "3", "after 2h15m"),
        ("alarm-stops-the-canary", "paused-failure", "rolled_back", "2", "error_rate"),
        ("alarm-stops-the-canary", "hotfix", "promoted", "2", "after 10m"),
        // A pause nobody resumes ends: the release rolls back when it lapses.
        ("alarm-stops-the-canary", "forgotten-pause", "rolled_back", "2", "not resumed by 2026-11-30 11:10 UTC"),
        // A rejection's comment is the reason.
        ("greenlang-production-deploy", "rejected", "rolled_back", "1", "error budget for November is spent"),
    ] {
        let output = simulate_expecting(plan, &format!("{plan}.{scenario}"), &["--expect", outcome, "--at-step", step, "--reason", reason]);
        assert!(output.status.success(), "{plan} / {scenario}: {}", String::from_utf8_lossy(&output.stderr));
    }
}

#[test]
fn expect_fails_when_the_step_or_the_reason_differs() {
    let output = simulate_expecting(
        "per-step-bounds",
        "per-step-bounds.production-breach",
        &["--expect", "rolled_back", "--at-step", "2", "--reason", "latency"],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "to end at step 2 (it ended at step 3) and to end with a reason containing `latency`; its reason: gate failed: error_rate"
        ),
        "{stderr}"
    );
}

#[test]
fn recorded_datapoints_replay_an_incident() {
    let (sim, _) = simulate("greenlang-production-deploy", "greenlang-production-deploy.incident-replay", None);
    assert_eq!(sim["outcome"], "rolled_back", "{sim:#}");
    // The incident starts at 09:48, during the 50% step (index 2), and the plan catches it there.
    assert_eq!(sim["final_step"], 2, "{}", sim["reason"]);
    assert!(sim["reason"].as_str().is_some_and(|r| r.contains("error_rate")), "{}", sim["reason"]);
    // Before the incident the replayed checks pass on the recorded values.
    let checks: Vec<&Value> = sim["timeline"].as_array().into_iter().flatten().filter(|e| e["kind"] == "check").collect();
    let first = checks
        .first()
        .and_then(|c| c["metrics"].as_array())
        .and_then(|m| m.iter().find(|m| m["metric"] == "error_rate"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(first["outcome"], "pass", "{first}");
    assert!(first["canary"].as_f64().is_some_and(|v| (0.2..0.4).contains(&v)), "{first}");
}

/// `simulate --json` carries the audit trail a deployed release writes, in the same schema as
/// `rollgate history --json`: the admission, every verdict, weight change and notification.
#[test]
fn the_json_output_carries_the_audit_trail() {
    let (sim, _) = simulate("greenlang-production-deploy", "greenlang-production-deploy.failing", None);
    let kinds: Vec<&str> = sim["trail"].as_array().into_iter().flatten().filter_map(|e| e["type"].as_str()).collect();
    for kind in ["admitted", "checklist_judged", "weight_changed", "gate_judged", "decided", "notified", "rolled_back", "closed"] {
        assert!(kinds.contains(&kind), "no {kind} in the trail: {kinds:?}");
    }
    assert_eq!(kinds.first(), Some(&"admitted"));
    assert_eq!(kinds.last(), Some(&"notified"), "the rollback notification ends the trail: {kinds:?}");
    let verdict = sim["trail"].as_array().into_iter().flatten().find(|e| e["type"] == "gate_judged").cloned().unwrap_or_default();
    assert!(verdict["detail"]["verdict"]["metrics"][0]["sentence"].is_string(), "a verdict carries its explanation: {verdict}");
    // The simulated execution went through the deployed state machine's states.
    let states: Vec<&str> = sim["states"].as_array().into_iter().flatten().filter_map(|s| s.as_str()).collect();
    assert_eq!(states.first(), Some(&"ValidateChecklist"));
    assert_eq!(states.last(), Some(&"RolledBack"));
}
