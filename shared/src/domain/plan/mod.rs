//! Rollout plans: the typed form of what teams write as a Markdown runbook.
//!
//! A plan is parsed ([`load`]) and validated ([`validate`]) as a whole before anything runs;
//! every problem is reported at once with its path and a fix.

mod load;
pub(crate) mod validate;

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::duration::HumanDuration;

pub use load::{PlanFormat, parse_plan, parse_plan_file, plan_from_value};
pub use validate::{PlanIssue, limits, validate, warnings};

/// A rollout plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Short name of the plan, e.g. `greenlang-api-production`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Team or person who owns the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Pre-deploy requirements checked against the evidence submitted with a release.
    #[serde(default)]
    pub checklist: Checklist,
    /// Where traffic is shifted and in which steps.
    pub traffic: Traffic,
    /// Metric gates judged while each step bakes. Without it steps advance on bake time alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Analysis>,
    /// Named step analyses that steps refer to (`analysis: { template: production }`), so that
    /// several steps share one set of bounds without copying it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub analysis_templates: BTreeMap<String, StepAnalysis>,
    /// Go/No-Go approvals, referenced from steps by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<ApprovalGate>,
    /// Named groups of approvers (`release-managers: [U024BE7LH, S0604QSJC, arn:aws:iam::…:role/…]`):
    /// an approval may list a role by name instead of repeating its members.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub roles: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub notifications: Notifications,
    #[serde(default)]
    pub rollback: RollbackPolicy,
    /// CloudWatch alarms (names, in the release's account and region) that stop the release: read
    /// at every check; one in ALARM rolls back at once, one that cannot be found is never a pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollback_alarms: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Checklist

/// How a failed requirement affects the release; teams phase enforcement in with these.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnforcementMode {
    /// Record the result only.
    Monitor,
    /// Pass, with a warning.
    Warn,
    /// Block unless an override with justification and approver is given.
    Soft,
    /// Block; no override.
    #[default]
    Strict,
}

