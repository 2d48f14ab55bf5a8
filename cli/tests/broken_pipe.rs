//! Every command, its output piped into a reader that goes away (`rollgate … | head -1`), ends
//! quietly with status 141 (as a program killed by SIGPIPE), never with a panic (101). The AWS
//! commands run against a loopback stand-in for DynamoDB and Step Functions.

#[path = "support/fake_aws.rs"]
mod fake_aws;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use chrono::{DateTime, TimeZone, Utc};
use fake_aws::{Answer, FakeAws};
use rollgate::domain::plan::{PlanFormat, parse_plan};
use rollgate::release::{EventKind, Release, ReleaseEvent, ReleaseStatus};
use serde_json::{Value, json};

/// What the CLI exits with when its reader went away: 128 + SIGPIPE.
const BROKEN_PIPE: i32 = 141;

const PLAN: &str = r#"
name: pipe
checklist:
  items:
    - { id: tests, require: { kind: attestation, evidence: tests_passed } }
traffic:
  router: { type: dry_run }
  steps: [{ weight: 10, bake: 20m, approval: go }, { weight: 100, bake: 10m }]
approvals:
  - { id: go, approvers: ["arn:aws:iam::123456789012:user/tester"], timeout: 1h }
analysis:
  interval: 5m
  min_samples: 3
  metrics:
    - name: error_rate
      unit: "%"
      query: { metric: { namespace: App, name: Errors, stat: Average }, canary: { Version: "{version}" } }
      must: { below: 1 }
"#;

/// A directory with the plan, evidence and a scenario.
fn files() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rollgate-pipe-{}-{:?}", std::process::id(), std::thread::current().id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    for (name, text) in [
        ("plan.yaml", PLAN),
        ("evidence.yaml", "author: dev\nevidence: { tests_passed: true }\n"),
        ("scenario.yaml", "evidence: { tests_passed: true }\nmetrics: { error_rate: { canary: { level: 0.2 } } }\n"),
    ] {
        std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("{e}"));
    }
    dir
}

/// Runs `command` with a stdout pipe whose reader is already gone: its first write fails.
fn with_closed_stdout(command: &mut Command) -> Output {
    let (reader, writer) = std::io::pipe().unwrap_or_else(|e| panic!("pipe: {e}"));
    drop(reader);
    command.stdout(writer).stderr(Stdio::piped()).output().unwrap_or_else(|e| panic!("rollgate: {e}"))
}

/// Runs `command`, reads one line of its output, and closes the pipe.
fn reading_one_line(command: &mut Command) -> (String, Output) {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("rollgate: {e}"));
    let mut first = String::new();
    if let Some(stdout) = child.stdout.take() {
        BufReader::new(stdout).read_line(&mut first).unwrap_or_else(|e| panic!("{e}"));
    }
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("rollgate: {e}"));
    (first, output)
}

fn assert_quiet(what: &str, output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(101), "{what} panicked: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{what}: {stderr}");
    assert_eq!(output.status.code(), Some(BROKEN_PIPE), "{what}: {stderr}");
}

fn rollgate(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rollgate"));
    command.current_dir(dir).args(args);
    command
}

#[test]
fn local_commands_end_quietly_when_the_reader_is_gone() {
    let dir = files();
    for args in [
        &["schema"][..],
        &["validate", "plan.yaml"],
        &["--json", "validate", "plan.yaml"],
        &["check", "plan.yaml", "--evidence", "evidence.yaml"],
        &["--json", "check", "plan.yaml", "--evidence", "evidence.yaml"],
        &["simulate", "plan.yaml", "--scenario", "scenario.yaml"],
        &["--json", "simulate", "plan.yaml", "--scenario", "scenario.yaml"],
        &["--help"],
    ] {
        assert_quiet(&args.join(" "), &with_closed_stdout(&mut rollgate(&dir, args)));
    }
}

#[test]
fn reading_one_line_of_a_long_output_then_closing_the_pipe() {
    let dir = files();
    // Far more than a pipe holds (64 KiB), so the writer is still writing when the reader goes.
    let plans = vec!["plan.yaml"; 4000];
    for json in [false, true] {
        let mut args = if json { vec!["--json", "validate"] } else { vec!["validate"] };
        args.extend(&plans);
        let (first, output) = reading_one_line(&mut rollgate(&dir, &args));
        assert!(first.starts_with(if json { "[" } else { "ok    plan.yaml" }), "{first}");
        assert_quiet(&format!("validate (json: {json})"), &output);
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 18, 10, 0, 0).single().unwrap_or_default()
}

/// Release r1 of svc, waiting on approval `go` by the fake endpoint's caller, the IAM user tester (far in the future).
fn release() -> Release {
    Release {
        id: "r1".into(),
        service: "svc".into(),
        environment: "prod".into(),
        version: "2".into(),
        stable_version: Some("1".into()),
        author: Some("dev".into()),
        requested_by: None,
        status: ReleaseStatus::AwaitingApproval,
        plan: parse_plan(PLAN, PlanFormat::Yaml).unwrap_or_else(|e| panic!("{e:?}")),
        plan_hash: "hash".into(),
        evidence: Default::default(),
        step: None,
        step_started_at: None,
        step_outcomes: Vec::new(),
        canary_weight: 0,
        created_at: t0(),
        updated_at: t0(),
        closed_reason: None,
        last_check: None,
        execution: None,
        paused: None,
        paused_secs: 0,
        asked: None,
        revision: 1,
    }
}

