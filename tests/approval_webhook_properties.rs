//! The Slack webhook's handler on hostile requests (#14): arbitrary headers and bodies, signed and
//! unsigned, plain and base64. Nothing here needs an AWS endpoint: the release waits in the
//! in-memory store, the signing secret is fixed, and no reply leaves the process (no response
//! URL prefix is allowed).
//!
//! - Never a panic, never a 5xx (the backend here is always available).
//! - A request not signed with the app's secret, recently, is a 401 (or a 400 for a body that
//!   is not the base64 it claims to be), and records and resumes nothing.
//! - A signed request is a 200 only for a click on rollgate's button by an approver; then, and
//!   only then, the waiting task is resumed.

use approval_webhook::{Deps, SlackReplies, handler};
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine;
use chrono::Utc;
use proptest::prelude::*;
use rollgate::adapters::memory::{MemoryStore, RecordingNotifier, RecordingWorkflow, TaskOutcome};
use rollgate::adapters::secrets::FixedSecret;
use rollgate::flow::admit::admit;
use rollgate::ports::ReleaseStore;
use rollgate::release::ReleaseRequest;
use rollgate::release::slack;
use serde_json::{Value, json};

const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const RELEASE: &str = "checkout-api-42";
const TOKEN: &str = "task-token-1";
const APPROVERS: [&str; 2] = ["U0BOB", "carol"];

/// A release waiting on approval `go-no-go` (approvers U0BOB and carol, quorum 1), as
/// approval-request leaves it.
struct World {
    store: MemoryStore,
    workflow: RecordingWorkflow,
    secret: FixedSecret,
    replies: SlackReplies,
}

impl World {
    fn deps(&self) -> Deps<'_> {
        Deps {
            store: &self.store,
            tokens: &self.store,
            workflow: &self.workflow,
            secret: &self.secret,
            replies: &self.replies,
            slack: None,
        }
    }

    async fn events(&self) -> usize {
        self.store.events(RELEASE).await.unwrap_or_default().len()
    }
}

async fn world() -> World {
    let store = MemoryStore::new();
    let request = ReleaseRequest {
        release_id: Some(RELEASE.into()),
        service: "checkout-api".into(),
        environment: "production".into(),
        version: "2.4.0".into(),
        stable_version: Some("2.3.9".into()),
        author: Some("alice".into()),
        requested_by: None,
        plan: json!({
            "name": "checkout",
            "traffic": {"router": {"type": "dry_run"}, "steps": [{"weight": 10, "bake": "5m", "approval": "go-no-go"}, {"weight": 100, "bake": "5m"}]},
            "approvals": [{"id": "go-no-go", "approvers": APPROVERS, "quorum": 1, "timeout": "1h"}],
            "notifications": {"events": ["waiting_for_approval"]}
        }),
        evidence: Default::default(),
        overrides: vec![],
        execution: None,
    };
    admit(&store, &rollgate::ports::NoPolicies, request, Utc::now()).await.unwrap_or_else(|e| panic!("admit: {e}"));
    let notifier = RecordingNotifier::default();
    let deps = approval_request::Deps { store: &store, tokens: &store, notifier: &notifier, slack: None };
    let ask = json!({"release_id": RELEASE, "step": 0, "approval": "go-no-go", "task_token": TOKEN});
    approval_request::handler(ask, &deps).await.unwrap_or_else(|e| panic!("approval-request: {e}"));
    World { store, workflow: RecordingWorkflow::default(), secret: FixedSecret(SECRET.into()), replies: SlackReplies::new(Vec::new()) }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| panic!("tokio: {e}"))
}

fn answer(response: &ApiGatewayV2httpResponse) -> (i64, Value) {
    let body = match &response.body {
        Some(Body::Text(t)) => serde_json::from_str(t).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (response.status_code, body)
}

/// A request with `headers` (names and values as sent; the ones HTTP cannot carry are dropped)
/// and `body`, sent base64-encoded if `base64`.
fn request(headers: &[(String, Vec<u8>)], body: &[u8], base64: bool) -> ApiGatewayV2httpRequest {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value)) {
            map.insert(name, value);
        }
    }
    let mut request = ApiGatewayV2httpRequest::default();
    request.headers = map;
    if base64 {
        request.body = Some(base64::engine::general_purpose::STANDARD.encode(body));
        request.is_base64_encoded = true;
    } else {
        request.body = Some(String::from_utf8_lossy(body).into_owned());
    }
    request
}