impl EnforcementMode {
    /// As plans write it.
    pub fn as_str(self) -> &'static str {
        match self {
            EnforcementMode::Monitor => "monitor",
            EnforcementMode::Warn => "warn",
            EnforcementMode::Soft => "soft",
            EnforcementMode::Strict => "strict",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Checklist {
    /// Default enforcement mode of every item.
    #[serde(default)]
    pub mode: EnforcementMode,
    #[serde(default)]
    pub items: Vec<ChecklistItem>,
    /// Who may override `soft` items.
    #[serde(default)]
    pub overrides: OverridePolicy,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OverridePolicy {
    /// If not empty, only these identities may approve an override.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChecklistItem {
    /// Stable id, used in overrides and the audit trail (lowercase, digits, `-`, `_`).
    pub id: String,
    /// The checklist line as people read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Overrides the checklist's mode for this item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<EnforcementMode>,
    pub require: Requirement,
}

/// A typed requirement over the release's evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Requirement {
    /// The evidence value must be `true` (security review done).
    Attestation { evidence: String },
    /// The evidence value is a number within bounds (coverage ≥ 80, critical vulnerabilities ≤ 0).
    Number {
        evidence: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_least: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_most: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        above: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        below: Option<f64>,
        /// Shown after values, e.g. `ms` or `%`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<String>,
    },
    /// The evidence value is an RFC 3339 time no older than `max_age` (backup verified within
    /// 24h) and/or at least `min_age` old (staging stable for 48h).
    Freshness {
        evidence: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_age: Option<HumanDuration>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_age: Option<HumanDuration>,
    },
    /// The evidence value is a list with at least `at_least` entries (distinct unless told
    /// otherwise), not counting the value of the evidence named by `exclude` (the author).
    Count {
        evidence: String,
        at_least: u32,
        #[serde(default = "default_true")]
        distinct: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exclude: Option<String>,
    },
    /// The evidence value is an RFC 3339 time at least `min_remaining` in the future
    /// (TLS certificate valid for more than 30 days).
    Date { evidence: String, min_remaining: HumanDuration },
    /// The release time falls inside an allowed window and outside every freeze, in a named
    /// time zone. Needs no evidence.
    Window {
        /// IANA time zone, e.g. `Europe/Berlin` or `UTC`.
        timezone: String,
        /// Allowed weekly windows; empty means any time outside freezes.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        allow: Vec<WeeklyWindow>,
        /// Freeze periods (local date-times in `timezone`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        freeze: Vec<FreezePeriod>,
    },
    /// No incident at or above a severity was open within a period (no P0/P1 in the last 48h).
    /// The evidence value is a list of `{id, severity, started_at, resolved_at?}`.
    Incidents {
        evidence: String,
        /// The least severe level that still blocks, e.g. `P1` blocks P0 and P1.
        severity_at_or_above: String,
        within: HumanDuration,
    },
}

fn default_true() -> bool {
    true
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeeklyWindow {
    /// Days the window applies to; empty means every day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<Weekday>,
    /// Local start time `HH:MM`.
    pub from: String,
    /// Local end time `HH:MM` (exclusive).
    pub to: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezePeriod {
    /// Local start `YYYY-MM-DDTHH:MM`.
    pub from: String,
    /// Local end `YYYY-MM-DDTHH:MM` (exclusive).
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Traffic

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    pub router: RouterSpec,
    /// Canary steps in order; weights rise (a first step may be 0: measured, no traffic shifted);
    /// 100 may repeat: full traffic watched over several steps before the promotion.
    pub steps: Vec<Step>,
}

/// The router that moves traffic between the stable and the new version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RouterSpec {
    /// Lambda alias weights (RoutingConfig.AdditionalVersionWeights).
    LambdaAlias { function_name: String, alias: String },
    /// ALB listener (or rule) forwarding to two weighted target groups.
    Alb {
        listener_arn: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule_arn: Option<String>,
        stable_target_group_arn: String,
        canary_target_group_arn: String,
    },
    /// A signed HTTPS call to the team's own endpoint (Istio, Kubernetes, anything). The endpoint
    /// must be public: private, loopback and link-local addresses are refused after DNS
    /// resolution, redirects are not followed, and the answer is at most 64 KiB.
    #[schemars(transform = require_secret_arn)]
    Webhook {
        /// `https://` URL of the endpoint.
        url: String,
        /// ARN of the AWS Secrets Manager secret (plain text) holding the HMAC signing key.
        // Defaulted only so that a plan still naming `secret_env` reaches validation, which
        // explains the migration; the schema requires it (`require_secret_arn`).
        #[serde(default)]
        secret_arn: String,
        /// No longer supported (the signing key came from an environment variable); validation
        /// refuses it with the migration to `secret_arn`. Not in the schema.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(skip)]
        secret_env: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<HumanDuration>,
    },
    /// Records what it would do and touches nothing.
    DryRun {},
}

/// The webhook's schema requires `secret_arn`, which serde defaults only to reach validation's
/// migration message for plans that still give `secret_env`.
fn require_secret_arn(schema: &mut schemars::Schema) {
    if let Some(arn) = schema.pointer_mut("/properties/secret_arn").and_then(serde_json::Value::as_object_mut) {
        arn.remove("default");
    }
    let required = schema.ensure_object().entry("required").or_insert_with(|| serde_json::Value::Array(Vec::new()));
    if let Some(required) = required.as_array_mut()
        && !required.iter().any(|r| r == "secret_arn")
    {
        required.push("secret_arn".into());
    }
}

impl RouterSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            RouterSpec::LambdaAlias { .. } => "lambda_alias",
            RouterSpec::Alb { .. } => "alb",
            RouterSpec::Webhook { .. } => "webhook",
            RouterSpec::DryRun {} => "dry_run",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Percent of traffic on the new version (0–100); `"10%"` is read as 10. A 0% step deploys
    /// and measures the new version with no user traffic shifted (a shadow or dry-run phase);
    /// steps after a 100% step keep full traffic and watch it longer (the stable version is kept,
    /// and a failure still rolls back to it, until the last step passes).
    #[serde(deserialize_with = "load::whole_percent")]
    pub weight: u32,
    /// How long the step bakes, judged every `analysis.interval`, before it may advance.
    pub bake: HumanDuration,
    /// Id of an approval that must pass before this step's weight is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    /// This step's own analysis: settings and metric bounds that replace the plan-wide ones while
    /// this step bakes (a canary held to looser bounds than full production), and metrics it adds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<StepAnalysis>,
    /// Smoke or load tests that gate this step like its metrics: before its traffic shift or at
    /// its checks. A failure, or no answer within the hook's timeout, rolls the release back with
    /// the hook's output in the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<Hook>,
}

/// A test a step runs (`docs/plans.md`, "Step hooks"): a Lambda function invoked, or an HTTPS
/// endpoint called with a signed request. Give exactly one of `lambda` and `http`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    /// Names the hook in verdicts and reasons, e.g. `smoke`; unique within its step.
    pub name: String,
    /// When the hook runs (default `every_check`).
    #[serde(default)]
    pub run: HookRun,
    /// Invoke this Lambda function; it answers `{"passed": true|false, "output": "…"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda: Option<LambdaHook>,
    /// POST to this HTTPS endpoint, signed as the webhook router signs; a 2xx answer passes
    /// unless its JSON says `"passed": false`, any other answer fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpHook>,
    /// The longest the hook may take (at most 5m); no answer within it is a failure.
    #[serde(default = "default_hook_timeout")]
    pub timeout: HumanDuration,
}

/// When a hook runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HookRun {
    /// Once, after the step's approval (if any) and before its weight is set: a failure leaves
    /// the traffic where it was and rolls back.
    BeforeShift,
    /// Once, at the step's first check (a load test during the bake).
    FirstCheck,
    /// At every check of the step, with its metrics.
    #[default]
    EveryCheck,
}

