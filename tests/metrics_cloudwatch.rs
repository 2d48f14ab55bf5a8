//! Metric data put into CloudWatch on the test endpoint, read back through the adapter, judged.
//! (The emulator computes no percentiles or metric math; those request shapes are unit-tested
//! in `rollgate::domain::query`.)

use chrono::{Duration, DurationRound, Utc};
use rollgate::adapters::cloudwatch::CloudWatchSource;
use rollgate::domain::gate::{GateOutcome, MetricOutcome, judge};
use rollgate::domain::plan::{PlanFormat, parse_plan};
use rollgate::domain::query::QueryContext;
use rollgate::flow::gate_check::observe;
use rollgate_tests::{aws, fixtures};

#[tokio::test]
async fn canary_and_baseline_are_read_back_and_judged() {
    let config = aws().await;
    let client = aws_sdk_cloudwatch::Client::new(&config);
    let namespace = format!("RollgateTest/{}", uuid::Uuid::new_v4().simple());
    let now = Utc::now().duration_trunc(Duration::minutes(1)).unwrap_or_else(|_| Utc::now());
    for (version, value) in [("42", 120.0), ("41", 100.0)] {
        fixtures::put_latency(&config, &namespace, &[("Service", "checkout"), ("Version", version), ("Run", &namespace)], now, |_| value)
            .await;
    }

    let plan = parse_plan(
        &format!(
            r#"
name: checkout
traffic:
  router: {{ type: dry_run }}
  steps: [{{ weight: 10, bake: 15m }}, {{ weight: 100, bake: 15m }}]
analysis:
  interval: 5m
  window: 15m
  min_samples: 5
  metrics:
    - name: latency
      unit: ms
      query:
        metric: {{ namespace: "{namespace}", name: Latency, stat: Average, dimensions: {{ Service: checkout, Run: "{namespace}" }} }}
        canary: {{ Version: "{{version}}" }}
        baseline: {{ Version: "{{stable_version}}" }}
      must: {{ below: 200 }}
      baseline: {{ max_increase: 10 }}
    - name: errors
      query:
        metric: {{ namespace: "{namespace}", name: Errors, stat: Sum, dimensions: {{ Service: checkout, Run: "{namespace}" }} }}
        canary: {{ Version: "{{version}}" }}
      must: {{ below: 1 }}
"#
        ),
        PlanFormat::Yaml,
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let analysis = plan.analysis.unwrap_or_else(|| panic!("analysis"));
    let context = QueryContext {
        service: "checkout".into(),
        environment: "production".into(),
        version: "42".into(),
        stable_version: Some("41".into()),
    };
    let source = CloudWatchSource::new(client);
    let observation = observe(&source, &analysis, &context, now).await.unwrap_or_else(|e| panic!("{e}"));

    let latency = &observation.readings["latency"];
    assert_eq!(latency.canary.len(), 15, "{latency:?}");
    assert!(latency.canary.iter().all(|p| p.value == 120.0));
    let baseline = latency.baseline.as_ref().unwrap_or_else(|| panic!("baseline read"));
    assert_eq!(baseline.len(), 15);
    assert!(baseline.iter().all(|p| p.value == 100.0));
    assert!(observation.readings["errors"].canary.is_empty(), "a metric with no data comes back empty, not as zeros");

    let verdict = judge(&analysis, &observation);
    assert_eq!(verdict.outcome, GateOutcome::Fail);
    let latency = &verdict.metrics[0];
    assert_eq!(latency.outcome, MetricOutcome::Fail);
    assert!(latency.sentence.starts_with("latency 120 ms is 20 ms above baseline 100 ms, more than 10 ms"), "{}", latency.sentence);
    assert_eq!(verdict.metrics[1].outcome, MetricOutcome::Inconclusive, "missing data is never a pass");
}

/// `rollback_alarms` read through the adapter: the state each alarm is in, and a name that does
/// not exist reported missing (never left out, never quiet).
#[tokio::test]
async fn rollback_alarms_are_read_with_their_state_and_a_missing_one_is_reported() {
    use aws_sdk_cloudwatch::types::StateValue;
    use rollgate::domain::alarm::AlarmState;
    use rollgate::ports::MetricSource;

    let config = aws().await;
    let client = aws_sdk_cloudwatch::Client::new(&config);
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (firing, quiet, missing) = (format!("checkout-5xx-{run}"), format!("checkout-latency-{run}"), format!("deleted-{run}"));
    for name in [&firing, &quiet] {
        fixtures::metric_alarm(&config, name, &format!("RollgateTest/{run}")).await;
    }
    fixtures::set_alarm_state(&config, &firing, StateValue::Alarm, "Threshold Crossed: 3 datapoints were greater than the threshold (5.0)")
        .await;
    fixtures::set_alarm_state(&config, &quiet, StateValue::Ok, "fine").await;

    let source = CloudWatchSource::new(client);
    let readings = source.alarms(&[firing.clone(), quiet.clone(), missing.clone()]).await.unwrap_or_else(|e| panic!("{e}"));
    let states: Vec<(&str, AlarmState)> = readings.iter().map(|r| (r.name.as_str(), r.state)).collect();
    assert_eq!(states, [(firing.as_str(), AlarmState::Alarm), (quiet.as_str(), AlarmState::Ok), (missing.as_str(), AlarmState::Missing)]);
    assert!(readings[0].reason.as_deref().is_some_and(|r| r.contains("Threshold Crossed")), "{:?}", readings[0]);
    let verdict = rollgate::domain::alarm::with_alarms(None, &[firing.clone(), quiet], &readings, Utc::now());
    assert_eq!(verdict.outcome, GateOutcome::Critical, "{}", verdict.summary);
    assert!(verdict.summary.starts_with(&format!("alarm `{firing}` is in ALARM")), "{}", verdict.summary);
}
