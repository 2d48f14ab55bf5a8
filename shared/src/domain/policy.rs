//! A platform team's policy for a service in an environment: the least a release plan must
//! require (checklist strictness and items, metrics with their loosest allowed bounds, alarms,
//! an approval before high traffic, the largest first step) and the deploy freezes it respects.
//! Admission compares the requester's plan with it and refuses a weaker plan, naming each rule
//! it breaks; the requester cannot loosen it, since the policy is stored apart and written by
//! another role.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::plan::{Bounds, EnforcementMode, Plan};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub service: String,
    pub environment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checklist: Option<ChecklistPolicy>,
    /// Metrics every step must judge, each with the loosest bounds a plan may set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricPolicy>,
    /// CloudWatch alarms the plan must list in `rollback_alarms`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollback_alarms: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalPolicy>,
    /// The largest weight the first step that shifts traffic may have (percent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_step_at_most: Option<u32>,
    /// Deploy freezes: no release of the service starts from `from` until `to`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freezes: Vec<Freeze>,
    /// Weekly hours in which releases start and traffic shifts (`Mon–Thu 09:00–16:00
    /// Europe/Berlin`): outside them admission refuses, and a running release holds its weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_windows: Option<crate::domain::plan::DecisionWindow>,
    /// What operators may do to a release in flight (pause, resume, abort and retry always).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operators: Option<OperatorPolicy>,
}

/// Whether `rollgate promote` and `rollgate skip` are allowed (both are, unless this says no).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorPolicy {
    /// `rollgate promote`: full traffic at the next passing check, skipping the remaining steps.
    #[serde(default = "allowed")]
    pub promote: bool,
    /// `rollgate skip`: end the current step's bake at its next passing check.
    #[serde(default = "allowed")]
    pub skip: bool,
}

fn allowed() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChecklistPolicy {
    /// The least strict mode any checklist item may have (monitor < warn < soft < strict).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<EnforcementMode>,
    /// Item ids the plan's checklist must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricPolicy {
    /// The metric's name in the plan's analysis.
    pub name: String,
    /// The loosest `must` allowed: the plan's must be at least as strict (`below: 1` allows
    /// `below: 0.5`, not `below: 2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub must: Option<Bounds>,
    /// The latest `rollback_if` allowed: the plan must roll back at least this early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_if: Option<Bounds>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalPolicy {
    /// An approval is required at or before the first step that reaches this weight.
    pub before_weight: u32,
    /// At least one of these (Slack user ids or groups, IAM ARNs) must be among its approvers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers_any_of: Vec<String>,
    /// The least quorum it may have.
    #[serde(default = "one")]
    pub min_quorum: u32,
}

fn one() -> u32 {
    1
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Freeze {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub reason: String,
}

/// One rule of the policy the plan breaks: where in the policy, what, and what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breach {
    pub rule: String,
    pub problem: String,
    pub fix: String,
}

impl std::fmt::Display for Breach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "policy {}: {}; {}", self.rule, self.problem, self.fix)
    }
}