impl HookRun {
    pub fn as_str(self) -> &'static str {
        match self {
            HookRun::BeforeShift => "before_shift",
            HookRun::FirstCheck => "first_check",
            HookRun::EveryCheck => "every_check",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LambdaHook {
    /// The function's name or ARN (with a version or alias if you like). The template lets
    /// rollgate invoke functions named `rollgate-hook-*` (the `HookFunctionPattern` parameter).
    pub function: String,
    /// Passed to the function as `input`, beside the release and the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpHook {
    /// `https://` URL of the test endpoint; it must be public, as for the webhook router.
    pub url: String,
    /// ARN of the AWS Secrets Manager secret (plain text) holding the HMAC signing key.
    pub secret_arn: String,
}

fn default_hook_timeout() -> HumanDuration {
    HumanDuration::from_secs(30)
}

/// What a step (or an analysis template) changes in the plan-wide analysis. Each setting given
/// replaces the plan-wide one; each metric named like a plan-wide metric replaces the criteria
/// and settings it gives and keeps the rest; a metric with a new name is added to the step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepAnalysis {
    /// Name of an entry in `analysis_templates`, applied before this step's own settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_samples: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_failures: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_inconclusive: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_inconclusive: Option<InconclusivePolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_hold: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub look_before_step: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<ScoreThresholds>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricOverride>,
}

/// A metric gate at one step: named like a plan-wide metric, it replaces the parts it gives
/// (`must: { below: 0.5 }` replaces the plan-wide `must`, the query and other criteria stay);
/// with a new name it is a metric of its own and needs a `query`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricOverride {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<MetricQuery>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_samples: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub must: Option<Bounds>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_if: Option<Bounds>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sustained: Option<SustainedCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineBound>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<Comparison>,
}

impl StepAnalysis {
    /// Applies this layer's settings and metrics onto `analysis`.
    fn apply_to(&self, analysis: &mut Analysis) {
        fn set<T: Clone>(target: &mut T, value: &Option<T>) {
            if let Some(value) = value {
                *target = value.clone();
            }
        }
        set(&mut analysis.interval, &self.interval);
        if self.window.is_some() {
            analysis.window = self.window;
        }
        set(&mut analysis.min_samples, &self.min_samples);
        set(&mut analysis.consecutive_failures, &self.consecutive_failures);
        set(&mut analysis.max_inconclusive, &self.max_inconclusive);
        set(&mut analysis.on_inconclusive, &self.on_inconclusive);
        if self.max_hold.is_some() {
            analysis.max_hold = self.max_hold;
        }
        set(&mut analysis.look_before_step, &self.look_before_step);
        if self.score.is_some() {
            analysis.score.clone_from(&self.score);
        }
        for layer in &self.metrics {
            match analysis.metrics.iter_mut().find(|m| m.name == layer.name) {
                Some(metric) => layer.apply_to(metric),
                None => {
                    // A new metric; without a query it reads nothing (validation refuses it, and
                    // a check that cannot plan its query fails closed).
                    let mut metric = MetricGate {
                        name: layer.name.clone(),
                        description: None,
                        query: MetricQuery::default(),
                        unit: None,
                        min_samples: None,
                        window: None,
                        must: None,
                        rollback_if: None,
                        sustained: None,
                        baseline: None,
                        compare: None,
                    };
                    layer.apply_to(&mut metric);
                    analysis.metrics.push(metric);
                }
            }
        }
    }
}

