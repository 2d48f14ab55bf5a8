//! The weighted score of the compared metrics (Kayenta-style, 0–100).

use serde::{Deserialize, Serialize};

use super::{Classification, MetricVerdict};
use crate::domain::plan::Analysis;

/// The weighted score of the compared metrics (0–100).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub value: f64,
    pub passed_weight: f64,
    pub total_weight: f64,
    /// A critical metric classified High or Low zeroes the score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zeroed_by: Option<String>,
}

/// The share of the comparisons' weight that passed; `None` when nothing was compared. A metric
/// that could not be compared (NoData) is left out: its metric is inconclusive on its own.
pub(super) fn score(analysis: &Analysis, metrics: &[MetricVerdict]) -> Option<Score> {
    let mut passed = 0.0;
    let mut total = 0.0;
    let mut zeroed_by = None;
    for (gate, verdict) in analysis.metrics.iter().zip(metrics) {
        let (Some(compare), Some(detail)) = (&gate.compare, verdict.checks.iter().find_map(|c| c.statistic.as_ref())) else { continue };
        if detail.classification == Classification::NoData {
            continue;
        }
        total += compare.weight;
        match detail.classification {
            Classification::Pass => passed += compare.weight,
            Classification::High | Classification::Low | Classification::Critical if compare.critical => {
                zeroed_by.get_or_insert_with(|| gate.name.clone());
            }
            _ => {}
        }
    }
    if total == 0.0 {
        return None;
    }
    let value = if zeroed_by.is_some() { 0.0 } else { 100.0 * passed / total };
    Some(Score { value, passed_weight: passed, total_weight: total, zeroed_by })
}
