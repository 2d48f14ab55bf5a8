//! Traffic routers, each a real API: Lambda alias weights, ALB weighted target groups, and a
//! signed webhook for anything else (Istio, Kubernetes, a team's own controller). The webhook
//! reaches only public https endpoints; see its section below.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, ForwardActionConfig, TargetGroupTuple};
use aws_sdk_lambda::types::AliasRoutingConfiguration;
use serde::{Deserialize, Serialize};

use crate::adapters::aws_error::cause;
use crate::adapters::secrets::{CachedSecrets, SECRET_CACHE_TTL, SecretLookup};
use crate::domain::plan::RouterSpec;
use crate::ports::{RouterError, RouterReading, TrafficRouter};
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
            webhook: WebhookRouter::new(Box::new(CachedSecrets::new(aws_sdk_secretsmanager::Client::new(config), SECRET_CACHE_TTL))),
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
    async fn set_weight(&self, target: &RouteTarget, weight: u32, revision: Option<&str>) -> Result<(), RouterError> {
        match self.pick(&target.router) {
            Some(router) => router.set_weight(target, weight, revision).await,
            None => Ok(()),
        }
    }

    async fn read(&self, target: &RouteTarget) -> Result<RouterReading, RouterError> {
        match self.pick(&target.router) {
            Some(router) => router.read(target).await,
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
    async fn set_weight(&self, target: &RouteTarget, weight: u32, revision: Option<&str>) -> Result<(), RouterError> {
        let RouterSpec::LambdaAlias { function_name, alias } = &target.router else { return Err(wrong_spec("lambda_alias")) };
        let name = format!("lambda alias {function_name}:{alias}");
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
            // Who set it, and a text that differs from the one before (it names the revision it
            // replaces), so that every write makes a new revision.
            .description(alias_description(target, weight, revision))
            .set_revision_id(revision.map(str::to_string))
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(s) if s.is_precondition_failed_exception() => {
                    RouterError::Moved { router: name.clone(), expected: revision.unwrap_or_default().to_string() }
                }
                s => {
                    let transient = s.is_some_and(|s| s.is_too_many_requests_exception() || s.is_service_exception());
                    unreachable(&name, cause(&e), transient)
                }
            })?;
        Ok(())
    }

    async fn read(&self, target: &RouteTarget) -> Result<RouterReading, RouterError> {
        let RouterSpec::LambdaAlias { function_name, alias } = &target.router else { return Err(wrong_spec("lambda_alias")) };
        let name = format!("lambda alias {function_name}:{alias}");
        let out = self
            .client
            .get_alias()
            .function_name(function_name)
            .name(alias)
            .send()
            .await
            .map_err(|e| unreachable(&name, cause(&e), false))?;
        let version = out.function_version().unwrap_or_default();
        let canary_share =
            out.routing_config().and_then(|r| r.additional_version_weights()).and_then(|w| w.get(&target.canary_version)).copied();
        let revision = out.revision_id().map(str::to_string);
        if version == target.canary_version {
            Ok(RouterReading { weight: 100, revision })
        } else if version == target.stable_version {
            Ok(RouterReading { weight: canary_share.map_or(0, |w| (w * 100.0).round() as u32), revision })
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

/// The alias's description after a write: at most 256 characters, as Lambda allows.
fn alias_description(target: &RouteTarget, weight: u32, revision: Option<&str>) -> String {
    let text = format!(
        "rollgate release {}: {weight}% to version {}{}",
        target.release_id,
        target.canary_version,
        revision.map(|r| format!(" (after revision {r})")).unwrap_or_default()
    );
    crate::domain::text::prefix(&text, 256).to_string()
}

// -------------------------------------------------------------------------------------------
// ALB

pub struct AlbRouter {
    pub client: aws_sdk_elasticloadbalancingv2::Client,
}

#[async_trait]
impl TrafficRouter for AlbRouter {
    async fn set_weight(&self, target: &RouteTarget, weight: u32, _revision: Option<&str>) -> Result<(), RouterError> {
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
            Some(rule) => self
                .client
                .modify_rule()
                .rule_arn(rule)
                .actions(action)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| unreachable(&format!("alb rule {rule}"), cause(&e), false)),
            None => self
                .client
                .modify_listener()
                .listener_arn(listener_arn)
                .default_actions(action)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| unreachable(&format!("alb listener {listener_arn}"), cause(&e), false)),
        }
    }

    async fn read(&self, target: &RouteTarget) -> Result<RouterReading, RouterError> {
        let RouterSpec::Alb { listener_arn, rule_arn, stable_target_group_arn, canary_target_group_arn } = &target.router else {
            return Err(wrong_spec("alb"));
        };
        let name = format!("alb {}", rule_arn.as_deref().unwrap_or(listener_arn));
        let actions: Vec<Action> = match rule_arn {
            Some(rule) => {
                let out = self.client.describe_rules().rule_arns(rule).send().await.map_err(|e| unreachable(&name, cause(&e), true))?;
                out.rules().first().map(|r| r.actions().to_vec()).unwrap_or_default()
            }
            None => {
                let out = self
                    .client
                    .describe_listeners()
                    .listener_arns(listener_arn)
                    .send()
                    .await
                    .map_err(|e| unreachable(&name, cause(&e), true))?;
                out.listeners().first().map(|l| l.default_actions().to_vec()).unwrap_or_default()
            }
        };
        // (target group, weight) as the listener forwards: weighted groups, or a plain forward
        // (the usual setup before the first release) that sends everything to one group.
        let groups: Vec<(&str, u32)> = actions
            .iter()
            .filter(|a| a.r#type() == Some(&ActionTypeEnum::Forward))
            .flat_map(|a| match a.forward_config() {
                Some(forward) => forward
                    .target_groups()
                    .iter()
                    .map(|g| (g.target_group_arn().unwrap_or_default(), u32::try_from(g.weight().unwrap_or(0)).unwrap_or(0)))
                    .collect::<Vec<_>>(),
                None => a.target_group_arn().map(|arn| vec![(arn, 1)]).unwrap_or_default(),
            })
            .collect();
        let weight_of = |arn: &str| groups.iter().find(|(group, _)| *group == arn).map(|(_, weight)| *weight);
        // ALB has no conditional writes: no revision.
        match (weight_of(stable_target_group_arn), weight_of(canary_target_group_arn)) {
            (Some(stable), Some(canary)) if stable + canary > 0 => {
                Ok(RouterReading { weight: (f64::from(canary) * 100.0 / f64::from(stable + canary)).round() as u32, revision: None })
            }
            (Some(_), None) => Ok(RouterReading { weight: 0, revision: None }),
            (None, Some(canary)) if canary > 0 => Ok(RouterReading { weight: 100, revision: None }),
            _ => Err(RouterError::Rejected {
                router: name,
                message: "the forward action does not name the plan's stable and canary target groups; someone else changed it".into(),
            }),
        }
    }
}

