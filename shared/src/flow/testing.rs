//! What the flow's unit tests share: a fixed clock and a release request.

use chrono::{DateTime, TimeZone, Utc};

use crate::release::ReleaseRequest;

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).single().unwrap_or_default()
}

/// Release `id` of `service` in prod, version 2 over stable 1, under `plan` (JSON).
pub fn request(id: &str, service: &str, plan: serde_json::Value) -> ReleaseRequest {
    ReleaseRequest {
        release_id: Some(id.into()),
        service: service.into(),
        environment: "prod".into(),
        version: "2".into(),
        stable_version: Some("1".into()),
        author: None,
        requested_by: None,
        plan,
        evidence: Default::default(),
        overrides: vec![],
        execution: None,
    }
}

/// A plan of two steps on the Lambda alias `live` of `function`, with weights `first` and 100.
pub fn alias_plan(function: &str, first: u32) -> serde_json::Value {
    serde_json::json!({"name": "p", "traffic": {
        "router": {"type": "lambda_alias", "function_name": function, "alias": "live"},
        "steps": [{"weight": first, "bake": "5m"}, {"weight": 100, "bake": "5m"}]}})
}

/// A metric source with no datapoints: every check is inconclusive.
pub struct NoData;

#[async_trait::async_trait]
impl crate::ports::MetricSource for NoData {
    async fn fetch(
        &self,
        _: &crate::domain::query::QueryPlan,
    ) -> Result<std::collections::BTreeMap<String, Vec<crate::domain::observation::Datapoint>>, crate::ports::MetricError> {
        Ok(std::collections::BTreeMap::new())
    }

    /// Nothing found: every alarm named is missing.
    async fn alarms(&self, _: &[String]) -> Result<Vec<crate::domain::alarm::AlarmReading>, crate::ports::MetricError> {
        Ok(Vec::new())
    }
}
