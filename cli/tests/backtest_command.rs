//! `rollgate backtest` on a table holding releases the real flow ran (the simulator's tasks
//! writing to the local stack's DynamoDB), through the real binary.

use std::process::Command;

use rollgate::domain::plan::{PlanFormat, parse_plan};
use rollgate::simulate::{Scenario, SimOutcome, SimulatedRelease, simulate_into};
use rollgate_tests::TestTable;
use serde_json::{Value, json};

const PLAN: &str = "name: api\ntraffic: { router: { type: dry_run }, steps: [{ weight: 50, bake: 10m }, { weight: 100, bake: 10m }] }\n\
analysis: { interval: 5m, min_samples: 3, metrics: [{ name: errors, query: { metric: { namespace: Api, name: Errors, stat: Sum } }, must: { below: 10 } }] }\n";

fn backtest(table: &TestTable, plan: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .arg("backtest")
        .arg(plan)
        .args(["--table", table.store.table()])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("rollgate: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tightened_plan_says_which_past_releases_it_would_have_rolled_back_earlier() {
    let table = TestTable::create().await;
    let plan = parse_plan(PLAN, PlanFormat::Yaml).unwrap_or_else(|e| panic!("{e:?}"));
    let start = (chrono::Utc::now() - chrono::Duration::days(2)).to_rfc3339();
    for (id, service, environment, level, expected) in [
        ("api-1", "api", "prod", 3.0, SimOutcome::Promoted),
        ("api-2", "api", "prod", 30.0, SimOutcome::RolledBack),
        ("api-3", "api", "staging", 3.0, SimOutcome::Promoted),
        ("web-1", "web", "prod", 3.0, SimOutcome::Promoted),
    ] {
        let scenario: Scenario = serde_json::from_value(json!({"start": start, "metrics": {"errors": {"canary": {"level": level}}}}))
            .unwrap_or_else(|e| panic!("{e}"));
        let identity =
            SimulatedRelease { id: id.into(), service: service.into(), environment: environment.into(), version: format!("v-{id}") };
        let outcome = simulate_into(&table.store, &identity, &plan, &scenario, None).await.unwrap_or_else(|e| panic!("{e}")).outcome;
        assert_eq!(outcome, expected, "{id}");
    }
    let dir = std::env::temp_dir().join(format!("rollgate-backtest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let same = dir.join("same.yaml");
    let tightened = dir.join("tightened.yaml");
    std::fs::write(&same, PLAN).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&tightened, PLAN.replace("must: { below: 10 }", "must: { below: 2 }")).unwrap_or_else(|e| panic!("{e}"));

    // The tightened plan: the promoted release would have rolled back at its first check, on the
    // metric, its value and the new bound; the rolled-back one rolls back where it did.
    let text = backtest(&table, &tightened, &["--service", "api", "--environment", "prod"]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(text.status.success(), "{stdout}{}", String::from_utf8_lossy(&text.stderr));
    assert!(stdout.contains("on 2 release(s): 1 earlier, 0 not at all, 1 same, 0 not comparable"), "{stdout}");
    let line = stdout.lines().find(|l| l.starts_with("api-1")).unwrap_or_default();
    assert!(line.contains("promoted") && line.contains("rolls back at step 1 check 1") && line.ends_with("earlier"), "{stdout}");
    assert!(stdout.contains("new plan: errors: 3 (n=5) vs errors < 2"), "{stdout}");
    assert!(!stdout.contains("web-1") && !stdout.contains("api-3"), "{stdout}");

    let json = backtest(&table, &tightened, &["--service", "api", "--since", "7d", "--json"]);
    let parsed: Value = serde_json::from_slice(&json.stdout).unwrap_or_default();
    assert_eq!(parsed["service"], "api");
    assert_eq!(parsed["releases"].as_array().map(Vec::len), Some(3), "{parsed}");
    assert_eq!(parsed["earlier"], 2, "{parsed}");
    let first = &parsed["releases"][0];
    assert_eq!(first["new_plan"]["breaches"][0]["metric"], "errors", "{parsed}");
    assert_eq!(first["new_plan"]["breaches"][0]["bound"], "errors < 2", "{parsed}");

    // The plan the releases ran: every release the same.
    let unchanged = backtest(&table, &same, &["--service", "api", "--json"]);
    let parsed: Value = serde_json::from_slice(&unchanged.stdout).unwrap_or_default();
    assert_eq!((parsed["same"].as_u64(), parsed["earlier"].as_u64()), (Some(3), Some(0)), "{parsed}");

    // Nothing in the window, and a window out of range.
    let none = backtest(&table, &same, &["--service", "nobody"]);
    assert!(String::from_utf8_lossy(&none.stdout).contains("no ended releases of nobody"));
    let bad = backtest(&table, &same, &["--service", "api", "--since", "400d"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("give a duration from 1m to 366d"));
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_metric_the_releases_never_read_is_read_from_cloudwatch_at_each_checks_time() {
    let table = TestTable::create().await;
    let plan = parse_plan(PLAN, PlanFormat::Yaml).unwrap_or_else(|e| panic!("{e:?}"));
    let start = chrono::Utc::now() - chrono::Duration::days(2);
    let scenario: Scenario =
        serde_json::from_value(json!({"start": start.to_rfc3339(), "metrics": {"errors": {"canary": {"level": 3.0}}}}))
            .unwrap_or_else(|e| panic!("{e}"));
    let identity = SimulatedRelease { id: "api-1".into(), service: "api".into(), environment: "prod".into(), version: "v-1".into() };
    let outcome = simulate_into(&table.store, &identity, &plan, &scenario, None).await.unwrap_or_else(|e| panic!("{e}")).outcome;
    assert_eq!(outcome, SimOutcome::Promoted);

    // Latency, which the release's checks never read, at 500 ms through the release's hour, two
    // days ago, in CloudWatch (a namespace and dimension of this run's own).
    let run = uuid::Uuid::new_v4().simple().to_string();
    let namespace = format!("Backtest{run}");
    let config = rollgate_tests::aws().await;
    for quarter in 1..=4 {
        rollgate_tests::fixtures::put_latency(
            &config,
            &namespace,
            &[("Run", &run)],
            start + chrono::Duration::minutes(15 * quarter),
            |_| 500.0,
        )
        .await;
    }
    let latency = format!(
        "{{ name: latency, query: {{ metric: {{ namespace: {namespace}, name: Latency, stat: Average, dimensions: {{ Run: \"{run}\" }} }} }}, must: {{ below: 100 }} }}"
    );
    let dir = std::env::temp_dir().join(format!("rollgate-backtest-cw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let with_latency = dir.join("with-latency.yaml");
    std::fs::write(&with_latency, PLAN.replace("must: { below: 10 } }]", &format!("must: {{ below: 10 }} }}, {latency}]")))
        .unwrap_or_else(|e| panic!("{e}"));

    // Read again from CloudWatch: the new bound fails at the first check, on latency's 500 ms.
    let text = backtest(&table, &with_latency, &["--service", "api"]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(text.status.success(), "{stdout}{}", String::from_utf8_lossy(&text.stderr));
    assert!(stdout.contains("on 1 release(s): 1 earlier"), "{stdout}");
    assert!(stdout.contains("check(s) judged on datapoints read again from CloudWatch"), "{stdout}");
    assert!(stdout.contains("new plan: latency: 500 (n=") && stdout.contains(") vs latency < 100"), "{stdout}");

    // On the trail alone, latency is left out, and says so.
    let alone = backtest(&table, &with_latency, &["--service", "api", "--no-cloudwatch", "--json"]);
    let parsed: Value = serde_json::from_slice(&alone.stdout).unwrap_or_default();
    assert_eq!((parsed["same"].as_u64(), parsed["read_from_cloudwatch"].as_u64()), (Some(1), Some(0)), "{parsed}");
    let notes = parsed["releases"][0]["notes"].to_string();
    assert!(notes.contains("metric `latency` left out: the old checks did not read it"), "{parsed}");
    std::fs::remove_dir_all(&dir).ok();
}
