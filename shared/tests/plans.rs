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
    assert_eq!(vision.approval_for_step(4).map(|a| a.approvers.clone()), Some(vec!["U0CTO".to_string(), "U0VPENG".to_string()]));
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

// ---------------------------------------------------------------------------------------------
// Hostile and absurd plans: refused with a path, quickly, without panicking.

mod hostile {

    use rollgate::domain::plan::{Plan, PlanFormat, parse_plan, parse_plan_file};

    const BASE: &str = "name: t\ntraffic:\n  router: { type: dry_run }\n  steps:\n";

    /// Every issue as `rollgate validate` prints it. How fast these answer is measured by
    /// `make bench` (benches/plans_and_simulation.rs), not timed here.
    fn issues(text: &str) -> Vec<String> {
        let result = parse_plan(text, PlanFormat::Yaml);
        result.err().unwrap_or_default().iter().map(ToString::to_string).collect()
    }

    fn metric(criteria: &str) -> String {
        format!(
            "{BASE}    - {{ weight: 10, bake: 15m }}\nanalysis:\n  interval: 5m\n  metrics:\n    - name: error_rate\n      \
             query: {{ metric: {{ namespace: AWS/Lambda, name: Errors, stat: Sum }}, baseline: {{ Version: \"{{stable_version}}\" }} }}\n{criteria}"
        )
    }

    /// The regression: `.nan` used to become null, so the bound vanished and an 80%-error canary
    /// passed `must: { at_least: 0 }` and was promoted.
    #[test]
    fn a_nan_bound_is_refused_with_its_path() {
        let found = issues(&metric("      must: { below: .nan, at_least: 0 }\n"));
        assert_eq!(found, vec!["analysis.metrics[0].must.below: .nan is not a number; give a finite bound"]);
    }

    #[test]
    fn no_number_anywhere_in_a_plan_may_be_non_finite() {
        let criteria = "      must: { at_most: .inf }\n      rollback_if: { above: -.inf }\n      sustained: { above: .NaN, for: 15m }\n      \
                        baseline: { max_increase_pct: .Inf }\n      compare: { confidence: .nan, allowed_effect: .inf, critical_effect: 1e999, weight: .nan }\n";
        let text = format!(
            "{}  score: {{ pass: .nan, marginal: .inf }}\nchecklist:\n  items:\n    - {{ id: cov, require: {{ kind: number, evidence: c, at_least: .nan }} }}\n",
            metric(criteria)
        );
        let found = issues(&text);
        for path in [
            "analysis.metrics[0].must.at_most",
            "analysis.metrics[0].rollback_if.above",
            "analysis.metrics[0].sustained.above",
            "analysis.metrics[0].baseline.max_increase_pct",
            "analysis.metrics[0].compare.confidence",
            "analysis.metrics[0].compare.allowed_effect",
            "analysis.metrics[0].compare.critical_effect",
            "analysis.metrics[0].compare.weight",
            "analysis.score.pass",
            "analysis.score.marginal",
            "checklist.items[0].require.at_least",
        ] {
            assert!(found.iter().any(|i| i.starts_with(&format!("{path}: ")) && i.contains("not a")), "{path} missing in {found:#?}");
        }
        // Written as text they are only text, and where a number is meant that is its own error.
        let quoted = issues(&metric("      must: { below: \".nan\" }\n"));
        assert!(quoted.iter().any(|i| i.starts_with("analysis.metrics[0].must.below: \".nan\" is not a number")), "{quoted:?}");
    }

