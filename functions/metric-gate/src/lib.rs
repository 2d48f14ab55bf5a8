//! metric-gate: each time a step has baked for an interval, judge the canary (and baseline)
//! metrics and decide `bake | advance | promote | rollback`. The state machine routes on
//! `action` and waits `next_check_in_secs`; the verdict and the decision are in the audit trail.
//! During a deploy freeze of the platform's policy, a step that would advance holds instead.
//! The step's hooks (smoke and load tests) run with its checks and are judged with its metrics.

use chrono::Utc;
use rollgate::boundary::{self, TaskError};
pub use rollgate::flow::tasks::GateOutput;
use rollgate::ports::{HookRunner, MetricSource, PolicyStore, ReleaseStore};

pub async fn handler(
    event: serde_json::Value,
    store: &dyn ReleaseStore,
    policies: &dyn PolicyStore,
    metrics: &dyn MetricSource,
    hooks: &dyn HookRunner,
) -> Result<GateOutput, TaskError> {
    boundary::evaluate_gates(event, store, policies, metrics, hooks, Utc::now()).await
}
