//! Whole releases on the local stack: the state machine from infra/ run by the emulator's Step
//! Functions interpreter, invoking our real function binaries (cargo lambda) through the router.
//! `make test` starts that stack (scripts/local-stack.sh).

use std::time::{Duration, Instant};

use chrono::Utc;
use rollgate::ports::ReleaseStore;
use rollgate::release::{EventKind, ReleaseStatus};
use rollgate_tests::capture_server::CaptureServer;
use rollgate_tests::local_stack::{Stack, stack};
use rollgate_tests::releases::{Finished, finish, published, put_latency, request, run, start, trail_shape, unique};
use rollgate_tests::webhook_server::{Behaviour, WebhookServer};
use rollgate_tests::{fixtures, slack_events};
use serde_json::{Value, json};

/// A canary release of a Lambda alias whose new version answers in `canary_ms` (the stable one in
/// 100 ms), run to its end.
async fn canary_release(stack: &Stack, prefix: &str, canary_ms: f64) -> (String, String, String, String, Finished) {
    let function = unique(prefix);
    let (v1, v2) = fixtures::lambda_with_two_versions(&stack.config, &function).await;
    let namespace = unique("E2E/Canary");
    put_latency(&stack.config, &namespace, &v2, canary_ms).await;
    put_latency(&stack.config, &namespace, &v1, 100.0).await;
    let id = unique("rel");
    let router = json!({ "type": "lambda_alias", "function_name": function, "alias": "live" });
    let input = request(&id, &function, router, &namespace, json!({ "security_review_done": true }), &v1, &v2);
    let finished = run(stack, &id, input, Duration::from_secs(120)).await;
    (function, v1, v2, id, finished)
}

