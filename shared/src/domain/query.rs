//! Turning a plan's metric gates into concrete queries for one check (no AWS types).
//!
//! Each metric becomes one result query per side (canary, baseline) with placeholders filled in;
//! an expression's inputs get ids of their own, so that all of a check's queries go out in one
//! batch and come back by id.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::domain::observation::{lookback, period};
use crate::domain::plan::validate::expression_identifiers;
use crate::domain::plan::{Analysis, MetricStat};

/// What placeholders in dimensions are filled with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryContext {
    pub service: String,
    pub environment: String,
    pub version: String,
    pub stable_version: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    Canary,
    Baseline,
}

/// One query of a GetMetricData batch.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedQuery {
    /// Unique in the batch; starts with a lowercase letter (CloudWatch's rule).
    pub id: String,
    pub body: QueryBody,
    /// Whether the caller wants its datapoints (expression inputs do not).
    pub return_data: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum QueryBody {
    Stat { namespace: String, name: String, stat: String, dimensions: BTreeMap<String, String>, period_secs: u32 },
    Expression { expression: String, period_secs: u32 },
}

/// All queries of one check, over one time range.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryPlan {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub queries: Vec<PlannedQuery>,
    /// Result query id → (metric name, side).
    pub results: BTreeMap<String, (String, Side)>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueryPlanError {
    #[error(
        "metric {metric}: the baseline uses {{stable_version}} but the release names no stable version; pass stable_version with the release"
    )]
    NoStableVersion { metric: String },
}

/// Plans the queries of one check ending at `now`.
pub fn plan_queries(analysis: &Analysis, context: &QueryContext, now: DateTime<Utc>) -> Result<QueryPlan, QueryPlanError> {
    let mut plan = QueryPlan { start: range_start(analysis, now), end: now, queries: Vec::new(), results: BTreeMap::new() };
    for (index, metric) in analysis.metrics.iter().enumerate() {
        let sides: &[Side] = if metric.query.baseline.is_empty() { &[Side::Canary] } else { &[Side::Canary, Side::Baseline] };
        for side in sides {
            let id = format!("m{index}{}", if *side == Side::Canary { "c" } else { "b" });
            let extra = if *side == Side::Canary { &metric.query.canary } else { &metric.query.baseline };
            let extra = fill_all(extra, context, &metric.name)?;
            let period_secs = period(metric);
            match (&metric.query.metric, &metric.query.expression) {
                (Some(stat), _) => plan.queries.push(PlannedQuery {
                    id: id.clone(),
                    body: stat_body(stat, &extra, context, &metric.name, period_secs)?,
                    return_data: true,
                }),
                (None, Some(expression)) => {
                    for (name, input) in &metric.query.metrics {
                        plan.queries.push(PlannedQuery {
                            id: format!("{id}_{name}"),
                            body: stat_body(input, &extra, context, &metric.name, period_secs)?,
                            return_data: false,
                        });
                    }
                    plan.queries.push(PlannedQuery {
                        id: id.clone(),
                        body: QueryBody::Expression { expression: prefix_identifiers(expression, &format!("{id}_")), period_secs },
                        return_data: true,
                    });
                }
                (None, None) => continue,
            }
            plan.results.insert(id, (metric.name.clone(), *side));
        }
    }
    Ok(plan)
}

/// Where a check at `now` starts reading: its metrics' longest lookback before it.
pub fn range_start(analysis: &Analysis, now: DateTime<Utc>) -> DateTime<Utc> {
    analysis.metrics.iter().map(|m| lookback(analysis, m)).max().unwrap_or(analysis.interval).before(now)
}

/// How far back CloudWatch keeps datapoints at a period (its retention): under a minute
/// (high resolution), 3 hours; under five minutes, 15 days; under an hour, 63 days; longer,
/// 455 days. Older datapoints are rolled up to the next period, which a plan's query would not
/// read as it did.
pub fn cloudwatch_keeps(period_secs: u32) -> chrono::Duration {
    match period_secs {
        0..60 => chrono::Duration::hours(3),
        60..300 => chrono::Duration::days(15),
        300..3600 => chrono::Duration::days(63),
        _ => chrono::Duration::days(455),
    }
}

fn stat_body(
    stat: &MetricStat,
    extra: &BTreeMap<String, String>,
    context: &QueryContext,
    metric: &str,
    period_secs: u32,
) -> Result<QueryBody, QueryPlanError> {
    let mut dimensions = fill_all(&stat.dimensions, context, metric)?;
    dimensions.extend(extra.clone());
    Ok(QueryBody::Stat { namespace: stat.namespace.clone(), name: stat.name.clone(), stat: stat.stat.clone(), dimensions, period_secs })
}

fn fill_all(dims: &BTreeMap<String, String>, context: &QueryContext, metric: &str) -> Result<BTreeMap<String, String>, QueryPlanError> {
    dims.iter().map(|(k, v)| fill(v, context, metric).map(|v| (k.clone(), v))).collect()
}

fn fill(value: &str, context: &QueryContext, metric: &str) -> Result<String, QueryPlanError> {
    let mut out =
        value.replace("{version}", &context.version).replace("{service}", &context.service).replace("{environment}", &context.environment);
    if out.contains("{stable_version}") {
        let stable = context.stable_version.as_deref().ok_or_else(|| QueryPlanError::NoStableVersion { metric: metric.to_string() })?;
        out = out.replace("{stable_version}", stable);
    }
    Ok(out)
}

