//! The checked-in examples and schema stay true to the code.

use std::path::{Path, PathBuf};

use rollgate::domain::plan::{Plan, parse_plan_file};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn checked_in_schema_is_current() {
    let path = repo().join("schema/plan.schema.json");
    let stored: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_default()).unwrap_or_default();
    assert_eq!(
        stored,
        Plan::json_schema(),
        "schema/plan.schema.json is stale; regenerate it with `make schema` (cargo run -p rollgate-cli -- schema > schema/plan.schema.json)"
    );
}

#[test]
fn every_example_plan_validates() {
    let mut seen = 0;
    for entry in std::fs::read_dir(repo().join("examples")).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "yaml") {
            seen += 1;
            if let Err(issues) = parse_plan_file(&path) {
                panic!("{} does not validate:\n{}", path.display(), issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"));
            }
        }
    }
    assert!(seen >= 3, "expected the three reference plans under examples/, found {seen}");
}

#[test]
fn reference_plans_keep_the_seeds_numbers() {
    let plan = |name: &str| parse_plan_file(&repo().join("examples").join(name)).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    let steps = |p: &Plan| p.traffic.steps.iter().map(|s| (s.weight, s.bake.to_string())).collect::<Vec<_>>();

    let deploy = plan("greenlang-production-deploy.yaml");
    assert_eq!(steps(&deploy), [(10, "15m".into()), (25, "15m".into()), (50, "30m".into()), (100, "30m".into())]);
    let error_rate = deploy.analysis.as_ref().and_then(|a| a.metrics.iter().find(|m| m.name == "error_rate")).cloned();
    let error_rate = error_rate.unwrap_or_else(|| panic!("error_rate gate"));
    assert_eq!(error_rate.must.and_then(|b| b.below), Some(1.0));
    assert_eq!(error_rate.rollback_if.and_then(|b| b.above), Some(5.0));
    assert_eq!(error_rate.sustained.map(|s| (s.above, s.duration.to_string())), Some((Some(2.0), "15m".into())));

    let vision = plan("vision-to-code-production.yaml");
    assert_eq!(steps(&vision), [(5, "30m".into()), (10, "20m".into()), (25, "20m".into()), (50, "20m".into()), (100, "15m".into())]);
    assert_eq!(vision.approval_for_step(4).map(|a| a.approvers.clone()), Some(vec!["cto".to_string(), "vp-engineering".to_string()]));
    assert_eq!(vision.approval_for_step(0).map(|a| a.quorum), Some(2));

    let enforcement = plan("greenlang-first-enforcement.yaml");
    assert_eq!(enforcement.traffic.steps.len(), 4);
    assert_eq!(enforcement.checklist.items.len(), 29);
}

#[test]
fn the_broken_example_reports_every_problem_with_a_path() {
    let issues = parse_plan_file(&repo().join("examples/invalid/broken-plan.yaml")).err().unwrap_or_default();
    assert!(issues.len() >= 12, "{issues:?}");
    assert!(issues.iter().all(|i| !i.path.is_empty() && !i.fix.is_empty()), "{issues:?}");
    assert!(
        issues.iter().any(|i| i.to_string() == "traffic.steps[2].weight: 30 is below the previous step's 50; weights must not decrease")
    );
}
