//! `rollgate cost` through the real binary: the usage it prices is the simulator's measurement of
//! the same release, and the bill adds up.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn rollgate(args: &[&str]) -> Output {
    let output =
        Command::new(env!("CARGO_BIN_EXE_rollgate")).current_dir(repo()).args(args).output().unwrap_or_else(|e| panic!("rollgate: {e}"));
    assert!(output.status.success(), "rollgate {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

fn json(args: &[&str]) -> Value {
    let output = rollgate(args);
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

const PLAN: &str = "examples/greenlang-production-deploy.yaml";
const EVIDENCE: &str = "examples/evidence/greenlang-release-ready.yaml";

#[test]
fn the_cost_of_a_release_is_the_simulators_measurement_priced() {
    let scenario = "examples/scenarios/greenlang-production-deploy.healthy.yaml";
    let cost = json(&["--json", "cost", PLAN, "--scenario", scenario]);
    let simulation = json(&["--json", "simulate", PLAN, "--scenario", scenario]);
    assert_eq!(cost["outcome"], "promoted", "{cost:#}");
    assert_eq!(cost["usage"], simulation["usage"], "cost prices what the simulator measured");
    let usage = &cost["usage"];
    let transitions = usage["state_transitions"].as_u64().unwrap_or_default();
    assert_eq!(transitions, simulation["states"].as_array().map_or(0, |s| s.len() as u64), "every state entered is a transition");
    let checks = usage["lambda_invocations"]["MetricGate"].as_u64().unwrap_or_default();
    let judged = simulation["trail"].as_array().map_or(0, |t| t.iter().filter(|e| e["type"] == "gate_judged").count() as u64);
    assert!(checks > 0 && checks >= judged, "{checks} MetricGate invocations, {judged} gate_judged events");
    let calls = usage["get_metric_data_calls"].as_u64().unwrap_or_default();
    let metrics = usage["metrics_requested"].as_u64().unwrap_or_default();
    assert!(calls >= judged && metrics > calls, "{calls} calls, {metrics} metrics");
    assert!(usage["dynamodb_write_units"].as_u64().unwrap_or_default() > 0 && usage["sns_publishes"].as_u64().unwrap_or_default() > 0);
    assert!(usage["api_requests"].as_u64().unwrap_or_default() >= 1, "the go/no-go vote came through the HTTP API");

    let bill = &cost["bill"];
    let lines = bill["lines"].as_array().cloned().unwrap_or_default();
    let sum: f64 = lines.iter().filter_map(|l| l["dollars"].as_f64()).sum();
    let total = bill["total"].as_f64().unwrap_or_default();
    assert!((sum - total).abs() < 1e-12 && total > 0.0 && total < 1.0, "{bill:#}");
    let dollars: Vec<f64> = lines.iter().filter_map(|l| l["dollars"].as_f64()).collect();
    assert!(dollars.windows(2).all(|w| w[0] >= w[1]), "most expensive first: {dollars:?}");
    let step_functions = lines.iter().find(|l| l["service"] == "Step Functions").and_then(|l| l["dollars"].as_f64());
    assert_eq!(step_functions, Some(transitions as f64 * 0.000025), "us-east-1: $0.025 per 1,000 state transitions");
}

#[test]
fn the_default_scenario_is_a_healthy_release_once_the_checklist_has_its_evidence() {
    let cost = json(&["--json", "cost", PLAN, "--evidence", EVIDENCE, "--per-month", "100"]);
    assert_eq!(cost["outcome"], "promoted", "{cost:#}");
    let total = cost["bill"]["total"].as_f64().unwrap_or_default();
    assert!((cost["per_month"].as_f64().unwrap_or_default() - 100.0 * total).abs() < 1e-9, "{cost:#}");

    let text = String::from_utf8_lossy(&rollgate(&["cost", PLAN, "--evidence", EVIDENCE, "--per-month", "100"]).stdout).to_string();
    assert!(text.starts_with("one release of `"), "{text}");
    for part in ["us-east-1 list prices of", "Step Functions", "state transitions", "GetMetricData", "100 releases a month: $", "assumed:"]
    {
        assert!(text.contains(part), "`{part}` missing:\n{text}");
    }
}

#[test]
fn without_evidence_a_checklist_blocks_and_the_output_says_how_to_cost_a_release_that_runs() {
    let cost = json(&["--json", "cost", PLAN]);
    assert_eq!(cost["outcome"], "blocked", "{cost:#}");
    let text = String::from_utf8_lossy(&rollgate(&["cost", PLAN]).stdout).to_string();
    assert!(text.contains("--evidence FILE"), "{text}");
}

/// Issue #12's goal: a two-hour, five-step canary judging six metrics against the stable version
/// costs under $0.02 a release.
#[test]
fn a_two_hour_five_step_canary_with_six_metrics_costs_under_two_cents() {
    let cost = json(&["--json", "cost", "examples/cost/canary-2h-5-steps-6-metrics.yaml"]);
    assert_eq!(cost["outcome"], "promoted", "{cost:#}");
    assert!(cost["duration_secs"].as_u64().is_some_and(|s| s >= 7200), "{}", cost["duration_secs"]);
    let total = cost["bill"]["total"].as_f64().unwrap_or(f64::MAX);
    assert!(total < 0.02, "${total} a release: {:#}", cost["bill"]);
}
