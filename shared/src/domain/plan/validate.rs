//! Semantic checks of a whole plan; every problem at once, each with its path and a fix.

use std::collections::{BTreeSet, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Analysis, ApprovalGate, Bounds, Checklist, MetricGate, MetricQuery, Plan, Requirement, RouterSpec, Step};
use crate::domain::checklist::{parse_freeze_time, parse_local_time, parse_severity};
use crate::domain::duration::HumanDuration;

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
    check_checklist(&plan.checklist, &mut issues);
    check_router(&plan.traffic.router, &mut issues);
    check_steps(plan, &mut issues);
    if let Some(analysis) = &plan.analysis {
        check_analysis(analysis, &plan.traffic.steps, &mut issues);
    }
    check_approvals(plan, &mut issues);
    if let Some(rto) = plan.rollback.restore_within
        && rto.is_zero()
    {
        issues.add("rollback.restore_within", "is 0s", "give the runbook's RTO, e.g. 15m");
    }
    issues.0
}

fn is_identifier(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn check_checklist(checklist: &Checklist, issues: &mut Issues) {
    let mut seen = HashSet::new();
    for (i, item) in checklist.items.iter().enumerate() {
        let path = format!("checklist.items[{i}]");
        if !is_identifier(&item.id) {
            issues.add(
                format!("{path}.id"),
                format!("`{}` is not a valid id", item.id),
                "use lowercase letters, digits, `-` and `_`, e.g. `security-review`",
            );
        } else if !seen.insert(item.id.as_str()) {
            issues.add(format!("{path}.id"), format!("`{}` is used by an earlier item", item.id), "give each item its own id");
        }
        check_requirement(&item.require, &format!("{path}.require"), issues);
    }
    for (i, approver) in checklist.overrides.approvers.iter().enumerate() {
        if approver.trim().is_empty() {
            issues.add(format!("checklist.overrides.approvers[{i}]"), "is empty", "name the person or group allowed to approve overrides");
        }
    }
}

fn check_evidence_key(key: &str, path: &str, issues: &mut Issues) {
    if key.trim().is_empty() {
        issues.add(format!("{path}.evidence"), "is empty", "name the evidence field this item reads, e.g. `coverage_pct`");
    }
}

fn check_requirement(req: &Requirement, path: &str, issues: &mut Issues) {
    match req {
        Requirement::Attestation { evidence } => check_evidence_key(evidence, path, issues),
        Requirement::Number { evidence, at_least, at_most, above, below, .. } => {
            check_evidence_key(evidence, path, issues);
            let bounds = Bounds { at_least: *at_least, at_most: *at_most, above: *above, below: *below };
            check_bounds(&bounds, path, issues);
        }
        Requirement::Freshness { evidence, max_age, min_age } => {
            check_evidence_key(evidence, path, issues);
            match (max_age, min_age) {
                (None, None) => issues.add(
                    path,
                    "freshness needs `max_age` or `min_age`",
                    "add `max_age: 24h` (no older than) or `min_age: 48h` (at least this old)",
                ),
                (Some(max), Some(min)) if min >= max => issues.add(
                    format!("{path}.min_age"),
                    format!("{min} is not below max_age {max}; no time could satisfy both"),
                    "make min_age shorter than max_age",
                ),
                _ => {}
            }
            for (field, d) in [("max_age", max_age), ("min_age", min_age)] {
                if d.is_some_and(HumanDuration::is_zero) {
                    issues.add(format!("{path}.{field}"), "is 0s", "give a positive duration like 24h");
                }
            }
        }
        Requirement::Count { evidence, at_least, exclude, .. } => {
            check_evidence_key(evidence, path, issues);
            if *at_least == 0 {
                issues.add(format!("{path}.at_least"), "is 0, which every list satisfies", "require at least 1");
            }
            if exclude.as_deref().is_some_and(|e| e.trim().is_empty()) {
                issues.add(format!("{path}.exclude"), "is empty", "name the evidence field to exclude (e.g. `author`) or remove it");
            }
        }
        Requirement::Date { evidence, min_remaining } => {
            check_evidence_key(evidence, path, issues);
            if min_remaining.is_zero() {
                issues.add(format!("{path}.min_remaining"), "is 0s", "give the margin needed, e.g. 30d");
            }
        }
        Requirement::Window { timezone, allow, freeze } => {
            if timezone.parse::<chrono_tz::Tz>().is_err() {
                issues.add(
                    format!("{path}.timezone"),
                    format!("`{timezone}` is not an IANA time zone"),
                    "use a name like `UTC`, `Europe/Berlin` or `America/New_York`",
                );
            }
            if allow.is_empty() && freeze.is_empty() {
                issues.add(path, "a window needs `allow` or `freeze`", "add allowed hours or freeze periods");
            }
            for (i, w) in allow.iter().enumerate() {
                let wp = format!("{path}.allow[{i}]");
                let from = parse_local_time(&w.from);
                let to = parse_local_time(&w.to);
                if from.is_none() {
                    issues.add(format!("{wp}.from"), format!("`{}` is not a time", w.from), "write HH:MM, e.g. 09:00");
                }
                if to.is_none() {
                    issues.add(format!("{wp}.to"), format!("`{}` is not a time", w.to), "write HH:MM, e.g. 17:00");
                }
                if let (Some(f), Some(t)) = (from, to)
                    && f == t
                {
                    issues.add(format!("{wp}.to"), "equals `from`, an empty window", "make the window end after it starts");
                }
            }
            for (i, fz) in freeze.iter().enumerate() {
                let fp = format!("{path}.freeze[{i}]");
                let from = parse_freeze_time(&fz.from);
                let to = parse_freeze_time(&fz.to);
                if from.is_none() {
                    issues.add(format!("{fp}.from"), format!("`{}` is not a date-time", fz.from), "write YYYY-MM-DDTHH:MM");
                }
                if to.is_none() {
                    issues.add(format!("{fp}.to"), format!("`{}` is not a date-time", fz.to), "write YYYY-MM-DDTHH:MM");
                }
                if let (Some(f), Some(t)) = (from, to)
                    && t <= f
                {
                    issues.add(format!("{fp}.to"), format!("{} is not after {}", fz.to, fz.from), "end the freeze after it starts");
                }
            }
        }
        Requirement::Incidents { evidence, severity_at_or_above, within } => {
            check_evidence_key(evidence, path, issues);
            if parse_severity(severity_at_or_above).is_none() {
                issues.add(
                    format!("{path}.severity_at_or_above"),
                    format!("`{severity_at_or_above}` is not a severity"),
                    "write P0–P5 or SEV0–SEV5 (P0 is the most severe)",
                );
            }
            if within.is_zero() {
                issues.add(format!("{path}.within"), "is 0s", "give the period to look back, e.g. 48h");
            }
        }
    }
}

/// Bounds must say something and not contradict themselves.
fn check_bounds(b: &Bounds, path: &str, issues: &mut Issues) {
    if b.is_empty() {
        issues.add(path, "no bound given", "add at least one of at_least, at_most, above, below");
        return;
    }
    for (name, v) in [("at_least", b.at_least), ("at_most", b.at_most), ("above", b.above), ("below", b.below)] {
        if v.is_some_and(|v| !v.is_finite()) {
            issues.add(format!("{path}.{name}"), "is not a finite number", "give a number");
        }
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

fn check_router(router: &RouterSpec, issues: &mut Issues) {
    let path = "traffic.router";
    match router {
        RouterSpec::LambdaAlias { function_name, alias } => {
            if function_name.trim().is_empty() {
                issues.add(format!("{path}.function_name"), "is empty", "name the Lambda function (name or ARN)");
            }
            if alias.trim().is_empty() || alias == "$LATEST" {
                issues.add(
                    format!("{path}.alias"),
                    format!("`{alias}` cannot carry weights"),
                    "name the alias callers invoke, e.g. `live`",
                );
            }
        }
        RouterSpec::Alb { listener_arn, rule_arn, stable_target_group_arn, canary_target_group_arn } => {
            for (field, arn) in [
                ("listener_arn", Some(listener_arn)),
                ("rule_arn", rule_arn.as_ref()),
                ("stable_target_group_arn", Some(stable_target_group_arn)),
                ("canary_target_group_arn", Some(canary_target_group_arn)),
            ] {
                if let Some(arn) = arn
                    && !arn.starts_with("arn:")
                {
                    issues.add(
                        format!("{path}.{field}"),
                        format!("`{arn}` is not an ARN"),
                        "copy the ARN from the console or `aws elbv2 describe-*`",
                    );
                }
            }
            if stable_target_group_arn == canary_target_group_arn {
                issues.add(
                    format!("{path}.canary_target_group_arn"),
                    "is the stable target group",
                    "point it at the target group of the new version",
                );
            }
        }
        RouterSpec::Webhook { url, secret_env, timeout } => {
            let local = ["http://localhost", "http://127.", "http://[::1]"].iter().any(|p| url.starts_with(p));
            if !url.starts_with("https://") && !local {
                issues.add(format!("{path}.url"), format!("`{url}` is not an https URL"), "use https (plain http only for localhost)");
            }
            if secret_env.trim().is_empty() {
                issues.add(format!("{path}.secret_env"), "is empty", "name the environment variable that holds the signing key");
            }
            if timeout.is_some_and(HumanDuration::is_zero) {
                issues.add(format!("{path}.timeout"), "is 0s", "give a timeout such as 10s");
            }
        }
        RouterSpec::DryRun {} => {}
    }
}

fn check_steps(plan: &Plan, issues: &mut Issues) {
    let steps: &[Step] = &plan.traffic.steps;
    if steps.is_empty() {
        issues.add("traffic.steps", "is empty", "add at least one step, e.g. `- { weight: 10, bake: 15m }`");
    }
    let mut previous: Option<u32> = None;
    for (i, step) in steps.iter().enumerate() {
        let path = format!("traffic.steps[{i}]");
        if step.weight == 0 || step.weight > 100 {
            issues.add(
                format!("{path}.weight"),
                format!("{} is outside 1–100", step.weight),
                "give the percent of traffic for the new version",
            );
        } else if let Some(prev) = previous {
            if step.weight < prev {
                issues.add(
                    format!("{path}.weight"),
                    format!("{} is below the previous step's {prev}", step.weight),
                    "weights must not decrease",
                );
            } else if step.weight == prev {
                issues.add(
                    format!("{path}.weight"),
                    format!("{} repeats the previous step's weight", step.weight),
                    "raise it or merge the two steps",
                );
            }
        }
        if step.weight == 100 && i + 1 < steps.len() {
            issues.add(format!("{path}.weight"), "100 before the last step", "make 100 the last step; nothing can follow full traffic");
        }
        if step.weight > 0 && step.weight <= 100 {
            previous = Some(step.weight);
        }
        if let Some(id) = &step.approval
            && !plan.approvals.iter().any(|a| &a.id == id)
        {
            let known: Vec<_> = plan.approvals.iter().map(|a| a.id.as_str()).collect();
            issues.add(
                format!("{path}.approval"),
                format!("`{id}` is not defined"),
                if known.is_empty() { "define it under `approvals`".to_string() } else { format!("use one of: {}", known.join(", ")) },
            );
        }
        if let Some(analysis) = &plan.analysis
            && !step.bake.is_zero()
            && step.bake < analysis.interval
        {
            issues.add(
                format!("{path}.bake"),
                format!("{} is shorter than analysis.interval {}; no check would run", step.bake, analysis.interval),
                format!("bake at least {} or shorten the interval", analysis.interval),
            );
        }
    }
}

fn check_analysis(analysis: &Analysis, steps: &[Step], issues: &mut Issues) {
    if analysis.interval.is_zero() {
        issues.add("analysis.interval", "is 0s", "check every few minutes, e.g. 5m");
    }
    if analysis.window.is_some_and(HumanDuration::is_zero) {
        issues.add("analysis.window", "is 0s", "look back at least one interval, or remove it");
    }
    if analysis.min_samples == 0 {
        issues.add("analysis.min_samples", "is 0, so an empty window would count as data", "require at least 1 datapoint");
    }
    if analysis.consecutive_failures == 0 {
        issues.add("analysis.consecutive_failures", "is 0", "use 1 to roll back on the first failed check");
    }
    if let Some(score) = &analysis.score {
        if !(0.0..=100.0).contains(&score.pass) || !(0.0..=100.0).contains(&score.marginal) {
            issues.add("analysis.score", "thresholds must lie in 0–100", "e.g. pass: 95, marginal: 75");
        } else if score.marginal > score.pass {
            issues.add("analysis.score.marginal", format!("{} is above pass {}", score.marginal, score.pass), "make marginal at most pass");
        }
    }
    if analysis.metrics.is_empty() {
        issues.add("analysis.metrics", "is empty", "add a metric gate, or remove `analysis` to advance on bake time alone");
    }
    let has_comparison = analysis.metrics.iter().any(|m| m.compare.is_some());
    if has_comparison && analysis.score.is_none() {
        issues.add("analysis.score", "metrics use `compare` but no score thresholds are set", "add `score: { pass: 95, marginal: 75 }`");
    }
    let mut names = HashSet::new();
    for (i, metric) in analysis.metrics.iter().enumerate() {
        let path = format!("analysis.metrics[{i}]");
        if !is_identifier(&metric.name) {
            issues.add(
                format!("{path}.name"),
                format!("`{}` is not a valid name", metric.name),
                "use lowercase letters, digits, `-` and `_`",
            );
        } else if !names.insert(metric.name.as_str()) {
            issues.add(format!("{path}.name"), format!("`{}` is used by an earlier metric", metric.name), "give each metric its own name");
        }
        check_metric(metric, analysis, steps, &path, issues);
    }
}

fn check_metric(metric: &MetricGate, analysis: &Analysis, steps: &[Step], path: &str, issues: &mut Issues) {
    check_query(&metric.query, &format!("{path}.query"), issues);
    if metric.must.is_none()
        && metric.rollback_if.is_none()
        && metric.sustained.is_none()
        && metric.baseline.is_none()
        && metric.compare.is_none()
    {
        issues.add(path, "has no criterion", "add `must`, `rollback_if`, `sustained`, `baseline` or `compare`");
    }
    if let Some(b) = &metric.must {
        check_bounds(b, &format!("{path}.must"), issues);
    }
    if let Some(b) = &metric.rollback_if {
        check_bounds(b, &format!("{path}.rollback_if"), issues);
    }
    if let Some(s) = &metric.sustained {
        check_bounds(&s.bounds(), &format!("{path}.sustained"), issues);
        if s.duration < analysis.interval {
            issues.add(
                format!("{path}.sustained.for"),
                format!("{} is shorter than analysis.interval {}", s.duration, analysis.interval),
                "make it at least one interval (or use rollback_if for an immediate rollback)",
            );
        }
        let longest_bake = steps.iter().map(|s| s.bake).max().unwrap_or_default();
        if s.duration > longest_bake {
            issues.add(
                format!("{path}.sustained.for"),
                format!("{} is longer than every step's bake ({longest_bake}); it could never trigger", s.duration),
                "shorten it or lengthen the bakes",
            );
        }
    }
    if let Some(b) = &metric.baseline {
        let any = [b.max_increase, b.max_increase_pct, b.max_decrease, b.max_decrease_pct];
        if any.iter().all(Option::is_none) {
            issues.add(
                format!("{path}.baseline"),
                "no limit given",
                "add max_increase, max_increase_pct, max_decrease or max_decrease_pct",
            );
        }
        if any.iter().flatten().any(|v| !v.is_finite() || *v < 0.0) {
            issues.add(format!("{path}.baseline"), "limits must be non-negative numbers", "give the allowed change as a positive number");
        }
    }
    if (metric.baseline.is_some() || metric.compare.is_some()) && metric.query.baseline.is_empty() {
        issues.add(
            format!("{path}.query.baseline"),
            "the metric is compared with the baseline but the query does not say how to select it",
            "add baseline dimensions, e.g. `baseline: { ExecutedVersion: \"{stable_version}\" }`",
        );
    }
    if let Some(c) = &metric.compare {
        let cp = format!("{path}.compare");
        if !(0.5..1.0).contains(&c.confidence) {
            issues.add(format!("{cp}.confidence"), format!("{} is not in [0.5, 1)", c.confidence), "use e.g. 0.98");
        }
        if c.weight <= 0.0 || !c.weight.is_finite() {
            issues.add(format!("{cp}.weight"), "must be positive", "give the metric's share of the score, e.g. 1");
        }
        if let (Some(a), Some(cr)) = (c.allowed_effect, c.critical_effect)
            && cr < a
        {
            issues.add(
                format!("{cp}.critical_effect"),
                format!("{cr} is below allowed_effect {a}"),
                "make the critical effect at least the allowed one",
            );
        }
    }
    if metric.min_samples == Some(0) {
        issues.add(format!("{path}.min_samples"), "is 0", "require at least 1 datapoint");
    }
}

fn check_query(q: &MetricQuery, path: &str, issues: &mut Issues) {
    match (&q.metric, &q.expression) {
        (Some(_), Some(_)) => issues.add(path, "gives both `metric` and `expression`", "keep one"),
        (None, None) => issues.add(
            path,
            "gives neither `metric` nor `expression`",
            "add `metric: {namespace, name, stat}` or an expression over `metrics`",
        ),
        (Some(m), None) => {
            if !q.metrics.is_empty() {
                issues.add(format!("{path}.metrics"), "is only used by an expression", "remove it or write an expression");
            }
            check_stat(&m.stat, &format!("{path}.metric.stat"), issues);
        }
        (None, Some(expr)) => {
            if q.metrics.is_empty() {
                issues.add(
                    format!("{path}.metrics"),
                    "the expression has no metrics to work on",
                    "define the ids it uses, e.g. `errors:` and `requests:`",
                );
            }
            let used: BTreeSet<&str> = expression_identifiers(expr).into_iter().collect();
            for id in &used {
                if !q.metrics.contains_key(*id) {
                    issues.add(
                        format!("{path}.expression"),
                        format!("uses `{id}`, which is not defined"),
                        "define it under `metrics` or fix the name",
                    );
                }
            }
            for (id, m) in &q.metrics {
                if !id.chars().next().is_some_and(|c| c.is_ascii_lowercase()) || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    issues.add(
                        format!("{path}.metrics.{id}"),
                        "is not a valid metric id",
                        "start with a lowercase letter; use letters, digits and `_` (CloudWatch's rule)",
                    );
                }
                check_stat(&m.stat, &format!("{path}.metrics.{id}.stat"), issues);
            }
        }
    }
    for (side, dims) in [("canary", &q.canary), ("baseline", &q.baseline)] {
        for (key, value) in dims {
            let mut rest = value.as_str();
            while let Some(start) = rest.find('{') {
                let end = rest[start..].find('}').map(|e| start + e + 1).unwrap_or(rest.len());
                let placeholder = &rest[start..end];
                if !DIMENSION_PLACEHOLDERS.contains(&placeholder) {
                    issues.add(
                        format!("{path}.{side}.{key}"),
                        format!("`{placeholder}` is not a known placeholder"),
                        format!("use one of {}", DIMENSION_PLACEHOLDERS.join(", ")),
                    );
                }
                rest = &rest[end..];
            }
        }
    }
    if q.period.is_some_and(|p| p.as_secs() == 0 || (p.as_secs() % 60 != 0 && ![1, 5, 10, 30].contains(&p.as_secs()))) {
        issues.add(format!("{path}.period"), "is not a CloudWatch period", "use 1s, 5s, 10s, 30s or a multiple of 60s");
    }
}

/// Identifiers an expression refers to (function names such as `FILL` are upper case and skipped).
pub fn expression_identifiers(expr: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_alphabetic() || bytes[i] == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let word = &expr[start..i];
            let is_function = expr[i..].trim_start().starts_with('(');
            if word.chars().next().is_some_and(|c| c.is_ascii_lowercase()) && !is_function {
                out.push(word);
            }
        } else {
            i += 1;
        }
    }
    out
}

