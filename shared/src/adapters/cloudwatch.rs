//! Metric datapoints from CloudWatch GetMetricData: one batched call per 500 queries, following
//! NextToken; partial or failed queries are reported, never read as zeros.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::error::SdkError;
use aws_sdk_cloudwatch::primitives::DateTime as SmithyDateTime;
use aws_sdk_cloudwatch::types::{AlarmType, Dimension, Metric, MetricDataQuery, MetricStat, StateValue, StatusCode};
use chrono::{TimeZone, Utc};

use crate::domain::alarm::{AlarmReading, AlarmState};
use crate::domain::observation::Datapoint;
use crate::domain::query::{PlannedQuery, QueryBody, QueryPlan};
use crate::ports::{MetricError, MetricSource};

/// GetMetricData's limit of queries per request.
pub const MAX_QUERIES: usize = 500;

#[derive(Clone, Debug)]
pub struct CloudWatchSource {
    client: Client,
}

impl CloudWatchSource {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn to_query(q: &PlannedQuery) -> MetricDataQuery {
    let builder = MetricDataQuery::builder().id(&q.id).return_data(q.return_data);
    let builder = match &q.body {
        QueryBody::Stat { namespace, name, stat, dimensions, period_secs } => {
            let dimensions = dimensions.iter().map(|(k, v)| Dimension::builder().name(k).value(v).build()).collect();
            let metric = Metric::builder().namespace(namespace).metric_name(name).set_dimensions(Some(dimensions)).build();
            let stat = MetricStat::builder().metric(metric).period(i32::try_from(*period_secs).unwrap_or(60)).stat(stat).build();
            builder.metric_stat(stat)
        }
        QueryBody::Expression { expression, period_secs } => {
            builder.expression(expression).period(i32::try_from(*period_secs).unwrap_or(60))
        }
    };
    builder.build()
}

#[async_trait]
impl MetricSource for CloudWatchSource {
    async fn fetch(&self, plan: &QueryPlan) -> Result<BTreeMap<String, Vec<Datapoint>>, MetricError> {
        let mut out: BTreeMap<String, Vec<Datapoint>> = BTreeMap::new();
        let start = SmithyDateTime::from_millis(plan.start.timestamp_millis());
        let end = SmithyDateTime::from_millis(plan.end.timestamp_millis());
        for batch in plan.batches(MAX_QUERIES) {
            let queries: Vec<MetricDataQuery> = batch.into_iter().map(to_query).collect();
            let mut token: Option<String> = None;
            loop {
                let page = self
                    .client
                    .get_metric_data()
                    .start_time(start)
                    .end_time(end)
                    .set_metric_data_queries(Some(queries.clone()))
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| classify("GetMetricData", e))?;
                for result in page.metric_data_results() {
                    let id = result.id().unwrap_or_default().to_string();
                    match result.status_code() {
                        Some(StatusCode::InternalError) | Some(StatusCode::Forbidden) => {
                            let message = result.messages().iter().filter_map(|m| m.value()).collect::<Vec<_>>().join("; ");
                            return Err(MetricError::Query { id, status: format!("{:?}", result.status_code()), message });
                        }
                        _ => {}
                    }
                    let points = out.entry(id).or_default();
                    for (at, value) in result.timestamps().iter().zip(result.values()) {
                        if let Some(at) = Utc.timestamp_millis_opt(at.to_millis().unwrap_or(0)).single() {
                            points.push(Datapoint { at, value: *value });
                        }
                    }
                }
                match page.next_token() {
                    Some(next) if !next.is_empty() => token = Some(next.to_string()),
                    _ => break,
                }
            }
        }
        for points in out.values_mut() {
            points.sort_by_key(|p| p.at);
        }
        Ok(out)
    }

    async fn alarms(&self, names: &[String]) -> Result<Vec<AlarmReading>, MetricError> {
        let mut found: BTreeMap<String, AlarmReading> = BTreeMap::new();
        let state_of = |value: Option<&StateValue>| match value {
            Some(StateValue::Alarm) => AlarmState::Alarm,
            Some(StateValue::Ok) => AlarmState::Ok,
            // Insufficient data, or a state this client does not know: not firing.
            _ => AlarmState::InsufficientData,
        };
        let since = |t: Option<&SmithyDateTime>| t.and_then(|t| t.to_millis().ok()).and_then(|ms| Utc.timestamp_millis_opt(ms).single());
        // DescribeAlarms takes at most 100 names a call.
        for chunk in names.chunks(100) {
            let mut token: Option<String> = None;
            loop {
                let page = self
                    .client
                    .describe_alarms()
                    .set_alarm_names(Some(chunk.to_vec()))
                    .alarm_types(AlarmType::MetricAlarm)
                    .alarm_types(AlarmType::CompositeAlarm)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| classify("DescribeAlarms", e))?;
                // Metric and composite alarms carry the same four fields.
                let metric =
                    page.metric_alarms().iter().map(|a| (a.alarm_name(), a.state_value(), a.state_reason(), a.state_updated_timestamp()));
                let composite = page
                    .composite_alarms()
                    .iter()
                    .map(|a| (a.alarm_name(), a.state_value(), a.state_reason(), a.state_updated_timestamp()));
                for (name, state, reason, updated) in metric.chain(composite) {
                    let name = name.unwrap_or_default().to_string();
                    let reading = AlarmReading {
                        name: name.clone(),
                        state: state_of(state),
                        reason: reason.map(str::to_string),
                        since: since(updated),
                    };
                    found.insert(name, reading);
                }
                match page.next_token() {
                    Some(next) if !next.is_empty() => token = Some(next.to_string()),
                    _ => break,
                }
            }
        }
        Ok(names
            .iter()
            .map(|name| {
                found.remove(name).unwrap_or_else(|| AlarmReading {
                    name: name.clone(),
                    state: AlarmState::Missing,
                    reason: None,
                    since: None,
                })
            })
            .collect())
    }
}

fn classify<E>(operation: &'static str, err: SdkError<E, aws_sdk_cloudwatch::config::http::HttpResponse>) -> MetricError
where
    E: aws_sdk_cloudwatch::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    // Throttling that outlasted the SDK's own retries is still worth the state machine's retry:
    // a gate that cannot read its metrics yet has not failed (it rolls back once retries run out).
    let transient = crate::adapters::aws_error::throttled(&err)
        || match &err {
            SdkError::ServiceError(ctx) => ctx.raw().status().is_server_error() || ctx.raw().status().as_u16() == 429,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
            _ => false,
        };
    MetricError::Backend { operation, transient, source: crate::adapters::aws_error::cause(&err).into() }
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudwatch::config::http::HttpResponse;
    use aws_sdk_cloudwatch::error::ErrorMetadata;
    use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataError;

    use super::*;

    fn refused(status: u16, code: &str) -> MetricError {
        let err = GetMetricDataError::generic(ErrorMetadata::builder().code(code).message("no").build());
        let Ok(status) = status.try_into() else { panic!("{status} is not an HTTP status") };
        let response = HttpResponse::new(status, "".into());
        classify("GetMetricData", SdkError::service_error(err, response))
    }

    #[test]
    fn throttling_is_worth_a_retry_and_a_refusal_is_not() {
        // CloudWatch answers throttling as a 400 with the code `Throttling` (Query protocol).
        assert!(refused(400, "Throttling").is_transient());
        assert!(refused(500, "InternalFailure").is_transient());
        assert!(!refused(400, "InvalidParameterValue").is_transient());
        assert!(!refused(403, "AccessDenied").is_transient());
    }
}
