//! `rollgate review` on a table holding a simulated week of releases, through the real binary.

use std::process::Command;

use rollgate::domain::plan::{PlanFormat, parse_plan};
use rollgate::simulate::{Scenario, SimOutcome, SimulatedRelease, simulate_into};
use rollgate_tests::TestTable;
use serde_json::{Value, json};

fn review(table: &TestTable, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args(["review", "--table", table.store.table()])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("rollgate: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_review_of_a_week_reads_the_table() {
    let table = TestTable::create().await;
    let plan = parse_plan(
        "name: api\ntraffic: { router: { type: dry_run }, steps: [{ weight: 50, bake: 10m }, { weight: 100, bake: 10m }] }\n\
analysis: { interval: 5m, min_samples: 3, metrics: [{ name: errors, query: { metric: { namespace: Api, name: Errors, stat: Sum } }, must: { below: 10 } }] }\n",
        PlanFormat::Yaml,
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    for (id, start, level, expected) in
        [("api-1", "2026-11-02T10:00:00Z", 3.0, SimOutcome::Promoted), ("api-2", "2026-11-04T10:00:00Z", 30.0, SimOutcome::RolledBack)]
    {
        let scenario: Scenario = serde_json::from_value(json!({"start": start, "metrics": {"errors": {"canary": {"level": level}}}}))
            .unwrap_or_else(|e| panic!("{e}"));
        let identity = SimulatedRelease { id: id.into(), service: "api".into(), environment: "prod".into(), version: id.into() };
        let outcome = simulate_into(&table.store, &identity, &plan, &scenario, None).await.unwrap_or_else(|e| panic!("{e}")).outcome;
        assert_eq!(outcome, expected, "{id}");
    }

    let text = review(&table, &["--week", "2026-W45"]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(text.status.success(), "{stdout}{}", String::from_utf8_lossy(&text.stderr));
    assert!(stdout.contains("2 releases: 1 promoted, 1 rolled back"), "{stdout}");
    assert!(stdout.contains("errors: "), "{stdout}");

    let json = review(&table, &["--week", "2026-W45", "--json"]);
    let parsed: Value = serde_json::from_slice(&json.stdout).unwrap_or_default();
    assert_eq!(parsed["week"], "2026-W45");
    assert_eq!(parsed["metrics"]["errors"]["rollbacks"], 1);
    // The trends: W45 beside the 4 weeks before it (empty here), and its figures per service.
    let weeks: Vec<&str> = parsed["history"].as_array().into_iter().flatten().filter_map(|w| w["week"].as_str()).collect();
    assert_eq!(weeks, ["2026-W41", "2026-W42", "2026-W43", "2026-W44", "2026-W45"]);
    assert_eq!(parsed["trends"][0]["figure"], "gate_failure_rate");
    assert_eq!(parsed["trends"][0]["direction"], "no_history");
    assert_eq!((parsed["services"][0]["service"].as_str(), parsed["services"][0]["figures"]["rollbacks"].as_u64()), (Some("api"), Some(1)));
    assert!(stdout.contains("Trends (this week against the 4 week(s) before; lower is better):"), "{stdout}");
    assert!(stdout.contains("no earlier week to compare with"), "{stdout}");

    let one = review(&table, &["--week", "2026-W46", "--previous-weeks", "1", "--json"]);
    let parsed: Value = serde_json::from_slice(&one.stdout).unwrap_or_default();
    assert_eq!(parsed["history"].as_array().map(Vec::len), Some(2));
    assert_eq!(parsed["history"][0]["rollbacks"], 1, "W45 seen from W46");
    assert_eq!(parsed["trends"][3]["direction"], "no_data", "nothing rolled back in W46");
    let too_many = review(&table, &["--week", "2026-W46", "--previous-weeks", "13"]);
    assert_eq!(too_many.status.code(), Some(2));

    let empty = review(&table, &["--week", "2026-W44"]);
    assert!(String::from_utf8_lossy(&empty.stdout).contains("0 releases"));
    let bad = review(&table, &["--week", "last"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("write it like 2026-W47"));
}