// -------------------------------------------------------------------------------------------
// Webhook
//
// The plan's author chooses where the webhook points, and the call runs with the function's
// network access and signs with a key from Secrets Manager, so the router trusts the URL as
// little as it can:
// - https only (plain http only to loopback, and only in tests, see `ALLOW_INSECURE_LOOPBACK_ENV`);
// - the host is resolved here and every address it resolves to must be a public unicast one
//   (`blocked_reason`); the connection goes to those checked addresses, because the check runs
//   inside the client's resolver (`CheckedResolver`), so a DNS answer that changes between a
//   check and the connect (a rebind) cannot slip through; no proxy is used (a proxy would resolve
//   the name itself);
// - no redirects are followed: a 3xx is a refusal;
// - at most `MAX_ANSWER_BYTES` of the answer are read;
// - the signing key comes from the Secrets Manager secret the plan names (`secret_arn`).

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

/// The largest answer read from a webhook; a longer one is refused (it should be
/// `{"canary_weight": N}`).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// TEST ONLY. When this environment variable is `1` (read once, when the router is built), the
/// webhook router also calls plain `http://` URLs whose host is a loopback address (127.0.0.0/8,
/// `::1`) or `localhost`, and connects to loopback addresses. It exists for the integration and
/// end-to-end tests, whose webhook server listens on 127.0.0.1 without TLS. Never set it on a
/// deployed function: it opens the function's own host to the plan's author.
pub const ALLOW_INSECURE_LOOPBACK_ENV: &str = "ROLLGATE_ALLOW_INSECURE_LOOPBACK_WEBHOOK";

/// `v1=<hex>` over `"<timestamp>.<body>"`.
pub fn sign(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("v1={}", crate::domain::hash::hmac_sha256_hex(key, &[timestamp.to_string().as_bytes(), b".", body]))
}

