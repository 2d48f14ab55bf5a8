//! The Slack webhook on the sample click (events/approval-webhook/), against DynamoDB and Secrets
//! Manager on the test endpoint: approval-request records the pending approval and posts the
//! buttons; a signed click on those buttons resumes the waiting task; every refusal is a 4xx with
//! the reason and records nothing.

use approval_webhook::{Deps, SlackReplies, handler};
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine;
use chrono::Utc;
use rollgate::adapters::memory::{RecordingNotifier, RecordingWorkflow, TaskOutcome};
use rollgate::adapters::secrets::{FixedSecret, SecretsManagerSecret};
use rollgate::adapters::slack::{SlackApi, SlackNotifier};
use rollgate::flow::admit::admit;
use rollgate::ports::ReleaseStore;
use rollgate::release::slack;
use rollgate::release::{EventKind, ReleaseRequest};
use rollgate_tests::capture_server::CaptureServer;
use rollgate_tests::slack_events::{self, click};
use rollgate_tests::{TestTable, aws};
use serde_json::{Value, json};

const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

struct Setup {
    table: TestTable,
    secret: SecretsManagerSecret,
    workflow: RecordingWorkflow,
    replies: SlackReplies,
    slack: CaptureServer,
    release_id: String,
    /// The value of the buttons approval-request posted.
    button: String,
}

impl Setup {
    /// What the webhook posted to response URLs (not the approval request's chat.postMessage).
    fn replies(&self) -> Vec<Value> {
        self.slack.requests().into_iter().filter(|r| r.request_line.contains("/actions/")).map(|r| r.body).collect()
    }

    fn deps(&self) -> Deps<'_> {
        Deps {
            store: &self.table.store,
            tokens: &self.table.tokens,
            workflow: &self.workflow,
            secret: &self.secret,
            replies: &self.replies,
            slack: None,
        }
    }
}

/// Slack's Web API played by `server`.
fn slack_api(server: &CaptureServer) -> SlackApi {
    SlackApi::new(Box::new(FixedSecret("xoxb-test-token".into())), format!("{}/api", server.url), std::time::Duration::from_secs(5))
}

/// A release waiting on approval `go-no-go` (approvers U0BOB and U0CAROL, quorum `quorum`), as
/// approval-request leaves it, with the signing secret stored in Secrets Manager.
async fn setup(quorum: u32, timeout: &str) -> Setup {
    setup_for(&["U0BOB", "U0CAROL"], quorum, timeout, CaptureServer::start().await).await
}

/// The same, with `approvers`, and `slack` playing Slack's Web API.
async fn setup_for(approvers: &[&str], quorum: u32, timeout: &str, slack: CaptureServer) -> Setup {
    let table = TestTable::create().await;
    let config = aws().await;
    let secret_name = format!("rollgate-slack-{}", uuid::Uuid::new_v4().simple());
    aws_sdk_secretsmanager::Client::new(&config)
        .create_secret()
        .name(&secret_name)
        .secret_string(SIGNING_SECRET)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateSecret: {e:?}"));
    let release_id = format!("checkout-{}", uuid::Uuid::new_v4().simple());
    let request = ReleaseRequest {
        release_id: Some(release_id.clone()),
        service: "checkout-api".into(),
        environment: format!("production-{}", &release_id[9..17]),
        version: "2.4.0".into(),
        stable_version: Some("2.3.9".into()),
        author: Some("alice".into()),
        requested_by: None,
        plan: json!({
            "name": "checkout",
            "traffic": {"router": {"type": "dry_run"}, "steps": [{"weight": 10, "bake": "5m", "approval": "go-no-go"}, {"weight": 100, "bake": "5m"}]},
            "approvals": [{"id": "go-no-go", "approvers": approvers, "quorum": quorum, "timeout": timeout, "channel": "C0DEPLOYS"}],
            "notifications": {"events": ["waiting_for_approval"]}
        }),
        evidence: Default::default(),
        overrides: vec![],
        execution: None,
    };
    admit(&table.store, &rollgate::ports::NoPolicies, request, Utc::now()).await.unwrap_or_else(|e| panic!("{e}"));
    // approval-request posts the buttons to Slack (played by a loopback server).
    let chat = SlackNotifier::new(slack_api(&slack));
    let (notifier, ask) =
        (RecordingNotifier::default(), json!({"release_id": release_id, "step": 0, "approval": "go-no-go", "task_token": "task-token-1"}));
    let deps = approval_request::Deps { store: &table.store, tokens: &table.tokens, notifier: &notifier, slack: Some(&chat) };
    approval_request::handler(ask, &deps).await.unwrap_or_else(|e| panic!("{e}"));
    let posted = slack.requests().pop().unwrap_or_else(|| panic!("nothing was posted to Slack"));
    assert_eq!(posted.request_line, "POST /api/chat.postMessage");
    assert_eq!(posted.authorization.as_deref(), Some("Bearer xoxb-test-token"));
    assert_eq!(posted.body["channel"], "C0DEPLOYS", "the approval's channel");
    let button = slack_events::approve_button(&posted.body).unwrap_or_else(|| panic!("no buttons were posted: {}", posted.body));
    Setup {
        table,
        secret: SecretsManagerSecret::new(aws_sdk_secretsmanager::Client::new(&config), secret_name),
        workflow: RecordingWorkflow::default(),
        replies: SlackReplies::new(vec![format!("{}/actions/", slack.url)]),
        slack,
        release_id,
        button,
    }
}