/// A long trail: many notifications, then the pending approval.
fn trail(notifications: usize) -> Vec<ReleaseEvent> {
    let mut events: Vec<ReleaseEvent> = (0..notifications)
        .map(|i| {
            let at = t0() + chrono::Duration::seconds(i64::try_from(i).unwrap_or(0));
            ReleaseEvent::new("r1", at, "rollback-notifier", EventKind::Notified { event: "step_advanced".into(), via: Some("sns".into()) })
        })
        .collect();
    let expires_at = Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).single().unwrap_or_default();
    let asked = EventKind::ApprovalRequested {
        approval: "go".into(),
        step: 0,
        approvers: vec!["arn:aws:iam::123456789012:user/tester".into()],
        quorum: 1,
        expires_at,
    };
    events.push(ReleaseEvent::new("r1", t0() + chrono::Duration::days(1), "approval-request", asked));
    events
}

fn item(pk: &str, sk: &str, body: &impl serde::Serialize) -> Value {
    let body = serde_json::to_string(body).unwrap_or_default();
    json!({"pk": {"S": pk}, "sk": {"S": sk}, "revision": {"N": "1"}, "body": {"S": body}})
}

/// DynamoDB with release r1 and its trail; Step Functions that accepts everything.
fn fake_aws(notifications: usize) -> FakeAws {
    let release = item("REL#r1", "META", &release());
    let events: Vec<Value> = trail(notifications).iter().map(|e| item("REL#r1", "EVT#", e)).collect();
    FakeAws::start(move |operation, request| match operation {
        // The control endpoint (no X-Amz-Target): the function's answer.
        "" => Answer::ok(json!({"release_id": "r1", "action": "abort", "by": "arn:aws:iam::123456789012:user/tester",
            "status": "aborted", "message": "rolled back: aborted by hand"})),
        "GetItem" if request["Key"]["pk"]["S"] == "REL#r1" => Answer::ok(json!({"Item": release})),
        "GetItem" if request["Key"]["pk"]["S"] == "TOKEN#r1#go#0" => {
            Answer::ok(json!({"Item": {"pk": {"S": "TOKEN#r1#go#0"}, "token": {"S": "token"}}}))
        }
        "GetItem" | "PutItem" | "TransactWriteItems" | "DeleteItem" | "SendTaskSuccess" | "SendTaskFailure" => Answer::ok(json!({})),
        "Query" => Answer::ok(json!({"Items": events, "Count": events.len()})),
        "StartExecution" => Answer::ok(json!({"executionArn": "arn:aws:states:eu-west-1:1:execution:sm:r2", "startDate": 1.7e9})),
        // `start` waits for admission: the execution has entered FirstStep.
        "DescribeExecution" => Answer::ok(json!({"executionArn": "arn:aws:states:eu-west-1:1:execution:sm:r2",
            "stateMachineArn": "arn:aws:states:eu-west-1:1:stateMachine:sm", "status": "RUNNING", "startDate": 1.7e9})),
        "GetExecutionHistory" => Answer::ok(json!({"events": [{"timestamp": 1.7e9, "type": "PassStateEntered", "id": 3,
            "stateEnteredEventDetails": {"name": "FirstStep"}}]})),
        other => Answer::error(400, "UnknownOperationException", &format!("the fake answers no {other}")),
    })
}

#[test]
fn aws_commands_end_quietly_when_the_reader_is_gone() {
    let dir = files();
    let aws = fake_aws(3);
    let start = ["start", "plan.yaml", "--service", "svc", "--environment", "prod", "--version", "3", "--stable-version", "2"];
    let start: Vec<&str> =
        start.iter().copied().chain(["--release-id", "r2", "--state-machine", "arn:aws:states:eu-west-1:1:stateMachine:sm"]).collect();
    for args in [
        &["status", "r1", "--table", "t"][..],
        &["--json", "status", "r1", "--table", "t"],
        &["history", "r1", "--table", "t"],
        &["--json", "history", "r1", "--table", "t"],
        &["review", "--week", "2026-W47", "--table", "t"],
        &["--json", "review", "--week", "2026-W47", "--table", "t"],
        &["approve", "r1", "--control-url", &aws.url],
        &["--json", "reject", "r1", "--comment", "no", "--control-url", &aws.url],
        &["abort", "r1", "--control-url", &aws.url],
        &start,
        &[&["--json"][..], &start].concat(),
    ] {
        assert_quiet(&args.join(" "), &with_closed_stdout(aws.rollgate(args).current_dir(&dir)));
    }
}

#[test]
fn a_long_history_read_one_line_at_a_time_ends_quietly() {
    let aws = fake_aws(5000);
    for json in [false, true] {
        let args = if json { vec!["--json", "history", "r1", "--table", "t"] } else { vec!["history", "r1", "--table", "t"] };
        let (first, output) = reading_one_line(&mut aws.rollgate(&args));
        assert!(if json { first.starts_with('[') } else { first.contains("notified") }, "{first}");
        assert_quiet(&format!("history (json: {json})"), &output);
    }
}