/// Address blocks a webhook may not reach: `(network, prefix length, what it is)`.
const BLOCKED_V4: &[([u8; 4], u32, &str)] = &[
    ([0, 0, 0, 0], 8, "\"this network\" (0.0.0.0/8, with the unspecified address 0.0.0.0)"),
    ([10, 0, 0, 0], 8, "private (10.0.0.0/8)"),
    ([100, 64, 0, 0], 10, "carrier-grade NAT shared space (100.64.0.0/10)"),
    ([127, 0, 0, 0], 8, "loopback (127.0.0.0/8)"),
    ([169, 254, 0, 0], 16, "link-local (169.254.0.0/16, where the instance metadata service answers)"),
    ([172, 16, 0, 0], 12, "private (172.16.0.0/12)"),
    ([192, 0, 0, 0], 24, "reserved for IETF protocol assignments (192.0.0.0/24)"),
    ([192, 0, 2, 0], 24, "documentation (192.0.2.0/24)"),
    ([192, 88, 99, 0], 24, "6to4 relay anycast (192.88.99.0/24)"),
    ([192, 168, 0, 0], 16, "private (192.168.0.0/16)"),
    ([198, 18, 0, 0], 15, "benchmarking (198.18.0.0/15)"),
    ([198, 51, 100, 0], 24, "documentation (198.51.100.0/24)"),
    ([203, 0, 113, 0], 24, "documentation (203.0.113.0/24)"),
    ([224, 0, 0, 0], 4, "multicast (224.0.0.0/4)"),
    ([240, 0, 0, 0], 4, "reserved (240.0.0.0/4, with the broadcast address)"),
];

const BLOCKED_V6: &[([u16; 8], u32, &str)] = &[
    ([0, 0, 0, 0, 0, 0, 0, 0], 128, "unspecified (::)"),
    ([0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback (::1)"),
    ([0, 0, 0, 0, 0, 0, 0, 0], 96, "IPv4-compatible (::/96, deprecated)"),
    ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, "local-use NAT64 (64:ff9b:1::/48)"),
    ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only (100::/64)"),
    ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "documentation (2001:db8::/32)"),
    ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23, "reserved for IETF protocol assignments (2001::/23, with Teredo)"),
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "documentation (3fff::/20)"),
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique local (fc00::/7, with the instance metadata service's fd00:ec2::254)"),
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local (fe80::/10)"),
    ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "site-local (fec0::/10, deprecated)"),
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast (ff00::/8)"),
];

fn in_block(addr: u128, bits: u32, network: u128, prefix: u32) -> bool {
    prefix == 0 || (addr >> (bits - prefix)) == (network >> (bits - prefix))
}

/// Why a webhook may not connect to `ip` (private, loopback, link-local, unique-local, CGNAT,
/// multicast, unspecified, documentation and other special-purpose blocks), or `None` for a
/// public unicast address. An IPv6 address that carries an IPv4 one (IPv4-mapped `::ffff:a.b.c.d`,
/// NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) is judged by the IPv4 address it reaches.
pub fn blocked_reason(ip: IpAddr) -> Option<String> {
    match ip {
        IpAddr::V4(v4) => {
            let addr = u128::from(u32::from(v4));
            BLOCKED_V4
                .iter()
                .find(|(net, prefix, _)| in_block(addr, 32, u128::from(u32::from(Ipv4Addr::from(*net))), *prefix))
                .map(|(_, _, what)| (*what).to_string())
        }
        IpAddr::V6(v6) => {
            let embedded = if let Some(v4) = v6.to_ipv4_mapped() {
                Some(("IPv4-mapped", v4))
            } else {
                let s = v6.segments();
                let low32 = Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
                if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                    Some(("NAT64", low32))
                } else if s[0] == 0x2002 {
                    Some(("6to4", Ipv4Addr::from((u32::from(s[1]) << 16) | u32::from(s[2]))))
                } else {
                    None
                }
            };
            if let Some((how, v4)) = embedded {
                return blocked_reason(IpAddr::V4(v4)).map(|why| format!("{how} {v4}, {why}"));
            }
            let addr = u128::from(v6);
            BLOCKED_V6
                .iter()
                .find(|(net, prefix, _)| in_block(addr, 128, u128::from(Ipv6Addr::from(*net)), *prefix))
                .map(|(_, _, what)| (*what).to_string())
        }
    }
}