fn request(body: &str, secret: &str, at: i64) -> ApiGatewayV2httpRequest {
    serde_json::from_value(slack_events::signed(body, secret, at))
        .unwrap_or_else(|e| panic!("the sample event is not an HTTP API event: {e}"))
}

fn answer(response: &ApiGatewayV2httpResponse) -> (i64, Value) {
    let body = match &response.body {
        Some(Body::Text(t)) => serde_json::from_str(t).unwrap_or_default(),
        _ => Value::Null,
    };
    (response.status_code, body)
}

#[tokio::test]
async fn a_signed_click_on_the_posted_button_resumes_the_release() {
    let s = setup(1, "1h").await;
    let body = click("U0BOB", slack::APPROVE_ACTION, &s.button, &format!("{}/actions/T0/1/abc", s.slack.url));
    let (status, answer) = answer(&handler(request(&body, SIGNING_SECRET, Utc::now().timestamp()), &s.deps()).await);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"], "approved by u0bob; the release continues");
    assert_eq!(s.workflow.outcome("task-token-1"), Some(TaskOutcome::Resumed(json!({"approved_by": ["u0bob"]}))));
    let trail = s.table.store.events(&s.release_id).await.unwrap_or_default();
    let decided = trail.iter().find(|e| matches!(e.kind, EventKind::ApprovalDecided { .. })).map(|e| (e.actor.clone(), e.kind.summary()));
    assert_eq!(decided, Some(("approval-webhook".into(), "approval `go-no-go` granted by U0BOB: via Slack".into())));
    let replies = s.replies();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0]["replace_original"], true, "the settled approval replaces the buttons: {}", replies[0]);
}

