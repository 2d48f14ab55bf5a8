//! The release store on one DynamoDB table (keys as in DESIGN.md), with conditional writes for
//! everything that must not race.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, Put, ScalarAttributeType, TableStatus, TimeToLiveSpecification, TransactWriteItem,
};
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::memory::event_sort_key;
use crate::ports::{Fence, ReleaseStore, StoreError, WeeklyEvents};
use crate::release::route::RouteState;
use crate::release::week::ReviewWeek;
use crate::release::{Lease, Release, ReleaseEvent, ReleaseStatus};

/// The GSI that serves the weekly review: events by ISO week.
pub const WEEK_INDEX: &str = "by-week";
/// Environment variable naming the table (set by the SAM template).
pub const TABLE_ENV: &str = "ROLLGATE_TABLE";

type Item = HashMap<String, AttributeValue>;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table (on-demand, the week GSI, TTL) and waits until it is active.
    /// Deployments get it from infra/template.yaml; this serves tests and local stacks.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let key = |name: &str, kind: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
        let attr = |name: &str| AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build();
        let built = (|| {
            Ok::<_, aws_sdk_dynamodb::error::BuildError>((
                vec![attr("pk")?, attr("sk")?, attr("gsi1pk")?, attr("gsi1sk")?],
                vec![key("pk", KeyType::Hash)?, key("sk", KeyType::Range)?],
                GlobalSecondaryIndex::builder()
                    .index_name(WEEK_INDEX)
                    .key_schema(key("gsi1pk", KeyType::Hash)?)
                    .key_schema(key("gsi1sk", KeyType::Range)?)
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()?,
                TimeToLiveSpecification::builder().attribute_name("ttl").enabled(true).build()?,
            ))
        })();
        let (attributes, keys, index, ttl) =
            built.map_err(|e| StoreError::Backend { operation: "CreateTable", transient: false, source: Box::new(e) })?;
        self.client
            .create_table()
            .table_name(&self.table)
            .set_attribute_definitions(Some(attributes))
            .set_key_schema(Some(keys))
            .global_secondary_indexes(index)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(|e| classify("CreateTable", e, |_| false))?;
        await_active_with_ttl(&self.client, &self.table, ttl).await
    }

    pub async fn delete_table(&self) -> Result<(), StoreError> {
        self.client.delete_table().table_name(&self.table).send().await.map_err(|e| classify("DeleteTable", e, |_| false))?;
        Ok(())
    }

    /// Every event matching `condition`, following pagination; `context` names the items in errors.
    async fn query_events(
        &self,
        index: Option<&str>,
        condition: &str,
        values: &[(&str, AttributeValue)],
        context: &str,
    ) -> Result<Vec<ReleaseEvent>, StoreError> {
        let mut events = Vec::new();
        self.visit_events(index, condition, values, context, &mut |e| events.push(e)).await?;
        Ok(events)
    }

    /// Hands every event matching `condition` to `visit`, one page of the query at a time
    /// (following pagination), keeping no more than that page; `context` names the items in errors.
    async fn visit_events(
        &self,
        index: Option<&str>,
        condition: &str,
        values: &[(&str, AttributeValue)],
        context: &str,
        visit: &mut (dyn FnMut(ReleaseEvent) + Send),
    ) -> Result<(), StoreError> {
        let mut start: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(String::from))
                .key_condition_expression(condition)
                // Strongly consistent reads exist on the table only, not on its indexes.
                .consistent_read(index.is_none())
                .set_exclusive_start_key(start.take());
            for (name, value) in values {
                query = query.expression_attribute_values(*name, value.clone());
            }
            let page = query
                .send()
                .await
                .map_err(|e| classify("Query", e, |e| e.is_provisioned_throughput_exceeded_exception() || e.is_request_limit_exceeded()))?;
            for item in page.items() {
                visit(from_body(item, context)?);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(()),
            }
        }
    }

    /// The trail's counter: the last sequence number (0: none yet), the last event's hash (its
    /// chain's head), and whether the counter is stored under `TRAIL#<id>` yet (a trail begun
    /// before trails had their own partition goes on from its counter under `REL#<id>`).
    async fn last_seq(&self, release_id: &str) -> Result<(u64, String, bool), StoreError> {
        let read = |item: &Item| {
            let seq = item.get("n").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
            (seq, item.get("h").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default())
        };
        if let Some(item) = self.get(&trail_key(release_id), "SEQ").await? {
            let (seq, head) = read(&item);
            return Ok((seq, head, true));
        }
        let legacy = self.get(&release_key(release_id), "SEQ").await?;
        let (seq, head) = legacy.as_ref().map(read).unwrap_or_default();
        Ok((seq, head, false))
    }

    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out =
            self.client.get_item().table_name(&self.table).key("pk", s(pk)).key("sk", s(sk)).consistent_read(true).send().await.map_err(
                |e| classify("GetItem", e, |e| e.is_provisioned_throughput_exceeded_exception() || e.is_request_limit_exceeded()),
            )?;
        Ok(out.item)
    }
}