impl Policy {
    /// What is wrong with the policy itself, each with its path and a fix.
    pub fn problems(&self) -> Vec<Breach> {
        let mut out = Vec::new();
        let mut add = |rule: String, problem: &str, fix: &str| out.push(Breach { rule, problem: problem.into(), fix: fix.into() });
        if self.service.trim().is_empty() {
            add("service".into(), "is empty", "name the service the policy governs");
        }
        if self.environment.trim().is_empty() {
            add("environment".into(), "is empty", "name the environment, e.g. production");
        }
        for (i, metric) in self.metrics.iter().enumerate() {
            let empty = |b: &Option<Bounds>| {
                b.as_ref().is_none_or(|b| b.at_least.is_none() && b.at_most.is_none() && b.above.is_none() && b.below.is_none())
            };
            if empty(&metric.must) && empty(&metric.rollback_if) {
                add(format!("metrics[{i}]"), "sets no bound", "say the loosest `must` (e.g. `below: 1`) or `rollback_if` a plan may use");
            }
            let finite = [&metric.must, &metric.rollback_if]
                .into_iter()
                .flatten()
                .all(|b| [b.at_least, b.at_most, b.above, b.below].into_iter().flatten().all(f64::is_finite));
            if !finite {
                add(format!("metrics[{i}]"), "has a bound that is not a finite number", "write numbers such as 0.5");
            }
        }
        if self.first_step_at_most.is_some_and(|w| w == 0 || w > 100) {
            add("first_step_at_most".into(), "must be between 1 and 100", "write a percent such as 10");
        }
        if let Some(windows) = &self.deploy_windows {
            if !crate::domain::timezone::Zone::exists(&windows.timezone) {
                add("deploy_windows.timezone".into(), "is not an IANA time zone", "write one such as Europe/Berlin or UTC");
            }
            if windows.allow.is_empty() {
                add(
                    "deploy_windows.allow".into(),
                    "is empty",
                    "give the weekly hours, e.g. `[{ days: [mon, tue, wed, thu], from: \"09:00\", to: \"16:00\" }]`",
                );
            }
            for (i, w) in windows.allow.iter().enumerate() {
                let parsed = |t: &str| crate::domain::checklist::parse_local_time(t).is_some();
                if !parsed(&w.from) || !parsed(&w.to) {
                    add(
                        format!("deploy_windows.allow[{i}]"),
                        "has a time that is not HH:MM",
                        "write times such as \"09:00\" and \"16:00\"",
                    );
                }
            }
        }
        for (i, freeze) in self.freezes.iter().enumerate() {
            if freeze.to <= freeze.from {
                add(format!("freezes[{i}]"), "ends before it starts", "make `to` later than `from`");
            }
        }
        out
    }

    /// The freeze in force at `now`, if any.
    pub fn freeze_at(&self, now: DateTime<Utc>) -> Option<&Freeze> {
        self.freezes.iter().find(|f| f.from <= now && now < f.to)
    }

    /// What holds traffic at `now`: a freeze, or the deploy windows being closed (as a freeze
    /// until the next window opens; a day if none opens within eight). Windows that cannot be
    /// read hold traffic too, for an hour at a time, until the policy is fixed.
    pub fn hold_at(&self, now: DateTime<Utc>) -> Option<Freeze> {
        if let Some(freeze) = self.freeze_at(now) {
            return Some(freeze.clone());
        }
        let windows = self.deploy_windows.as_ref()?;
        let later = |hours: i64| now.checked_add_signed(chrono::Duration::hours(hours)).unwrap_or(now);
        let described = crate::domain::checklist::describe_windows(&windows.timezone, &windows.allow);
        match crate::domain::checklist::weekly_window_at(&windows.timezone, &windows.allow, now) {
            Ok(crate::domain::checklist::WindowAt::Open) => None,
            Ok(crate::domain::checklist::WindowAt::Closed { next }) => {
                Some(Freeze { from: now, to: next.unwrap_or_else(|| later(24)), reason: format!("outside the deploy windows {described}") })
            }
            Err(e) => Some(Freeze {
                from: now,
                to: later(1),
                reason: format!("the policy's deploy windows cannot be read ({e}); fix the policy"),
            }),
        }
    }

