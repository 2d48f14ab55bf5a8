//! Routes: what a router routes for a release, the router's state as rollgate last set it, and
//! the audit entry of a weight change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::plan::RouterSpec;
use crate::release::Release;

/// What a router routes: the canary's share; the stable version gets the rest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouteTarget {
    pub router: RouterSpec,
    pub release_id: String,
    pub service: String,
    pub environment: String,
    pub stable_version: String,
    pub canary_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_name: Option<String>,
}

impl RouteTarget {
    /// `None` when the release names no stable version to split traffic with.
    pub fn for_release(release: &Release, step: Option<usize>) -> Option<Self> {
        let stable_version = release.stable_version.clone()?;
        Some(Self {
            router: release.plan.traffic.router.clone(),
            release_id: release.id.clone(),
            service: release.service.clone(),
            environment: release.environment.clone(),
            stable_version,
            canary_version: release.version.clone(),
            step,
            step_name: step.and_then(|s| release.plan.traffic.steps.get(s)).and_then(|s| s.name.clone()),
        })
    }
}

/// The key of a router's state item (`ROUTE#<key>`): one per physical router.
pub fn route_key(router: &RouterSpec, service: &str, environment: &str) -> String {
    match router {
        RouterSpec::LambdaAlias { function_name, alias } => format!("lambda:{function_name}:{alias}"),
        RouterSpec::Alb { listener_arn, rule_arn, .. } => format!("alb:{}", rule_arn.as_deref().unwrap_or(listener_arn)),
        RouterSpec::Webhook { url, .. } => format!("webhook:{url}"),
        RouterSpec::DryRun {} => format!("dry_run:{service}#{environment}"),
    }
}

/// The router's state as rollgate last set it (`ROUTE#<key>`), versioned for conditional writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteState {
    pub key: String,
    pub canary_weight: u32,
    pub stable_version: String,
    pub canary_version: String,
    pub release_id: String,
    pub version: u64,
    /// False between the claim and the verified change: a claimed weight may never have
    /// reached the router, so only an applied state counts as "already there".
    pub applied: bool,
    pub updated_at: DateTime<Utc>,
    /// How far the claiming release had come (absent in states written before stages existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<RouteStage>,
}

/// How far a release has come on its route. A release's claims never go back to an earlier
/// stage: a late invocation of a step whose release has moved on (a task that ran past its
/// timeout and finished after Step Functions retried and went on) must not undo the later weight.
/// A rollback may always restore, until the release is closed and its route sealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteStage {
    /// The weight of a plan step (0-based).
    Step(usize),
    Promote,
    Rollback,
    /// The closed release's last write (`flow::traffic::seal`): its closing weight again, as a
    /// new router revision. Every earlier claim of the release read the router before it, so
    /// its write is refused; every later claim is superseded.
    Closed,
}

/// The audit entry of a weight change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightChange {
    pub router: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    pub before: u32,
    pub after: u32,
    /// Read back from the router after the change.
    pub verified: u32,
    pub route_version: u64,
    pub dry_run: bool,
}