/// Waits until a table just created is active, then switches its TTL on (DynamoDB refuses a TTL
/// change while the table is being created).
pub(crate) async fn await_active_with_ttl(client: &Client, table: &str, ttl: TimeToLiveSpecification) -> Result<(), StoreError> {
    for _ in 0..60 {
        let described = client.describe_table().table_name(table).send().await.map_err(|e| classify("DescribeTable", e, |_| false))?;
        if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|e| classify("UpdateTimeToLive", e, |_| false))?;
    Ok(())
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn lock_key(service: &str, environment: &str) -> String {
    format!("LOCK#{service}#{environment}")
}

fn release_key(id: &str) -> String {
    format!("REL#{id}")
}

/// A release's audit trail (its events, their ids, its counter): a partition of its own, which
/// the functions may append to but never update or delete from (IAM, on the leading key).
fn trail_key(id: &str) -> String {
    format!("TRAIL#{id}")
}

/// Errors the caller may retry: transport trouble, throttling, server faults.
pub(crate) fn classify<E>(operation: &'static str, err: SdkError<E, HttpResponse>, throttled: impl Fn(&E) -> bool) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let transient = match &err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status();
            throttled(ctx.err()) || status.is_server_error() || status.as_u16() == 429
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        _ => false,
    };
    StoreError::Backend { operation, transient, source: crate::adapters::aws_error::cause(&err).into() }
}

fn body<T: Serialize>(value: &T) -> Result<AttributeValue, StoreError> {
    serde_json::to_string(value).map(AttributeValue::S).map_err(|e| StoreError::Corrupt { key: "body".into(), reason: e.to_string() })
}

fn from_body<T: DeserializeOwned>(item: &Item, key: &str) -> Result<T, StoreError> {
    let text = item
        .get("body")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| StoreError::Corrupt { key: key.into(), reason: "no body attribute".into() })?;
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt { key: key.into(), reason: e.to_string() })
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn lease_from(item: &Item, key: &str) -> Result<Lease, StoreError> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let number = |name: &str| item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse::<i64>().ok());
    let corrupt = |what: &str| StoreError::Corrupt { key: key.into(), reason: format!("lock without {what}") };
    let at = |ms: i64| Utc.timestamp_millis_opt(ms).single();
    Ok(Lease {
        service: text("service").ok_or_else(|| corrupt("service"))?,
        environment: text("environment").ok_or_else(|| corrupt("environment"))?,
        holder: text("holder").ok_or_else(|| corrupt("holder"))?,
        acquired_at: number("acquired_at").and_then(at).ok_or_else(|| corrupt("acquired_at"))?,
        expires_at: number("expires_at").and_then(at).ok_or_else(|| corrupt("expires_at"))?,
    })
}

/// ISO week bucket of the weekly review index, e.g. `WEEK#2025-W46`.
pub fn week_bucket(at: DateTime<Utc>) -> String {
    format!("WEEK#{}", ReviewWeek::containing(at))
}

#[async_trait]
impl WeeklyEvents for DynamoStore {
    async fn visit_events_in_week(&self, week: ReviewWeek, visit: &mut (dyn FnMut(ReleaseEvent) + Send)) -> Result<(), StoreError> {
        let bucket = format!("WEEK#{week}");
        // Index reads are eventually consistent; a review runs after the week has ended.
        self.visit_events(Some(WEEK_INDEX), "gsi1pk = :week", &[(":week", s(&bucket))], &bucket, visit).await
    }
}