    /// Every rule of this policy that `plan` breaks (a release starting at `now`).
    pub fn breaches(&self, plan: &Plan, now: DateTime<Utc>) -> Vec<Breach> {
        let mut out = Vec::new();
        let mut add = |rule: String, problem: String, fix: String| out.push(Breach { rule, problem, fix });
        if let Some(freeze) = self.freeze_at(now) {
            add(
                "freezes".into(),
                format!("deploys are frozen until {}: {}", freeze.to.format("%Y-%m-%d %H:%M UTC"), freeze.reason),
                "start the release after the freeze".into(),
            );
        } else if let Some(closed) = self.hold_at(now) {
            add(
                "deploy_windows".into(),
                format!("{} is {}", now.format("%Y-%m-%d %H:%M UTC"), closed.reason),
                format!("start the release when the next window opens, {}", closed.to.format("%Y-%m-%d %H:%M UTC")),
            );
        }
        if let Some(checklist) = &self.checklist {
            if let Some(least) = checklist.mode {
                for item in &plan.checklist.items {
                    let mode = item.mode.unwrap_or(plan.checklist.mode);
                    if mode < least {
                        add(
                            "checklist.mode".into(),
                            format!("checklist item `{}` is {}, looser than {}", item.id, mode.as_str(), least.as_str()),
                            format!("make it {} (or stricter)", least.as_str()),
                        );
                    }
                }
            }
            for (i, id) in checklist.items.iter().enumerate() {
                if !plan.checklist.items.iter().any(|item| &item.id == id) {
                    add(
                        format!("checklist.items[{i}]"),
                        format!("the plan's checklist has no item `{id}`"),
                        format!("add the item `{id}`"),
                    );
                }
            }
        }
        for (i, required) in self.metrics.iter().enumerate() {
            // One breach per problem, naming the steps it applies to (most plans share one analysis).
            let mut found: Vec<(String, String, String, Vec<usize>)> = Vec::new();
            for step in 0..plan.traffic.steps.len() {
                let analysis = plan.analysis_at(step);
                let metric = analysis.as_ref().and_then(|a| a.metrics.iter().find(|m| m.name == required.name));
                let mut problems = Vec::new();
                match metric {
                    None => problems.push((
                        format!("metrics[{i}]"),
                        NOT_JUDGED.to_string(),
                        format!("judge `{}` in the plan's analysis (every step)", required.name),
                    )),
                    Some(metric) => {
                        if let Some(loosest) = &required.must
                            && let Some(problem) = looser(metric.must.as_ref(), loosest, Strictness::Narrower)
                        {
                            problems.push((format!("metrics[{i}].must"), problem, format!("use {} or stricter", describe(loosest))));
                        }
                        if let Some(latest) = &required.rollback_if
                            && let Some(problem) = looser(metric.rollback_if.as_ref(), latest, Strictness::Wider)
                        {
                            problems.push((
                                format!("metrics[{i}].rollback_if"),
                                problem,
                                format!("roll back at {} or earlier", describe(latest)),
                            ));
                        }
                    }
                }
                for (rule, problem, fix) in problems {
                    match found.iter_mut().find(|(r, p, ..)| *r == rule && *p == problem) {
                        Some((.., steps)) => steps.push(step + 1),
                        None => found.push((rule, problem, fix, vec![step + 1])),
                    }
                }
            }
            for (rule, problem, fix, steps) in found {
                let steps = steps.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
                let at = if steps.contains(',') { format!("steps {steps}") } else { format!("step {steps}") };
                let problem = if problem == NOT_JUDGED {
                    format!("`{}` {problem} at {at}", required.name)
                } else {
                    format!("`{}` at {at}: {problem}", required.name)
                };
                add(rule, problem, fix);
            }
        }
        for (i, alarm) in self.rollback_alarms.iter().enumerate() {
            if !plan.rollback_alarms.contains(alarm) {
                add(
                    format!("rollback_alarms[{i}]"),
                    format!("the plan does not list the alarm `{alarm}`"),
                    format!("add `{alarm}` to rollback_alarms"),
                );
            }
        }
        if let Some(required) = &self.approval {
            let reaching = plan.traffic.steps.iter().position(|s| s.weight >= required.before_weight);
            if let Some(reaching) = reaching {
                let gates: Vec<_> = (0..=reaching).filter_map(|s| plan.approval_for_step(s)).collect();
                let fitting = gates.iter().find(|gate| {
                    let approvers = plan.approvers_of(gate);
                    gate.quorum >= required.min_quorum
                        && (required.approvers_any_of.is_empty() || approvers.iter().any(|a| required.approvers_any_of.contains(a)))
                });
                if fitting.is_none() {
                    let who = if required.approvers_any_of.is_empty() {
                        String::new()
                    } else {
                        format!(" with one of {} among its approvers", required.approvers_any_of.join(", "))
                    };
                    add(
                        "approval".into(),
                        format!(
                            "no approval{who} and a quorum of at least {} guards step {} ({}%) or an earlier one",
                            required.min_quorum,
                            reaching + 1,
                            plan.traffic.steps[reaching].weight
                        ),
                        format!("add such an approval to a step up to step {}", reaching + 1),
                    );
                }
            }
        }
        if let Some(most) = self.first_step_at_most
            && let Some(first) = plan.traffic.steps.iter().map(|s| s.weight).find(|w| *w > 0)
            && first > most
        {
            add(
                "first_step_at_most".into(),
                format!("the first step shifts {first}%, more than {most}%"),
                format!("start at {most}% or less"),
            );
        }
        out
    }
}

