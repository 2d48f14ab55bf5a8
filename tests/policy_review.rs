//! The weekly policy review on the test endpoint: a week of releases is simulated into DynamoDB
//! (trails written as the functions write them, bucketed in the `by-week` index), then the
//! policy-review handler runs on the sample scheduled event and its report arrives over SNS,
//! with the trends over the weeks before, and its metrics as embedded metric format lines.

use policy_review::handler;
use rollgate::adapters::sns::SnsNotifier;
use rollgate::domain::plan::{PlanFormat, parse_plan};
use rollgate::review::{Direction, Figure};
use rollgate::simulate::{Scenario, SimOutcome, SimulatedRelease, simulate_into};
use rollgate_tests::{TestTable, aws, fixtures, read_json, repo};
use serde_json::Value;

const PLAN: &str = r#"
name: search
traffic:
  router: { type: dry_run }
  steps: [{ weight: 20, bake: 20m }, { weight: 100, bake: 20m }]
rollback: { restore_within: 2m }
analysis:
  interval: 5m
  min_samples: 3
  metrics:
    - name: latency_p99
      unit: ms
      query: { metric: { namespace: Search, name: Latency, stat: p99 }, canary: { Version: "{version}" } }
      must: { below: 800 }
"#;

async fn simulate(table: &TestTable, id: &str, version: &str, start: &str, scenario: &str) -> SimOutcome {
    let plan = parse_plan(PLAN, PlanFormat::Yaml).unwrap_or_else(|e| panic!("{e:?}"));
    let mut scenario: Scenario = rollgate::domain::yaml::from_str(scenario).unwrap_or_else(|e| panic!("{e}"));
    scenario.start = Some(start.parse().unwrap_or_else(|e| panic!("{e}")));
    let identity = SimulatedRelease { id: id.into(), service: "search".into(), environment: "production".into(), version: version.into() };
    simulate_into(&table.store, &identity, &plan, &scenario, None).await.unwrap_or_else(|e| panic!("{e}")).outcome
}