#[async_trait]
impl ReleaseStore for DynamoStore {
    async fn acquire_lock(&self, lease: &Lease, now: DateTime<Utc>) -> Result<(), StoreError> {
        let key = lock_key(&lease.service, &lease.environment);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&key))
            .item("sk", s("LOCK"))
            .item("service", s(&lease.service))
            .item("environment", s(&lease.environment))
            .item("holder", s(&lease.holder))
            .item("acquired_at", n(millis(lease.acquired_at)))
            .item("expires_at", n(millis(lease.expires_at)))
            // Cleanup only; the lease is judged by expires_at, never by TTL deletion.
            .item("ttl", n(lease.expires_at.timestamp() + 7 * 86_400))
            .condition_expression("attribute_not_exists(pk) OR expires_at <= :now OR holder = :holder")
            .expression_attribute_values(":now", n(millis(now)))
            .expression_attribute_values(":holder", s(&lease.holder))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                match self.get(&key, "LOCK").await? {
                    Some(item) => {
                        let current = lease_from(&item, &key)?;
                        Err(StoreError::LockHeld {
                            service: current.service,
                            environment: current.environment,
                            holder: current.holder,
                            expires_at: current.expires_at,
                        })
                    }
                    // Released between our write and our read: the caller may simply retry.
                    None => Err(StoreError::Backend {
                        operation: "PutItem",
                        transient: true,
                        source: "lock changed hands while it was taken".into(),
                    }),
                }
            }
            Err(err) => {
                Err(classify("PutItem", err, |e| e.is_provisioned_throughput_exceeded_exception() || e.is_request_limit_exceeded()))
            }
        }
    }

    async fn release_lock(&self, service: &str, environment: &str, holder: &str) -> Result<bool, StoreError> {
        let lock = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(lock_key(service, environment)))
            .key("sk", s("LOCK"))
            .condition_expression("holder = :holder")
            .expression_attribute_values(":holder", s(holder))
            .build()
            .map_err(invalid_request)?;
        // The holder's release is not open: never stored, or closed.
        let mut not_open = ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", s(release_key(holder)))
            .key("sk", s("META"))
            .condition_expression("attribute_not_exists(pk) OR #status IN (:blocked, :promoted, :rolled_back, :aborted)")
            .expression_attribute_names("#status", "status");
        for status in [ReleaseStatus::Blocked, ReleaseStatus::Promoted, ReleaseStatus::RolledBack, ReleaseStatus::Aborted] {
            not_open = not_open.expression_attribute_values(format!(":{}", status.as_str()), s(status.as_str()));
        }
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(lock).build())
            .transact_items(TransactWriteItem::builder().condition_check(not_open.build().map_err(invalid_request)?).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled))
                    if condition_failed(cancelled, 0) || condition_failed(cancelled, 1) =>
                {
                    Ok(false)
                }
                _ => Err(classify("TransactWriteItems", err, fenced_write_retryable)),
            },
        }
    }

    async fn locks(&self) -> Result<Vec<Lease>, StoreError> {
        // A scan: locks live one per service and environment, under keys nothing else shares.
        // The sweeper runs it every few minutes; its cost grows with the table (see the docs).
        let mut leases = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :lock")
                .expression_attribute_values(":lock", s("LOCK"))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify("Scan", e, |e| e.is_provisioned_throughput_exceeded_exception() || e.is_request_limit_exceeded()))?;
            for item in page.items() {
                let key = item.get("pk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                leases.push(lease_from(item, &key)?);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(leases),
            }
        }
    }

    async fn lock(&self, service: &str, environment: &str) -> Result<Option<Lease>, StoreError> {
        let key = lock_key(service, environment);
        self.get(&key, "LOCK").await?.map(|item| lease_from(&item, &key)).transpose()
    }

    async fn create_release(&self, release: &Release) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(release_item(release, release.revision)?))
            .condition_expression("attribute_not_exists(pk)");
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put.build().map_err(invalid_request)?).build())
            .transact_items(TransactWriteItem::builder().condition_check(lock_held(&self.table, Fence::of(release))?).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = err.as_service_error() {
                    // One reason per item, in order: the release, then the lock.
                    if condition_failed(cancelled, 0) {
                        // The same release already stored is this very write retried after its
                        // answer was lost: done. Another release under the id is a conflict.
                        let same = self
                            .release(&release.id)
                            .await?
                            .is_some_and(|stored| Release { revision: release.revision, ..stored } == *release);
                        return if same { Ok(()) } else { Err(StoreError::ReleaseExists(release.id.clone())) };
                    }
                    if condition_failed(cancelled, 1) {
                        return Err(Fence::of(release).lost());
                    }
                }
                Err(classify("TransactWriteItems", err, fenced_write_retryable))
            }
        }
    }

    async fn update_release(&self, release: &mut Release) -> Result<(), StoreError> {
        let next = release.revision + 1;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(release_item(release, next)?))
            .condition_expression("revision = :expected")
            .expression_attribute_values(":expected", n(release.revision))
            .send()
            .await;
        match result {
            Ok(_) => {
                release.revision = next;
                Ok(())
            }
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Err(StoreError::RevisionConflict { id: release.id.clone(), expected: release.revision })
            }
            Err(err) => {
                Err(classify("PutItem", err, |e| e.is_provisioned_throughput_exceeded_exception() || e.is_request_limit_exceeded()))
            }
        }
    }

    async fn release(&self, id: &str) -> Result<Option<Release>, StoreError> {
        let key = release_key(id);
        let Some(item) = self.get(&key, "META").await? else { return Ok(None) };
        let mut release: Release = from_body(&item, &key)?;
        // The attribute is what conditional writes check; the body copy follows it.
        if let Some(revision) = item.get("revision").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()) {
            release.revision = revision;
        }
        Ok(Some(release))
    }

    async fn append(&self, events: Vec<ReleaseEvent>, mut release: Option<&mut Release>) -> Result<Vec<ReleaseEvent>, StoreError> {
        let Some(release_id) = events.first().map(|e| e.release_id.clone()).or_else(|| release.as_ref().map(|r| r.id.clone())) else {
            return Ok(Vec::new());
        };
        let pk = trail_key(&release_id);
        // An event made without an id (not through ReleaseEvent::new) still gets its own.
        let events: Vec<ReleaseEvent> = events
            .into_iter()
            .map(|mut e| {
                if e.id.is_empty() {
                    e.id = uuid::Uuid::new_v4().simple().to_string();
                }
                e
            })
            .collect();
        for _ in 0..APPEND_ATTEMPTS {
            let (last, mut head, counted) = self.last_seq(&release_id).await?;
            let mut stored = events.clone();
            let mut items = Vec::with_capacity(stored.len() * 2 + 2);
            for (offset, event) in stored.iter_mut().enumerate() {
                event.seq = last + 1 + offset as u64;
                event.hash = crate::release::chain::link(&head, event);
                head = event.hash.clone();
            }
            // The counter moves from `last` to `next` only if nobody else moved it: no gap, no
            // duplicate sequence number, and the chain's head moves with it.
            let next = last + stored.len() as u64;
            // A conditional put, not an update: nothing in a trail's partition is ever updated
            // or deleted, which IAM enforces (the template denies both on `TRAIL#` keys).
            let counter =
                Put::builder().table_name(&self.table).item("pk", s(&pk)).item("sk", s("SEQ")).item("n", n(next)).item("h", s(&head));
            let counter = if counted {
                counter.condition_expression("n = :last").expression_attribute_values(":last", n(last))
            } else {
                counter.condition_expression("attribute_not_exists(pk)")
            };
            items.push(TransactWriteItem::builder().put(counter.build().map_err(invalid_request)?).build());
            for event in &stored {
                // The event's id, claimed once: the same event written again stores nothing.
                let id = Put::builder()
                    .table_name(&self.table)
                    .item("pk", s(&pk))
                    .item("sk", s(format!("ID#{}", event.id)))
                    .item("seq", n(event.seq))
                    .condition_expression("attribute_not_exists(pk)");
                items.push(TransactWriteItem::builder().put(id.build().map_err(invalid_request)?).build());
                items.push(TransactWriteItem::builder().put(event_put(&self.table, &pk, event)?.build().map_err(invalid_request)?).build());
            }
            if let Some(release) = release.as_deref() {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(release_item(release, release.revision + 1)?))
                    .condition_expression("revision = :expected")
                    .expression_attribute_values(":expected", n(release.revision));
                items.push(TransactWriteItem::builder().put(put.build().map_err(invalid_request)?).build());
            }
            let meta_index = items.len() - 1;
            match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
                Ok(_) => {
                    if let Some(release) = release.as_deref_mut() {
                        release.revision += 1;
                    }
                    return Ok(stored);
                }
                Err(err) => {
                    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = err.as_service_error() else {
                        return Err(classify("TransactWriteItems", err, |e| {
                            e.is_provisioned_throughput_exceeded_exception()
                                || e.is_request_limit_exceeded()
                                || e.is_transaction_in_progress_exception()
                        }));
                    };
                    let failed = |i: usize| condition_failed(cancelled, i);
                    if (0..events.len()).any(|i| failed(1 + 2 * i)) {
                        // Already written: a retry of a write whose answer was lost (then the
                        // release went with it), or the same event again.
                        let trail = self.events(&release_id).await?;
                        let written: Vec<ReleaseEvent> =
                            events.iter().filter_map(|e| trail.iter().find(|stored| stored.id == e.id).cloned()).collect();
                        if written.len() == events.len() {
                            if let Some(release) = release.as_deref_mut() {
                                release.revision += 1;
                            }
                            return Ok(written);
                        }
                        // The ids are claimed but the events are not readable yet: ask again.
                        continue;
                    }
                    if failed(0) || (0..events.len()).any(|i| failed(2 + 2 * i)) {
                        // Someone appended meanwhile: read the counter again.
                        continue;
                    }
                    if release.is_some() && failed(meta_index) {
                        let id = release.as_deref().map(|r| r.id.clone()).unwrap_or_default();
                        let expected = release.as_deref().map_or(0, |r| r.revision);
                        return Err(StoreError::RevisionConflict { id, expected });
                    }
                    // A transaction conflict with another writer: retry as it is.
                    return Err(classify("TransactWriteItems", err, |_| true));
                }
            }
        }
        Err(StoreError::Backend {
            operation: "TransactWriteItems",
            transient: true,
            source: format!("the trail of release {release_id} kept moving during {APPEND_ATTEMPTS} attempts to append").into(),
        })
    }

    async fn events(&self, release_id: &str) -> Result<Vec<ReleaseEvent>, StoreError> {
        let trail = |pk: String| async move {
            let values = [(":pk", s(&pk)), (":evt", s("EVT#"))];
            self.query_events(None, "pk = :pk AND begins_with(sk, :evt)", &values, &pk).await
        };
        let events = trail(trail_key(release_id)).await?;
        if events.first().is_some_and(|e| e.seq == 1) {
            return Ok(events);
        }
        // A trail begun before trails had their own partition starts under `REL#<id>`.
        let mut legacy = trail(release_key(release_id)).await?;
        legacy.extend(events);
        Ok(legacy)
    }

    async fn route(&self, key: &str) -> Result<Option<RouteState>, StoreError> {
        let pk = format!("ROUTE#{key}");
        let Some(item) = self.get(&pk, "ROUTE").await? else { return Ok(None) };
        let mut state: RouteState = from_body(&item, &pk)?;
        if let Some(version) = item.get("version").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()) {
            state.version = version;
        }
        Ok(Some(state))
    }

    async fn claim_route(&self, state: &RouteState, expected: Option<u64>, fence: Fence<'_>) -> Result<(), StoreError> {
        let route = Put::builder()
            .table_name(&self.table)
            .item("pk", s(format!("ROUTE#{}", state.key)))
            .item("sk", s("ROUTE"))
            .item("version", n(state.version))
            .item("canary_weight", n(state.canary_weight))
            .item("release_id", s(&state.release_id))
            .item("body", body(state)?);
        let route = match expected {
            None => route.condition_expression("attribute_not_exists(pk)"),
            Some(v) => route.condition_expression("version = :expected").expression_attribute_values(":expected", n(v)),
        };
        // The fence: the claim is written only while this release holds the service's lock.
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(route.build().map_err(invalid_request)?).build())
            .transact_items(TransactWriteItem::builder().condition_check(lock_held(&self.table, fence)?).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = err.as_service_error() {
                    // One reason per item, in order: the route's version, then the lock.
                    let failed = |i: usize| condition_failed(cancelled, i);
                    if failed(1) {
                        return Err(fence.lost());
                    }
                    if failed(0) {
                        return Err(StoreError::RouterConflict { key: state.key.clone(), expected });
                    }
                }
                Err(classify("TransactWriteItems", err, fenced_write_retryable))
            }
        }
    }
}

