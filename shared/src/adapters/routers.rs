//! Traffic routers, each a real API: Lambda alias weights, ALB weighted target groups, and a
//! signed webhook for anything else (Istio, Kubernetes, a team's own controller).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, ForwardActionConfig, TargetGroupTuple};
use aws_sdk_lambda::types::AliasRoutingConfiguration;
use serde::{Deserialize, Serialize};

use crate::domain::plan::RouterSpec;
use crate::ports::{RouterError, TrafficRouter};
use crate::release::route::RouteTarget;

/// Picks the adapter the plan's router names.
pub struct Routers {
    pub lambda: LambdaAliasRouter,
    pub alb: AlbRouter,
    pub webhook: WebhookRouter,
}

impl Routers {
    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self {
            lambda: LambdaAliasRouter { client: aws_sdk_lambda::Client::new(config) },
            alb: AlbRouter { client: aws_sdk_elasticloadbalancingv2::Client::new(config) },
            webhook: WebhookRouter::new(),
        }
    }

    fn pick(&self, spec: &RouterSpec) -> Option<&dyn TrafficRouter> {
        match spec {
            RouterSpec::LambdaAlias { .. } => Some(&self.lambda),
            RouterSpec::Alb { .. } => Some(&self.alb),
            RouterSpec::Webhook { .. } => Some(&self.webhook),
            RouterSpec::DryRun {} => None,
        }
    }
}

#[async_trait]
impl TrafficRouter for Routers {
    async fn set_weight(&self, target: &RouteTarget, weight: u32) -> Result<(), RouterError> {
        match self.pick(&target.router) {
            Some(router) => router.set_weight(target, weight).await,
            None => Ok(()),
        }
    }

    async fn current_weight(&self, target: &RouteTarget) -> Result<u32, RouterError> {
        match self.pick(&target.router) {
            Some(router) => router.current_weight(target).await,
            None => Err(RouterError::NotConfigured { router: "dry_run".into(), message: "a dry run has no router to read".into() }),
        }
    }
}

fn unreachable(router: &str, err: impl std::fmt::Display, transient: bool) -> RouterError {
    RouterError::Unreachable { router: router.to_string(), transient, message: err.to_string() }
}

fn wrong_spec(router: &str) -> RouterError {
    RouterError::NotConfigured { router: router.to_string(), message: "the route target is for another router type".into() }
}

// -------------------------------------------------------------------------------------------
// Lambda alias

pub struct LambdaAliasRouter {
    pub client: aws_sdk_lambda::Client,
}

#[async_trait]
impl TrafficRouter for LambdaAliasRouter {
    async fn set_weight(&self, target: &RouteTarget, weight: u32) -> Result<(), RouterError> {
        let RouterSpec::LambdaAlias { function_name, alias } = &target.router else { return Err(wrong_spec("lambda_alias")) };
        // The alias targets the stable version and sends the canary its share; at 100% the new
        // version is the target itself (Lambda allows additional weights below 1.0 only).
        let (version, weights) = match weight {
            0 => (&target.stable_version, HashMap::new()),
            100 => (&target.canary_version, HashMap::new()),
            w => (&target.stable_version, HashMap::from([(target.canary_version.clone(), f64::from(w) / 100.0)])),
        };
        self.client
            .update_alias()
            .function_name(function_name)
            .name(alias)
            .function_version(version)
            .routing_config(AliasRoutingConfiguration::builder().set_additional_version_weights(Some(weights)).build())
            .send()
            .await
            .map_err(|e| {
                let transient = e.as_service_error().is_some_and(|s| s.is_too_many_requests_exception() || s.is_service_exception());
                unreachable(&format!("lambda alias {function_name}:{alias}"), aws_sdk_lambda::error::DisplayErrorContext(e), transient)
            })?;
        Ok(())
    }

    async fn current_weight(&self, target: &RouteTarget) -> Result<u32, RouterError> {
        let RouterSpec::LambdaAlias { function_name, alias } = &target.router else { return Err(wrong_spec("lambda_alias")) };
        let name = format!("lambda alias {function_name}:{alias}");
        let out = self
            .client
            .get_alias()
            .function_name(function_name)
            .name(alias)
            .send()
            .await
            .map_err(|e| unreachable(&name, aws_sdk_lambda::error::DisplayErrorContext(e), false))?;
        let version = out.function_version().unwrap_or_default();
        let canary_share =
            out.routing_config().and_then(|r| r.additional_version_weights()).and_then(|w| w.get(&target.canary_version)).copied();
        if version == target.canary_version {
            Ok(100)
        } else if version == target.stable_version {
            Ok(canary_share.map_or(0, |w| (w * 100.0).round() as u32))
        } else {
            Err(RouterError::Rejected {
                router: name,
                message: format!(
                    "the alias targets version {version}, neither the stable {} nor the new {}; someone else changed it",
                    target.stable_version, target.canary_version
                ),
            })
        }
    }
}