    #[test]
    fn an_absurd_bake_is_refused_with_its_path_and_the_limit() {
        let found = issues(&format!("{BASE}    - {{ weight: 10, bake: 300000000d }}\n"));
        assert_eq!(
            found,
            vec![
                "traffic.steps[0].bake: 300000000d is longer than 30d, the longest a step may bake; bake at most 30d; split a longer soak into several steps"
            ]
        );
        // Too long for humantime itself (it overflows): refused as a duration, no panic.
        let found = issues(&format!("{BASE}    - {{ weight: 10, bake: 300000000000000000000000000d }}\n"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("traffic.steps[0].bake: `300000000000000000000000000d` is far too long to be a duration"),
            "{found:?}"
        );
        // The largest duration humantime can hold: refused, and the lock lease saturates.
        let found = issues(&format!("{BASE}    - {{ weight: 10, bake: 18446744073709551615s }}\n"));
        assert!(found.iter().any(|i| i.starts_with("traffic.steps[0].bake: ") && i.contains("longer than 30d")), "{found:?}");
    }

    #[test]
    fn a_plan_that_skipped_validation_cannot_overflow_its_lock_lease() {
        let plan: Result<Plan, _> = serde_json::from_value(serde_json::json!({
            "name": "t",
            "traffic": { "router": { "type": "dry_run" }, "steps": [{ "weight": 10, "bake": "18446744073709551615s" }] }
        }));
        let plan = plan.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.lock_lease().as_secs(), u64::MAX);
    }

    #[test]
    fn every_duration_is_bounded_and_the_limit_is_named() {
        let text = format!(
            "{BASE}    - {{ weight: 10, bake: 31d, approval: go }}\n    - {{ weight: 100, bake: 30d }}\n\
             analysis:\n  interval: 2d\n  window: 3d\n  metrics:\n    - name: e\n      query: {{ metric: {{ namespace: A, name: E, stat: Sum }}, period: 2d }}\n      must: {{ below: 1 }}\n\
             approvals:\n  - {{ id: go, approvers: [a], timeout: 8d }}\n\
             checklist:\n  items:\n    - {{ id: backup, require: {{ kind: freshness, evidence: b, max_age: 3651d }} }}\n    - {{ id: cert, require: {{ kind: date, evidence: c, min_remaining: 4000d }} }}\n    \
             - {{ id: inc, require: {{ kind: incidents, evidence: i, severity_at_or_above: P1, within: 5000d }} }}\n\
             rollback: {{ restore_within: 2d }}\n"
        );
        let found = issues(&text);
        for (path, limit) in [
            ("traffic.steps[0].bake", "30d"),
            ("analysis.interval", "1d"),
            ("analysis.window", "1d"),
            ("analysis.metrics[0].query.period", "1d"),
            ("approvals[0].timeout", "7d"),
            ("checklist.items[0].require.max_age", "3650d"),
            ("checklist.items[1].require.min_remaining", "3650d"),
            ("checklist.items[2].require.within", "3650d"),
            ("rollback.restore_within", "1d"),
        ] {
            assert!(
                found.iter().any(|i| i.starts_with(&format!("{path}: ")) && i.contains(&format!("longer than {limit}"))),
                "{path} (limit {limit}) missing in {found:#?}"
            );
        }
        // Within every limit, but together longer than a release may take.
        let long = format!(
            "{BASE}    - {{ weight: 10, bake: 30d, approval: go }}\n    - {{ weight: 50, bake: 30d }}\n    - {{ weight: 100, bake: 30d }}\n\
             approvals:\n  - {{ id: go, approvers: [a], timeout: 7d }}\n"
        );
        let found = issues(&long);
        assert_eq!(
            found,
            vec![
                "traffic.steps: the bakes and approval timeouts add up to 97d, longer than 90d, the longest a release may take; \
                  shorten the bakes or the approval timeouts, or split the rollout into several releases"
            ]
        );
    }

    #[test]
    fn deep_nesting_is_refused_by_the_depth_cap() {
        for text in
            ["{a: ".repeat(100_000), "[".repeat(100_000), "- ".repeat(100_000), format!("name: {}1{}", "[".repeat(64), "]".repeat(64))]
        {
            let found = issues(&text);
            assert_eq!(found.len(), 1, "{found:?}");
            assert!(found[0].contains("nested more than 64 levels deep"), "{found:?}");
            assert!(found[0].starts_with("line 1 column "), "{found:?}");
        }
        let mut block = String::from("name: t\ndescription:\n");
        for depth in 1..200 {
            block.push_str(&format!("{}a{depth}:\n", "  ".repeat(depth)));
        }
        let found = issues(&block);
        assert!(found[0].contains("nested more than 64 levels deep"), "{found:?}");
    }

