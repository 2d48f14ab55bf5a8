//! The webhook router against an HTTP server started by the test on loopback, with its signing
//! key in Secrets Manager on the test endpoint (AWS_ENDPOINT_URL); and step hooks, whose HTTP
//! calls go through the same guarded, signed client, and whose Lambda calls go to the endpoint.
//!
//! The test server has no TLS, so the tests that reach it build the router with the test-only
//! loopback exception (what `ROLLGATE_ALLOW_INSECURE_LOOPBACK_WEBHOOK=1` turns on); the refusal
//! tests build it without, as it runs when deployed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rollgate::HumanDuration;
use rollgate::adapters::memory::MemoryStore;
use rollgate::adapters::routers::WebhookRouter;
use rollgate::adapters::secrets::{CachedSecrets, FixedSecrets, SECRET_CACHE_TTL, SecretLookup};
use rollgate::domain::plan::RouterSpec;
use rollgate::flow::traffic::apply;
use rollgate::ports::{ReleaseStore, RouterError, TrafficRouter};
use rollgate::release::Lease;
use rollgate::release::route::{RouteStage, RouteTarget};
use rollgate_tests::aws;
use rollgate_tests::webhook_server::{Behaviour, WebhookServer};

const KEY: &str = "s3cr3t-signing-key";
/// The ARN the refusal tests name (their key is given in-process; they never reach AWS).
const FIXED_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rollgate/webhook/test-AbCdEf";

