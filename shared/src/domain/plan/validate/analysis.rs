//! The analysis section: how often steps are judged, scores, and each metric gate and query.

use std::collections::{BTreeSet, HashSet};

use super::{DIMENSION_PLACEHOLDERS, Issues, check_at_most, check_bounds, check_finite, is_identifier, limits};
use crate::domain::duration::HumanDuration;
use crate::domain::plan::{Analysis, MetricGate, MetricQuery, Step};

pub(super) fn check_analysis(analysis: &Analysis, steps: &[Step], issues: &mut Issues) {
    if analysis.interval.is_zero() {
        issues.add("analysis.interval", "is 0s", "check every few minutes, e.g. 5m");
    }
    if analysis.window.is_some_and(HumanDuration::is_zero) {
        issues.add("analysis.window", "is 0s", "look back at least one interval, or remove it");
    }
    let daily = "a step is judged at least daily; check every few minutes, e.g. 5m";
    check_at_most(analysis.interval, limits::ANALYSIS, "analysis.interval", "between two checks", daily, issues);
    if let Some(window) = analysis.window {
        check_at_most(window, limits::ANALYSIS, "analysis.window", "a check may look back", "look back at most 1d, e.g. 15m", issues);
    }
    if let Some(max_hold) = analysis.max_hold {
        check_at_most(
            max_hold,
            limits::BAKE,
            "analysis.max_hold",
            "a step may be held (as long as a bake)",
            "hold at most 30d, e.g. 2h",
            issues,
        );
    }
    if let Some(max_hold) = analysis.max_hold
        && max_hold < analysis.interval
    {
        issues.add(
            "analysis.max_hold",
            format!("{max_hold} is shorter than analysis.interval {}; the first held check would already fail closed", analysis.interval),
            format!("hold at least {}, or remove it to hold at most each step's bake", analysis.interval),
        );
    }
    if analysis.min_samples == 0 {
        issues.add("analysis.min_samples", "is 0, so an empty window would count as data", "require at least 1 datapoint");
    }
    if analysis.consecutive_failures == 0 {
        issues.add("analysis.consecutive_failures", "is 0", "use 1 to roll back on the first failed check");
    }
    if let Some(score) = &analysis.score {
        check_finite(Some(score.pass), "analysis.score.pass", issues);
        check_finite(Some(score.marginal), "analysis.score.marginal", issues);
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
        check_finite(c.allowed_effect, &format!("{cp}.allowed_effect"), issues);
        check_finite(c.critical_effect, &format!("{cp}.critical_effect"), issues);
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
    check_window(metric, analysis, path, issues);
}

/// A metric's window must hold the datapoints a check needs: a metric published hourly judged
/// over 5 minutes would be inconclusive at every check.
fn check_window(metric: &MetricGate, analysis: &Analysis, path: &str, issues: &mut Issues) {
    if let Some(own) = metric.window {
        if own.is_zero() {
            issues.add(format!("{path}.window"), "is 0s", "look back at least one period of the query, or remove it");
            return;
        }
        check_at_most(own, limits::ANALYSIS, &format!("{path}.window"), "a check may look back", "look back at most 1d, e.g. 1h", issues);
    }
    let window = crate::domain::observation::window(analysis, metric);
    let period = metric.query.period.unwrap_or(HumanDuration::from_secs(60));
    if window.is_zero() || period.is_zero() {
        return;
    }
    // Where the window comes from, so the fix names the line to change.
    let from = if metric.window.is_some() {
        format!("{path}.window")
    } else if analysis.window.is_some() {
        "analysis.window".to_string()
    } else {
        "analysis.interval".to_string()
    };
    let fits = window.as_secs() / period.as_secs();
    let needed = u64::from(metric.min_samples.unwrap_or(analysis.min_samples).max(1));
    if fits == 0 {
        issues.add(
            from,
            format!(
                "`{}` is judged over {window}, shorter than its query's period {period}: no complete datapoint falls in it, so every check would be inconclusive",
                metric.name
            ),
            format!("give the metric `window: {}` or more, or a shorter `query.period`", HumanDuration::from_secs(period.as_secs().saturating_mul(needed))),
        );
    } else if fits < needed {
        issues.add(
            from,
            format!(
                "`{}` is judged over {window}, which holds {fits} datapoint(s) of its {period} period, fewer than the {needed} min_samples asks: every check would be inconclusive",
                metric.name
            ),
            format!("give the metric `window: {}` or more, or lower min_samples", HumanDuration::from_secs(period.as_secs().saturating_mul(needed))),
        );
    }
}

/// What is allowed but probably not meant: a window shorter than the interval between checks
/// leaves datapoints that no check judges.
pub(super) fn window_warnings(analysis: &Analysis, root: &str, issues: &mut Issues) {
    for (i, metric) in analysis.metrics.iter().enumerate() {
        let window = crate::domain::observation::window(analysis, metric);
        if !window.is_zero() && window < analysis.interval {
            let path = if metric.window.is_some() { format!("{root}.metrics[{i}].window") } else { format!("{root}.window") };
            issues.add(
                path,
                format!(
                    "`{}` is judged over {window}, shorter than the {} between checks: datapoints between the windows are never judged",
                    metric.name, analysis.interval
                ),
                format!("look back at least {} (the interval), or check more often", analysis.interval),
            );
        }
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
    if let Some(period) = q.period {
        check_at_most(period, limits::ANALYSIS, &format!("{path}.period"), "datapoint period", "use 60s or a few minutes", issues);
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