/// The condition of a fenced write: `fence.holder` holds the lock, checked in the same
/// TransactWriteItems as the write.
fn lock_held(table: &str, fence: Fence<'_>) -> Result<ConditionCheck, StoreError> {
    ConditionCheck::builder()
        .table_name(table)
        .key("pk", s(lock_key(fence.service, fence.environment)))
        .key("sk", s("LOCK"))
        .condition_expression("holder = :holder")
        .expression_attribute_values(":holder", s(fence.holder))
        .build()
        .map_err(invalid_request)
}

/// A fenced write's failure worth retrying: throttling, or a transaction in progress or
/// cancelled for a reason other than its conditions.
fn fenced_write_retryable(e: &TransactWriteItemsError) -> bool {
    e.is_provisioned_throughput_exceeded_exception()
        || e.is_request_limit_exceeded()
        || e.is_transaction_in_progress_exception()
        || e.is_transaction_canceled_exception()
}

/// Whether item `index` of a cancelled transaction failed its condition (one reason per item,
/// in the order the items were given).
fn condition_failed(cancelled: &aws_sdk_dynamodb::types::error::TransactionCanceledException, index: usize) -> bool {
    cancelled.cancellation_reasons().get(index).and_then(|r| r.code()) == Some("ConditionalCheckFailed")
}