/// 127.0.0.0/8, `::1`, or an IPv4-mapped loopback address.
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// Which addresses a webhook may connect to.
#[derive(Clone, Copy, Debug)]
struct AddressPolicy {
    /// Loopback too (tests only, `ALLOW_INSECURE_LOOPBACK_ENV`).
    allow_loopback: bool,
}

impl AddressPolicy {
    /// `host` is the name `ip` was resolved from; `None` for an address written in the URL.
    fn check(self, host: Option<&str>, ip: IpAddr) -> Result<(), BlockedTarget> {
        if self.allow_loopback && is_loopback(ip) {
            return Ok(());
        }
        match (blocked_reason(ip), host) {
            (None, _) => Ok(()),
            (Some(why), None) => Err(BlockedTarget(format!("{ip} is {why}"))),
            (Some(why), Some(host)) => Err(BlockedTarget(format!("{host} resolves to {ip}, which is {why}"))),
        }
    }
}

/// A webhook target the router refuses to connect to; carried out of the resolver through
/// reqwest's error chain, and told apart from a network failure by its type.
#[derive(Debug)]
pub(crate) struct BlockedTarget(String);

impl std::fmt::Display for BlockedTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BlockedTarget {}

/// The client's only resolver: resolves the name, refuses it when ANY of its addresses is
/// blocked, and hands the client exactly the addresses it checked, so that the connection goes
/// to a checked address (no second lookup between check and connect).
struct CheckedResolver {
    policy: AddressPolicy,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (policy, host) = (self.policy, name.as_str().to_string());
        Box::pin(async move {
            let lookup = host.clone();
            let addrs: Vec<SocketAddr> = tokio::task::spawn_blocking(move || (lookup.as_str(), 0).to_socket_addrs())
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)??
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no address").into());
            }
            for addr in &addrs {
                policy.check(Some(&host), addr.ip())?;
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The blocked target somewhere in an error's chain of sources.
pub(crate) fn blocked_in<'e>(err: &'e (dyn std::error::Error + 'static)) -> Option<&'e BlockedTarget> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(blocked) = e.downcast_ref::<BlockedTarget>() {
            return Some(blocked);
        }
        next = e.source();
    }
    None
}

/// Up to `MAX_ANSWER_BYTES` of the answer, read in chunks; `true` when there was more (the rest
/// is not read). A failure while reading is a network failure.
pub(crate) async fn read_capped(mut response: reqwest::Response) -> Result<(Vec<u8>, bool), reqwest::Error> {
    if response.content_length().is_some_and(|n| n > MAX_ANSWER_BYTES as u64) {
        return Ok((Vec::new(), true));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_ANSWER_BYTES - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// An answer's text for an error message: short, cut on a character boundary.
pub(crate) fn excerpt(body: &[u8]) -> String {
    crate::domain::text::clip(String::from_utf8_lossy(body).trim(), 300)
}

/// The HTTPS client of every call to a URL a plan names (the webhook router, HTTP step hooks),
/// with the protections above, and the signing keys from Secrets Manager.
pub struct SignedClient {
    pub(crate) client: Result<reqwest::Client, String>,
    pub(crate) secrets: Box<dyn SecretLookup>,
    policy: AddressPolicy,
}

impl SignedClient {
    /// Signing keys from `secrets` (Secrets Manager, cached: `CachedSecrets`); plain http to
    /// loopback only when `ALLOW_INSECURE_LOOPBACK_ENV` is `1` (tests).
    pub fn new(secrets: Box<dyn SecretLookup>) -> Self {
        let insecure = std::env::var(ALLOW_INSECURE_LOOPBACK_ENV).is_ok_and(|v| v.trim() == "1");
        if insecure {
            tracing::warn!("{ALLOW_INSECURE_LOOPBACK_ENV}=1: webhooks and HTTP hooks may call plain http on loopback (tests only)");
        }
        Self::with_insecure_loopback(secrets, insecure)
    }

    /// As `new`, with the test-only loopback exception given rather than read from the
    /// environment (tests in one process must not share it through an environment variable).
    pub fn with_insecure_loopback(secrets: Box<dyn SecretLookup>, allow_insecure_loopback: bool) -> Self {
        let policy = AddressPolicy { allow_loopback: allow_insecure_loopback };
        let client = super::https::client(|builder| {
            builder
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .https_only(!allow_insecure_loopback)
                .dns_resolver(Arc::new(CheckedResolver { policy }))
        });
        Self { client, secrets, policy }
    }

    /// The URL, if it may be called: https (or the test-only loopback http), no credentials,
    /// and a literal IP address host must be allowed (a name is checked when it is resolved).
    pub(crate) fn checked_url(&self, raw: &str) -> Result<reqwest::Url, String> {
        let url = reqwest::Url::parse(raw).map_err(|e| format!("`{raw}` is not a URL ({e}); give the endpoint's https URL"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("the URL carries credentials; remove them (requests are authenticated by their signature)".into());
        }
        let host = url.host_str().unwrap_or_default();
        let literal = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok();
        match url.scheme() {
            "https" => {}
            "http" if self.policy.allow_loopback && (literal.is_some_and(is_loopback) || host.eq_ignore_ascii_case("localhost")) => {}
            "http" => {
                return Err(format!(
                    "`{raw}` is plain http; webhooks are called over https only: serve the endpoint over https and put its https URL in the plan"
                ));
            }
            other => return Err(format!("`{raw}` has scheme {other}; give the endpoint's https URL")),
        }
        if host.is_empty() {
            return Err(format!("`{raw}` names no host; give the endpoint's https URL"));
        }
        if let Some(ip) = literal {
            self.policy.check(None, ip).map_err(|blocked| refusal(&blocked))?;
        }
        Ok(url)
    }
}

pub struct WebhookRouter {
    signed: SignedClient,
    /// Attempts per call (the first plus retries) on timeouts, connection errors and 5xx.
    pub attempts: u32,
    pub first_backoff: Duration,
}

impl WebhookRouter {
    /// Signing keys from `secrets` (Secrets Manager, cached: `CachedSecrets`); plain http to
    /// loopback only when `ALLOW_INSECURE_LOOPBACK_ENV` is `1` (tests).
    pub fn new(secrets: Box<dyn SecretLookup>) -> Self {
        Self::over(SignedClient::new(secrets))
    }

    /// As `new`, with the test-only loopback exception given rather than read from the
    /// environment (tests in one process must not share it through an environment variable).
    pub fn with_insecure_loopback(secrets: Box<dyn SecretLookup>, allow_insecure_loopback: bool) -> Self {
        Self::over(SignedClient::with_insecure_loopback(secrets, allow_insecure_loopback))
    }

    fn over(signed: SignedClient) -> Self {
        Self { signed, attempts: 3, first_backoff: Duration::from_millis(500) }
    }

    async fn signing_key(&self, name: &str, secret_arn: &str, secret_env: Option<&str>) -> Result<String, RouterError> {
        if secret_arn.trim().is_empty() {
            let message = match secret_env {
                Some(env) => format!(
                    "the plan names the signing key by `secret_env: {env}`, which is no longer supported; store the key in AWS Secrets Manager and give its ARN as `secret_arn`"
                ),
                None => {
                    "the plan gives no `secret_arn`; store the signing key in AWS Secrets Manager and give its ARN as `secret_arn`".into()
                }
            };
            return Err(RouterError::NotConfigured { router: name.to_string(), message });
        }
        match self.signed.secrets.secret(secret_arn).await {
            Ok(key) if !key.is_empty() => Ok(key),
            Ok(_) => Err(RouterError::NotConfigured {
                router: name.to_string(),
                message: format!("the signing key secret {secret_arn} is empty; store the key as its plain-text value"),
            }),
            Err(e) if e.transient => Err(RouterError::Unreachable {
                router: name.to_string(),
                transient: true,
                message: format!("reading the signing key failed: {e}"),
            }),
            Err(e) => Err(RouterError::NotConfigured {
                router: name.to_string(),
                message: format!(
                    "{e}; check that the secret exists with the key as its plain-text value, and that this function's role may call secretsmanager:GetSecretValue on it"
                ),
            }),
        }
    }

    async fn call(&self, target: &RouteTarget, body: Option<&WebhookRequest>) -> Result<WebhookState, RouterError> {
        let RouterSpec::Webhook { url, secret_arn, secret_env, timeout } = &target.router else { return Err(wrong_spec("webhook")) };
        let name = format!("webhook {url}");
        let rejected = |message: String| RouterError::Rejected { router: name.clone(), message };
        let url = self.signed.checked_url(url).map_err(rejected)?;
        let client = self.signed.client.as_ref().map_err(|e| RouterError::NotConfigured { router: name.clone(), message: e.clone() })?;
        let key = self.signing_key(&name, secret_arn, secret_env.as_deref()).await?;
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
            let request = if body.is_some() { client.post(url.clone()) } else { client.get(url.clone()) };
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
                    if let Some(blocked) = blocked_in(&e) {
                        return Err(rejected(refusal(blocked)));
                    }
                    last = Some(RouterError::Unreachable {
                        router: name.clone(),
                        transient: true,
                        message: format!("attempt {}: {e}", attempt + 1),
                    });
                    continue;
                }
            };
            let status = response.status();
            if status.is_redirection() {
                let location = response.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or("nowhere").to_string();
                return Err(rejected(format!(
                    "HTTP {status} to {location}: redirects are not followed; put the final https URL in the plan"
                )));
            }
            let (answer, cut) = match read_capped(response).await {
                Ok(read) => read,
                Err(e) => {
                    last = Some(RouterError::Unreachable {
                        router: name.clone(),
                        transient: true,
                        message: format!("attempt {}: HTTP {status}, reading the answer failed: {e}", attempt + 1),
                    });
                    continue;
                }
            };
            let text = if cut { format!("{}… (over {} KiB, cut)", excerpt(&answer), MAX_ANSWER_BYTES / 1024) } else { excerpt(&answer) };
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
                return Err(rejected(format!("HTTP {status}: {text}")));
            }
            if cut {
                return Err(rejected(format!(
                    "the answer is larger than {} KiB and was not read to the end; answer {{\"canary_weight\": N}}",
                    MAX_ANSWER_BYTES / 1024
                )));
            }
            return serde_json::from_slice::<WebhookState>(&answer)
                .map_err(|e| rejected(format!("the answer is not {{\"canary_weight\": N}}: {e}: {text}")));
        }
        Err(last.unwrap_or_else(|| RouterError::Unreachable { router: name, transient: true, message: "no attempt was made".into() }))
    }
}