#[tokio::test]
async fn the_scheduled_review_publishes_last_weeks_report() {
    let table = TestTable::create().await;
    let config = aws().await;
    let slow = "metrics: { latency_p99: { canary: { level: 450, noise: 20, change: { at: 25m, to: 900 } } } }";
    let fine = "metrics: { latency_p99: { canary: { level: 450, noise: 20 } } }";
    // 2026-W47: 7.1 rolled back on Tuesday, then the same 7.1 promoted on Thursday.
    assert_eq!(simulate(&table, "search-tue", "7.1", "2026-11-17T10:00:00Z", slow).await, SimOutcome::RolledBack);
    assert_eq!(simulate(&table, "search-thu", "7.1", "2026-11-19T10:00:00Z", fine).await, SimOutcome::Promoted);
    // The week before and the week after are other reviews' business, but the week before is
    // in the trends: 7.0 promoted, and 7.1 rolled back, which its promotion in W47 shows was a
    // false positive.
    assert_eq!(simulate(&table, "search-w46", "7.0", "2026-11-12T10:00:00Z", fine).await, SimOutcome::Promoted);
    assert_eq!(simulate(&table, "search-w46b", "7.1", "2026-11-13T10:00:00Z", slow).await, SimOutcome::RolledBack);
    assert_eq!(simulate(&table, "search-w48", "7.2", "2026-11-24T10:00:00Z", fine).await, SimOutcome::Promoted);

    let topic = format!("rollgate-review-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let subscription = fixtures::topic_with_queue(&config, &topic, &topic).await;
    let publisher = SnsNotifier::new(aws_sdk_sns::Client::new(&config), &subscription.topic_arn);
    let scheduled = read_json(&repo().join("events/policy-review/scheduled.json"));
    let lines = std::sync::Mutex::new(Vec::<String>::new());
    let metrics = |line: &str| lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(line.to_string());
    let out = handler(scheduled, &table.store, &table.store, &publisher, &metrics).await.unwrap_or_else(|e| panic!("{}: {e}", e.name()));
    assert_eq!((out.week.to_string(), out.releases, out.rolled_back, out.likely_false_positives), ("2026-W47".into(), 2, 1, 1));
    let fp = out.trends.iter().find(|t| t.figure == Figure::FalsePositiveRate).unwrap_or_else(|| panic!("{:?}", out.trends));
    assert_eq!((fp.this_week, fp.previous.len(), fp.previous.last().and_then(|w| w.value)), (Some(1.0), 4, Some(1.0)));
    assert_eq!(fp.direction, Direction::Flat);

    // One EMF line for search in production, with this week's figures.
    let lines = lines.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    assert_eq!((lines.len(), out.metric_lines), (1, 1), "{lines:?}");
    let emf: Value = serde_json::from_str(&lines[0]).unwrap_or_else(|e| panic!("{e}: {}", lines[0]));
    assert_eq!(emf["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Rollgate/Review");
    assert_eq!(emf["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([["Service", "Environment"]]));
    assert_eq!(emf["_aws"]["Timestamp"], 1_795_392_000_000_i64, "the end of 2026-W47");
    assert_eq!(
        (emf["Service"].as_str(), emf["Environment"].as_str(), emf["Week"].as_str()),
        (Some("search"), Some("production"), Some("2026-W47"))
    );
    assert_eq!(
        (emf["Releases"].as_f64(), emf["Rollbacks"].as_f64(), emf["FalsePositiveRate"].as_f64()),
        (Some(2.0), Some(1.0), Some(100.0))
    );
    let published: Vec<&str> =
        emf["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().into_iter().flatten().filter_map(|m| m["Name"].as_str()).collect();
    assert_eq!(published, rollgate::review::emf::METRICS.iter().map(|(name, _)| *name).collect::<Vec<_>>());

    let envelopes = fixtures::received(&config, &subscription.queue_url).await;
    assert_eq!(envelopes.len(), 1, "{envelopes:?}");
    assert_eq!(envelopes[0]["Subject"], "[rollgate] weekly review 2026-W47: 2 releases, 1 rolled back, 0 blocked");
    assert_eq!(envelopes[0]["MessageAttributes"]["event"]["Value"], "weekly_review");
    let body: Value = serde_json::from_str(envelopes[0]["Message"].as_str().unwrap_or_default()).unwrap_or_default();
    assert_eq!(body["review"]["outcomes"]["promoted"], 1);
    assert_eq!(body["review"]["metrics"]["latency_p99"]["rollbacks"], 1);
    assert_eq!(body["review"]["history"][3]["week"], "2026-W46");
    assert_eq!(body["review"]["history"][3]["likely_false_positives"], 1, "W46's rollback of 7.1, promoted in W47");
    assert_eq!(body["review"]["trends"][2]["figure"], "false_positive_rate");
    let summary = body["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("search-tue (latency_p99): the same version 7.1 was released again unchanged and promoted (search-thu)"),
        "{summary}"
    );
    assert!(summary.contains("Trends (this week against the 4 week(s) before; lower is better):"), "{summary}");
    assert!(
        summary.contains("  false-positive rate: 100% this week; 2026-W43 -, 2026-W44 -, 2026-W45 -, 2026-W46 100%; flat (mean 100%)"),
        "{summary}"
    );
}

#[tokio::test]
async fn a_bad_request_is_refused_and_nothing_is_published() {
    let table = TestTable::create().await;
    let config = aws().await;
    let topic = format!("rollgate-review-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let subscription = fixtures::topic_with_queue(&config, &topic, &topic).await;
    let publisher = SnsNotifier::new(aws_sdk_sns::Client::new(&config), &subscription.topic_arn);
    let err = handler(serde_json::json!({"week": "last"}), &table.store, &table.store, &publisher, &|line| panic!("{line}")).await.err();
    assert_eq!(err.as_ref().map(|e| e.name()), Some("InvalidRequest"));
    assert!(err.is_some_and(|e| e.to_string().contains("like 2026-W47")));
    assert!(fixtures::received(&config, &subscription.queue_url).await.is_empty());
}