/// How often an append re-reads the trail's counter when other writers keep appending.
const APPEND_ATTEMPTS: usize = 20;

fn invalid_request(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Backend { operation: "TransactWriteItems", transient: false, source: Box::new(e) }
}

/// The write of one event at its sequence number, never over another.
fn event_put(table: &str, pk: &str, event: &ReleaseEvent) -> Result<aws_sdk_dynamodb::types::builders::PutBuilder, StoreError> {
    let sk = event_sort_key(event.seq);
    Ok(Put::builder()
        .table_name(table)
        .item("pk", s(pk))
        .item("sk", s(&sk))
        .item("type", s(event.kind.name()))
        .item("gsi1pk", s(week_bucket(event.at)))
        .item("gsi1sk", s(format!("{}#{}#{:020}", event.at.format("%Y-%m-%dT%H:%M:%S%.3fZ"), event.release_id, event.seq)))
        .item("body", body(event)?)
        .condition_expression("attribute_not_exists(pk)"))
}

fn release_item(release: &Release, revision: u64) -> Result<Item, StoreError> {
    let mut stored = release.clone();
    stored.revision = revision;
    Ok(HashMap::from([
        ("pk".to_string(), s(release_key(&release.id))),
        ("sk".to_string(), s("META")),
        ("revision".to_string(), n(revision)),
        ("status".to_string(), s(release.status.as_str())),
        ("service".to_string(), s(&release.service)),
        ("environment".to_string(), s(&release.environment)),
        ("version".to_string(), s(&release.version)),
        ("updated_at".to_string(), s(release.updated_at.to_rfc3339())),
        ("body".to_string(), body(&stored)?),
    ]))
}