    #[test]
    fn huge_files_are_refused_by_size_before_reading_them_whole() {
        let path = std::env::temp_dir().join(format!("rollgate-huge-plan-{}.yaml", std::process::id()));
        let text = format!("name: t\ndescription: \"{}\"\n", "a".repeat(4 << 20));
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{e}"));
        let found: Vec<String> = parse_plan_file(&path).err().unwrap_or_default().iter().map(ToString::to_string).collect();
        let _ = std::fs::remove_file(&path);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("more than the 1 MiB"), "{found:?}");
        // Text already in memory is capped the same way, JSON too.
        assert!(issues(&text)[0].contains("more than the 1 MiB"));
        let json = parse_plan(&format!("{{\"name\": \"{}\"}}", "a".repeat(2 << 20)), PlanFormat::Json).err().unwrap_or_default();
        assert!(json[0].problem.contains("more than the 1 MiB"), "{json:?}");
    }

    #[test]
    fn a_large_plan_with_many_mistakes_stops_after_a_hundred_issues() {
        let mut text = String::from(BASE);
        text.push_str("    - { weight: 10, bake: 15m }\nchecklist:\n  items:\n");
        for i in 0..3_000 {
            text.push_str(&format!("    - {{ id: item-{i}, colour: red, require: {{ kind: attestation, evidence: e{i} }} }}\n"));
        }
        for i in 0..40 {
            text.push_str(&format!("extra_{i}: 1\n"));
        }
        let found = issues(&text);
        assert_eq!(found.len(), 101, "{found:#?}");
        assert!(found[0].starts_with("checklist.items[0].colour: `colour` is not a checklist item field"), "{found:#?}");
        assert_eq!(found[100], "plan: more problems may follow (stopped after the first 100); fix these and validate again");
    }

    #[test]
    fn structural_mistakes_are_worded_without_rust_types_and_reported_together() {
        let text = "name: t\ntraffic:\n  router: { type: dryrun }\n  steps:\n    - { weight: lots, bake: 5m, colour: red }\n    - { weight: 20, bake: 15 }\n    \
                    - { wieght: 30, bake: 5m }\napprovals:\n  - { id: go, approvers: [a], quorum: two, timeout: 1h }\nnotifications: { events: [started, bogus] }\n";
        let found = issues(text);
        assert_eq!(
            found,
            vec![
                "traffic.router.type: `dryrun` is not a router type; did you mean `dry_run`? Use one of lambda_alias, alb, webhook, dry_run",
                "traffic.steps[0].colour: `colour` is not a step field; Step fields are name, weight, bake, approval, analysis, hooks",
                "traffic.steps[0].weight: `lots` is not a whole number of percent; write a whole number like 10",
                "traffic.steps[1].bake: `15` has no unit; write 15s, 15m, 15h or 15d",
                "traffic.steps[2].wieght: `wieght` is not a step field; did you mean `weight`? Step fields are name, weight, bake, approval, analysis, hooks",
                "approvals[0].quorum: \"two\" is not a whole number; `quorum` is a whole number of approvals, like 2",
                "notifications.events[1]: `bogus` is not a notification event; use one of started, step_advanced, waiting_for_approval, promoted, blocked, rolled_back",
            ]
        );
        for rust in ["u32", "u64", "f64", "struct ", "enum ", "a string", "sequence"] {
            assert!(found.iter().all(|i| !i.contains(rust)), "`{rust}` in {found:#?}");
        }
    }

    #[test]
    fn a_percent_sign_in_a_weight_is_read_as_the_number() {
        let plan =
            parse_plan(&format!("{BASE}    - {{ weight: 10%, bake: 5m }}\n    - {{ weight: \"100 %\", bake: 5m }}\n"), PlanFormat::Yaml);
        assert_eq!(plan.map(|p| p.traffic.steps.iter().map(|s| s.weight).collect::<Vec<_>>()), Ok(vec![10, 100]));
        let found = issues(&format!(
            "{BASE}    - {{ weight: 10, bake: 5m, approval: go }}\napprovals:\n  - {{ id: go, approvers: [a], quorum: 50%, timeout: 1h }}\n"
        ));
        assert_eq!(found, vec!["approvals[0].quorum: \"50%\" is not a whole number; write 50, without `%`"]);
    }
}
