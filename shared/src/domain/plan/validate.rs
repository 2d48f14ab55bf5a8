//! Semantic checks of a whole plan; every problem at once, each with its path and a fix.
//!
//! One file per section of the plan: [`checklist`], the traffic [`router`] and [`traffic`] steps,
//! [`analysis`], [`approvals`], [`notifications`] and [`rollback`]. This file holds what they
//! share and the checks across sections.

mod analysis;
mod approvals;
mod checklist;
mod hooks;
mod notifications;
mod rollback;
mod router;
mod step_analysis;
mod traffic;

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Bounds, Plan};
use crate::domain::duration::HumanDuration;

pub use analysis::expression_identifiers;

const MINUTE: u64 = 60;
const DAY: u64 = 24 * 60 * MINUTE;

/// Every duration in a plan is bounded (every wait ends); the limits, as validation states them.
pub mod limits {
    use super::{DAY, HumanDuration, MINUTE};

    /// The longest a step may bake.
    pub const BAKE: HumanDuration = HumanDuration::from_secs(30 * DAY);
    /// The longest `analysis.interval`, `analysis.window` and a query's `period`: a step is
    /// judged at least daily.
    pub const ANALYSIS: HumanDuration = HumanDuration::from_secs(DAY);
    /// The longest an approval waits for its decision.
    pub const APPROVAL_TIMEOUT: HumanDuration = HumanDuration::from_secs(7 * DAY);
    /// The longest look-back or margin of a checklist item (`max_age`, `min_age`,
    /// `min_remaining`, `within`): ten years.
    pub const CHECKLIST_AGE: HumanDuration = HumanDuration::from_secs(3650 * DAY);
    /// The longest a whole release may take: every bake plus every approval's timeout.
    pub const PLAN: HumanDuration = HumanDuration::from_secs(90 * DAY);
    /// The longest lock lease a plan can ask for (`Plan::lock_lease`: its longest unattended
    /// wait plus 30m); it follows from the limits on bakes, intervals and approval timeouts.
    pub const LOCK_LEASE: HumanDuration = HumanDuration::from_secs(30 * DAY + 30 * MINUTE);
    /// The longest a webhook router call may take: the traffic-switch function runs at most 60s.
    pub const WEBHOOK_TIMEOUT: HumanDuration = HumanDuration::from_secs(MINUTE);
    /// The longest the hooks that run at one moment (a step's `before_shift` hooks, or those of
    /// one check) may take together: the functions that run them run at most 5m.
    pub const HOOKS: HumanDuration = HumanDuration::from_secs(4 * MINUTE);
    /// The longest rollback target (`rollback.restore_within`).
    pub const RESTORE_WITHIN: HumanDuration = HumanDuration::from_secs(DAY);
}

/// One problem in a plan: where, what, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanIssue {
    pub path: String,
    pub problem: String,
    pub fix: String,
}

impl PlanIssue {
    pub fn new(path: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { path: path.into(), problem: problem.into(), fix: fix.into() }
    }
}

impl fmt::Display for PlanIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() { "plan" } else { &self.path };
        write!(f, "{path}: {}; {}", self.problem, self.fix)
    }
}

#[derive(Default)]
struct Issues(Vec<PlanIssue>);

impl Issues {
    fn add(&mut self, path: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) {
        self.0.push(PlanIssue::new(path, problem, fix));
    }
}

/// Placeholders a metric dimension may use; filled in per release.
pub const DIMENSION_PLACEHOLDERS: [&str; 4] = ["{version}", "{stable_version}", "{service}", "{environment}"];

/// Checks everything that types alone cannot; returns all problems found.
pub fn validate(plan: &Plan) -> Vec<PlanIssue> {
    let mut issues = Issues::default();
    if plan.name.trim().is_empty() {
        issues.add("name", "is empty", "name the plan, e.g. `checkout-api-production`");
    }
    checklist::check_checklist(&plan.checklist, &mut issues);
    router::check_router(&plan.traffic.router, &mut issues);
    traffic::check_steps(plan, &mut issues);
    if let Some(analysis) = &plan.analysis {
        analysis::check_analysis(analysis, &plan.traffic.steps, &mut issues);
    }
    step_analysis::check_step_analyses(plan, &mut issues);
    hooks::check_hooks(plan, &mut issues);
    approvals::check_approvals(plan, &mut issues);
    approvals::check_roles(plan, &mut issues);
    notifications::check_notifications(&plan.notifications, &mut issues);
    rollback::check_rollback(&plan.rollback, &mut issues);
    check_rollback_alarms(&plan.rollback_alarms, &mut issues);
    check_release_length(plan, &mut issues);
    issues.0
}