/// `100 * FILL(errors, 0) / requests` → `100 * FILL(m0c_errors, 0) / m0c_requests`.
fn prefix_identifiers(expression: &str, prefix: &str) -> String {
    let identifiers = expression_identifiers(expression);
    let mut out = String::with_capacity(expression.len() + 16);
    let mut rest = expression;
    for id in identifiers {
        // Identifiers come back in order, so each is the next occurrence in `rest` at a word start.
        let mut search_from = 0;
        while let Some(found) = rest[search_from..].find(id) {
            let at = search_from + found;
            let before_ok = rest[..at].chars().next_back().is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
            let after_ok = rest[at + id.len()..].chars().next().is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
            if before_ok && after_ok {
                out.push_str(&rest[..at]);
                out.push_str(prefix);
                out.push_str(id);
                rest = &rest[at + id.len()..];
                break;
            }
            search_from = at + id.len();
        }
    }
    out.push_str(rest);
    out
}

impl QueryPlan {
    /// Splits the queries into batches of at most `max` (GetMetricData takes 500), keeping an
    /// expression together with its inputs.
    pub fn batches(&self, max: usize) -> Vec<Vec<&PlannedQuery>> {
        let mut groups: Vec<Vec<&PlannedQuery>> = Vec::new();
        for query in &self.queries {
            let group = query.id.split('_').next().unwrap_or(&query.id);
            match groups.last_mut() {
                Some(last) if last.first().is_some_and(|q| q.id.split('_').next() == Some(group)) => last.push(query),
                _ => groups.push(vec![query]),
            }
        }
        let mut batches: Vec<Vec<&PlannedQuery>> = Vec::new();
        for group in groups {
            match batches.last_mut() {
                Some(batch) if batch.len() + group.len() <= max => batch.extend(group),
                _ => batches.push(group),
            }
        }
        batches
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::plan::parse_plan_file;
    use chrono::TimeZone;

    fn context() -> QueryContext {
        QueryContext {
            service: "vision-to-code".into(),
            environment: "production".into(),
            version: "42".into(),
            stable_version: Some("41".into()),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 11, 14, 10, 20, 0).single().unwrap_or_default()
    }

    fn example(name: &str) -> Analysis {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name);
        parse_plan_file(&path).ok().and_then(|p| p.analysis).unwrap_or_else(|| panic!("{name} has analysis"))
    }

    #[test]
    fn percentiles_and_version_scoped_dimensions() {
        let plan = plan_queries(&example("vision-to-code-production.yaml"), &context(), now()).unwrap_or_else(|e| panic!("{e}"));
        let latency_canary = plan.queries.iter().find(|q| q.id == "m1c").map(|q| q.body.clone());
        let Some(QueryBody::Stat { stat, dimensions, period_secs, .. }) = latency_canary else { panic!("m1c is a stat query") };
        assert_eq!(stat, "p99");
        assert_eq!(period_secs, 60);
        assert_eq!(dimensions.get("Version").map(String::as_str), Some("42"));
        assert_eq!(dimensions.get("Service").map(String::as_str), Some("vision-to-code"));
        let Some(QueryBody::Stat { dimensions, .. }) = plan.queries.iter().find(|q| q.id == "m1b").map(|q| q.body.clone()) else {
            panic!("m1b")
        };
        assert_eq!(dimensions.get("Version").map(String::as_str), Some("41"));
        assert_eq!(plan.results.get("m1b"), Some(&("latency_p99".to_string(), Side::Baseline)));
        assert!(!plan.results.contains_key("m2b"), "cpu has no baseline query");
        assert_eq!(plan.end - plan.start, chrono::Duration::minutes(5), "window defaults to the interval");
    }

    #[test]
    fn expressions_get_namespaced_inputs_in_one_batch() {
        let plan = plan_queries(&example("greenlang-production-deploy.yaml"), &context(), now()).unwrap_or_else(|e| panic!("{e}"));
        let expr = plan.queries.iter().find(|q| q.id == "m0c").map(|q| q.body.clone());
        assert_eq!(expr, Some(QueryBody::Expression { expression: "100 * FILL(m0c_errors, 0) / m0c_requests".into(), period_secs: 60 }));
        let input = plan.queries.iter().find(|q| q.id == "m0c_errors").unwrap_or_else(|| panic!("input query"));
        assert!(!input.return_data);
        let Some(QueryBody::Stat { dimensions, .. }) = Some(input.body.clone()) else { panic!() };
        assert_eq!(dimensions.get("TargetGroup").map(String::as_str), Some("targetgroup/greenlang-api-green/2453ed029918f21f"));
        assert_eq!(plan.end - plan.start, chrono::Duration::minutes(15), "the sustained condition needs 15m of data");
        let ids: std::collections::BTreeSet<_> = plan.queries.iter().map(|q| q.id.as_str()).collect();
        assert_eq!(ids.len(), plan.queries.len(), "ids are unique");
    }

    #[test]
    fn a_baseline_needs_the_stable_version() {
        let ctx = QueryContext { stable_version: None, ..context() };
        assert!(matches!(
            plan_queries(&example("vision-to-code-production.yaml"), &ctx, now()),
            Err(QueryPlanError::NoStableVersion { .. })
        ));
    }

    #[test]
    fn identifiers_are_prefixed_as_whole_words() {
        assert_eq!(prefix_identifiers("errors / errors_total + FILL(errors, 0)", "x_"), "x_errors / x_errors_total + FILL(x_errors, 0)");
    }
}
