//! What a simulated release asks of AWS, counted as it runs, for `rollgate cost`: the store's
//! requests in DynamoDB request units, the functions' invocations, approval votes.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ports::{Fence, ReleaseStore, StoreError, TaskTokens, TokenKey};
use crate::release::route::RouteState;
use crate::release::{Lease, Release, ReleaseEvent};

/// A small item: a lock, a route, the sequence counter, an event's id marker, a task token.
const SMALL_ITEM: usize = 1;

/// A store that counts the DynamoDB request units its requests would consume on an on-demand
/// table, request by request as the DynamoDB adapters make them (`adapters::dynamodb`,
/// `adapters::task_tokens`): strongly consistent reads (1 unit per 4 KB), writes (1 unit per
/// KB), transactional writes and condition checks twice that. An item's size is taken as the
/// size of its JSON (the adapters store each record as a JSON body beside a few keys).
pub struct MeteredStore<S> {
    inner: S,
    read_units: AtomicU64,
    write_units: AtomicU64,
}

impl<S> MeteredStore<S> {
    pub fn new(inner: S) -> Self {
        Self { inner, read_units: AtomicU64::new(0), write_units: AtomicU64::new(0) }
    }

    pub fn read_units(&self) -> u64 {
        self.read_units.load(Ordering::Relaxed)
    }

    pub fn write_units(&self) -> u64 {
        self.write_units.load(Ordering::Relaxed)
    }

    fn read(&self, kilobytes: usize) {
        self.read_units.fetch_add(units(kilobytes, 4), Ordering::Relaxed);
    }

    fn write(&self, kilobytes: usize) {
        self.write_units.fetch_add(units(kilobytes, 1), Ordering::Relaxed);
    }

    /// One item of a TransactWriteItems (a put, an update, a condition check): twice a write.
    fn transact(&self, kilobytes: usize) {
        self.write_units.fetch_add(2 * units(kilobytes, 1), Ordering::Relaxed);
    }
}

/// Request units for `kilobytes` read or written, `per` kilobytes a unit, at least one.
fn units(kilobytes: usize, per: usize) -> u64 {
    u64::try_from(kilobytes.div_ceil(per).max(1)).unwrap_or(u64::MAX)
}

/// The size of `item` as stored, in whole kilobytes (rounded up, at least one).
fn kilobytes(item: &impl Serialize) -> usize {
    serde_json::to_vec(item).map_or(SMALL_ITEM, |json| json.len().div_ceil(1024).max(1))
}

#[async_trait]
impl<S: ReleaseStore> ReleaseStore for MeteredStore<S> {
    async fn acquire_lock(&self, lease: &Lease, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.write(SMALL_ITEM);
        self.inner.acquire_lock(lease, now).await
    }

    async fn release_lock(&self, service: &str, environment: &str, holder: &str) -> Result<bool, StoreError> {
        // The lock's delete, and the condition check on its holder's release: one transaction.
        self.transact(SMALL_ITEM);
        self.transact(SMALL_ITEM);
        self.inner.release_lock(service, environment, holder).await
    }

    async fn lock(&self, service: &str, environment: &str) -> Result<Option<Lease>, StoreError> {
        self.read(SMALL_ITEM);
        self.inner.lock(service, environment).await
    }

    async fn locks(&self) -> Result<Vec<Lease>, StoreError> {
        let locks = self.inner.locks().await?;
        self.read(kilobytes(&locks));
        Ok(locks)
    }

    async fn create_release(&self, release: &Release) -> Result<(), StoreError> {
        // The release, and the lock's condition check.
        self.transact(kilobytes(release));
        self.transact(SMALL_ITEM);
        self.inner.create_release(release).await
    }

    async fn update_release(&self, release: &mut Release) -> Result<(), StoreError> {
        self.write(kilobytes(release));
        self.inner.update_release(release).await
    }

    async fn release(&self, id: &str) -> Result<Option<Release>, StoreError> {
        let release = self.inner.release(id).await?;
        self.read(release.as_ref().map_or(SMALL_ITEM, kilobytes));
        Ok(release)
    }

    async fn append(&self, events: Vec<ReleaseEvent>, release: Option<&mut Release>) -> Result<Vec<ReleaseEvent>, StoreError> {
        // The sequence counter read, then one transaction: the counter, and per event its id
        // marker and the event; the release when given.
        self.read(SMALL_ITEM);
        self.transact(SMALL_ITEM);
        for event in &events {
            self.transact(SMALL_ITEM);
            self.transact(kilobytes(event));
        }
        if let Some(release) = release.as_deref() {
            self.transact(kilobytes(release));
        }
        self.inner.append(events, release).await
    }

    async fn events(&self, release_id: &str) -> Result<Vec<ReleaseEvent>, StoreError> {
        let events = self.inner.events(release_id).await?;
        // A query reads its items' total size, rounded up once.
        self.read(serde_json::to_vec(&events).map_or(SMALL_ITEM, |json| json.len().div_ceil(1024)));
        Ok(events)
    }

    async fn route(&self, key: &str) -> Result<Option<RouteState>, StoreError> {
        self.read(SMALL_ITEM);
        self.inner.route(key).await
    }

    async fn claim_route(&self, state: &RouteState, expected: Option<u64>, fence: Fence<'_>) -> Result<(), StoreError> {
        // The route, and the lock's condition check.
        self.transact(SMALL_ITEM);
        self.transact(SMALL_ITEM);
        self.inner.claim_route(state, expected, fence).await
    }
}

#[async_trait]
impl<S: TaskTokens> TaskTokens for MeteredStore<S> {
    async fn keep_token(&self, key: TokenKey<'_>, token: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        self.write(SMALL_ITEM);
        self.inner.keep_token(key, token, expires_at).await
    }

    async fn token(&self, key: TokenKey<'_>) -> Result<Option<String>, StoreError> {
        self.read(SMALL_ITEM);
        self.inner.token(key).await
    }
}

/// Invocations of each function and requests through the HTTP API, as the simulated execution
/// makes them.
#[derive(Default)]
pub struct Meter {
    invocations: Mutex<BTreeMap<String, u64>>,
    api_requests: AtomicU64,
    integrations: AtomicU64,
}

impl Meter {
    /// `function` was invoked (the definition's resource, e.g. `${MetricGateFunctionArn}`).
    pub fn invoked(&self, function: &str) {
        let name = function.trim_start_matches("${").trim_end_matches('}').trim_end_matches("FunctionArn").to_string();
        let mut invocations = self.invocations.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *invocations.entry(name).or_insert(0) += 1;
    }

    /// An approval vote: a request through the HTTP API to the approval function.
    pub fn voted(&self) {
        self.api_requests.fetch_add(1, Ordering::Relaxed);
        self.invoked("ApprovalWebhook");
    }

    /// A direct service integration of the state machine (the alarm topic's SNS publish).
    pub fn published(&self) {
        self.integrations.fetch_add(1, Ordering::Relaxed);
    }

    pub fn invocations(&self) -> BTreeMap<String, u64> {
        self.invocations.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub fn api_requests(&self) -> u64 {
        self.api_requests.load(Ordering::Relaxed)
    }

    pub fn integrations(&self) -> u64 {
        self.integrations.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_units_round_up_per_unit_size_and_never_fall_below_one() {
        assert_eq!(units(0, 4), 1);
        assert_eq!(units(4, 4), 1);
        assert_eq!(units(5, 4), 2);
        assert_eq!(units(3, 1), 3);
    }
}