/// What a valid plan allows but probably does not mean; `rollgate validate` prints these as
/// warnings.
pub fn warnings(plan: &Plan) -> Vec<PlanIssue> {
    let mut issues = Issues::default();
    if let Some(analysis) = &plan.analysis {
        analysis::window_warnings(analysis, "analysis", &mut issues);
    }
    for (i, step) in plan.traffic.steps.iter().enumerate() {
        if step.analysis.is_some()
            && let Some(analysis) = plan.analysis_at(i)
        {
            analysis::window_warnings(&analysis, &format!("traffic.steps[{i}].analysis"), &mut issues);
        }
    }
    approvals::approver_warnings(plan, &mut issues);
    let mut seen = std::collections::HashSet::new();
    issues.0.retain(|i| seen.insert(i.problem.clone()));
    issues.0
}

/// Alarm names as CloudWatch takes them: 1–255 characters, each once, at most 100.
fn check_rollback_alarms(alarms: &[String], issues: &mut Issues) {
    if alarms.len() > 100 {
        issues.add(
            "rollback_alarms",
            format!("lists {} alarms, more than 100", alarms.len()),
            "combine them into a composite alarm and list that",
        );
    }
    let mut seen = std::collections::HashSet::new();
    for (i, name) in alarms.iter().enumerate() {
        let path = format!("rollback_alarms[{i}]");
        if name.trim().is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
            issues.add(path, "is not a CloudWatch alarm name", "give the alarm's name as CloudWatch shows it (1–255 characters)");
        } else if !seen.insert(name.as_str()) {
            issues.add(path, format!("`{name}` is listed twice"), "list each alarm once");
        }
    }
}

/// A duration above its limit: `{path}: 300000000d is longer than 30d, the longest {what}`.
fn check_at_most(d: HumanDuration, limit: HumanDuration, path: &str, what: &str, fix: &str, issues: &mut Issues) {
    if d > limit {
        issues.add(path, format!("{d} is longer than {limit}, the longest {what}"), fix);
    }
}

/// The whole release is bounded: its bakes plus the approvals it waits for. Each part counts at
/// most its own limit, so that one absurd bake is reported once, at the bake.
fn check_release_length(plan: &Plan, issues: &mut Issues) {
    let total = plan.traffic.steps.iter().enumerate().fold(0u64, |sum, (i, step)| {
        let approval = plan.approval_for_step(i).map_or(0, |a| a.timeout.min(limits::APPROVAL_TIMEOUT).as_secs());
        sum.saturating_add(step.bake.min(limits::BAKE).as_secs()).saturating_add(approval)
    });
    let total = HumanDuration::from_secs(total);
    if total > limits::PLAN {
        issues.add(
            "traffic.steps",
            format!("the bakes and approval timeouts add up to {total}, longer than {}, the longest a release may take", limits::PLAN),
            "shorten the bakes or the approval timeouts, or split the rollout into several releases",
        );
    }
}

/// A number that must be finite (plans parsed from YAML or JSON never hold others; a plan built
/// in code might).
fn check_finite(value: Option<f64>, path: &str, issues: &mut Issues) {
    if value.is_some_and(|v| !v.is_finite()) {
        issues.add(path, "is not a finite number", "give a number");
    }
}