/// What the handler reads of a body: the bytes, or the text the lossy conversion made of them.
fn as_received(body: &[u8], base64: bool) -> Vec<u8> {
    if base64 { body.to_vec() } else { String::from_utf8_lossy(body).into_owned().into_bytes() }
}

fn signed_headers(body: &[u8], secret: &str, at: i64) -> Vec<(String, Vec<u8>)> {
    let ts = at.to_string();
    vec![
        (slack::TIMESTAMP_HEADER.into(), ts.clone().into_bytes()),
        (slack::SIGNATURE_HEADER.into(), slack::sign(secret.as_bytes(), &ts, body).into_bytes()),
        ("content-type".into(), b"application/x-www-form-urlencoded".to_vec()),
    ]
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(&[
            slack::TIMESTAMP_HEADER, slack::SIGNATURE_HEADER, "X-Slack-Signature", "X-SLACK-REQUEST-TIMESTAMP", "content-type",
            "content-length", "x-forwarded-for", "host",
        ][..]).prop_map(str::to_string),
        1 => "[a-zA-Z0-9!#$%&'*+.^_`|~-]{1,20}",
        1 => any::<String>(),
    ]
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    let now = Utc::now().timestamp();
    prop_oneof![
        2 => prop::sample::select(vec![
            now.to_string(), (now - 301).to_string(), "0".into(), "-1".into(), i64::MIN.to_string(), i64::MAX.to_string(),
            "99999999999999999999".into(), " 1531420618 ".into(), "1531420618.5".into(), "v0=".into(),
            format!("v0={}", "0".repeat(64)), format!("v0={}", "a".repeat(10_000)), "v1=abc".into(), String::new(), "１５３１４２０６１８".into(),
        ]).prop_map(String::into_bytes),
        1 => any::<String>().prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..80),
    ]
}

/// Bodies: arbitrary bytes, forms, and Slack interactions of every shape.
fn body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..200),
        1 => any::<String>().prop_map(String::into_bytes),
        1 => prop::collection::vec((any::<String>(), any::<String>()), 0..4)
            .prop_map(|pairs| serde_urlencoded::to_string(pairs).unwrap_or_default().into_bytes()),
        8 => interaction().prop_map(|payload| serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap_or_default().into_bytes()),
        1 => interaction().prop_map(|payload| format!("payload={payload}").into_bytes()),
    ]
    .boxed()
}

fn text() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<String>().prop_map(Value::String),
        prop::sample::select(&["", "U0BOB", "carol", "CAROL", "alice", "U0MALLORY", "bob"][..]).prop_map(|s| json!(s)),
        any::<i64>().prop_map(|n| json!(n)),
        Just(json!({"nested": [1, 2]})),
    ]
    .boxed()
}

/// The button's value: rollgate's, with its release, approval and step right or wrong.
fn button_value() -> BoxedStrategy<Value> {
    let release = prop_oneof![8 => Just(json!(RELEASE)), 1 => text()];
    let approval = prop_oneof![8 => Just(json!("go-no-go")), 1 => text()];
    let step = prop_oneof![12 => Just(json!(0)), 1 => Just(json!(1)), 1 => Just(json!(-1)), 1 => Just(json!(u64::MAX)), 1 => Just(json!(1e300)), 1 => text()];
    prop_oneof![
        8 => (release, approval, step).prop_map(|(r, a, s)| json!(json!({"release_id": r, "approval": a, "step": s}).to_string())),
        1 => text(),
    ]
    .boxed()
}

