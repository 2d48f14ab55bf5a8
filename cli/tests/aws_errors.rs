//! AWS failures read as the service's error code and message and what to check, not as the
//! SDK's internal dump; through the real binary against a loopback stand-in for AWS.

#[path = "support/fake_aws.rs"]
mod fake_aws;

use std::process::Output;

use fake_aws::{Answer, FakeAws};
use serde_json::json;

const PLAN: &str = "name: p\ntraffic:\n  router: { type: dry_run }\n  steps: [{ weight: 10, bake: 5m }, { weight: 100, bake: 5m }]\n";
const STATE_MACHINE: &str = "arn:aws:states:eu-west-1:123456789012:stateMachine:rollgate-release";

fn plan_file() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("rollgate-aws-errors-{}-{:?}.yaml", std::process::id(), std::thread::current().id()));
    std::fs::write(&path, PLAN).unwrap_or_else(|e| panic!("{e}"));
    path
}

fn start(aws: &FakeAws) -> Output {
    let plan = plan_file();
    let plan = plan.to_string_lossy();
    let args =
        ["start", &plan, "--service", "svc", "--environment", "prod", "--version", "2", "--stable-version", "1", "--release-id", "r1"];
    aws.rollgate(&args).arg("--state-machine").arg(STATE_MACHINE).output().unwrap_or_else(|e| panic!("rollgate: {e}"))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

/// No SDK internals: no Debug dumps of errors, responses or connectors.
fn assert_no_dump(text: &str) {
    for internal in ["ServiceError", "DispatchFailure", "ConnectorError", "ErrorMetadata", "Response {", "SdkBody", "Some(\"", "source:"] {
        assert!(!text.contains(internal), "`{internal}` in: {text}");
    }
}

#[test]
fn a_missing_state_machine_is_named_with_the_variable_that_sets_it() {
    let message = format!("State Machine Does Not Exist: '{STATE_MACHINE}'");
    let aws = FakeAws::start(move |_, _| Answer::error(400, "StateMachineDoesNotExist", &message));
    let output = start(&aws);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert_eq!(
        text.trim_end(),
        format!(
            "error: StartExecution failed: StateMachineDoesNotExist: State Machine Does Not Exist: '{STATE_MACHINE}'; \
check AWS credentials (AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), the region (AWS_REGION) and AWS_ENDPOINT_URL, \
and the state machine `{STATE_MACHINE}` (--state-machine or ROLLGATE_STATE_MACHINE_ARN)"
        )
    );
    assert_no_dump(&text);
}

#[test]
fn an_unmodelled_error_still_reads_as_code_and_message() {
    let aws =
        FakeAws::start(|_, _| Answer::error(400, "UnrecognizedClientException", "The security token included in the request is invalid."));
    let text = stderr(&start(&aws));
    assert!(text.starts_with("error: StartExecution failed: UnrecognizedClientException: The security token included in the request is invalid.; check AWS credentials"), "{text}");
    assert_no_dump(&text);
}

#[test]
fn a_release_started_twice_says_how_to_follow_it() {
    let aws = FakeAws::start(|_, _| Answer::error(400, "ExecutionAlreadyExists", "Execution Already Exists: 'r1'"));
    let text = stderr(&start(&aws));
    assert!(
        text.starts_with("error: StartExecution failed: ExecutionAlreadyExists: Execution Already Exists: 'r1'; release r1 was started before; follow it with `rollgate status r1`"),
        "{text}"
    );
    assert_no_dump(&text);
}

#[test]
fn an_endpoint_nobody_answers_says_what_to_check() {
    // Bound and dropped: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(9);
    let aws = FakeAws { url: format!("http://127.0.0.1:{port}") };
    let text = stderr(&start(&aws));
    // The first call finds out who the caller is; it says what to check.
    assert!(text.starts_with("error: finding out who you are (STS GetCallerIdentity) failed: the request could not be sent ("), "{text}");
    assert!(text.contains("AWS_ENDPOINT_URL") && text.contains("AWS_REGION"), "{text}");
    assert_no_dump(&text);
}

#[test]
fn a_control_endpoint_refusal_is_a_clean_error_that_says_what_to_do() {
    let aws = FakeAws::start(|_, request| match request["reason"].as_str() {
        // API Gateway's own refusal of an identity without execute-api:Invoke.
        Some("denied") => Answer::error(
            403,
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/tester is not authorized to perform: execute-api:Invoke",
        ),
        // The function's refusal, with its reason.
        Some("late") => {
            Answer { status: 409, body: json!({"error": "release r1 is already promoted; there is nothing to pause"}).to_string() }
        }
        Some("busy") => Answer { status: 503, body: json!({"error": "the release table is throttled"}).to_string() },
        Some("fine") => Answer::ok(json!({"release_id": "r1", "action": "pause", "by": "arn:aws:iam::123456789012:user/tester",
            "status": "progressing", "message": "paused until 2026-12-02 12:00 UTC"})),
        _ => Answer::error(502, "BadGateway", "<html>"),
    });
    let run = |reason: &str| {
        let output = aws
            .rollgate(&["pause", "r1", "--reason", reason, "--control-url", &aws.url])
            .output()
            .unwrap_or_else(|e| panic!("rollgate: {e}"));
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        let text = stderr(&output);
        assert_no_dump(&text);
        text
    };
    let denied = run("denied");
    assert!(
        denied.contains("refused your AWS identity") && denied.contains("execute-api:Invoke") && denied.contains("OperatorPolicy"),
        "{denied}"
    );
    assert_eq!(run("late").trim(), "error: release r1 is already promoted; there is nothing to pause");
    assert!(run("busy").contains("the release table is throttled (nothing was lost; run the command again)"));
    assert!(run("other").contains("the control endpoint failed (HTTP 502"));
    let unreachable =
        aws.rollgate(&["abort", "r1", "--control-url", "http://127.0.0.1:9"]).output().unwrap_or_else(|e| panic!("rollgate: {e}"));
    let text = stderr(&unreachable);
    assert!(text.contains("did not answer") && text.contains("ControlUrl"), "{text}");
    let missing = aws
        .rollgate(&["resume", "r1", "--reason", "x"])
        .env_remove("ROLLGATE_CONTROL_URL")
        .output()
        .unwrap_or_else(|e| panic!("rollgate: {e}"));
    assert!(stderr(&missing).contains("ROLLGATE_CONTROL_URL"), "{}", stderr(&missing));
}

#[test]
fn a_failing_table_names_the_table_and_the_variable_that_sets_it() {
    let aws = FakeAws::start(|_, _| {
        Answer::error(400, "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException", "Requested resource not found")
    });
    for args in
        [&["status", "r1", "--table", "releases"][..], &["history", "r1", "--table", "releases"], &["review", "--table", "releases"]]
    {
        let output = aws.rollgate(args).output().unwrap_or_else(|e| panic!("rollgate: {e}"));
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{text}");
        assert!(text.contains("ResourceNotFoundException: Requested resource not found"), "{text}");
        assert!(text.trim_end().ends_with("and the table `releases` (--table or ROLLGATE_TABLE)"), "{text}");
    }
}
