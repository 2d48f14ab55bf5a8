//! The week's figures as CloudWatch embedded metric format (EMF) documents: one JSON object per
//! service and environment, which the policy-review function prints as one line each on stdout;
//! Lambda ships stdout to CloudWatch Logs, which extracts the metrics. Plain data here, no I/O.
//!
//! Each document holds `_aws` (`Timestamp`: the end of the reviewed week in milliseconds since
//! the epoch; `CloudWatchMetrics`: one directive with the namespace, the dimension set
//! `[Service, Environment]` and the metrics with their units), the dimensions' values, the
//! week (`Week`, a plain member for Logs Insights), and each metric's value. A rate whose
//! denominator was zero (no checks, no rollback) is left out, not published as 0.

use serde_json::{Map, Value, json};

use super::{ServiceFigures, WeekFigures, WeeklyReview};

/// The namespace the review's metrics are published in.
pub const NAMESPACE: &str = "Rollgate/Review";

/// The dimension set of every metric.
pub const DIMENSIONS: [&str; 2] = ["Service", "Environment"];

/// Every metric the review publishes, with its CloudWatch unit: the one list the EMF lines and
/// the dashboard (infra/template.yaml, checked by shared/tests/infra.rs) are held to.
pub const METRICS: [(&str, &str); 8] = [
    ("Releases", "Count"),
    ("GateChecks", "Count"),
    ("GateFailureRate", "Percent"),
    ("OverrideRate", "Percent"),
    ("Rollbacks", "Count"),
    ("LikelyFalsePositives", "Count"),
    ("FalsePositiveRate", "Percent"),
    ("TimeToRollbackP90", "Seconds"),
];

/// CloudWatch's limit on a dimension value, in characters.
const MAX_DIMENSION_CHARS: usize = 1024;

/// The value of metric `name` in `f`, if it has one (rates in percent).
fn value(name: &str, f: &WeekFigures) -> Option<f64> {
    let percent = |rate: Option<f64>| rate.map(|r| r * 100.0);
    match name {
        "Releases" => Some(f.releases as f64),
        "GateChecks" => Some(f.gate_checks as f64),
        "GateFailureRate" => percent(f.gate_failure_rate),
        "OverrideRate" => percent(f.override_rate),
        "Rollbacks" => Some(f.rollbacks as f64),
        "LikelyFalsePositives" => Some(f.likely_false_positives as f64),
        "FalsePositiveRate" => percent(f.false_positive_rate),
        "TimeToRollbackP90" => f.p90_time_to_rollback_secs.map(|s| s as f64),
        _ => None,
    }
}

/// A dimension value: CloudWatch refuses an empty one or one over 1,024 characters.
fn dimension(text: &str) -> String {
    let text = crate::domain::text::prefix(text, MAX_DIMENSION_CHARS);
    if text.trim().is_empty() { super::UNKNOWN.to_string() } else { text.to_string() }
}

/// One EMF document for one service and environment.
pub fn document(review: &WeeklyReview, s: &ServiceFigures) -> Value {
    let mut root = Map::new();
    let mut metrics = Vec::new();
    for (name, unit) in METRICS {
        if let Some(v) = value(name, &s.figures).filter(|v| v.is_finite()) {
            metrics.push(json!({ "Name": name, "Unit": unit }));
            root.insert(name.to_string(), json!(v));
        }
    }
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": review.to.timestamp_millis(),
            "CloudWatchMetrics": [{ "Namespace": NAMESPACE, "Dimensions": [DIMENSIONS], "Metrics": metrics }],
        }),
    );
    root.insert(DIMENSIONS[0].into(), json!(dimension(&s.service)));
    root.insert(DIMENSIONS[1].into(), json!(dimension(&s.environment)));
    root.insert("Week".into(), json!(review.week.to_string()));
    Value::Object(root)
}

impl WeeklyReview {
    /// The week's figures as EMF lines, one per service and environment with releases this week.
    pub fn emf_lines(&self) -> Vec<String> {
        self.services.iter().map(|s| document(self, s).to_string()).collect()
    }
}