impl MetricOverride {
    fn apply_to(&self, metric: &mut MetricGate) {
        fn set<T: Clone>(target: &mut Option<T>, value: &Option<T>) {
            if value.is_some() {
                target.clone_from(value);
            }
        }
        if let Some(query) = &self.query {
            metric.query = query.clone();
        }
        set(&mut metric.description, &self.description);
        set(&mut metric.unit, &self.unit);
        set(&mut metric.min_samples, &self.min_samples);
        set(&mut metric.window, &self.window);
        set(&mut metric.must, &self.must);
        set(&mut metric.rollback_if, &self.rollback_if);
        set(&mut metric.sustained, &self.sustained);
        set(&mut metric.baseline, &self.baseline);
        set(&mut metric.compare, &self.compare);
    }
}

// ---------------------------------------------------------------------------------------------
// Analysis

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Analysis {
    /// How often a baking step is judged.
    pub interval: HumanDuration,
    /// How far back each check looks; defaults to `interval`. A metric may set its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<HumanDuration>,
    /// Let a check's window reach back before the step being judged began, so that datapoints
    /// from the previous weight count too. By default a window starts no earlier than its step.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub look_before_step: bool,
    /// Datapoints needed per metric for a conclusive check (a metric may ask for more).
    #[serde(default = "default_one")]
    pub min_samples: u32,
    /// Failing checks in a row before a non-critical failure rolls back.
    #[serde(default = "default_one")]
    pub consecutive_failures: u32,
    /// Inconclusive checks tolerated per step before `on_inconclusive` applies.
    #[serde(default = "default_max_inconclusive")]
    pub max_inconclusive: u32,
    #[serde(default)]
    pub on_inconclusive: InconclusivePolicy,
    /// With `on_inconclusive: hold`: how long a step may go without a passing check, holding on
    /// inconclusive ones, before it fails closed (rolls back); defaults to the step's bake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_hold: Option<HumanDuration>,
    /// Weighted score thresholds for statistical comparisons (Kayenta-style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<ScoreThresholds>,
    pub metrics: Vec<MetricGate>,
}

fn default_one() -> u32 {
    1
}

fn default_max_inconclusive() -> u32 {
    3
}

/// What happens once a step has had more inconclusive checks than allowed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InconclusivePolicy {
    /// Roll back (fail closed).
    #[default]
    Fail,
    /// Keep the step baking until data arrives or the release is aborted.
    Hold,
    /// Treat as passed; an explicit choice of the plan.
    Pass,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreThresholds {
    /// Score (0–100) at or above which the comparison passes.
    pub pass: f64,
    /// Score at or above which it is marginal (bake on); below, it fails.
    pub marginal: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricGate {
    /// Short name, e.g. `error_rate`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub query: MetricQuery,
    /// Shown after values, e.g. `ms`, `%`, `rps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Overrides `analysis.min_samples` for this metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_samples: Option<u32>,
    /// How far back this metric looks at each check; overrides `analysis.window` (a metric
    /// published hourly needs a window of an hour or more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<HumanDuration>,
    /// Bounds every check must meet (error rate below 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub must: Option<Bounds>,
    /// Critical tier: a check meeting this condition rolls back at once (error rate above 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_if: Option<Bounds>,
    /// A condition that rolls back once it has held for a duration (error rate above 2 for 15m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sustained: Option<SustainedCondition>,
    /// Bounds relative to the baseline (stable version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineBound>,
    /// Statistical comparison with the baseline (Mann-Whitney, as Kayenta's judge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<Comparison>,
}

/// Comparisons a value is held to; all given must hold.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SustainedCondition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
    /// How long the condition must hold before it rolls back.
    #[serde(rename = "for")]
    pub duration: HumanDuration,
}

impl SustainedCondition {
    pub fn bounds(&self) -> Bounds {
        Bounds { at_least: self.at_least, at_most: self.at_most, above: self.above, below: self.below }
    }
}