fn check_stat(stat: &str, path: &str, issues: &mut Issues) {
    const PLAIN: [&str; 5] = ["Average", "Sum", "SampleCount", "Minimum", "Maximum"];
    let percentile = stat.strip_prefix('p').and_then(|p| p.parse::<f64>().ok()).is_some_and(|p| p > 0.0 && p < 100.0);
    if !PLAIN.contains(&stat) && !percentile {
        issues.add(
            path,
            format!("`{stat}` is not a statistic"),
            "use Average, Sum, SampleCount, Minimum, Maximum or a percentile like p95",
        );
    }
}

fn check_approvals(plan: &Plan, issues: &mut Issues) {
    let mut seen = HashSet::new();
    for (i, gate) in plan.approvals.iter().enumerate() {
        let path = format!("approvals[{i}]");
        check_approval(gate, &path, issues);
        if !seen.insert(gate.id.as_str()) {
            issues.add(format!("{path}.id"), format!("`{}` is used by an earlier approval", gate.id), "give each approval its own id");
        }
        if !plan.traffic.steps.iter().any(|s| s.approval.as_deref() == Some(gate.id.as_str())) {
            issues.add(
                format!("{path}.id"),
                format!("`{}` is not used by any step", gate.id),
                "reference it from a step (`approval: <id>`) or remove it",
            );
        }
    }
}

