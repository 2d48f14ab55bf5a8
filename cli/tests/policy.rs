//! `rollgate policy check` through the binary: a plan against the example policy, offline.

use std::path::Path;
use std::process::{Command, Output};

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn check(policy: &str, plan: &str, at: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .current_dir(repo())
        .args(["policy", "check", policy, plan, "--at", at])
        .output()
        .unwrap_or_else(|e| panic!("rollgate: {e}"))
}

const POLICY: &str = "examples/policies/orders-api-production.yaml";

#[test]
fn a_plan_that_meets_the_policy_passes_and_a_weaker_one_is_told_every_rule_it_breaks() {
    let ok = check(POLICY, "examples/alarm-stops-the-canary.yaml", "2026-12-01T10:00:00Z");
    let said = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{said}");
    assert!(said.starts_with("ok    plan `orders-api-production` meets the policy of orders-api in production"), "{said}");

    let weak = check(POLICY, "examples/per-step-bounds.yaml", "2026-12-01T10:00:00Z");
    let said = String::from_utf8_lossy(&weak.stdout);
    assert_eq!(weak.status.code(), Some(1), "{said}");
    for line in [
        "refused: plan `checkout-api-production` breaks 2 rule(s) of the policy of orders-api in production:",
        "  policy metrics[0].must: `error_rate` at steps 1, 2: below 3 is looser than the policy's below 2; use below 2 or stricter",
        "  policy rollback_alarms[0]: the plan does not list the alarm `orders-api-5xx-high`; add `orders-api-5xx-high` to rollback_alarms",
    ] {
        assert!(said.lines().any(|l| l == line), "missing `{line}` in:\n{said}");
    }

    let frozen = check(POLICY, "examples/alarm-stops-the-canary.yaml", "2026-12-22T10:00:00Z");
    let said = String::from_utf8_lossy(&frozen.stdout);
    assert_eq!(frozen.status.code(), Some(1), "{said}");
    assert!(said.contains("deploys are frozen until 2027-01-04 00:00 UTC: year-end freeze: payments peak"), "{said}");
}

#[test]
fn a_broken_policy_is_refused_with_its_path_and_each_problem() {
    let dir = std::env::temp_dir().join(format!("rollgate-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("broken.yaml");
    std::fs::write(&path, "service: ''\nenvironment: production\nfirst_step_at_most: 0\nmetrics: [{ name: latency }]\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let out = check(&path.display().to_string(), "examples/alarm-stops-the-canary.yaml", "2026-12-01T10:00:00Z");
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    for expected in [
        "3 problem(s)",
        "policy service: is empty",
        "policy metrics[0]: sets no bound",
        "policy first_step_at_most: must be between 1 and 100",
    ] {
        assert!(said.contains(expected), "missing `{expected}` in:\n{said}");
    }
    assert!(!said.contains("panicked"), "{said}");
}

/// `simulate --policy`: the deployed admission under the policy, so a weaker plan is refused
/// before it runs, with the rules.
#[test]
fn a_simulation_under_the_policy_refuses_a_weaker_plan_with_the_rules() {
    let out = Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .current_dir(repo())
        .args(["simulate", "examples/per-step-bounds.yaml", "-s", "examples/scenarios/per-step-bounds.healthy.yaml", "--policy", POLICY])
        .output()
        .unwrap_or_else(|e| panic!("rollgate: {e}"));
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("the execution ended in Refused (Refused): the plan is weaker than the platform policy of orders-api in production"),
        "{said}"
    );
    assert!(said.contains("policy metrics[0].must: `error_rate` at steps 1, 2: below 3 is looser than the policy's below 2"), "{said}");
}