/// The release's checks kept the datapoints they judged (read from CloudWatch by the real
/// metric-gate function), and replayed under the plan it ran they decide as it did.
async fn replays_as_it_ran(stack: &Stack, id: &str) -> rollgate::review::backtest::ReleaseBacktest {
    let release = stack.store.release(id).await.ok().flatten().unwrap_or_else(|| panic!("release recorded"));
    let trail = stack.store.events(id).await.unwrap_or_default();
    let kept = trail
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::GateJudged { datapoints: Some(d), .. } if d.metrics.values().any(|m| m.canary.start.is_some())))
        .count();
    assert!(kept > 0, "no check kept its datapoints");
    let past = rollgate::review::backtest::PastRelease::new(release.clone(), trail);
    let replayed = rollgate::review::backtest::replay(&release.plan, &past);
    assert_eq!(replayed.comparison, rollgate::review::backtest::Comparison::Same, "{replayed:?}");
    assert_eq!((replayed.judged, replayed.not_comparable.as_deref()), (replayed.checks, None), "{replayed:?}");
    replayed
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_a_healthy_canary_walks_every_step_and_is_promoted() {
    let stack = stack("healthy").await;
    let (function, _, v2, id, finished) = canary_release(&stack, "checkout", 101.0).await;

    assert_eq!(finished.status, "SUCCEEDED", "{:?} {:?}", finished.error, finished.states);
    assert_eq!(finished.states.iter().filter(|s| *s == "SetWeight").count(), 2, "{:?}", finished.states);
    assert!(finished.states.ends_with(&["Promote".to_string(), "Promoted".to_string()]), "{:?}", finished.states);
    let release = stack.store.release(&id).await.ok().flatten().unwrap_or_else(|| panic!("release recorded"));
    assert_eq!(release.status, ReleaseStatus::Promoted);
    assert_eq!(fixtures::alias_routing(&stack.config, &function).await, (v2, vec![]));
    assert_eq!(stack.store.lock(&function, "e2e").await.ok().flatten(), None);
    let kinds: Vec<&str> =
        stack.store.events(&id).await.unwrap_or_default().iter().map(|e| e.kind.name()).collect::<Vec<_>>().into_iter().collect();
    assert!(kinds.contains(&"gate_judged") && kinds.contains(&"weight_changed"), "{kinds:?}");
    let events: Vec<String> = published(&stack, &function).await.into_iter().map(|(e, _)| e).collect();
    for expected in ["started", "step_advanced", "promoted"] {
        assert!(events.iter().any(|e| e == expected), "{expected} not published: {events:?}");
    }
    assert_eq!(replays_as_it_ran(&stack, &id).await.new_plan, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_a_bad_canary_is_rolled_back_at_the_first_step_with_the_reason() {
    let stack = stack("bad").await;
    let (function, v1, _, id, finished) = canary_release(&stack, "search", 150.0).await;

    assert_eq!((finished.status.as_str(), finished.error.as_deref()), ("FAILED", Some("RolledBack")), "{:?}", finished.states);
    assert_eq!(finished.states.iter().filter(|s| *s == "SetWeight").count(), 1, "rolled back at the first step: {:?}", finished.states);
    let release = stack.store.release(&id).await.ok().flatten().unwrap_or_else(|| panic!("release"));
    assert_eq!(release.status, ReleaseStatus::RolledBack);
    let reason = release.closed_reason.unwrap_or_default();
    assert!(reason.contains("latency") && reason.contains("above baseline"), "{reason}");
    assert_eq!(fixtures::alias_routing(&stack.config, &function).await, (v1, vec![]), "traffic restored to the stable version");
    assert_eq!(stack.store.lock(&function, "e2e").await.ok().flatten(), None);
    let rolled = published(&stack, &function)
        .await
        .into_iter()
        .find(|(e, _)| e == "rolled_back")
        .unwrap_or_else(|| panic!("no rolled_back notification"));
    assert!(rolled.1["reason"].as_str().is_some_and(|r| r.contains("latency")), "{}", rolled.1);
    let replayed = replays_as_it_ran(&stack, &id).await;
    let (happened, new) = (replayed.happened.and_then(|p| p.check), replayed.new_plan.and_then(|p| p.check));
    assert!(happened.is_some() && happened == new, "{happened:?} {new:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_a_blocked_checklist_never_touches_traffic() {
    let stack = stack("blocked").await;
    let function = unique("ledger");
    let (v1, v2) = fixtures::lambda_with_two_versions(&stack.config, &function).await;
    let id = unique("rel");
    let router = json!({ "type": "lambda_alias", "function_name": function, "alias": "live" });
    let finished = run(&stack, &id, request(&id, &function, router, "E2E/Unused", json!({}), &v1, &v2), Duration::from_secs(60)).await;

    assert_eq!((finished.status.as_str(), finished.error.as_deref()), ("FAILED", Some("ChecklistBlocked")), "{:?}", finished.states);
    assert!(!finished.states.iter().any(|s| s == "SetWeight"), "{:?}", finished.states);
    let release = stack.store.release(&id).await.ok().flatten().unwrap_or_else(|| panic!("release"));
    assert_eq!(release.status, ReleaseStatus::Blocked);
    assert!(!stack.store.events(&id).await.unwrap_or_default().iter().any(|e| matches!(e.kind, EventKind::WeightChanged(_))));
    assert_eq!(fixtures::alias_routing(&stack.config, &function).await, (v1, vec![]), "the alias was never touched");
    assert_eq!(stack.store.lock(&function, "e2e").await.ok().flatten(), None);
    assert!(published(&stack, &function).await.iter().any(|(e, _)| e == "blocked"));
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_a_failing_task_is_retried_then_caught_and_the_release_ends_rolled_back() {
    let stack = stack("retried").await;
    // The mesh refuses every weight above 0: SetWeight fails (Transient) on every attempt, the
    // state machine retries it, then catches it; restoring 0% works.
    let server = WebhookServer::start(E2E_WEBHOOK_SIGNING_KEY, Behaviour { fail_above: Some(0), ..Behaviour::default() }).await;
    let service = unique("orders");
    let id = unique("rel");
    let secret_arn = ensure_secret(&stack.config, E2E_WEBHOOK_SECRET_ID, E2E_WEBHOOK_SIGNING_KEY).await;
    let router = json!({ "type": "webhook", "url": server.url, "secret_arn": secret_arn, "timeout": "2s" });
    let finished = run(
        &stack,
        &id,
        request(&id, &service, router, "E2E/Unused", json!({ "security_review_done": true }), "41", "42"),
        Duration::from_secs(240),
    )
    .await;

    assert_eq!((finished.status.as_str(), finished.error.as_deref()), ("FAILED", Some("RolledBack")), "{:?}", finished.states);
    let attempts = finished.scheduled.iter().filter(|s| *s == "SetWeight").count();
    assert!(attempts >= 2, "SetWeight was retried: {attempts} attempt(s), {:?}", finished.scheduled);
    assert!(finished.states.contains(&"RollBack".to_string()));
    let release = stack.store.release(&id).await.ok().flatten().unwrap_or_else(|| panic!("release"));
    assert_eq!(release.status, ReleaseStatus::RolledBack);
    assert!(release.closed_reason.as_deref().is_some_and(|r| r.contains("Transient")), "{:?}", release.closed_reason);
    assert_eq!(stack.store.lock(&service, "e2e").await.ok().flatten(), None, "the lock is released");
    assert_eq!(server.seen(|s| s.weight), 0, "the mesh ends at 0% on the new version");
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_a_failing_smoke_test_before_a_shift_rolls_back_with_its_output_and_moves_nothing() {
    let stack = stack("hooks").await;
    let function = unique("basket");
    let (v1, v2) = fixtures::lambda_with_two_versions(&stack.config, &function).await;
    let namespace = unique("E2E/Hooks");
    put_latency(&stack.config, &namespace, &v2, 101.0).await;
    put_latency(&stack.config, &namespace, &v1, 100.0).await;
    let secret_arn = ensure_secret(&stack.config, E2E_WEBHOOK_SECRET_ID, E2E_WEBHOOK_SIGNING_KEY).await;
    // A probe that passes at every check of the first step; a smoke suite that fails before the second.
    let probe = CaptureServer::answering(r#"{"passed": true, "output": "healthy"}"#).await;
    let smoke = CaptureServer::answering(r#"{"passed": false, "output": "3 of 12 smoke tests failed: test_checkout (HTTP 500)"}"#).await;
    let id = unique("rel");
    let router = json!({ "type": "lambda_alias", "function_name": function, "alias": "live" });
    let mut input = request(&id, &function, router, &namespace, json!({ "security_review_done": true }), &v1, &v2);
    input["plan"]["traffic"]["steps"][0]["hooks"] =
        json!([{ "name": "probe", "timeout": "5s", "http": { "url": probe.url, "secret_arn": secret_arn } }]);
    input["plan"]["traffic"]["steps"][1]["hooks"] =
        json!([{ "name": "smoke", "run": "before_shift", "timeout": "5s", "http": { "url": smoke.url, "secret_arn": secret_arn } }]);
    let finished = run(&stack, &id, input, Duration::from_secs(120)).await;

    assert_eq!((finished.status.as_str(), finished.error.as_deref()), ("FAILED", Some("RolledBack")), "{:?}", finished.states);
    let release = stack.store.release(&id).await.ok().flatten().unwrap_or_else(|| panic!("release"));
    assert_eq!(release.status, ReleaseStatus::RolledBack);
    let reason = release.closed_reason.unwrap_or_default();
    assert!(reason.contains("before step 2's traffic shift, hook `smoke` failed: 3 of 12 smoke tests failed"), "{reason}");
    assert_eq!(release.canary_weight, 0);
    assert_eq!(fixtures::alias_routing(&stack.config, &function).await, (v1, vec![]), "traffic restored to the stable version");
    assert_eq!(stack.store.lock(&function, "e2e").await.ok().flatten(), None);
    let trail = stack.store.events(&id).await.unwrap_or_default();
    // Traffic moved once (to the first step) and back; the second step's weight was never set.
    let weights: Vec<u32> = trail
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::WeightChanged(c) => Some(c.after),
            _ => None,
        })
        .collect();
    assert_eq!(weights, [20, 0], "{weights:?}");
    assert!(trail.iter().any(|e| matches!(&e.kind, EventKind::HooksRan { step: 1, results } if !results[0].passed())));
    assert!(trail.iter().any(
        |e| matches!(&e.kind, EventKind::GateJudged { verdict, .. } if verdict.hooks.iter().any(|h| h.hook == "probe" && h.passed()))
    ));
    // Each endpoint was told which release and step it tests, signed.
    assert!(probe.bodies().iter().all(|b| b["release_id"] == id.as_str() && b["step"] == 1), "{:?}", probe.bodies());
    assert_eq!(smoke.bodies().len(), 1, "the smoke suite ran once");
    assert_eq!((smoke.bodies()[0]["step"].as_u64(), smoke.bodies()[0]["weight"].as_u64()), (Some(2), Some(60)));
    assert!(smoke.requests()[0].headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("x-rollgate-signature")));
}

/// The Slack signing secret the local stack's approval-webhook reads (scripts/local-stack.sh).
const E2E_SLACK_SECRET_ID: &str = "rollgate-e2e-slack";
const E2E_SLACK_SIGNING_SECRET: &str = "e2e-slack-signing-secret";

async fn ensure_slack_secret(config: &aws_config::SdkConfig) {
    ensure_secret(config, E2E_SLACK_SECRET_ID, E2E_SLACK_SIGNING_SECRET).await;
}

/// The webhook mesh's signing key, which the plan names by ARN (the functions read it from
/// Secrets Manager).
const E2E_WEBHOOK_SECRET_ID: &str = "rollgate-e2e-webhook";
const E2E_WEBHOOK_SIGNING_KEY: &str = "e2e-signing-key";

/// Creates the secret unless it exists; returns its ARN.
async fn ensure_secret(config: &aws_config::SdkConfig, name: &str, value: &str) -> String {
    let secrets = aws_sdk_secretsmanager::Client::new(config);
    let created = secrets.create_secret().name(name).secret_string(value).send().await;
    match created {
        Ok(out) => out.arn().unwrap_or_else(|| panic!("CreateSecret {name}: no ARN")).to_string(),
        Err(e) => {
            assert!(e.as_service_error().is_some_and(|s| s.is_resource_exists_exception()), "CreateSecret: {e:?}");
            let described = secrets.describe_secret().secret_id(name).send().await;
            let described = described.unwrap_or_else(|e| panic!("DescribeSecret {name}: {e:?}"));
            described.arn().unwrap_or_else(|| panic!("DescribeSecret {name}: no ARN")).to_string()
        }
    }
}

/// Invokes approval-webhook as API Gateway would, through the Lambda API of the local stack.
async fn call_webhook(stack: &Stack, event: &Value) -> Value {
    invoke(stack, "approval-webhook", event)
        .await
        .unwrap_or_else(|(error, payload)| panic!("the webhook answers every request with an HTTP response, not {error}: {payload}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_a_slack_click_resumes_the_waiting_release_which_is_then_promoted() {
    let stack = stack("slack").await;
    ensure_slack_secret(&stack.config).await;
    let (service, id) = (unique("payments"), unique("rel"));
    let input = json!({
        "release_id": id, "service": service, "environment": "e2e", "version": "8", "stable_version": "7", "author": "alice",
        "plan": {
            "name": "slack-e2e",
            "traffic": { "router": { "type": "dry_run" }, "steps": [ { "weight": 10, "bake": "2s", "approval": "go-no-go" }, { "weight": 100, "bake": "2s" } ] },
            "approvals": [ { "id": "go-no-go", "approvers": ["U0BOB"], "timeout": "10m" } ]
        }
    });
    let arn = start(&stack, &id, input).await;
    let started = Instant::now();
    while stack.store.release(&id).await.ok().flatten().map(|r| r.status) != Some(ReleaseStatus::AwaitingApproval) {
        assert!(started.elapsed() < Duration::from_secs(60), "release {id} never waited for its approval");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let asked = published(&stack, &service).await.into_iter().find(|(event, _)| event == "waiting_for_approval").map(|(_, body)| body);
    let button = asked
        .as_ref()
        .and_then(|body| slack_events::approve_button(&body["slack"]))
        .unwrap_or_else(|| panic!("no Approve button published: {asked:?}"));

    let now = Utc::now().timestamp();
    // The local stack lets replies go to loopback (ROLLGATE_SLACK_RESPONSE_URL_PREFIXES), where this server plays Slack.
    let slack = CaptureServer::start().await;
    let by_bob =
        slack_events::click("U0BOB", rollgate::release::slack::APPROVE_ACTION, &button, &format!("{}/actions/T0/1/e2e", slack.url));
    let forged = call_webhook(&stack, &slack_events::signed(&by_bob, "guessed", now)).await;
    assert_eq!(forged["statusCode"], 401, "{forged}");
    let answer = call_webhook(&stack, &slack_events::signed(&by_bob, E2E_SLACK_SIGNING_SECRET, now)).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");

    let finished = finish(&stack, &id, &arn, Duration::from_secs(90)).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?} {:?}", finished.error, finished.states);
    assert_eq!(stack.store.release(&id).await.ok().flatten().map(|r| r.status), Some(ReleaseStatus::Promoted));
    let trail = stack.store.events(&id).await.unwrap_or_default();
    assert!(
        trail
            .iter()
            .any(|e| e.actor == "approval-webhook"
                && matches!(&e.kind, EventKind::ApprovalDecided { by, approved: true, .. } if by == "U0BOB")),
        "the Slack decision is in the audit trail"
    );
    let replies = slack.bodies();
    assert!(replies.iter().any(|r| r["replace_original"] == true), "the Slack message shows the decision: {replies:?}");
}

/// An alarm of the plan's `rollback_alarms` goes to ALARM an hour before the first check: the
/// EventBridge rule's invocation of the rollback function (made here through the local stack's
/// Lambda API, with the event CloudWatch sends) stops the execution and restores the stable
/// version at once, with the alarm's name, reason and time in the trail.
#[tokio::test(flavor = "multi_thread")]
async fn e2e_an_alarm_going_to_alarm_rolls_the_release_back_between_checks() {
    use aws_sdk_cloudwatch::types::StateValue;
    let stack = stack("alarm").await;
    let function = unique("orders");
    let (v1, v2) = fixtures::lambda_with_two_versions(&stack.config, &function).await;
    let namespace = unique("E2E/Alarm");
    put_latency(&stack.config, &namespace, &v2, 101.0).await;
    put_latency(&stack.config, &namespace, &v1, 100.0).await;
    let alarm = unique("orders-5xx");
    fixtures::metric_alarm(&stack.config, &alarm, &namespace).await;
    let id = unique("rel");
    let router = json!({ "type": "lambda_alias", "function_name": function, "alias": "live" });
    let mut input = request(&id, &function, router, &namespace, json!({ "security_review_done": true }), &v1, &v2);
    input["plan"]["rollback_alarms"] = json!([alarm]);
    // Hour-long steps checked hourly: only the alarm can end the first step soon.
    input["plan"]["traffic"]["steps"] = json!([{ "weight": 20, "bake": "2h" }, { "weight": 60, "bake": "1h" }]);
    input["plan"]["analysis"]["interval"] = json!("1h");
    let arn = start(&stack, &id, input).await;
    let started = Instant::now();
    while stack.store.release(&id).await.ok().flatten().map(|r| r.canary_weight) != Some(20) {
        assert!(started.elapsed() < Duration::from_secs(60), "release {id} never reached its first step");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let reason = "Threshold Crossed: 1 datapoint [9.0] was greater than the threshold (5.0)";
    fixtures::set_alarm_state(&stack.config, &alarm, StateValue::Alarm, reason).await;
    let changed = Utc::now();
    let event = json!({
        "version": "0", "id": unique("event"), "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
        "account": "123456789012", "time": changed.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "region": "us-east-1",
        "resources": [format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm}")],
        "detail": {
            "alarmName": alarm,
            "state": { "value": "ALARM", "reason": reason, "timestamp": changed.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string() },
            "previousState": { "value": "INSUFFICIENT_DATA", "reason": "Unchecked: Initial alarm creation" }
        }
    });
    let answer = invoke(&stack, "rollback-notifier", &event).await;
    let answer = answer.unwrap_or_else(|(error, payload)| panic!("the rollback function failed ({error}): {payload}"));
    assert!(answer["rolled_back"].as_array().is_some_and(|ids| ids.iter().any(|r| r == id.as_str())), "{answer}");

    let release = stack.store.release(&id).await.ok().flatten().unwrap_or_else(|| panic!("release {id}"));
    assert_eq!((release.status, release.canary_weight), (ReleaseStatus::RolledBack, 0));
    assert!(release.closed_reason.as_deref().is_some_and(|r| r.contains(&format!("alarm `{alarm}` went to ALARM"))), "{release:?}");
    assert_eq!(fixtures::alias_routing(&stack.config, &function).await, (v1, vec![]), "the stable version serves everything");
    assert_eq!(stack.store.lock(&function, "e2e").await.ok().flatten(), None);
    let trail = stack.store.events(&id).await.unwrap_or_default();
    let raised = trail.iter().find_map(|e| match &e.kind {
        EventKind::AlarmRaised(a) => Some((e.actor.clone(), a.clone())),
        _ => None,
    });
    let (actor, raised) = raised.unwrap_or_else(|| panic!("no alarm in the trail: {trail:?}"));
    assert_eq!((actor.as_str(), raised.name.as_str(), raised.reason.as_deref()), ("alarm-rollback", alarm.as_str(), Some(reason)));
    assert!(raised.since.is_some_and(|t| (t - changed).num_milliseconds().abs() < 1000), "{raised:?}");
    assert!(!trail.iter().any(|e| e.kind.name() == "gate_judged"), "rolled back before any check");
    assert!(rollgate::release::chain::verify(&trail).is_ok(), "the trail's chain holds");
    let execution = stack.sfn.describe_execution().execution_arn(&arn).send().await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(execution.status().as_str(), "ABORTED", "the execution is stopped, so it moves no traffic");
}

/// Invokes one of the local stack's functions as EventBridge would, through its Lambda API: the
/// function's output, or its error type and payload.
async fn invoke(stack: &Stack, function: &str, event: &Value) -> Result<Value, (String, Value)> {
    let router = format!("http://127.0.0.1:{}", std::env::var("ROUTER_PORT").unwrap_or_else(|_| "5056".into()));
    let lambda = aws_sdk_lambda::Client::from_conf(aws_sdk_lambda::config::Builder::from(&stack.config).endpoint_url(router).build());
    let out = lambda
        .invoke()
        .function_name(function)
        .payload(aws_sdk_lambda::primitives::Blob::new(event.to_string()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("Invoke {function}: {e:?}"));
    let payload: Value = serde_json::from_slice(out.payload().map(|p| p.as_ref()).unwrap_or_default()).unwrap_or_default();
    match out.function_error() {
        Some(error) => Err((error.to_string(), payload)),
        None => Ok(payload),
    }
}

/// One plan, run twice: deployed on the local stack (the state machine invoking our function
/// binaries) and in the simulator. Both write the same audit trail, event by event. The plan ends
/// at 100%, so the promotion is announced although the last step already set the weight.
#[tokio::test]
async fn e2e_the_simulator_writes_the_trail_a_deployed_release_writes() {
    let stack = stack("e2e-trail").await;
    let function = unique("trail");
    let (v1, v2) = fixtures::lambda_with_two_versions(&stack.config, &function).await;
    let namespace = unique("E2E/Trail");
    put_latency(&stack.config, &namespace, &v2, 100.0).await;
    put_latency(&stack.config, &namespace, &v1, 100.0).await;
    let id = unique("rel");
    let router = json!({ "type": "lambda_alias", "function_name": function, "alias": "live" });
    let mut input = request(&id, &function, router, &namespace, json!({ "security_review_done": true }), &v1, &v2);
    input["plan"]["traffic"]["steps"] = json!([{ "weight": 20, "bake": "2s" }, { "weight": 100, "bake": "2s" }]);
    let finished = run(&stack, &id, input.clone(), Duration::from_secs(120)).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?} {:?}", finished.error, finished.states);
    let deployed = stack.store.events(&id).await.unwrap_or_else(|e| panic!("{e}"));

    // The simulator replays the very datapoints the deployed gate read (as `aws cloudwatch
    // get-metric-data` prints them), from the deployed release's start.
    let started = stack.store.release(&id).await.ok().flatten().map(|r| r.created_at).unwrap_or_else(|| panic!("release"));
    let recorded = recorded_latency(&stack.config, &namespace, &[("canary", &v2), ("baseline", &v1)]).await;
    let plan = rollgate::domain::plan::plan_from_value(input["plan"].clone()).unwrap_or_else(|e| panic!("{e:?}"));
    let scenario: rollgate::simulate::Scenario = serde_json::from_value(json!({
        "start": started,
        "author": "alice",
        "evidence": { "security_review_done": true },
        "recorded": {
            "file": "deployed.json",
            "ids": { "canary": { "metric": "latency", "side": "canary" }, "baseline": { "metric": "latency", "side": "baseline" } }
        }
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    let simulated = rollgate::simulate::simulate(&plan, &scenario, Some(recorded)).await.unwrap_or_else(|e| panic!("{e}"));

    let (deployed, simulated) = (trail_shape(&deployed), trail_shape(&simulated.trail));
    println!("deployed trail:\n  {}", deployed.join("\n  "));
    assert_eq!(deployed, simulated, "the simulator's trail differs from the deployed release's");
    assert!(deployed.iter().any(|e| e == "notified promoted"), "the promotion is announced: {deployed:?}");
    assert!(deployed.iter().any(|e| e == "closed promoted"));
}

/// `Latency` of each version in `namespace` over the last hour, one-minute averages, in the
/// shape `aws cloudwatch get-metric-data` prints (`MetricDataResults` with `Id`, `Timestamps`,
/// `Values`); each result's id is the side it stands for.
async fn recorded_latency(config: &aws_config::SdkConfig, namespace: &str, sides: &[(&str, &str)]) -> Value {
    use aws_sdk_cloudwatch::primitives::DateTime as SmithyDateTime;
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
    let now = Utc::now();
    let mut request = aws_sdk_cloudwatch::Client::new(config)
        .get_metric_data()
        .start_time(SmithyDateTime::from_millis((now - chrono::Duration::hours(1)).timestamp_millis()))
        .end_time(SmithyDateTime::from_millis((now + chrono::Duration::minutes(1)).timestamp_millis()));
    for (id, version) in sides {
        let metric = Metric::builder()
            .namespace(namespace)
            .metric_name("Latency")
            .dimensions(Dimension::builder().name("Version").value(*version).build())
            .dimensions(Dimension::builder().name("Run").value(namespace).build())
            .build();
        let stat = MetricStat::builder().metric(metric).period(60).stat("Average").build();
        request = request.metric_data_queries(MetricDataQuery::builder().id(*id).metric_stat(stat).build());
    }
    let out = request.send().await.unwrap_or_else(|e| panic!("GetMetricData: {e:?}"));
    let results: Vec<Value> = out
        .metric_data_results()
        .iter()
        .map(|r| {
            let times: Vec<String> = r
                .timestamps()
                .iter()
                .filter_map(|t| chrono::DateTime::<Utc>::from_timestamp_millis(t.to_millis().ok()?))
                .map(|t| t.to_rfc3339())
                .collect();
            json!({ "Id": r.id(), "Timestamps": times, "Values": r.values() })
        })
        .collect();
    assert!(results.iter().all(|r| r["Values"].as_array().is_some_and(|v| !v.is_empty())), "no datapoints: {results:?}");
    json!({ "MetricDataResults": results })
}