/// A new secret holding `key` on the test endpoint; its ARN.
async fn stored_key(key: &str) -> String {
    let config = aws().await;
    let out = aws_sdk_secretsmanager::Client::new(&config)
        .create_secret()
        .name(format!("rollgate/webhook/test-{}", uuid::Uuid::new_v4().simple()))
        .secret_string(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateSecret: {e:?}"));
    out.arn().unwrap_or_else(|| panic!("CreateSecret returned no ARN")).to_string()
}

async fn secrets_manager(ttl: Duration) -> CachedSecrets {
    CachedSecrets::new(aws_sdk_secretsmanager::Client::new(&aws().await), ttl)
}

fn tuned(mut router: WebhookRouter) -> WebhookRouter {
    router.attempts = 3;
    router.first_backoff = Duration::from_millis(20);
    router
}

/// The router as the tests' functions run it: keys from Secrets Manager, loopback http allowed.
async fn router() -> WebhookRouter {
    tuned(WebhookRouter::with_insecure_loopback(Box::new(secrets_manager(SECRET_CACHE_TTL).await), true))
}

/// A router that holds `KEY` under `FIXED_ARN` in-process.
fn fixed_router(insecure_loopback: bool) -> WebhookRouter {
    let keys = FixedSecrets(HashMap::from([(FIXED_ARN.to_string(), KEY.to_string())]));
    tuned(WebhookRouter::with_insecure_loopback(Box::new(keys), insecure_loopback))
}

fn target(url: &str, secret_arn: &str, timeout_secs: u64) -> RouteTarget {
    RouteTarget {
        router: RouterSpec::Webhook {
            url: url.into(),
            secret_arn: secret_arn.into(),
            secret_env: None,
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

/// The server's URL with its host replaced (same port and path).
fn with_host(server: &WebhookServer, scheme_and_host: &str) -> String {
    let port_and_path = server.url.trim_start_matches("http://127.0.0.1");
    format!("{scheme_and_host}{port_and_path}")
}

fn assert_rejected(result: &Result<(), RouterError>, expected: &str) {
    match result {
        Err(e @ RouterError::Rejected { message, .. }) => {
            assert!(!e.is_transient());
            assert!(message.contains(expected), "expected `{expected}` in: {message}");
        }
        other => panic!("expected a refusal containing `{expected}`, got {other:?}"),
    }
}

#[tokio::test]
async fn signed_weights_are_applied_and_read_back_with_the_key_from_secrets_manager() {
    let server = WebhookServer::start(KEY, Behaviour::default()).await;
    let (arn, router, store) = (stored_key(KEY).await, router().await, MemoryStore::new());
    // Route claims are fenced by the release's lock (as admission takes it).
    let now = chrono::Utc::now();
    let lease = Lease {
        service: "vision-to-code".into(),
        environment: "production".into(),
        holder: "vision-42".into(),
        acquired_at: now,
        expires_at: now + chrono::Duration::hours(1),
    };
    store.acquire_lock(&lease, now).await.unwrap_or_else(|e| panic!("{e}"));
    let change = apply(&store, &router, &target(&server.url, &arn, 5), 10, RouteStage::Step(0), chrono::Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let change = change.last().cloned().unwrap_or_else(|| panic!("a change"));
    assert_eq!((change.before, change.after, change.verified), (0, 10, 10));
    let last = server.seen(|s| s.last.clone()).unwrap_or_else(|| panic!("request seen"));
    assert_eq!((last.canary_weight, last.stable_weight, last.step_name.as_deref()), (10, 90, Some("canary-10")));
    assert_eq!(
        server.seen(|s| (s.requests, s.bad_signatures)),
        (3, 0),
        "a GET for the weight before, the POST, a GET to read back; all signed"
    );
    // The same weight again is a no-op: nothing is sent.
    assert!(
        apply(&store, &router, &target(&server.url, &arn, 5), 10, RouteStage::Step(0), chrono::Utc::now())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty()
    );
    assert_eq!(server.seen(|s| s.requests), 3);
}

#[tokio::test]
async fn a_wrong_signature_is_refused_and_not_retried() {
    let server = WebhookServer::start(KEY, Behaviour::default()).await;
    let arn = stored_key("not-the-key").await;
    let result = router().await.set_weight(&target(&server.url, &arn, 5), 25, None).await;
    assert_rejected(&result, "401");
    assert_eq!(server.seen(|s| (s.requests, s.bad_signatures)), (1, 1));
}

#[tokio::test]
async fn a_timeout_is_retried_then_reported_as_transient() {
    let server = WebhookServer::start(KEY, Behaviour { delay: Duration::from_secs(3), ..Behaviour::default() }).await;
    let result = fixed_router(true).set_weight(&target(&server.url, FIXED_ARN, 1), 25, None).await;
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
    fixed_router(true).set_weight(&target(&recovering.url, FIXED_ARN, 5), 50, None).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(recovering.seen(|s| (s.requests, s.weight)), (3, 50));

    let broken = WebhookServer::start(KEY, Behaviour { fail_first: 100, ..Behaviour::default() }).await;
    let result = fixed_router(true).set_weight(&target(&broken.url, FIXED_ARN, 5), 50, None).await;
    assert!(
        matches!(&result, Err(e @ RouterError::Unreachable { message, .. }) if e.is_transient() && message.contains("500")),
        "{result:?}"
    );
    assert_eq!(broken.seen(|s| s.requests), 3);
}

#[tokio::test]
async fn the_endpoints_answer_is_checked() {
    let server = WebhookServer::start(KEY, Behaviour { answer_weight: Some(5), ..Behaviour::default() }).await;
    let result = fixed_router(true).set_weight(&target(&server.url, FIXED_ARN, 5), 25, None).await;
    assert_rejected(&result, "answered 5%");
}

#[tokio::test]
async fn a_missing_secret_says_what_to_do() {
    let config = aws().await;
    let arn = format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:rollgate/webhook/missing-{}", uuid::Uuid::new_v4().simple());
    let server = WebhookServer::start(KEY, Behaviour::default()).await;
    let router = tuned(WebhookRouter::with_insecure_loopback(
        Box::new(CachedSecrets::new(aws_sdk_secretsmanager::Client::new(&config), SECRET_CACHE_TTL)),
        true,
    ));
    let result = router.set_weight(&target(&server.url, &arn, 1), 10, None).await;
    assert!(
        matches!(&result, Err(RouterError::NotConfigured { message, .. })
            if message.contains(&arn) && message.contains("secretsmanager:GetSecretValue")),
        "{result:?}"
    );
    assert_eq!(server.seen(|s| s.requests), 0, "nothing is sent unsigned");
}

#[tokio::test]
async fn the_key_is_cached_for_a_while_then_read_again() {
    let arn = stored_key("first-key").await;
    let (kept, fresh) = (secrets_manager(SECRET_CACHE_TTL).await, secrets_manager(Duration::ZERO).await);
    for secrets in [&kept, &fresh] {
        assert_eq!(secrets.secret(&arn).await.unwrap_or_else(|e| panic!("{e}")), "first-key");
    }
    aws_sdk_secretsmanager::Client::new(&aws().await)
        .put_secret_value()
        .secret_id(&arn)
        .secret_string("rotated-key")
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutSecretValue: {e:?}"));
    assert_eq!(kept.secret(&arn).await.unwrap_or_else(|e| panic!("{e}")), "first-key", "within the cache's 5 minutes");
    assert_eq!(fresh.secret(&arn).await.unwrap_or_else(|e| panic!("{e}")), "rotated-key", "after the cache expired");
}

// ---------------------------------------------------------------------------------------------
// What the router refuses. None of these reaches the server, none is transient.

#[tokio::test]
async fn plain_http_is_refused_without_the_test_setting() {
    let server = WebhookServer::start(KEY, Behaviour::default()).await;
    let result = fixed_router(false).set_weight(&target(&server.url, FIXED_ARN, 2), 10, None).await;
    assert_rejected(&result, "plain http; webhooks are called over https only");
    // Even with the test setting, plain http goes to loopback only.
    let result = fixed_router(true).set_weight(&target("http://deploy.example.com/rollgate", FIXED_ARN, 2), 10, None).await;
    assert_rejected(&result, "plain http");
    assert_eq!(server.seen(|s| s.requests), 0);
}

#[tokio::test]
async fn private_loopback_and_link_local_addresses_are_refused() {
    let server = WebhookServer::start(KEY, Behaviour::default()).await;
    let strict = fixed_router(false);
    for (url, expected) in [
        ("https://169.254.169.254/latest/meta-data/iam/security-credentials/".to_string(), "169.254.169.254 is link-local"),
        ("https://10.0.0.1/rollgate".to_string(), "10.0.0.1 is private"),
        (with_host(&server, "https://127.0.0.1"), "127.0.0.1 is loopback"),
        (with_host(&server, "https://[::1]"), "::1 is loopback"),
        (with_host(&server, "https://[::ffff:127.0.0.1]"), "::ffff:127.0.0.1 is IPv4-mapped 127.0.0.1, loopback"),
        ("https://[fd00:ec2::254]/latest/meta-data/".to_string(), "unique local"),
    ] {
        let started = Instant::now();
        let result = strict.set_weight(&target(&url, FIXED_ARN, 2), 10, None).await;
        assert_rejected(&result, expected);
        assert!(started.elapsed() < Duration::from_secs(1), "{url}: refused without trying to connect");
    }
    // The test setting opens loopback only.
    let tests = fixed_router(true);
    for url in ["http://169.254.169.254/latest/meta-data/", "https://169.254.169.254/latest/meta-data/", "https://10.0.0.1/rollgate"] {
        let result = tests.set_weight(&target(url, FIXED_ARN, 2), 10, None).await;
        assert!(matches!(&result, Err(RouterError::Rejected { .. })), "{url}: {result:?}");
    }
    assert_eq!(server.seen(|s| s.requests), 0);
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused_after_resolution() {
    let server = WebhookServer::start(KEY, Behaviour::default()).await;
    let result = fixed_router(false).set_weight(&target(&with_host(&server, "https://localhost"), FIXED_ARN, 2), 10, None).await;
    assert_rejected(&result, "localhost resolves to ");
    assert_rejected(&result, "loopback");
    assert_eq!(server.seen(|s| s.requests), 0);
    // With the test setting the checked address is the one connected to.
    fixed_router(true)
        .set_weight(&target(&with_host(&server, "http://localhost"), FIXED_ARN, 2), 10, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(server.seen(|s| (s.requests, s.weight)), (1, 10));
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let elsewhere = WebhookServer::start(KEY, Behaviour::default()).await;
    let redirecting = WebhookServer::start(KEY, Behaviour { redirect_to: Some(elsewhere.url.clone()), ..Behaviour::default() }).await;
    let result = fixed_router(true).set_weight(&target(&redirecting.url, FIXED_ARN, 2), 10, None).await;
    assert_rejected(&result, "302 Found");
    assert_rejected(&result, "redirects are not followed");
    assert_eq!((redirecting.seen(|s| s.requests), elsewhere.seen(|s| s.requests)), (1, 0), "not retried, not followed");
}

#[tokio::test]
async fn a_huge_answer_is_cut_off() {
    let server = WebhookServer::start(KEY, Behaviour { huge_answer: Some(10 * 1024 * 1024), ..Behaviour::default() }).await;
    let started = Instant::now();
    let result = fixed_router(true).set_weight(&target(&server.url, FIXED_ARN, 10), 10, None).await;
    assert_rejected(&result, "larger than 64 KiB");
    assert_eq!(server.seen(|s| s.requests), 1, "not retried");
    assert!(started.elapsed() < Duration::from_secs(5), "stopped reading at the limit");
}

// Step hooks ---------------------------------------------------------------------------------

mod hooks {
    use super::*;
    use rollgate::adapters::hooks::AwsHooks;
    use rollgate::adapters::routers::SignedClient;
    use rollgate::domain::hook::{HookContext, HookOutcome};
    use rollgate::domain::plan::{Hook, HookRun, HttpHook, LambdaHook};
    use rollgate::ports::HookRunner;
    use rollgate_tests::capture_server::CaptureServer;

    fn context() -> HookContext {
        HookContext {
            hook: "smoke".into(),
            run: HookRun::BeforeShift,
            release_id: "r-hooks".into(),
            service: "orders".into(),
            environment: "prod".into(),
            version: "2".into(),
            stable_version: Some("1".into()),
            step: 2,
            step_name: Some("canary-10".into()),
            weight: 10,
        }
    }

    fn http_hook(url: &str, secret_arn: &str, timeout_secs: u64) -> Hook {
        Hook {
            name: "smoke".into(),
            run: HookRun::BeforeShift,
            lambda: None,
            http: Some(HttpHook { url: url.into(), secret_arn: secret_arn.into() }),
            timeout: HumanDuration::from_secs(timeout_secs),
        }
    }

    /// Hooks as the functions run them: keys from Secrets Manager, Lambda on the endpoint,
    /// loopback http allowed (the test servers have no TLS).
    async fn hooks(insecure_loopback: bool) -> AwsHooks {
        let config = aws().await;
        let secrets: Box<dyn SecretLookup> = Box::new(secrets_manager(SECRET_CACHE_TTL).await);
        AwsHooks::new(aws_sdk_lambda::Client::new(&config), SignedClient::with_insecure_loopback(secrets, insecure_loopback))
    }

    #[tokio::test]
    async fn an_http_hook_is_signed_and_its_answer_decides() {
        let arn = stored_key(KEY).await;
        let runner = hooks(true).await;
        let passing = CaptureServer::answering(r#"{"passed": true, "output": "41 of 41 smoke tests passed"}"#).await;
        let answer = runner.run(&http_hook(&passing.url, &arn, 10), &context()).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((answer.outcome, answer.output.as_str()), (HookOutcome::Passed, "41 of 41 smoke tests passed"));
        // What the endpoint got: the release and the step, signed with the key as the router signs.
        let sent = passing.requests().pop().unwrap_or_else(|| panic!("one request"));
        assert!(sent.request_line.starts_with("POST "), "{}", sent.request_line);
        assert_eq!(
            (sent.body["release_id"].as_str(), sent.body["step"].as_u64(), sent.body["weight"].as_u64()),
            (Some("r-hooks"), Some(2), Some(10))
        );
        let header =
            |name: &str| sent.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()).unwrap_or_default();
        let timestamp: i64 = header("x-rollgate-timestamp").parse().unwrap_or_else(|e| panic!("timestamp: {e}"));
        assert_eq!(header("x-rollgate-signature"), rollgate::adapters::routers::sign(KEY.as_bytes(), timestamp, sent.raw.as_bytes()));

        let failing = CaptureServer::answering(r#"{"passed": false, "output": "POST /v1/agents -> 500"}"#).await;
        let answer = runner.run(&http_hook(&failing.url, &arn, 10), &context()).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((answer.outcome, answer.output.as_str()), (HookOutcome::Failed, "POST /v1/agents -> 500"));

        let broken = CaptureServer::answering_with("500 Internal Server Error", r#"{"error": "suite crashed"}"#).await;
        let answer = runner.run(&http_hook(&broken.url, &arn, 10), &context()).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(answer.outcome, HookOutcome::Failed);
        assert!(answer.output.starts_with("HTTP 500") && answer.output.contains("suite crashed"), "{}", answer.output);
    }

    #[tokio::test]
    async fn a_silent_or_unreachable_endpoint_is_no_answer_and_a_private_one_is_refused() {
        // Accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
        let url = format!("http://{}/smoke", listener.local_addr().map(|a| a.to_string()).unwrap_or_default());
        tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                open.push(socket);
            }
        });
        let runner = AwsHooks::new(
            aws_sdk_lambda::Client::new(&aws().await),
            SignedClient::with_insecure_loopback(Box::new(FixedSecrets(HashMap::from([(FIXED_ARN.to_string(), KEY.to_string())]))), true),
        );
        let started = Instant::now();
        let answer = runner.run(&http_hook(&url, FIXED_ARN, 1), &context()).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(answer.outcome, HookOutcome::NoAnswer, "{}", answer.output);
        assert!(started.elapsed() < Duration::from_secs(5), "bounded by the hook's timeout");

        let strict = AwsHooks::new(
            aws_sdk_lambda::Client::new(&aws().await),
            SignedClient::with_insecure_loopback(Box::new(FixedSecrets(HashMap::from([(FIXED_ARN.to_string(), KEY.to_string())]))), false),
        );
        for (target, why) in [("https://169.254.169.254/latest/meta-data/", "link-local"), ("http://tests.example.com/smoke", "plain http")]
        {
            let answer = strict.run(&http_hook(target, FIXED_ARN, 5), &context()).await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(answer.outcome, HookOutcome::Failed, "{target}");
            assert!(answer.output.contains(why), "{target}: {}", answer.output);
        }
    }

    #[tokio::test]
    async fn a_lambda_hook_that_does_not_exist_fails_and_says_what_to_check() {
        let hook = Hook {
            name: "smoke".into(),
            run: HookRun::EveryCheck,
            lambda: Some(LambdaHook { function: format!("rollgate-hook-missing-{}", uuid::Uuid::new_v4().simple()), input: None }),
            http: None,
            timeout: HumanDuration::from_secs(10),
        };
        let answer = hooks(false).await.run(&hook, &context()).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(answer.outcome, HookOutcome::Failed);
        assert!(answer.output.contains("rollgate-hook-missing-") && answer.output.contains("check the function"), "{}", answer.output);
    }
}
