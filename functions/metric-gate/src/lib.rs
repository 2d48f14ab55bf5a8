//! metric-gate: each time a step has baked for an interval, judge the canary (and baseline)
//! metrics and decide `bake | advance | promote | rollback`. The state machine routes on
//! `action` and waits `next_check_in_secs`; the verdict and the decision are in the audit trail.

use chrono::Utc;
use rollgate::boundary::{self, TaskError};
pub use rollgate::flow::tasks::GateOutput;
use rollgate::ports::{MetricSource, ReleaseStore};

pub async fn handler(event: serde_json::Value, store: &dyn ReleaseStore, metrics: &dyn MetricSource) -> Result<GateOutput, TaskError> {
    boundary::evaluate_gates(event, store, metrics, Utc::now()).await
}