// -------------------------------------------------------------------------------------------
// ALB

pub struct AlbRouter {
    pub client: aws_sdk_elasticloadbalancingv2::Client,
}

#[async_trait]
impl TrafficRouter for AlbRouter {
    async fn set_weight(&self, target: &RouteTarget, weight: u32) -> Result<(), RouterError> {
        let RouterSpec::Alb { listener_arn, rule_arn, stable_target_group_arn, canary_target_group_arn } = &target.router else {
            return Err(wrong_spec("alb"));
        };
        let tuple = |arn: &str, w: u32| TargetGroupTuple::builder().target_group_arn(arn).weight(i32::try_from(w).unwrap_or(0)).build();
        let forward = ForwardActionConfig::builder()
            .target_groups(tuple(stable_target_group_arn, 100 - weight))
            .target_groups(tuple(canary_target_group_arn, weight))
            .build();
        let action = Action::builder().r#type(ActionTypeEnum::Forward).forward_config(forward).build();
        match rule_arn {
            Some(rule) => self.client.modify_rule().rule_arn(rule).actions(action).send().await.map(|_| ()).map_err(|e| {
                unreachable(&format!("alb rule {rule}"), aws_sdk_elasticloadbalancingv2::error::DisplayErrorContext(e), false)
            }),
            None => {
                self.client.modify_listener().listener_arn(listener_arn).default_actions(action).send().await.map(|_| ()).map_err(|e| {
                    unreachable(
                        &format!("alb listener {listener_arn}"),
                        aws_sdk_elasticloadbalancingv2::error::DisplayErrorContext(e),
                        false,
                    )
                })
            }
        }
    }

    async fn current_weight(&self, target: &RouteTarget) -> Result<u32, RouterError> {
        let RouterSpec::Alb { listener_arn, rule_arn, stable_target_group_arn, canary_target_group_arn } = &target.router else {
            return Err(wrong_spec("alb"));
        };
        let name = format!("alb {}", rule_arn.as_deref().unwrap_or(listener_arn));
        let actions: Vec<Action> = match rule_arn {
            Some(rule) => {
                let out = self
                    .client
                    .describe_rules()
                    .rule_arns(rule)
                    .send()
                    .await
                    .map_err(|e| unreachable(&name, aws_sdk_elasticloadbalancingv2::error::DisplayErrorContext(e), true))?;
                out.rules().first().map(|r| r.actions().to_vec()).unwrap_or_default()
            }
            None => {
                let out = self
                    .client
                    .describe_listeners()
                    .listener_arns(listener_arn)
                    .send()
                    .await
                    .map_err(|e| unreachable(&name, aws_sdk_elasticloadbalancingv2::error::DisplayErrorContext(e), true))?;
                out.listeners().first().map(|l| l.default_actions().to_vec()).unwrap_or_default()
            }
        };
        let groups: Vec<&TargetGroupTuple> = actions.iter().filter_map(|a| a.forward_config()).flat_map(|f| f.target_groups()).collect();
        let weight_of = |arn: &str| {
            groups.iter().find(|g| g.target_group_arn() == Some(arn)).map(|g| u32::try_from(g.weight().unwrap_or(0)).unwrap_or(0))
        };
        match (weight_of(stable_target_group_arn), weight_of(canary_target_group_arn)) {
            (Some(stable), Some(canary)) if stable + canary > 0 => {
                Ok((f64::from(canary) * 100.0 / f64::from(stable + canary)).round() as u32)
            }
            (Some(_), None) => Ok(0),
            _ => Err(RouterError::Rejected {
                router: name,
                message: "the forward action does not name the plan's stable and canary target groups; someone else changed it".into(),
            }),
        }
    }
}

// -------------------------------------------------------------------------------------------
// Webhook

/// What the webhook receives (POST) and answers (POST and GET): JSON, signed with
/// `X-Rollgate-Signature: v1=<hex HMAC-SHA256(key, "<X-Rollgate-Timestamp>.<body>")>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookRequest {
    pub release_id: String,
    pub service: String,
    pub environment: String,
    pub stable_version: String,
    pub canary_version: String,
    pub canary_weight: u32,
    pub stable_weight: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_name: Option<String>,
}

/// The endpoint's answer: the canary weight it now routes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookState {
    pub canary_weight: u32,
}

pub const SIGNATURE_HEADER: &str = "X-Rollgate-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Rollgate-Timestamp";