const NOT_JUDGED: &str = "is not judged";

/// Which way a bound is stricter: a `must` range that is narrower lets less pass; a
/// `rollback_if` range that is wider rolls back sooner.
#[derive(Clone, Copy, PartialEq)]
enum Strictness {
    Narrower,
    Wider,
}

/// An upper or lower limit and whether it is inclusive.
#[derive(Clone, Copy)]
struct Limit {
    value: f64,
    inclusive: bool,
}

fn upper(b: &Bounds) -> Option<Limit> {
    match (b.below, b.at_most) {
        (Some(below), Some(at_most)) if at_most < below => Some(Limit { value: at_most, inclusive: true }),
        (Some(below), _) => Some(Limit { value: below, inclusive: false }),
        (None, Some(at_most)) => Some(Limit { value: at_most, inclusive: true }),
        (None, None) => None,
    }
}

fn lower(b: &Bounds) -> Option<Limit> {
    match (b.above, b.at_least) {
        (Some(above), Some(at_least)) if at_least > above => Some(Limit { value: at_least, inclusive: true }),
        (Some(above), _) => Some(Limit { value: above, inclusive: false }),
        (None, Some(at_least)) => Some(Limit { value: at_least, inclusive: true }),
        (None, None) => None,
    }
}

/// Whether upper limit `plan` lets no more through than `policy` (`below 1` within `at_most 1`).
fn upper_within(plan: Limit, policy: Limit) -> bool {
    plan.value < policy.value || (plan.value == policy.value && (!plan.inclusive || policy.inclusive))
}

fn lower_within(plan: Limit, policy: Limit) -> bool {
    plan.value > policy.value || (plan.value == policy.value && (!plan.inclusive || policy.inclusive))
}

/// Whether upper limit `plan` takes in at least what `policy` does (`at_most 10` covers `below 10`).
fn upper_covers(plan: Limit, policy: Limit) -> bool {
    plan.value > policy.value || (plan.value == policy.value && (plan.inclusive || !policy.inclusive))
}

fn lower_covers(plan: Limit, policy: Limit) -> bool {
    plan.value < policy.value || (plan.value == policy.value && (plan.inclusive || !policy.inclusive))
}

/// What makes the plan's bounds looser than the policy's, if anything.
fn looser(plan: Option<&Bounds>, policy: &Bounds, strictness: Strictness) -> Option<String> {
    let Some(plan) = plan else { return Some(format!("the plan sets none (the policy requires {})", describe(policy))) };
    let written = describe(plan);
    for (side, policy_limit, plan_limit) in [("upper", upper(policy), upper(plan)), ("lower", lower(policy), lower(plan))] {
        let Some(policy_limit) = policy_limit else { continue };
        let ok = match (strictness, side, plan_limit) {
            (Strictness::Narrower, "upper", Some(p)) => upper_within(p, policy_limit),
            (Strictness::Narrower, _, Some(p)) => lower_within(p, policy_limit),
            // A rollback condition "above 5" rolls back sooner at "above 3": a wider region.
            (Strictness::Wider, "upper", Some(p)) => upper_covers(p, policy_limit),
            (Strictness::Wider, _, Some(p)) => lower_covers(p, policy_limit),
            (_, _, None) => false,
        };
        if !ok {
            return Some(format!("{written} is looser than the policy's {}", describe(policy)));
        }
    }
    None
}

fn describe(b: &Bounds) -> String {
    let parts: Vec<String> = [("at least", b.at_least), ("above", b.above), ("at most", b.at_most), ("below", b.below)]
        .into_iter()
        .filter_map(|(word, v)| v.map(|v| format!("{word} {v}")))
        .collect();
    if parts.is_empty() { "no bound".into() } else { parts.join(" and ") }
}

#[cfg(test)]
mod tests;