fn check_approval(gate: &ApprovalGate, path: &str, issues: &mut Issues) {
    if !is_identifier(&gate.id) {
        issues.add(format!("{path}.id"), format!("`{}` is not a valid id", gate.id), "use lowercase letters, digits, `-` and `_`");
    }
    if gate.approvers.is_empty() {
        issues.add(format!("{path}.approvers"), "is empty; nobody could approve", "list who decides, e.g. Slack user ids");
    }
    if gate.quorum == 0 {
        issues.add(format!("{path}.quorum"), "is 0, which would approve without anyone", "require at least 1 approval");
    } else if gate.quorum as usize > gate.approvers.len() && !gate.approvers.is_empty() {
        issues.add(
            format!("{path}.quorum"),
            format!("{} is more than the {} approvers listed", gate.quorum, gate.approvers.len()),
            "lower the quorum or add approvers",
        );
    }
    if gate.timeout.is_zero() {
        issues.add(format!("{path}.timeout"), "is 0s", "give approvers time, e.g. 2h; an expired approval is a rejection");
    }
    if let Some(hb) = gate.heartbeat
        && (hb.is_zero() || hb >= gate.timeout)
    {
        issues.add(
            format!("{path}.heartbeat"),
            format!("{hb} must be positive and shorter than the timeout {}", gate.timeout),
            "use e.g. a tenth of the timeout, or remove it",
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
            "{BASE}    - {{ weight: 0, bake: 5m }}\n    - {{ weight: 100, bake: 5m, approval: cto }}\n    - {{ weight: 100, bake: 1m }}\n\
analysis:\n  interval: 2m\n  metrics:\n    - name: errors\n      query: {{ metric: {{ namespace: A, name: E, stat: p101 }} }}\n"
        );
        let issues = issues_of(&yaml);
        let joined = issues.join("\n");
        for expected in [
            "traffic.steps[0].weight: 0 is outside 1–100",
            "traffic.steps[1].weight: 100 before the last step",
            "traffic.steps[1].approval: `cto` is not defined",
            "traffic.steps[2].weight: 100 repeats",
            "traffic.steps[2].bake: 1m is shorter than analysis.interval 2m",
            "analysis.metrics[0].query.metric.stat: `p101` is not a statistic",
            "analysis.metrics[0]: has no criterion",
        ] {
            assert!(joined.contains(expected), "missing `{expected}` in:\n{joined}");
        }
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
}