/// Limits on how far the canary may move from the baseline.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BaselineBound {
    /// Largest allowed increase, in the metric's unit (0.1 points, 10 ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_increase: Option<f64>,
    /// Largest allowed increase in percent of the baseline value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_increase_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_decrease: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_decrease_pct: Option<f64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Only an increase is bad (errors, latency).
    #[default]
    Increase,
    /// Only a decrease is bad (throughput, success rate).
    Decrease,
    Either,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EffectMeasure {
    /// Canary mean / baseline mean.
    #[default]
    MeanRatio,
    /// Common-language effect size: P(canary > baseline).
    Cles,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NanStrategy {
    /// Drop missing datapoints.
    #[default]
    Remove,
    /// Treat missing datapoints as zero (for counts that are absent when nothing happened).
    Replace,
}

/// Mann-Whitney U comparison of canary and baseline, with an effect size, as Kayenta judges.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    #[serde(default)]
    pub direction: Direction,
    /// Confidence level of the interval for the shift, e.g. 0.98.
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    #[serde(default)]
    pub effect_measure: EffectMeasure,
    /// Effect size still allowed (mean ratio 1.1, or CLES 0.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_effect: Option<f64>,
    /// Effect size that makes this metric fail critically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical_effect: Option<f64>,
    #[serde(default)]
    pub nan_strategy: NanStrategy,
    /// Remove outliers beyond 1.5 IQR before comparing.
    #[serde(default)]
    pub remove_outliers: bool,
    /// Weight in the score.
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// A High/Low verdict on a critical metric zeroes the score.
    #[serde(default)]
    pub critical: bool,
}

fn default_confidence() -> f64 {
    0.98
}

fn default_weight() -> f64 {
    1.0
}

/// A CloudWatch query: one metric, or a metric-math expression over named metrics.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<MetricStat>,
    /// Metric math over `metrics`, e.g. `100 * errors / requests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, MetricStat>,
    /// Dimensions added to every metric for the canary, e.g. `ExecutedVersion: "{version}"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub canary: BTreeMap<String, String>,
    /// Dimensions added for the baseline, e.g. `ExecutedVersion: "{stable_version}"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub baseline: BTreeMap<String, String>,
    /// Datapoint period; defaults to 60s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<HumanDuration>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricStat {
    pub namespace: String,
    pub name: String,
    /// `Average`, `Sum`, `SampleCount`, `Minimum`, `Maximum`, or an extended statistic (`p95`).
    pub stat: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------------------------
