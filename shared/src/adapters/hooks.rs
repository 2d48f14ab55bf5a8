//! Step hooks over real APIs: a Lambda function invoked synchronously (`Invoke`), or an HTTPS
//! endpoint called with a signed POST through the webhook router's guarded client (public
//! addresses only, no redirects, capped answers). Each runs within the hook's timeout. A hook
//! that cannot be reached, or answers anything but a pass, does not pass; only a call worth
//! repeating as it is (throttled, a service error, the signing key unreadable for now) is a
//! `HookError`, which the state machine retries.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use serde::Deserialize;

use crate::adapters::aws_error::cause;
use crate::adapters::routers::{SIGNATURE_HEADER, SignedClient, TIMESTAMP_HEADER, blocked_in, excerpt, read_capped, refusal, sign};
use crate::adapters::secrets::{CachedSecrets, SECRET_CACHE_TTL, SecretLookup};
use crate::domain::hook::{HookAnswer, HookContext, HookOutcome};
use crate::domain::plan::{Hook, HttpHook, LambdaHook};
use crate::ports::{HookError, HookRunner};

/// What a hook answers: `{"passed": true|false, "output": "…"}` (an HTTP hook may answer any
/// 2xx body; only an explicit `"passed": false` fails it).
#[derive(Deserialize)]
struct Answer {
    passed: Option<bool>,
    #[serde(default)]
    output: Option<serde_json::Value>,
}

impl Answer {
    /// The answer's `output` as text (a string as it is, anything else as JSON).
    fn output(&self) -> Option<String> {
        self.output.as_ref().map(|o| match o {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        })
    }
}

pub struct AwsHooks {
    lambda: aws_sdk_lambda::Client,
    http: SignedClient,
}