fn is_identifier(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Bounds must say something and not contradict themselves.
fn check_bounds(b: &Bounds, path: &str, issues: &mut Issues) {
    if b.is_empty() {
        issues.add(path, "no bound given", "add at least one of at_least, at_most, above, below");
        return;
    }
    for (name, v) in [("at_least", b.at_least), ("at_most", b.at_most), ("above", b.above), ("below", b.below)] {
        check_finite(v, &format!("{path}.{name}"), issues);
    }
    let lower = b.at_least.into_iter().chain(b.above).fold(f64::NEG_INFINITY, f64::max);
    let upper = b.at_most.into_iter().chain(b.below).fold(f64::INFINITY, f64::min);
    let strict = b.above.is_some_and(|a| a == lower) || b.below.is_some_and(|u| u == upper);
    if lower > upper || (strict && lower == upper) {
        issues.add(
            path,
            format!("no value satisfies the bounds (lower {lower}, upper {upper})"),
            "make the lower bound smaller than the upper bound",
        );
    }
}

impl Bounds {
    pub fn is_empty(&self) -> bool {
        self.at_least.is_none() && self.at_most.is_none() && self.above.is_none() && self.below.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::plan::{PlanFormat, parse_plan};

    fn issues_of(yaml: &str) -> Vec<String> {
        match parse_plan(yaml, PlanFormat::Yaml) {
            Ok(_) => Vec::new(),
            Err(issues) => issues.iter().map(ToString::to_string).collect(),
        }
    }

    const BASE: &str = "name: t\ntraffic:\n  router: { type: dry_run }\n  steps:\n";

    #[test]
    fn decreasing_weight_is_reported_as_in_the_docs() {
        let issues = issues_of(&format!(
            "{BASE}    - {{ weight: 10, bake: 5m }}\n    - {{ weight: 50, bake: 5m }}\n    - {{ weight: 30, bake: 5m }}\n"
        ));
        assert_eq!(issues, vec!["traffic.steps[2].weight: 30 is below the previous step's 50; weights must not decrease"]);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let yaml = format!(
            "{BASE}    - {{ weight: 101, bake: 5m }}\n    - {{ weight: 30, bake: 5m, approval: cto }}\n    - {{ weight: 30, bake: 1m }}\n\
analysis:\n  interval: 2m\n  metrics:\n    - name: errors\n      query: {{ metric: {{ namespace: A, name: E, stat: p101 }} }}\n"
        );
        let issues = issues_of(&yaml);
        let joined = issues.join("\n");
        for expected in [
            "traffic.steps[0].weight: 101 is above 100",
            "traffic.steps[1].approval: `cto` is not defined",
            "traffic.steps[2].weight: 30 repeats",
            "traffic.steps[2].bake: 1m is shorter than analysis.interval 2m",
            "analysis.metrics[0].query.metric.stat: `p101` is not a statistic",
            "analysis.metrics[0]: has no criterion",
        ] {
            assert!(joined.contains(expected), "missing `{expected}` in:\n{joined}");
        }
    }

    #[test]
    fn roles_and_approvers_are_checked_and_names_warned_about() {
        let yaml = format!(
            "{BASE}    - {{ weight: 10, bake: 5m, approval: go }}\n    - {{ weight: 100, bake: 5m }}\n\
roles:\n  sre: [S0SRE, lead]\n  lead: [U0LEAD]\n  Bad: []\n\
approvals:\n  - {{ id: go, approvers: [sre, U0ANA, alice, arn:aws:iam::123456789012:role/Rel], quorum: 5, timeout: 1h }}\n"
        );
        let issues = issues_of(&yaml).join("\n");
        for expected in
            ["roles.Bad: `Bad` is not a valid role name", "roles.Bad: has no members", "roles.sre[1]: `lead` is a role; roles do not nest"]
        {
            assert!(issues.contains(expected), "missing `{expected}` in:\n{issues}");
        }
        assert!(!issues.contains("quorum"), "a group may have any number of members: {issues}");
        let plan = parse_plan(&yaml.replace("sre: [S0SRE, lead]", "sre: [S0SRE]").replace("  Bad: []\n", ""), PlanFormat::Yaml)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let warned: Vec<String> = warnings(&plan).iter().map(ToString::to_string).collect();
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(warned[0].starts_with("approvals[0].approvers[2]: `alice` is not a Slack user id"), "{warned:?}");
        let go = &plan.approvals[0];
        assert_eq!(plan.approvers_of(go), ["S0SRE", "U0ANA", "alice", "arn:aws:iam::123456789012:role/Rel"]);
    }

    #[test]
    fn contradictory_bounds_are_caught() {
        let mut issues = Issues::default();
        check_bounds(&Bounds { at_least: Some(10.0), below: Some(5.0), ..Bounds::default() }, "x", &mut issues);
        check_bounds(&Bounds { above: Some(5.0), at_most: Some(5.0), ..Bounds::default() }, "y", &mut issues);
        check_bounds(&Bounds { at_least: Some(5.0), at_most: Some(5.0), ..Bounds::default() }, "z", &mut issues);
        let paths: Vec<_> = issues.0.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, vec!["x", "y"]);
    }

    #[test]
    fn expression_identifiers_skip_functions_and_numbers() {
        assert_eq!(expression_identifiers("100 * FILL(errors, 0) / requests"), vec!["errors", "requests"]);
    }

    #[test]
    fn unknown_dimension_placeholders_are_caught() {
        let yaml = format!(
            "{BASE}    - {{ weight: 10, bake: 5m }}\nanalysis:\n  interval: 5m\n  metrics:\n    - name: p95\n      must: {{ below: 500 }}\n      query:\n        metric: {{ namespace: AWS/Lambda, name: Duration, stat: p95 }}\n        canary: {{ ExecutedVersion: \"{{versoin}}\" }}\n"
        );
        let issues = issues_of(&yaml);
        assert!(issues.iter().any(|i| i.contains("`{versoin}` is not a known placeholder")), "{issues:?}");
    }

    #[test]
    fn a_webhook_router_needs_https_and_a_secret_arn() {
        let webhook = |fields: &str| {
            issues_of(&format!("name: t\ntraffic:\n  router: {{ type: webhook, {fields} }}\n  steps:\n    - {{ weight: 10, bake: 5m }}\n"))
        };
        const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rollgate/webhook/t-AbCdEf";
        assert_eq!(webhook(&format!("url: https://deploy.example.com/w, secret_arn: \"{ARN}\"")), Vec::<String>::new());
        assert_eq!(webhook(&format!("url: \"http://127.0.0.1:8080/w\", secret_arn: \"{ARN}\"")), Vec::<String>::new());

        let old = webhook("url: https://deploy.example.com/w, secret_env: TEAM_KEY");
        assert_eq!(old.len(), 1, "{old:?}");
        assert!(old[0].starts_with("traffic.router.secret_env: `secret_env` is no longer supported"), "{old:?}");
        assert!(old[0].contains("give its ARN as `secret_arn`"), "{old:?}");

        let missing = webhook("url: https://deploy.example.com/w");
        assert!(missing.iter().any(|i| i.starts_with("traffic.router.secret_arn: is missing")), "{missing:?}");
        let not_arn = webhook("url: https://deploy.example.com/w, secret_arn: TEAM_KEY");
        assert!(not_arn.iter().any(|i| i.contains("`TEAM_KEY` is not a Secrets Manager secret ARN")), "{not_arn:?}");

        for url in [
            "http://deploy.example.com/w",
            "http://127.0.0.1.nip.io/w",
            "http://localhost.example.com/w",
            "ftp://x/w",
            "deploy.example.com",
        ] {
            let issues = webhook(&format!("url: \"{url}\", secret_arn: \"{ARN}\""));
            assert!(issues.iter().any(|i| i.starts_with("traffic.router.url:")), "{url}: {issues:?}");
        }
        let credentials = webhook(&format!("url: \"https://user:pw@deploy.example.com/w\", secret_arn: \"{ARN}\""));
        assert!(credentials.iter().any(|i| i.contains("carries credentials")), "{credentials:?}");
    }

    const PER_STEP: &str = "name: t
traffic:
  router: { type: dry_run }
  steps:
    - { weight: 5, bake: 30m, analysis: { template: canary } }
    - { weight: 100, bake: 1h }
    - { weight: 100, bake: 1d, analysis: { interval: 15m, metrics: [ { name: throttles, must: { at_most: 10 }, query: { metric: { namespace: AWS/Lambda, name: Throttles, stat: Sum } } } ] } }
analysis:
  interval: 5m
  metrics:
    - { name: error_rate, must: { below: 0.5 }, rollback_if: { above: 10 }, query: { metric: { namespace: A, name: E, stat: Average } } }
analysis_templates:
  canary:
    consecutive_failures: 2
    metrics: [ { name: error_rate, must: { below: 3 } } ]
";

    #[test]
    fn a_step_analysis_replaces_what_it_names_and_keeps_the_rest() {
        let plan = parse_plan(PER_STEP, PlanFormat::Yaml).unwrap_or_else(|issues| panic!("{issues:?}"));
        let canary = plan.analysis_at(0).unwrap_or_else(|| panic!("step 0 is judged"));
        let error_rate = &canary.metrics[0];
        assert_eq!(error_rate.must.as_ref().and_then(|b| b.below), Some(3.0), "the template's bound");
        assert_eq!(error_rate.rollback_if.as_ref().and_then(|b| b.above), Some(10.0), "the plan-wide criterion it left alone");
        assert_eq!((canary.interval.as_secs(), canary.consecutive_failures), (300, 2));
        // A step without its own analysis is judged by the plan-wide one as written.
        assert!(matches!(plan.analysis_at(1), Some(std::borrow::Cow::Borrowed(_))));
        let watch = plan.analysis_at(2).unwrap_or_else(|| panic!("step 2 is judged"));
        let names: Vec<&str> = watch.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["error_rate", "throttles"], "a new name adds a metric");
        assert_eq!((watch.interval.as_secs(), watch.metrics[0].must.as_ref().and_then(|b| b.below)), (900, Some(0.5)));
        assert_eq!(plan.first_check_after(2), Some(900));
    }

    #[test]
    fn hooks_run_one_thing_somewhere_reachable_within_the_functions_time() {
        const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rollgate/hooks/smoke-AbCdEf";
        let ok = format!(
            "{BASE}    - {{ weight: 0, bake: 1h, hooks: [{{ name: smoke, run: before_shift, lambda: {{ function: rollgate-hook-smoke, input: {{ suite: smoke }} }} }}, \
             {{ name: load, run: first_check, timeout: 3m, http: {{ url: \"https://tests.example.com/load\", secret_arn: \"{ARN}\" }} }}] }}\n    - {{ weight: 100, bake: 1h }}\n"
        );
        assert_eq!(issues_of(&ok), Vec::<String>::new());
        let broken = issues_of(&format!(
            "{BASE}    - {{ weight: 10, bake: 1h, hooks: [\
             {{ name: Smoke Test, lambda: {{ function: \"arn:aws:sns:us-east-1:123456789012:topic\" }} }}, \
             {{ name: load, timeout: 3m, lambda: {{ function: f }}, http: {{ url: \"http://tests.example.com/\", secret_arn: KEY }} }}, \
             {{ name: load, timeout: 2m }}, \
             {{ name: soak, timeout: 0s, lambda: {{ function: g }} }}] }}\n"
        ));
        for expected in [
            "traffic.steps[0].hooks[0].name: `Smoke Test` is not a hook name",
            "traffic.steps[0].hooks[0].lambda.function: `arn:aws:sns:us-east-1:123456789012:topic` is not a Lambda function ARN",
            "traffic.steps[0].hooks[1]: gives both `lambda` and `http`",
            "traffic.steps[0].hooks[1].http.url: `http://tests.example.com/` is not an https URL",
            "traffic.steps[0].hooks[1].http.secret_arn: `KEY` is not a Secrets Manager secret ARN",
            "traffic.steps[0].hooks[2].name: `load` names two hooks of this step",
            "traffic.steps[0].hooks[2]: gives neither `lambda` nor `http`",
            "traffic.steps[0].hooks[3].timeout: is 0s",
            "traffic.steps[0].hooks: the hooks that run at a check may take 330s together, more than 4m",
        ] {
            assert!(broken.iter().any(|i| i.starts_with(expected)), "missing `{expected}` in {broken:#?}");
        }
        let unknown = issues_of(&format!(
            "{BASE}    - {{ weight: 10, bake: 1h, hooks: [{{ name: smoke, when: before_shift, lambda: {{ function: f }} }}] }}\n"
        ));
        assert!(unknown.iter().any(|i| i.contains("`when` is not a hook field") && i.contains("run")), "{unknown:?}");
    }

    #[test]
    fn a_zero_first_step_and_watches_after_full_traffic_are_valid() {
        let ok = format!(
            "{BASE}    - {{ weight: 0, bake: 2h }}\n    - {{ weight: 10, bake: 5m }}\n    - {{ weight: 100, bake: 5m }}\n    - {{ weight: 100, bake: 1d }}\n"
        );
        assert_eq!(issues_of(&ok), Vec::<String>::new());
        let only_shadow = issues_of(&format!("{BASE}    - {{ weight: 0, bake: 2h }}\n"));
        assert!(only_shadow.iter().any(|i| i.starts_with("traffic.steps[0].weight: the last step shifts no traffic")), "{only_shadow:?}");
        let twice = issues_of(&format!(
            "{BASE}    - {{ weight: 0, bake: 2h }}\n    - {{ weight: 0, bake: 2h }}\n    - {{ weight: 10, bake: 2h }}\n"
        ));
        assert!(twice.iter().any(|i| i.starts_with("traffic.steps[1].weight: 0 repeats")), "{twice:?}");
    }

    #[test]
    fn step_analysis_problems_are_reported_where_they_were_written() {
        let yaml = "name: t
traffic:
  router: { type: dry_run }
  steps:
    - { weight: 0, bake: 30m, analysis: { template: canary } }
    - { weight: 5, bake: 30m, analysis: { template: canary, interval: 0s, metrics: [ { name: eror_rate, must: { below: 3 } }, { name: p95, must: { below: 1, above: 2 } } ] } }
    - { weight: 100, bake: 2m, analysis: { template: canry, interval: 5m } }
analysis:
  interval: 1m
  metrics:
    - { name: error_rate, must: { below: 1 }, query: { metric: { namespace: A, name: E, stat: Sum } } }
    - { name: p95, must: { below: 100 }, query: { metric: { namespace: A, name: D, stat: p95 } } }
analysis_templates:
  canary:
    max_hold: 1s
    on_inconclusive: hold
  unused:
    template: canary
";
        let issues = issues_of(yaml);
        let joined = issues.join("\n");
        for expected in [
            "traffic.steps[2].analysis.template: `canry` is not defined; use one of: canary, unused",
            "traffic.steps[1].analysis.metrics[0].name: `eror_rate` is not a plan-wide metric and has no query; to change a plan-wide metric use its name (error_rate, p95)",
            "traffic.steps[1].analysis.interval: is 0s",
            "traffic.steps[1].analysis.metrics[1].must: no value satisfies the bounds",
            "traffic.steps[2].bake: 2m is shorter than this step's analysis.interval 5m",
            "analysis_templates.canary.max_hold: 1s is shorter than analysis.interval 1m",
            "analysis_templates.unused.template: a template cannot refer to another template",
            "analysis_templates.unused: no step uses it",
        ] {
            assert!(joined.contains(expected), "missing `{expected}` in:\n{joined}");
        }
        // Each problem once, though the steps inherit the plan-wide analysis.
        let mut unique = issues.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), issues.len(), "{joined}");
    }

    #[test]
    fn a_step_analysis_without_a_plan_wide_one_needs_an_interval() {
        let yaml = format!(
            "{BASE}    - {{ weight: 10, bake: 30m }}\n    - {{ weight: 100, bake: 1h, analysis: {{ metrics: [ {{ name: e, must: {{ below: 1 }}, query: {{ metric: {{ namespace: A, name: E, stat: Sum }} }} }} ] }} }}\n"
        );
        let issues = issues_of(&yaml);
        assert!(issues.iter().any(|i| i.starts_with("traffic.steps[1].analysis.interval: is missing")), "{issues:?}");
        let fixed = yaml
            .replace("analysis: {{ metrics", "analysis: {{ interval: 5m, metrics")
            .replace("analysis: { metrics", "analysis: { interval: 5m, metrics");
        assert_eq!(issues_of(&fixed), Vec::<String>::new());
    }

    #[test]
    fn a_window_that_cannot_hold_its_datapoints_is_refused_and_a_short_one_is_warned_about() {
        let plan = |metric_extra: &str, analysis_extra: &str| {
            format!(
                "{BASE}    - {{ weight: 10, bake: 2h }}\nanalysis:\n  interval: 5m\n  min_samples: 3\n{analysis_extra}  metrics:\n    - {{ name: batch, must: {{ below: 1 }}, query: {{ metric: {{ namespace: A, name: B, stat: Sum }}, period: 1h }}{metric_extra} }}\n"
            )
        };
        let hourly = issues_of(&plan("", ""));
        assert_eq!(hourly.len(), 1, "{hourly:?}");
        assert!(
            hourly[0].starts_with("analysis.interval: `batch` is judged over 5m, shorter than its query's period 1h")
                && hourly[0].ends_with("give the metric `window: 3h` or more, or a shorter `query.period`"),
            "{hourly:?}"
        );
        let two = issues_of(&plan(", window: 2h", ""));
        assert!(
            two.iter().any(|i| i.starts_with("analysis.metrics[0].window: `batch` is judged over 2h, which holds 2 datapoint(s)")),
            "{two:?}"
        );
        let fine = plan(", window: 3h", "");
        assert_eq!(issues_of(&fine), Vec::<String>::new());
        let parsed = parse_plan(&fine, PlanFormat::Yaml).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(warnings(&parsed), Vec::new());
        // Valid, but a 1m window checked every 5m leaves four minutes in five unjudged.
        let short = parse_plan(&plan("", "  window: 3m\n").replace("period: 1h", "period: 1m"), PlanFormat::Yaml)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let warned: Vec<String> = warnings(&short).iter().map(ToString::to_string).collect();
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(warned[0].starts_with("analysis.window: `batch` is judged over 3m, shorter than the 5m between checks"), "{warned:?}");
    }
}