// Approvals, notifications, rollback

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalGate {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Who may decide: Slack user ids (`U024BE7LH`; a Slack vote counts under the clicker's id
    /// only, never a name), Slack user groups (`S0604QSJC`: any member, as Slack says when they
    /// vote), IAM users' or roles' ARNs (`rollgate approve` as that identity), and roles of the
    /// plan's `roles` by name.
    pub approvers: Vec<String>,
    /// Approvals needed; one rejection rejects.
    #[serde(default = "default_one")]
    pub quorum: u32,
    /// How long to wait; an expired approval is a rejection.
    pub timeout: HumanDuration,
    /// How long the approval may go without a vote: each vote renews it (a Step Functions
    /// heartbeat on the waiting task), and when none came for this long the approval expires
    /// (a rejection), as it does after `timeout`. Shorter than `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<HumanDuration>,
    /// The Go/No-Go criteria shown to approvers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub criteria: Vec<String>,
    /// When approvals are given (the Friday Go/No-Go meeting, 14:00–15:00 Europe/Berlin): an
    /// approval outside these hours is refused with the time the next window opens. A rejection
    /// is accepted at any time (stopping a release is never out of hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decide_within: Option<DecisionWindow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// Weekly hours, in a named time zone, in which approvals are given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionWindow {
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// The weekly windows, e.g. `[{ days: [fri], from: "14:00", to: "15:00" }]`.
    pub allow: Vec<WeeklyWindow>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationEvent {
    Started,
    StepAdvanced,
    WaitingForApproval,
    Promoted,
    Blocked,
    RolledBack,
}

impl NotificationEvent {
    /// The name in plans, notifications and the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationEvent::Started => "started",
            NotificationEvent::StepAdvanced => "step_advanced",
            NotificationEvent::WaitingForApproval => "waiting_for_approval",
            NotificationEvent::Promoted => "promoted",
            NotificationEvent::Blocked => "blocked",
            NotificationEvent::RolledBack => "rolled_back",
        }
    }

    pub const ALL: [NotificationEvent; 6] = [
        NotificationEvent::Started,
        NotificationEvent::StepAdvanced,
        NotificationEvent::WaitingForApproval,
        NotificationEvent::Promoted,
        NotificationEvent::Blocked,
        NotificationEvent::RolledBack,
    ];
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notifications {
    /// Which release events are published.
    #[serde(default = "all_events")]
    pub events: Vec<NotificationEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_channel: Option<String>,
    /// People or groups mentioned when a release is rolled back or blocked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mention_on_failure: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard_url: Option<String>,
}

fn all_events() -> Vec<NotificationEvent> {
    NotificationEvent::ALL.to_vec()
}

impl Default for Notifications {
    fn default() -> Self {
        Self { events: all_events(), slack_channel: None, mention_on_failure: Vec::new(), dashboard_url: None }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackPolicy {
    /// Target time from detection to restored traffic (the runbook's RTO); a slower rollback
    /// is reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_within: Option<HumanDuration>,
}

impl Plan {
    /// Who may decide `gate`: its approvers with each of the plan's roles replaced by its
    /// members, once each, in the order written.
    pub fn approvers_of(&self, gate: &ApprovalGate) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for approver in &gate.approvers {
            let members = self.roles.get(approver).map_or_else(|| std::slice::from_ref(approver), Vec::as_slice);
            for member in members {
                if !out.contains(member) {
                    out.push(member.clone());
                }
            }
        }
        out
    }

    /// The approval gate a step waits for, if any.
    /// The hooks of `step` that run at `run`.
    pub fn hooks_at(&self, step: usize, run: HookRun) -> impl Iterator<Item = &Hook> {
        self.traffic.steps.get(step).into_iter().flat_map(|s| s.hooks.iter()).filter(move |h| h.run == run)
    }

    pub fn approval_for_step(&self, step: usize) -> Option<&ApprovalGate> {
        let id = self.traffic.steps.get(step)?.approval.as_deref()?;
        self.approvals.iter().find(|a| a.id == id)
    }

    /// The analysis that judges step `step`: the plan-wide one, changed by the step's template
    /// and its own settings. `None` when neither the plan nor the step has one (the step
    /// advances on bake time alone).
    pub fn analysis_at(&self, step: usize) -> Option<Cow<'_, Analysis>> {
        let Some(own) = self.traffic.steps.get(step).and_then(|s| s.analysis.as_ref()) else {
            return self.analysis.as_ref().map(Cow::Borrowed);
        };
        let template = own.template.as_deref().and_then(|name| self.analysis_templates.get(name));
        let mut analysis = self.analysis.clone().unwrap_or_else(|| Analysis {
            // Validation asks a step that brings its own analysis for an interval; until then
            // the bake stands in.
            interval: self.traffic.steps.get(step).map_or(HumanDuration::ZERO, |s| s.bake),
            window: None,
            look_before_step: false,
            min_samples: default_one(),
            consecutive_failures: default_one(),
            max_inconclusive: default_max_inconclusive(),
            on_inconclusive: InconclusivePolicy::default(),
            max_hold: None,
            score: None,
            metrics: Vec::new(),
        });
        for layer in template.into_iter().chain([own]) {
            layer.apply_to(&mut analysis);
        }
        Some(Cow::Owned(analysis))
    }

    /// Seconds from setting step `step`'s weight to its first check: one analysis interval, or
    /// the bake if shorter; at least 1.
    pub fn first_check_after(&self, step: usize) -> Option<u64> {
        let bake = self.traffic.steps.get(step)?.bake;
        let interval = self.analysis_at(step).map_or(bake, |a| a.interval);
        Some(interval.min(bake).as_secs().max(1))
    }

    /// How long a release may go without touching its lock before another may take it:
    /// the longest unattended wait (a check interval or an approval), with margin.
    pub fn lock_lease(&self) -> HumanDuration {
        let longest_wait = self
            .approvals
            .iter()
            .map(|a| a.timeout)
            .chain(self.analysis.iter().map(|a| a.interval))
            .chain((0..self.traffic.steps.len()).filter_map(|step| self.analysis_at(step).map(|a| a.interval)))
            .chain(self.traffic.steps.iter().map(|s| s.bake))
            .max()
            .unwrap_or(HumanDuration::ZERO);
        HumanDuration::from_secs(longest_wait.as_secs().saturating_add(30 * 60))
    }

    /// Stable content hash of the plan, recorded with each release.
    pub fn content_hash(&self) -> String {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        crate::domain::hash::sha256_hex(&canonical)
    }

    /// The JSON Schema of plan files, for editors.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Plan)).unwrap_or_default()
    }
}
