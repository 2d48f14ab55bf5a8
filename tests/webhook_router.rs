//! The webhook router against an HTTP server started by the test on loopback.

use std::time::Duration;

use rollgate::HumanDuration;
use rollgate::adapters::memory::MemoryStore;
use rollgate::adapters::routers::WebhookRouter;
use rollgate::domain::plan::RouterSpec;
use rollgate::flow::traffic::apply;
use rollgate::ports::{RouterError, TrafficRouter};
use rollgate::release::route::RouteTarget;
use rollgate_tests::webhook_server::{Behaviour, WebhookServer};

const KEY: &str = "s3cr3t-signing-key";

fn router(key: &'static str) -> WebhookRouter {
    let mut router = WebhookRouter::with_keys(Box::new(move |name| (name == "TEAM_WEBHOOK_KEY").then(|| key.to_string())));
    router.attempts = 3;
    router.first_backoff = Duration::from_millis(20);
    router
}

fn target(url: &str, timeout_secs: u64) -> RouteTarget {
    RouteTarget {
        router: RouterSpec::Webhook {
            url: url.into(),
            secret_env: "TEAM_WEBHOOK_KEY".into(),
            timeout: Some(HumanDuration::from_secs(timeout_secs)),
        },
        release_id: "vision-42".into(),
        service: "vision-to-code".into(),
        environment: "production".into(),
        stable_version: "41".into(),
        canary_version: "42".into(),
        step: Some(1),
        step_name: Some("canary-10".into()),
    }
}

#[tokio::test]
async fn signed_weights_are_applied_and_read_back() {
    let server = WebhookServer::start(KEY, Behaviour::default()).await;
    let store = MemoryStore::new();
    let change = apply(&store, &router(KEY), &target(&server.url, 5), 10, chrono::Utc::now()).await.unwrap_or_else(|e| panic!("{e}"));
    let change = change.unwrap_or_else(|| panic!("a change"));
    assert_eq!((change.before, change.after, change.verified), (0, 10, 10));
    let last = server.seen(|s| s.last.clone()).unwrap_or_else(|| panic!("request seen"));
    assert_eq!((last.canary_weight, last.stable_weight, last.step_name.as_deref()), (10, 90, Some("canary-10")));
    assert_eq!(
        server.seen(|s| (s.requests, s.bad_signatures)),
        (3, 0),
        "a GET for the weight before, the POST, a GET to read back; all signed"
    );
    // The same weight again is a no-op: nothing is sent.
    assert!(apply(&store, &router(KEY), &target(&server.url, 5), 10, chrono::Utc::now()).await.unwrap_or_else(|e| panic!("{e}")).is_none());
    assert_eq!(server.seen(|s| s.requests), 3);
}

#[tokio::test]
async fn a_wrong_signature_is_refused_and_not_retried() {
    let server = WebhookServer::start(KEY, Behaviour::default()).await;
    let result = router("not-the-key").set_weight(&target(&server.url, 5), 25).await;
    assert!(matches!(&result, Err(RouterError::Rejected { message, .. }) if message.contains("401")), "{result:?}");
    assert_eq!(server.seen(|s| (s.requests, s.bad_signatures)), (1, 1));
}

#[tokio::test]
async fn a_timeout_is_retried_then_reported_as_transient() {
    let server = WebhookServer::start(KEY, Behaviour { delay: Duration::from_secs(3), ..Behaviour::default() }).await;
    let result = router(KEY).set_weight(&target(&server.url, 1), 25).await;
    match &result {
        Err(e @ RouterError::Unreachable { message, .. }) => {
            assert!(e.is_transient());
            assert!(message.contains("attempt 3"), "{message}");
        }
        other => panic!("expected a transient failure, got {other:?}"),
    }
    assert_eq!(server.seen(|s| s.requests), 3);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let recovering = WebhookServer::start(KEY, Behaviour { fail_first: 2, ..Behaviour::default() }).await;
    router(KEY).set_weight(&target(&recovering.url, 5), 50).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(recovering.seen(|s| (s.requests, s.weight)), (3, 50));

    let broken = WebhookServer::start(KEY, Behaviour { fail_first: 100, ..Behaviour::default() }).await;
    let result = router(KEY).set_weight(&target(&broken.url, 5), 50).await;
    assert!(matches!(&result, Err(RouterError::Unreachable { message, .. }) if message.contains("500")), "{result:?}");
    assert_eq!(broken.seen(|s| s.requests), 3);
}

#[tokio::test]
async fn the_endpoints_answer_is_checked() {
    let server = WebhookServer::start(KEY, Behaviour { answer_weight: Some(5), ..Behaviour::default() }).await;
    let result = router(KEY).set_weight(&target(&server.url, 5), 25).await;
    assert!(matches!(&result, Err(RouterError::Rejected { message, .. }) if message.contains("answered 5%")), "{result:?}");
}

#[tokio::test]
async fn a_missing_key_says_what_to_set() {
    let keyless = WebhookRouter::with_keys(Box::new(|_| None));
    let result = keyless.set_weight(&target("http://127.0.0.1:9/unused", 1), 10).await;
    assert!(matches!(&result, Err(RouterError::NotConfigured { message, .. }) if message.contains("TEAM_WEBHOOK_KEY")), "{result:?}");
}