/// The message of a refused target: what it is and what to do.
pub(crate) fn refusal(blocked: &BlockedTarget) -> String {
    format!("{blocked}; webhooks may only reach public addresses: point the URL at the endpoint's public https name")
}

#[async_trait]
impl TrafficRouter for WebhookRouter {
    async fn set_weight(&self, target: &RouteTarget, weight: u32, _revision: Option<&str>) -> Result<(), RouterError> {
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

    async fn read(&self, target: &RouteTarget) -> Result<RouterReading, RouterError> {
        Ok(RouterReading { weight: self.call(target, None).await?.canary_weight, revision: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::secrets::FixedSecrets;
    use reqwest::dns::Resolve;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn special_purpose_addresses_are_blocked() {
        for (address, what) in [
            ("0.0.0.0", "this network"),
            ("10.0.0.1", "private"),
            ("10.255.255.255", "private"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("100.127.255.254", "carrier-grade NAT"),
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("169.254.169.254", "instance metadata"),
            ("169.254.0.1", "link-local"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.0.0.8", "IETF"),
            ("192.0.2.10", "documentation"),
            ("192.168.1.1", "private"),
            ("198.18.0.1", "benchmarking"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("224.0.0.251", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "instance metadata"),
            ("::ffff:10.0.0.1", "private"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("64:ff9b:1::1", "local-use NAT64"),
            ("2002:7f00:1::1", "loopback"),
            ("100::1", "discard-only"),
            ("2001::1", "Teredo"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("fc00::1", "unique local"),
            ("fd00:ec2::254", "instance metadata"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
        ] {
            let why = blocked_reason(ip(address));
            assert!(why.as_deref().is_some_and(|w| w.contains(what)), "{address}: expected `{what}`, got {why:?}");
        }
        assert!(blocked_reason(ip("::ffff:127.0.0.1")).is_some_and(|w| w.starts_with("IPv4-mapped 127.0.0.1")));
    }

    #[test]
    fn public_unicast_addresses_are_allowed() {
        for address in [
            "1.1.1.1",
            "8.8.8.8",
            "52.94.236.248",
            "100.63.255.255",
            "100.128.0.0",
            "169.253.255.255",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "192.169.0.1",
            "198.20.0.1",
            "223.255.255.254",
            "2606:4700:4700::1111",
            "2a05:d018::1",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert_eq!(blocked_reason(ip(address)), None, "{address}");
        }
    }

    #[test]
    fn the_loopback_exception_covers_loopback_only() {
        let tests = AddressPolicy { allow_loopback: true };
        for allowed in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            assert!(tests.check(None, ip(allowed)).is_ok(), "{allowed}");
            assert!(AddressPolicy { allow_loopback: false }.check(None, ip(allowed)).is_err(), "{allowed}");
        }
        for still_blocked in ["169.254.169.254", "10.0.0.1", "fe80::1", "0.0.0.0", "::"] {
            assert!(tests.check(None, ip(still_blocked)).is_err(), "{still_blocked}");
        }
        let named = AddressPolicy { allow_loopback: false }.check(Some("metadata.internal"), ip("169.254.169.254"));
        assert!(named.is_err_and(|b| b.0.starts_with("metadata.internal resolves to 169.254.169.254, which is link-local")));
    }

    fn router(insecure: bool) -> WebhookRouter {
        WebhookRouter::with_insecure_loopback(Box::new(FixedSecrets::default()), insecure)
    }

    #[test]
    fn urls_are_checked_before_any_call() {
        let strict = router(false);
        for (url, expected) in [
            ("http://deploy.example.com/w", "plain http"),
            ("http://127.0.0.1:8080/w", "plain http"),
            ("ftp://deploy.example.com/w", "scheme ftp"),
            ("https://user:pw@deploy.example.com/w", "credentials"),
            ("https://169.254.169.254/latest/meta-data/", "link-local"),
            ("https://127.0.0.1/w", "loopback"),
            ("https://2130706433/w", "loopback"),
            ("https://0x7f.1/w", "loopback"),
            ("https://[::1]/w", "loopback"),
            ("https://[::ffff:127.0.0.1]/w", "loopback"),
            ("https://[fd00:ec2::254]/w", "unique local"),
            ("https://10.0.0.1/w", "private"),
            ("not a url", "not a URL"),
        ] {
            let refused = strict.signed.checked_url(url);
            assert!(refused.as_ref().is_err_and(|m| m.contains(expected)), "{url}: expected `{expected}`, got {refused:?}");
        }
        assert!(strict.signed.checked_url("https://deploy.example.com/w").is_ok());
        assert!(strict.signed.checked_url("https://8.8.8.8/w").is_ok());

        let tests = router(true);
        for url in ["http://127.0.0.1:8080/w", "http://[::1]:8080/w", "http://localhost:8080/w"] {
            assert!(tests.signed.checked_url(url).is_ok(), "{url}");
        }
        for url in ["http://deploy.example.com/w", "http://10.0.0.1/w", "https://169.254.169.254/"] {
            assert!(tests.signed.checked_url(url).is_err(), "{url}");
        }
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_that_resolves_to_loopback() {
        let resolve = |allow_loopback| {
            let name: reqwest::dns::Name = "localhost".parse().unwrap_or_else(|_| panic!("a name"));
            CheckedResolver { policy: AddressPolicy { allow_loopback } }.resolve(name)
        };
        match resolve(false).await {
            Ok(addrs) => panic!("localhost was let through: {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => {
                let blocked = blocked_in(e.as_ref()).unwrap_or_else(|| panic!("not a refusal: {e}"));
                assert!(blocked.0.starts_with("localhost resolves to "), "{blocked}");
            }
        }
        let addrs: Vec<SocketAddr> = resolve(true).await.map(Iterator::collect).unwrap_or_else(|e| panic!("{e}"));
        assert!(!addrs.is_empty() && addrs.iter().all(|a| is_loopback(a.ip())), "{addrs:?}");
    }

    #[tokio::test]
    async fn an_old_plan_naming_secret_env_is_told_how_to_migrate() {
        let target = RouteTarget {
            router: RouterSpec::Webhook {
                url: "https://deploy.example.com/w".into(),
                secret_arn: String::new(),
                secret_env: Some("TEAM_WEBHOOK_KEY".into()),
                timeout: None,
            },
            release_id: "r".into(),
            service: "s".into(),
            environment: "e".into(),
            stable_version: "1".into(),
            canary_version: "2".into(),
            step: None,
            step_name: None,
        };
        let result = router(false).current_weight(&target).await;
        assert!(
            matches!(&result, Err(RouterError::NotConfigured { message, .. })
                if message.contains("`secret_env: TEAM_WEBHOOK_KEY`, which is no longer supported") && message.contains("`secret_arn`")),
            "{result:?}"
        );
    }
}