/// A Slack interaction: a click on a button or a submitted form, with every field right or wrong.
fn interaction() -> BoxedStrategy<Value> {
    let kind = prop_oneof![6 => Just(json!("block_actions")), 3 => Just(json!("view_submission")), 1 => text()];
    let name = || prop::sample::select(&["U0BOB", "carol", "CAROL", "alice", "U0MALLORY", "bob", ""][..]).prop_map(|s| json!(s));
    let user = prop_oneof![
        8 => (name(), prop::option::of(name())).prop_map(|(id, name)| json!({"id": id, "username": name})),
        1 => (text(), prop::option::of(text())).prop_map(|(id, name)| json!({"id": id, "username": name})),
        1 => text(),
    ];
    let action = prop_oneof![4 => Just(json!(slack::APPROVE_ACTION)), 3 => Just(json!(slack::REJECT_ACTION)), 1 => text()];
    let actions = prop_oneof![
        8 => (action, button_value()).prop_map(|(a, v)| json!([{"action_id": a, "value": v}])),
        1 => Just(json!([])),
        1 => text(),
    ];
    let reason = prop_oneof![3 => Just(json!("error budget spent")), 1 => text()];
    let view = (prop_oneof![6 => Just(json!(slack::REJECT_CALLBACK)), 1 => text()], button_value(), reason).prop_map(|(callback, metadata, reason)| {
        json!({"callback_id": callback, "private_metadata": metadata, "state": {"values": {"reason": {"reason": {"value": reason}}}}})
    });
    let view = prop_oneof![4 => view.prop_map(Some), 1 => Just(None)];
    let url = || prop::option::of(prop_oneof![3 => Just(json!("https://hooks.slack.com/actions/T0/1/abc")), 1 => text()]);
    (kind, user, actions, view, url(), url())
        .prop_map(|(kind, user, actions, view, response_url, trigger_id)| {
            let mut payload =
                json!({"type": kind, "user": user, "actions": actions, "container": {"channel_id": "C0DEPLOYS", "message_ts": "1.2"}});
            for (key, value) in [("view", view), ("response_url", response_url), ("trigger_id", trigger_id)] {
                if let Some(value) = value {
                    payload[key] = value;
                }
            }
            payload
        })
        .boxed()
}

/// How a request is (not) signed.
#[derive(Clone, Debug)]
enum Signing {
    /// Whatever headers were drawn.
    Arbitrary,
    /// Signed with another secret.
    OtherSecret,
    /// Signed rightly, for another body.
    OtherBody,
    /// Signed rightly, too long ago or too far ahead.
    Stale(i64),
}