/// An approval that lists a Slack user group: Slack is asked at the click whether the clicker is
/// a member (`usergroups.users.list`, form-encoded, with the bot token); a member's vote counts
/// under their own id, an outsider's is refused.
#[tokio::test]
async fn a_member_of_a_listed_user_group_approves_and_an_outsider_is_refused() {
    let slack = CaptureServer::answering(r#"{"ok":true,"users":["U0ANA","U0BEN"]}"#).await;
    let s = setup_for(&["S0SRE"], 1, "1h", slack).await;
    let api = slack_api(&s.slack);
    let deps = Deps { slack: Some(&api), ..s.deps() };
    let now = Utc::now().timestamp();
    let eve = click("U0EVE", slack::APPROVE_ACTION, &s.button, &format!("{}/actions/T0/1/eve", s.slack.url));
    let (status, refused) = answer(&handler(request(&eve, SIGNING_SECRET, now), &deps).await);
    assert_eq!(status, 403, "{refused}");
    let asked = s.slack.requests().into_iter().find(|r| r.request_line.ends_with("usergroups.users.list"));
    let asked = asked.unwrap_or_else(|| panic!("Slack was not asked who is in the group"));
    assert_eq!((asked.raw.as_str(), asked.authorization.as_deref()), ("usergroup=S0SRE", Some("Bearer xoxb-test-token")));

    let ana = click("U0ANA", slack::APPROVE_ACTION, &s.button, &format!("{}/actions/T0/1/ana", s.slack.url));
    let (status, approved) = answer(&handler(request(&ana, SIGNING_SECRET, now), &deps).await);
    assert_eq!((status, approved["result"].as_str()), (200, Some("approved by u0ana; the release continues")), "{approved}");
    let trail = s.table.store.events(&s.release_id).await.unwrap_or_default();
    let decided = trail.iter().find(|e| matches!(e.kind, EventKind::ApprovalDecided { .. })).map(|e| e.kind.summary());
    assert_eq!(decided.as_deref(), Some("approval `go-no-go` granted by U0ANA (member of S0SRE): via Slack"));

    // Slack refusing to say (no such group) refuses the vote with Slack's reason.
    let unknown = CaptureServer::answering(r#"{"ok":false,"error":"no_such_subteam"}"#).await;
    let api = slack_api(&unknown);
    let e = rollgate::ports::Directory::is_member(&api, "S0GONE", "U0ANA").await.err().map(|e| (e.transient, e.to_string()));
    assert!(e.as_ref().is_some_and(|(transient, text)| !transient && text.contains("no_such_subteam") && text.contains("S0GONE")), "{e:?}");
}

#[tokio::test]
async fn a_base64_body_and_a_vote_short_of_the_quorum() {
    let s = setup(2, "1h").await;
    let body = click("U0CAROL", slack::APPROVE_ACTION, &s.button, &format!("{}/actions/T0/2/def", s.slack.url));
    let mut request = request(&body, SIGNING_SECRET, Utc::now().timestamp());
    request.body = Some(base64::engine::general_purpose::STANDARD.encode(&body));
    request.is_base64_encoded = true;
    let (status, answer) = answer(&handler(request, &s.deps()).await);
    assert_eq!((status, answer["result"].as_str()), (200, Some("recorded; 1 of 2 approvals so far")));
    assert_eq!(s.workflow.outcome("task-token-1"), None);
    assert_eq!(s.replies()[0]["response_type"], "ephemeral", "only the clicker sees a partial vote");
}

#[tokio::test]
async fn refusals_are_4xx_with_reasons_and_record_nothing() {
    let s = setup(1, "1h").await;
    let now = Utc::now().timestamp();
    let reply_to = format!("{}/actions/T0/3/ghi", s.slack.url);
    let approve = click("U0BOB", slack::APPROVE_ACTION, &s.button, &reply_to);
    let before = s.table.store.events(&s.release_id).await.unwrap_or_default().len();
    let old_button = s.button.replace("\"step\":0", "\"step\":3");
    let other_release = s.button.replace(&s.release_id, "no-such-release");
    let cases: Vec<(&str, ApiGatewayV2httpRequest, i64, &str)> = vec![
        ("forged", request(&approve, "not-the-secret", now), 401, "signature does not match"),
        ("replayed", request(&approve, SIGNING_SECRET, now - 600), 401, "replayed or delayed"),
        (
            "unsigned",
            {
                let mut r = request(&approve, SIGNING_SECRET, now);
                r.headers.clear();
                r
            },
            401,
            "header is missing",
        ),
        ("not a click", request("payload=%7B%7D", SIGNING_SECRET, now), 400, "not a Slack interaction"),
        (
            "not our button",
            request(&click("U0BOB", "other", &s.button, &reply_to), SIGNING_SECRET, now),
            400,
            "not one of rollgate's buttons",
        ),
        (
            "stranger",
            request(&click("U0MALLORY", slack::APPROVE_ACTION, &s.button, &reply_to), SIGNING_SECRET, now),
            403,
            "not an approver",
        ),
        (
            "old message",
            request(&click("U0BOB", slack::APPROVE_ACTION, &old_button, &reply_to), SIGNING_SECRET, now),
            409,
            "decide on the newest message",
        ),
        (
            "unknown release",
            request(&click("U0BOB", slack::APPROVE_ACTION, &other_release, &reply_to), SIGNING_SECRET, now),
            409,
            "has no pending approval",
        ),
    ];
    for (name, request, want, reason) in cases {
        let (status, answer) = answer(&handler(request, &s.deps()).await);
        assert_eq!(status, want, "{name}: {answer}");
        assert!(answer["error"].as_str().is_some_and(|e| e.contains(reason)), "{name}: `{answer}` lacks `{reason}`");
    }
    assert_eq!(s.table.store.events(&s.release_id).await.unwrap_or_default().len(), before, "a refusal records nothing");
    assert_eq!(s.workflow.outcome("task-token-1"), None, "a refusal resumes nothing");
    // Authenticated refusals are explained to the clicker in Slack; forged ones get no reply.
    let replies = s.replies();
    assert_eq!(replies.len(), 3, "{replies:?}");
    assert!(
        replies
            .iter()
            .all(|r| r["response_type"] == "ephemeral" && r["text"].as_str().is_some_and(|t| t.starts_with(":warning: Not recorded")))
    );
}

#[tokio::test]
async fn an_expired_approval_is_gone_and_replies_go_only_to_slack() {
    let s = setup(1, "1s").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // A response_url off Slack's hosts is never called, whatever the request says.
    let body = click("U0BOB", slack::APPROVE_ACTION, &s.button, "http://169.254.169.254/latest/meta-data");
    let (status, answer) = answer(&handler(request(&body, SIGNING_SECRET, Utc::now().timestamp()), &s.deps()).await);
    assert_eq!(status, 410, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("an expired approval is a rejection")), "{answer}");
    assert_eq!(s.workflow.outcome("task-token-1"), None, "an expired approval is never a pass");
    assert!(s.replies().is_empty());
}

#[tokio::test]
async fn a_refused_slack_post_is_recorded_and_the_approval_still_waits() {
    let table = TestTable::create().await;
    let release_id = format!("refused-{}", uuid::Uuid::new_v4().simple());
    let request = ReleaseRequest {
        release_id: Some(release_id.clone()),
        service: "checkout-api".into(),
        environment: release_id.clone(),
        version: "2.4.0".into(),
        stable_version: None,
        author: None,
        requested_by: None,
        plan: json!({
            "name": "checkout",
            "traffic": {"router": {"type": "dry_run"}, "steps": [{"weight": 10, "bake": "5m", "approval": "go"}, {"weight": 100, "bake": "5m"}]},
            "approvals": [{"id": "go", "approvers": ["U0BOB"], "timeout": "1h", "channel": "C0GONE"}]
        }),
        evidence: Default::default(),
        overrides: vec![],
        execution: None,
    };
    admit(&table.store, &rollgate::ports::NoPolicies, request, Utc::now()).await.unwrap_or_else(|e| panic!("{e}"));
    let slack = CaptureServer::answering(r#"{"ok":false,"error":"channel_not_found"}"#).await;
    let chat = SlackNotifier::new(slack_api(&slack));
    let notifier = RecordingNotifier::default();
    let deps = approval_request::Deps { store: &table.store, tokens: &table.tokens, notifier: &notifier, slack: Some(&chat) };
    let ask = json!({"release_id": release_id, "step": 0, "approval": "go", "task_token": "t"});
    approval_request::handler(ask, &deps).await.unwrap_or_else(|e| panic!("a failed Slack post does not fail the approval: {e}"));
    let trail = table.store.events(&release_id).await.unwrap_or_default();
    let failed = trail.iter().find(|e| matches!(e.kind, EventKind::NotificationFailed { .. })).map(|e| e.kind.summary());
    assert_eq!(
        failed.as_deref(),
        Some(
            "notification waiting_for_approval via slack FAILED: publishing the waiting_for_approval notification failed: Slack chat.postMessage failed: refused: channel_not_found"
        )
    );
    assert!(trail.iter().any(|e| matches!(e.kind, EventKind::ApprovalRequested { .. })), "the approval is pending all the same");
}

#[tokio::test]
async fn a_reject_click_asks_why_and_the_reason_goes_into_the_trail() {
    let s = setup(1, "1h").await;
    let api = slack_api(&s.slack);
    let deps = Deps { slack: Some(&api), ..s.deps() };
    let reject = s.button.clone();
    let now = Utc::now().timestamp();

    // Someone who may not decide is refused at once, without a form.
    let stranger = click("U0MALLORY", slack::REJECT_ACTION, &reject, &format!("{}/actions/T0/9/x", s.slack.url));
    let (status, _) = answer(&handler(request(&stranger, SIGNING_SECRET, now), &deps).await);
    assert_eq!(status, 403);
    assert!(!s.slack.requests().iter().any(|r| r.request_line.ends_with("views.open")));

    // An approver's Reject opens the reason form; nothing is decided yet.
    let by_carol = click("U0CAROL", slack::REJECT_ACTION, &reject, &format!("{}/actions/T0/4/jkl", s.slack.url));
    let (status, answer_body) = answer(&handler(request(&by_carol, SIGNING_SECRET, now), &deps).await);
    assert_eq!((status, answer_body["result"].as_str()), (200, Some("asked for the reason")));
    assert_eq!(s.workflow.outcome("task-token-1"), None);
    let opened = s.slack.requests().into_iter().find(|r| r.request_line.ends_with("views.open")).map(|r| r.body).unwrap_or_default();
    assert_eq!(opened["trigger_id"], "1234567890.0987654321.abcdef", "the sample click's trigger");
    assert_eq!(opened["view"]["callback_id"], slack::REJECT_CALLBACK);

    // The submitted form rejects with the reason, closes, and the original message shows it.
    let submission = json!({
        "type": "view_submission",
        "user": {"id": "U0CAROL", "username": "carol", "name": "carol"},
        "view": {"callback_id": slack::REJECT_CALLBACK, "private_metadata": opened["view"]["private_metadata"],
                 "state": {"values": {"reason": {"reason": {"type": "plain_text_input", "value": "error budget spent"}}}}}
    });
    let body = serde_urlencoded::to_string([("payload", submission.to_string())]).unwrap_or_default();
    let (status, answer_body) = answer(&handler(request(&body, SIGNING_SECRET, Utc::now().timestamp()), &deps).await);
    assert_eq!((status, answer_body), (200, json!({"response_action": "clear"})));
    assert_eq!(
        s.workflow.outcome("task-token-1"),
        Some(TaskOutcome::Failed { error: "ApprovalRejected".into(), cause: "rejected by U0CAROL: error budget spent".into() })
    );
    let updated = s.slack.requests().into_iter().find(|r| r.request_line.ends_with("chat.update")).map(|r| r.body).unwrap_or_default();
    assert_eq!((updated["channel"].as_str(), updated["ts"].as_str()), (Some("C0DEPLOYS"), Some("1763900000.000100")));
    assert!(updated["text"].as_str().is_some_and(|t| t.contains("rejected by U0CAROL: error budget spent")), "{updated}");

    // Submitting again records nothing more; the execution no longer waits, and the form shows why,
    // as Slack requires (HTTP 200 with `response_action: errors`).
    let (status, again) = answer(&handler(request(&body, SIGNING_SECRET, Utc::now().timestamp()), &deps).await);
    assert_eq!(status, 200);
    assert_eq!(again["response_action"], "errors");
    assert!(again["errors"]["reason"].as_str().is_some_and(|e| e.starts_with("Not recorded (410)")), "{again}");
}