/// `v1=<hex>` over `"<timestamp>.<body>"`.
pub fn sign(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("v1={}", crate::domain::hash::hmac_sha256_hex(key, &[timestamp.to_string().as_bytes(), b".", body]))
}

/// Looks up a signing key by name (the plan's `secret_env`).
pub type KeyLookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

pub struct WebhookRouter {
    client: reqwest::Client,
    keys: KeyLookup,
    /// Attempts per call (the first plus retries) on timeouts, connection errors and 5xx.
    pub attempts: u32,
    pub first_backoff: Duration,
}

impl Default for WebhookRouter {
    fn default() -> Self {
        Self::new()
    }
}

impl WebhookRouter {
    /// Keys come from the environment variable the plan names.
    pub fn new() -> Self {
        Self::with_keys(Box::new(|name| std::env::var(name).ok()))
    }

    pub fn with_keys(keys: KeyLookup) -> Self {
        Self { client: reqwest::Client::new(), keys, attempts: 3, first_backoff: Duration::from_millis(500) }
    }

    async fn call(&self, target: &RouteTarget, body: Option<&WebhookRequest>) -> Result<WebhookState, RouterError> {
        let RouterSpec::Webhook { url, secret_env, timeout } = &target.router else { return Err(wrong_spec("webhook")) };
        let name = format!("webhook {url}");
        let key = (self.keys)(secret_env).filter(|k| !k.is_empty()).ok_or_else(|| RouterError::NotConfigured {
            router: name.clone(),
            message: format!("the signing key variable {secret_env} is not set; set it to the key the endpoint verifies with"),
        })?;
        let payload = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| unreachable(&name, e, false))?,
            None => Vec::new(),
        };
        let timeout = timeout.map_or(Duration::from_secs(10), |t| t.std());
        let mut last = None;
        for attempt in 0..self.attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(self.first_backoff * 2u32.pow(attempt - 1)).await;
            }
            let timestamp = chrono::Utc::now().timestamp();
            let signature = sign(key.as_bytes(), timestamp, &payload);
            let request = if body.is_some() { self.client.post(url) } else { self.client.get(url) };
            let sent = request
                .timeout(timeout)
                .header(TIMESTAMP_HEADER, timestamp.to_string())
                .header(SIGNATURE_HEADER, signature)
                .header("content-type", "application/json")
                .body(payload.clone())
                .send()
                .await;
            let response = match sent {
                Ok(r) => r,
                Err(e) => {
                    last = Some(RouterError::Unreachable {
                        router: name.clone(),
                        transient: true,
                        message: format!("attempt {}: {e}", attempt + 1),
                    });
                    continue;
                }
            };
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            if status.is_server_error() || status.as_u16() == 429 {
                last = Some(RouterError::Unreachable {
                    router: name.clone(),
                    transient: true,
                    message: format!("attempt {}: HTTP {status}: {text}", attempt + 1),
                });
                continue;
            }
            if !status.is_success() {
                // 4xx: the endpoint refused (bad signature, bad request); retrying will not help.
                return Err(RouterError::Rejected { router: name, message: format!("HTTP {status}: {text}") });
            }
            return serde_json::from_str::<WebhookState>(&text).map_err(|e| RouterError::Rejected {
                router: name.clone(),
                message: format!("the answer is not {{\"canary_weight\": N}}: {e}: {text}"),
            });
        }
        Err(last.unwrap_or_else(|| RouterError::Unreachable { router: name, transient: true, message: "no attempt was made".into() }))
    }
}

#[async_trait]
impl TrafficRouter for WebhookRouter {
    async fn set_weight(&self, target: &RouteTarget, weight: u32) -> Result<(), RouterError> {
        let request = WebhookRequest {
            release_id: target.release_id.clone(),
            service: target.service.clone(),
            environment: target.environment.clone(),
            stable_version: target.stable_version.clone(),
            canary_version: target.canary_version.clone(),
            canary_weight: weight,
            stable_weight: 100 - weight,
            step: target.step,
            step_name: target.step_name.clone(),
        };
        let answer = self.call(target, Some(&request)).await?;
        if answer.canary_weight != weight {
            return Err(RouterError::Rejected {
                router: format!(
                    "webhook {}",
                    match &target.router {
                        RouterSpec::Webhook { url, .. } => url.as_str(),
                        _ => "",
                    }
                ),
                message: format!("asked for {weight}% on the canary, the endpoint answered {}%", answer.canary_weight),
            });
        }
        Ok(())
    }

    async fn current_weight(&self, target: &RouteTarget) -> Result<u32, RouterError> {
        Ok(self.call(target, None).await?.canary_weight)
    }
}