fn signing() -> impl Strategy<Value = Signing> {
    prop_oneof![
        Just(Signing::Arbitrary),
        Just(Signing::OtherSecret),
        Just(Signing::OtherBody),
        prop_oneof![301..100_000i64, -100_000..-301i64, Just(i64::MIN / 2)].prop_map(Signing::Stale),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Not signed with the app's secret, recently, over this very body: 401 (a body that is not
    /// the base64 it claims to be: 400, before anything else), and nothing is recorded.
    #[test]
    fn an_unsigned_or_forged_request_is_a_401_and_records_nothing(
        headers in prop::collection::vec((header_name(), header_value()), 0..6),
        body in body(),
        base64 in any::<bool>(),
        signing in signing(),
        broken_base64 in any::<bool>(),
    ) {
        let now = Utc::now().timestamp();
        let received = as_received(&body, base64);
        let mut all = headers.clone();
        match signing {
            Signing::Arbitrary => {}
            Signing::OtherSecret => all.extend(signed_headers(&received, "not-the-secret", now)),
            Signing::OtherBody => all.extend(signed_headers(&[received.as_slice(), b"&x=1"].concat(), SECRET, now)),
            Signing::Stale(by) => all.extend(signed_headers(&received, SECRET, now.saturating_add(by))),
        }
        let mut request = request(&all, &body, base64);
        if base64 && broken_base64 {
            request.body = request.body.map(|b| format!("{b}*"));
        }
        let rt = runtime();
        let world = rt.block_on(world());
        let before = rt.block_on(world.events());
        let (status, answer) = answer(&rt.block_on(handler(request, &world.deps())));
        let want = if base64 && broken_base64 { 400 } else { 401 };
        prop_assert_eq!(status, want, "{}", answer);
        prop_assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()), "{answer}");
        prop_assert_eq!(rt.block_on(world.events()), before, "a refused request recorded something");
        prop_assert_eq!(world.workflow.outcome(TOKEN), None);
    }

    /// Signed rightly, with any content: never a 5xx; a 200 only for a click (or the reason form)
    /// by an approver on this release's pending approval, which then, and only then, settles the
    /// waiting task; every refusal is a 4xx with a reason and resumes nothing.
    #[test]
    fn a_signed_request_of_any_content_is_answered_without_a_5xx(
        body in body(),
        base64 in any::<bool>(),
        extra in prop::collection::vec((header_name(), header_value()), 0..3),
    ) {
        let now = Utc::now().timestamp();
        let received = as_received(&body, base64);
        // The drawn headers first: the signature's own overwrite them.
        let mut headers = extra;
        headers.extend(signed_headers(&received, SECRET, now));
        let rt = runtime();
        let world = rt.block_on(world());
        let before = rt.block_on(world.events());
        let response = rt.block_on(handler(request(&headers, &body, base64), &world.deps()));
        let (status, answer) = answer(&response);
        prop_assert!((200..500).contains(&status), "{status}: {answer}");
        prop_assert!(answer.is_object(), "the answer is JSON: {:?}", response.body);
        let outcome = world.workflow.outcome(TOKEN);
        // A refused reason form is an HTTP 200 with `response_action: errors` (as Slack requires).
        if status == 200 && answer["response_action"] != "errors" {
            let click = slack::parse_click(&received).map_err(|e| TestCaseError::fail(format!("a 200 for a request that is not a click: {e}")))?;
            prop_assert_eq!(click.release_id.as_str(), RELEASE);
            let approver = click.identities.iter().any(|i| APPROVERS.iter().any(|a| a.eq_ignore_ascii_case(i)));
            prop_assert!(approver, "a 200 for {:?}: {}", click.identities, answer);
            match (click.approved, &outcome) {
                (true, Some(TaskOutcome::Resumed(_))) | (false, Some(TaskOutcome::Failed { .. })) => {}
                _ => prop_assert!(false, "a 200 ({answer}) left the task {outcome:?}"),
            }
            prop_assert!(rt.block_on(world.events()) > before, "a decision is recorded");
        } else {
            prop_assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()) || answer["response_action"] == "errors", "{status}: {answer}");
            prop_assert_eq!(outcome, None, "a {} resumed the task", status);
            prop_assert_eq!(rt.block_on(world.events()), before, "a refusal recorded something");
        }
    }
}

/// `a_signed_request_of_any_content_is_answered_without_a_5xx` found it: a signed click whose
/// button names step 18446744073709551615 panics ("attempt to add with overflow") while the
/// refusal is worded, in `ApprovalError::Superseded`'s message (`.voted_step + 1`,
/// shared/src/flow/approval.rs); a release build wraps it to "step 0" instead. Ignored until that
/// message uses `saturating_add(1)`; then it answers 409 like any superseded vote.
#[test]
fn a_click_on_the_last_possible_step_is_refused_without_a_panic() {
    let body = "payload=%7B%22actions%22%3A%5B%7B%22action_id%22%3A%22rollgate_approve%22%2C%22value%22%3A%22%7B%5C%22approval%5C%22%3A%5C%22go-no-go%5C%22%2C%5C%22release_id%5C%22%3A%5C%22checkout-api-42%5C%22%2C%5C%22step%5C%22%3A18446744073709551615%7D%22%7D%5D%2C%22container%22%3A%7B%22channel_id%22%3A%22C0DEPLOYS%22%2C%22message_ts%22%3A%221.2%22%7D%2C%22type%22%3A%22block_actions%22%2C%22user%22%3A%7B%22id%22%3A%22%22%2C%22username%22%3Anull%7D%7D";
    let rt = runtime();
    let world = rt.block_on(world());
    let headers = signed_headers(body.as_bytes(), SECRET, Utc::now().timestamp());
    let (status, answer) = answer(&rt.block_on(handler(request(&headers, body.as_bytes(), false), &world.deps())));
    assert_eq!(status, 409, "{answer}");
    assert_eq!(world.workflow.outcome(TOKEN), None);
}