/// Platform policies: `POLICY#<service>#<environment>` / `POLICY`, with the version the
/// conditional write checks. The functions may read them; a separate role writes them.
#[async_trait]
impl crate::ports::PolicyStore for DynamoStore {
    async fn policy(&self, service: &str, environment: &str) -> Result<Option<crate::ports::StoredPolicy>, StoreError> {
        let key = policy_key(service, environment);
        let Some(item) = self.get(&key, "POLICY").await? else { return Ok(None) };
        from_body(&item, &key).map(Some)
    }

    async fn put_policy(&self, policy: &crate::ports::StoredPolicy, expected: Option<u64>) -> Result<(), StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(policy_key(&policy.policy.service, &policy.policy.environment)))
            .item("sk", s("POLICY"))
            .item("version", n(policy.version))
            .item("body", body(policy)?);
        let put = match expected {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(v) => put.condition_expression("version = :expected").expression_attribute_values(":expected", n(v)),
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Err(StoreError::PolicyConflict {
                service: policy.policy.service.clone(),
                environment: policy.policy.environment.clone(),
                expected,
            }),
            Err(e) => Err(classify("PutItem", e, |e| e.is_provisioned_throughput_exceeded_exception() || e.is_request_limit_exceeded())),
        }
    }
}

fn policy_key(service: &str, environment: &str) -> String {
    format!("POLICY#{service}#{environment}")
}