impl AwsHooks {
    pub fn new(lambda: aws_sdk_lambda::Client, http: SignedClient) -> Self {
        Self { lambda, http }
    }

    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        let secrets: Box<dyn SecretLookup> = Box::new(CachedSecrets::new(aws_sdk_secretsmanager::Client::new(config), SECRET_CACHE_TTL));
        Self::new(aws_sdk_lambda::Client::new(config), SignedClient::new(secrets))
    }

    async fn invoke(&self, hook: &Hook, spec: &LambdaHook, context: &HookContext, started: Instant) -> Result<HookAnswer, HookError> {
        let failed = |text: String| HookAnswer::new(HookOutcome::Failed, &text, started.elapsed());
        let mut event = serde_json::to_value(context).unwrap_or_default();
        if let (Some(input), Some(fields)) = (&spec.input, event.as_object_mut()) {
            fields.insert("input".into(), input.clone());
        }
        let payload = serde_json::to_vec(&event).unwrap_or_default();
        let sent = self.lambda.invoke().function_name(&spec.function).payload(Blob::new(payload)).send().await;
        let out = match sent {
            Ok(out) => out,
            Err(e) => {
                let service = e.as_service_error();
                let transient = service.is_some_and(|s| {
                    s.is_too_many_requests_exception()
                        || s.is_service_exception()
                        || s.is_resource_not_ready_exception()
                        || s.is_ec2_throttled_exception()
                }) || matches!(
                    e,
                    aws_sdk_lambda::error::SdkError::DispatchFailure(_) | aws_sdk_lambda::error::SdkError::TimeoutError(_)
                );
                if transient {
                    return Err(HookError { hook: hook.name.clone(), message: format!("invoking {}: {}", spec.function, cause(&e)) });
                }
                let fix = if service.is_some_and(|s| s.is_resource_not_found_exception()) {
                    "check the function's name in the plan"
                } else {
                    "check that the function exists and that the template's HookFunctionArns lists it"
                };
                return Ok(failed(format!("invoking {} failed ({}); {fix}", spec.function, cause(&e))));
            }
        };
        let body = out.payload().map(|p| p.as_ref().to_vec()).unwrap_or_default();
        if let Some(kind) = out.function_error() {
            // The function threw: its errorMessage is the output.
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("errorMessage").and_then(|m| m.as_str()).map(str::to_string))
                .unwrap_or_else(|| excerpt(&body));
            return Ok(failed(format!("the function failed ({kind}): {message}")));
        }
        Ok(match serde_json::from_slice::<Answer>(&body) {
            Ok(answer @ Answer { passed: Some(true), .. }) => {
                HookAnswer::new(HookOutcome::Passed, &answer.output().unwrap_or_default(), started.elapsed())
            }
            Ok(answer @ Answer { passed: Some(false), .. }) => failed(answer.output().unwrap_or_default()),
            _ => failed(format!(
                "the function answered `{}`; a hook function answers {{\"passed\": true|false, \"output\": \"…\"}}",
                excerpt(&body)
            )),
        })
    }

    async fn call(&self, hook: &Hook, spec: &HttpHook, context: &HookContext, started: Instant) -> Result<HookAnswer, HookError> {
        let answer = |outcome, text: String| HookAnswer::new(outcome, &text, started.elapsed());
        let url = match self.http.checked_url(&spec.url) {
            Ok(url) => url,
            Err(refused) => return Ok(answer(HookOutcome::Failed, refused)),
        };
        let client = match self.http.client.as_ref() {
            Ok(client) => client,
            Err(e) => return Ok(answer(HookOutcome::Failed, e.clone())),
        };
        let key = match self.http.secrets.secret(&spec.secret_arn).await {
            Ok(key) if !key.is_empty() => key,
            Ok(_) => {
                return Ok(answer(
                    HookOutcome::Failed,
                    format!("the signing key secret {} is empty; store the key as its plain-text value", spec.secret_arn),
                ));
            }
            Err(e) if e.transient => return Err(HookError { hook: hook.name.clone(), message: format!("reading the signing key: {e}") }),
            Err(e) => {
                return Ok(answer(
                    HookOutcome::Failed,
                    format!("{e}; check that the secret exists and that the template's HookSecretArns lists it"),
                ));
            }
        };
        let body = serde_json::to_vec(context).unwrap_or_default();
        let timestamp = chrono::Utc::now().timestamp();
        let sent = client
            .post(url)
            .timeout(hook.timeout.std())
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, sign(key.as_bytes(), timestamp, &body))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                if let Some(blocked) = blocked_in(&e) {
                    return Ok(answer(HookOutcome::Failed, refusal(blocked)));
                }
                let what = if e.is_timeout() { "no answer in time".to_string() } else { format!("could not be reached: {e}") };
                return Ok(answer(HookOutcome::NoAnswer, format!("{}: {what}", spec.url)));
            }
        };
        let status = response.status();
        if status.is_redirection() {
            return Ok(answer(
                HookOutcome::Failed,
                format!("HTTP {status}: redirects are not followed; put the final https URL in the plan"),
            ));
        }
        let text = match read_capped(response).await {
            Ok((body, _cut)) => body,
            Err(e) if e.is_timeout() => return Ok(answer(HookOutcome::NoAnswer, format!("HTTP {status}, then no answer in time"))),
            Err(e) => return Ok(answer(HookOutcome::NoAnswer, format!("HTTP {status}, reading the answer failed: {e}"))),
        };
        if !status.is_success() {
            return Ok(answer(HookOutcome::Failed, format!("HTTP {status}: {}", excerpt(&text))));
        }
        Ok(match serde_json::from_slice::<Answer>(&text) {
            Ok(said @ Answer { passed: Some(false), .. }) => answer(HookOutcome::Failed, said.output().unwrap_or_else(|| excerpt(&text))),
            Ok(said) => answer(HookOutcome::Passed, said.output().unwrap_or_else(|| excerpt(&text))),
            Err(_) => answer(HookOutcome::Passed, excerpt(&text)),
        })
    }
}

#[async_trait]
impl HookRunner for AwsHooks {
    async fn run(&self, hook: &Hook, context: &HookContext) -> Result<HookAnswer, HookError> {
        let started = Instant::now();
        let limit = hook.timeout.std().max(Duration::from_secs(1));
        let call = async {
            match (&hook.lambda, &hook.http) {
                (Some(spec), None) => self.invoke(hook, spec, context, started).await,
                (None, Some(spec)) => self.call(hook, spec, context, started).await,
                // Validation refuses both; never guess which to run.
                _ => Ok(HookAnswer::new(HookOutcome::Failed, "the hook must give exactly one of `lambda` and `http`", started.elapsed())),
            }
        };
        match tokio::time::timeout(limit, call).await {
            Ok(answer) => answer,
            Err(_) => Ok(HookAnswer::new(HookOutcome::NoAnswer, "", started.elapsed())),
        }
    }
}
