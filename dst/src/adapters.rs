//! The ports with faults: each wraps an in-memory adapter (or models the outside system) and
//! asks [`Faults`] what happens to every call.
//!
//! No stale reads are injected: every read the flow makes through the DynamoDB adapter is
//! strongly consistent (`ConsistentRead`); only the weekly review's GSI query is eventually
//! consistent, and the release flow never makes it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rollgate::adapters::memory::MemoryStore;
use rollgate::domain::observation::Datapoint;
use rollgate::domain::query::QueryPlan;
use rollgate::ports::{
    Fence, MetricError, MetricSource, Notifier, NotifyError, ReleaseStore, RouterError, RouterReading, StoreError, TrafficRouter, Workflow,
    WorkflowError,
};
use rollgate::release::notification::ReleaseNotification;
use rollgate::release::route::{RouteState, RouteTarget, route_key};
use rollgate::release::{Lease, Release, ReleaseEvent};

use crate::faults::{Component, Faults, around};
use crate::invariant;

fn guard<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn store_error(operation: &'static str) -> impl Fn(bool) -> StoreError {
    move |transient| StoreError::Backend {
        operation,
        transient,
        source: if transient { "simulated throttling or lost answer".into() } else { "simulated outage".into() },
    }
}

/// The release store: the in-memory one (the same contract as DynamoDB's), with faults. Every
/// append is checked as it is stored: the trail stays gapless, in order, without duplicates.
pub struct FaultyStore {
    pub inner: Arc<MemoryStore>,
    faults: Arc<Faults>,
    /// Per release: the last sequence number stored and the event ids seen.
    trails: Mutex<BTreeMap<String, (u64, BTreeSet<String>)>>,
}

impl FaultyStore {
    pub fn new(inner: Arc<MemoryStore>, faults: Arc<Faults>) -> Self {
        Self { inner, faults, trails: Mutex::new(BTreeMap::new()) }
    }

    fn check_appended(&self, stored: &[ReleaseEvent]) {
        let mut trails = guard(&self.trails);
        for event in stored {
            let (last, ids) = trails.entry(event.release_id.clone()).or_default();
            if ids.contains(&event.id) {
                // A retried write of an event already stored: it must come back as stored.
                if event.seq > *last {
                    self.faults.violate(format!(
                        "{}: {} came back with seq {} after {last} was the last stored",
                        invariant::TRAIL,
                        event.release_id,
                        event.seq
                    ));
                }
                continue;
            }
            if event.seq != *last + 1 {
                self.faults.violate(format!(
                    "{}: {} stored event {} ({}) with seq {} after seq {last}",
                    invariant::TRAIL,
                    event.release_id,
                    event.id,
                    event.kind.name(),
                    event.seq
                ));
            }
            *last = event.seq.max(*last);
            ids.insert(event.id.clone());
        }
        self.faults.checked(invariant::TRAIL, stored.len() as u64);
    }
}

#[async_trait]
impl rollgate::ports::TaskTokens for FaultyStore {
    async fn keep_token(&self, key: rollgate::ports::TokenKey<'_>, token: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        let fault = self.faults.roll(Component::Store, "keep_token", true);
        around(&self.faults, fault, store_error("keep_token"), self.inner.keep_token(key, token, expires_at)).await
    }

    async fn token(&self, key: rollgate::ports::TokenKey<'_>) -> Result<Option<String>, StoreError> {
        let fault = self.faults.roll(Component::Store, "token", false);
        around(&self.faults, fault, store_error("token"), self.inner.token(key)).await
    }
}

#[async_trait]
impl ReleaseStore for FaultyStore {
    async fn acquire_lock(&self, lease: &Lease, now: DateTime<Utc>) -> Result<(), StoreError> {
        let fault = self.faults.roll(Component::Store, "acquire_lock", true);
        around(&self.faults, fault, store_error("acquire_lock"), self.inner.acquire_lock(lease, now)).await
    }

    async fn release_lock(&self, service: &str, environment: &str, holder: &str) -> Result<bool, StoreError> {
        let fault = self.faults.roll(Component::Store, "release_lock", true);
        let effect = async {
            let freed = self.inner.release_lock(service, environment, holder).await?;
            if freed {
                self.faults.trace(|| format!("   lock {service} in {environment} given back by {holder}"));
            }
            Ok(freed)
        };
        around(&self.faults, fault, store_error("release_lock"), effect).await
    }

    async fn lock(&self, service: &str, environment: &str) -> Result<Option<Lease>, StoreError> {
        let fault = self.faults.roll(Component::Store, "lock", false);
        around(&self.faults, fault, store_error("lock"), self.inner.lock(service, environment)).await
    }

    async fn locks(&self) -> Result<Vec<Lease>, StoreError> {
        let fault = self.faults.roll(Component::Store, "locks", false);
        let mut locks = around(&self.faults, fault, store_error("locks"), self.inner.locks()).await?;
        // The memory store keeps locks in a hash map: sorted, a run replays exactly.
        locks.sort_by(|a, b| (&a.service, &a.environment).cmp(&(&b.service, &b.environment)));
        Ok(locks)
    }

    async fn create_release(&self, release: &Release) -> Result<(), StoreError> {
        let fault = self.faults.roll(Component::Store, "create_release", true);
        around(&self.faults, fault, store_error("create_release"), self.inner.create_release(release)).await
    }

    async fn update_release(&self, release: &mut Release) -> Result<(), StoreError> {
        let fault = self.faults.roll(Component::Store, "update_release", true);
        around(&self.faults, fault, store_error("update_release"), self.inner.update_release(release)).await
    }

    async fn release(&self, id: &str) -> Result<Option<Release>, StoreError> {
        let fault = self.faults.roll(Component::Store, "release", false);
        around(&self.faults, fault, store_error("release"), self.inner.release(id)).await
    }

    async fn append(&self, events: Vec<ReleaseEvent>, release: Option<&mut Release>) -> Result<Vec<ReleaseEvent>, StoreError> {
        let fault = self.faults.roll(Component::Store, "append", true);
        let effect = async {
            let stored = self.inner.append(events, release).await?;
            self.check_appended(&stored);
            Ok(stored)
        };
        around(&self.faults, fault, store_error("append"), effect).await
    }

    async fn events(&self, release_id: &str) -> Result<Vec<ReleaseEvent>, StoreError> {
        let fault = self.faults.roll(Component::Store, "events", false);
        around(&self.faults, fault, store_error("events"), self.inner.events(release_id)).await
    }

    async fn route(&self, key: &str) -> Result<Option<RouteState>, StoreError> {
        let fault = self.faults.roll(Component::Store, "route", false);
        around(&self.faults, fault, store_error("route"), self.inner.route(key)).await
    }

    async fn claim_route(&self, state: &RouteState, expected: Option<u64>, fence: Fence<'_>) -> Result<(), StoreError> {
        let fault = self.faults.roll(Component::Store, "claim_route", true);
        let effect = async {
            let claimed = self.inner.claim_route(state, expected, fence).await;
            self.faults.trace(|| {
                let (stage, applied) = (state.stage, if state.applied { "applied" } else { "claimed" });
                format!(
                    "   route {} v{} {applied} at {}% ({stage:?}) by {}: {claimed:?}",
                    state.key, state.version, state.canary_weight, state.release_id
                )
            });
            claimed
        };
        around(&self.faults, fault, store_error("claim_route"), effect).await
    }
}

/// A Lambda alias as the real router sees it: the version it targets and the canary's share.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Alias {
    pub version: String,
    /// The canary version and its share (1–99), when traffic is split.
    pub split: Option<(String, u32)>,
    /// The release whose write this is.
    pub writer: Option<String>,
    pub writes: u64,
}

/// The routers: one alias per service, modelled as Lambda aliases are (so that a release that
/// reads the router sees what a stale writer left).
pub struct FaultyRouter {
    faults: Arc<Faults>,
    store: Arc<MemoryStore>,
    aliases: Mutex<BTreeMap<String, Alias>>,
}

impl FaultyRouter {
    pub fn new(faults: Arc<Faults>, store: Arc<MemoryStore>) -> Self {
        Self { faults, store, aliases: Mutex::new(BTreeMap::new()) }
    }

    /// Every alias as it routes now, by route key.
    pub fn aliases(&self) -> BTreeMap<String, Alias> {
        guard(&self.aliases).clone()
    }

    fn unreachable(target: &RouteTarget) -> impl Fn(bool) -> RouterError + '_ {
        move |transient| RouterError::Unreachable {
            router: route_key(&target.router, &target.service, &target.environment),
            transient,
            message: if transient { "simulated throttling or lost answer".into() } else { "simulated outage".into() },
        }
    }
}

#[async_trait]
impl TrafficRouter for FaultyRouter {
    async fn set_weight(&self, target: &RouteTarget, weight: u32, revision: Option<&str>) -> Result<(), RouterError> {
        let fault = self.faults.roll(Component::Router, "set_weight", true);
        let effect = async {
            let key = route_key(&target.router, &target.service, &target.environment);
            // As UpdateAlias with a RevisionId: a write made meanwhile refuses this one.
            let current = guard(&self.aliases).get(&key).map_or(0, |a| a.writes);
            if let Some(expected) = revision.filter(|r| *r != current.to_string()) {
                self.faults.trace(|| {
                    format!("   router {} refuses {weight}% by {}: moved since revision {expected}", target.service, target.release_id)
                });
                return Err(RouterError::Moved { router: key, expected: expected.to_string() });
            }
            // The design's promise: every router write is made by the release holding the lock.
            let holder = self.store.lock(&target.service, &target.environment).await.ok().flatten().map(|l| l.holder);
            self.faults.checked(invariant::ROUTER_OWNER, 1);
            if holder.as_deref() != Some(target.release_id.as_str()) {
                self.faults.violate(format!(
                    "{}: release {} set {key} to {weight}%{} while {} held the lock of {} in {}",
                    invariant::ROUTER_OWNER,
                    target.release_id,
                    if revision.is_none() { ", unfenced" } else { "" },
                    holder.map_or_else(|| "no release".to_string(), |h| format!("release {h}")),
                    target.service,
                    target.environment
                ));
            }
            let mut aliases = guard(&self.aliases);
            let alias = aliases.entry(key).or_default();
            (alias.version, alias.split) = match weight {
                0 => (target.stable_version.clone(), None),
                100 => (target.canary_version.clone(), None),
                w => (target.stable_version.clone(), Some((target.canary_version.clone(), w))),
            };
            alias.writer = Some(target.release_id.clone());
            alias.writes += 1;
            self.faults.trace(|| format!("   router {} ← {weight}% of {} by {}", target.service, target.canary_version, target.release_id));
            Ok(())
        };
        around(&self.faults, fault, Self::unreachable(target), effect).await
    }

    async fn read(&self, target: &RouteTarget) -> Result<RouterReading, RouterError> {
        let fault = self.faults.roll(Component::Router, "current_weight", false);
        let effect = async {
            let key = route_key(&target.router, &target.service, &target.environment);
            let alias = guard(&self.aliases)
                .get(&key)
                .cloned()
                .unwrap_or_else(|| Alias { version: target.stable_version.clone(), ..Alias::default() });
            let share = alias.split.as_ref().filter(|(canary, _)| *canary == target.canary_version).map_or(0, |(_, w)| *w);
            // As the Lambda alias adapter reads it; the revision counts the writes.
            let revision = Some(alias.writes.to_string());
            if alias.version == target.canary_version {
                Ok(RouterReading { weight: 100, revision })
            } else if alias.version == target.stable_version {
                Ok(RouterReading { weight: share, revision })
            } else {
                Err(RouterError::Rejected {
                    router: key,
                    message: format!(
                        "the alias targets version {}, neither {} nor {}",
                        alias.version, target.stable_version, target.canary_version
                    ),
                })
            }
        };
        around(&self.faults, fault, Self::unreachable(target), effect).await
    }
}

/// How a release's canary behaves, per check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Good,
    /// Fails the gate (`must: below 1`).
    Bad,
    /// Breaches `rollback_if` (critical).
    Critical,
    /// No datapoints (inconclusive).
    Silent,
    /// A seeded mix of all of the above.
    Flaky,
}

/// Metrics: each release's canary behaves as its [`Health`] says, with faults on the reads.
pub struct FaultyMetrics {
    faults: Arc<Faults>,
    health: Mutex<BTreeMap<String, Health>>,
}

impl FaultyMetrics {
    pub fn new(faults: Arc<Faults>) -> Self {
        Self { faults, health: Mutex::new(BTreeMap::new()) }
    }

    /// The canary of `version` of `service` behaves as `health`.
    pub fn set_health(&self, service: &str, version: &str, health: Health) {
        guard(&self.health).insert(format!("{service}/{version}"), health);
    }
}

#[async_trait]
impl MetricSource for FaultyMetrics {
    async fn fetch(&self, plan: &QueryPlan) -> Result<BTreeMap<String, Vec<Datapoint>>, MetricError> {
        let fault = self.faults.roll(Component::Metrics, "fetch", false);
        let error = |transient| MetricError::Backend { operation: "GetMetricData", transient, source: "simulated".into() };
        let effect = async {
            let mut out = BTreeMap::new();
            for (id, query) in plan.queries.iter().map(|q| (&q.id, q)) {
                if !plan.results.contains_key(id) {
                    continue;
                }
                // The canary's dimensions carry the service and version (`{service}/{version}`).
                let key = format!("{query:?}");
                let health =
                    guard(&self.health).iter().find(|(release, _)| key.contains(release.as_str())).map_or(Health::Good, |(_, h)| *h);
                let health = match health {
                    Health::Flaky => {
                        [Health::Good, Health::Good, Health::Bad, Health::Silent, Health::Critical][self.faults.with_rng(|r| r.index(5))]
                    }
                    other => other,
                };
                let value = match health {
                    Health::Good => 0.2,
                    Health::Bad => 2.0,
                    Health::Critical => 50.0,
                    Health::Silent | Health::Flaky => {
                        out.insert(id.clone(), Vec::new());
                        continue;
                    }
                };
                let mut points = Vec::new();
                let mut at = plan.start;
                while at < plan.end && points.len() < 120 {
                    points.push(Datapoint { at, value });
                    at += chrono::Duration::minutes(1);
                }
                out.insert(id.clone(), points);
            }
            Ok(out)
        };
        around(&self.faults, fault, error, effect).await
    }

    /// The simulated plans name no alarms; any named are quiet.
    async fn alarms(&self, names: &[String]) -> Result<Vec<rollgate::domain::alarm::AlarmReading>, MetricError> {
        Ok(names
            .iter()
            .map(|name| rollgate::domain::alarm::AlarmReading {
                name: name.clone(),
                state: rollgate::domain::alarm::AlarmState::Ok,
                reason: None,
                since: None,
            })
            .collect())
    }
}

/// Step hooks answer as the release's canary behaves (good passes, bad and critical fail, silent
/// gives no answer, flaky any of these), with faults on the call.
#[async_trait]
impl rollgate::ports::HookRunner for FaultyMetrics {
    async fn run(
        &self,
        hook: &rollgate::domain::plan::Hook,
        context: &rollgate::domain::hook::HookContext,
    ) -> Result<rollgate::domain::hook::HookAnswer, rollgate::ports::HookError> {
        use rollgate::domain::hook::{HookAnswer, HookOutcome};
        let fault = self.faults.roll(Component::Metrics, "hook", false);
        let error = |_| rollgate::ports::HookError { hook: hook.name.clone(), message: "simulated".into() };
        let effect = async {
            let release = format!("{}/{}", context.service, context.version);
            let health = guard(&self.health).get(&release).copied().unwrap_or(Health::Good);
            let health = match health {
                Health::Flaky => [Health::Good, Health::Good, Health::Bad, Health::Silent][self.faults.with_rng(|r| r.index(4))],
                other => other,
            };
            let (outcome, output) = match health {
                Health::Good => (HookOutcome::Passed, "12 of 12 passed"),
                Health::Bad | Health::Critical => (HookOutcome::Failed, "3 of 12 failed"),
                Health::Silent | Health::Flaky => (HookOutcome::NoAnswer, ""),
            };
            Ok(HookAnswer::new(outcome, output, std::time::Duration::from_secs(1)))
        };
        around(&self.faults, fault, error, effect).await
    }
}

/// A published notification, as the topic saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct Published {
    pub release_id: String,
    pub event: String,
}

/// The topic: records what was published; faults on the publish.
pub struct FaultyNotifier {
    faults: Arc<Faults>,
    published: Mutex<Vec<Published>>,
}

impl FaultyNotifier {
    pub fn new(faults: Arc<Faults>) -> Self {
        Self { faults, published: Mutex::new(Vec::new()) }
    }

    pub fn published(&self) -> Vec<Published> {
        guard(&self.published).clone()
    }
}

#[async_trait]
impl Notifier for FaultyNotifier {
    async fn publish(&self, notification: &ReleaseNotification) -> Result<(), NotifyError> {
        let fault = self.faults.roll(Component::Notifier, "publish", true);
        let event = notification.event_name().to_string();
        let error = |transient| NotifyError { event: event.clone(), transient, message: "simulated".into() };
        let effect = async {
            guard(&self.published).push(Published { release_id: notification.release_id.clone(), event: event.clone() });
            Ok(())
        };
        around(&self.faults, fault, error, effect).await
    }
}

/// What Step Functions was told about a task token.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    Resumed(serde_json::Value),
    Failed { error: String, cause: String },
}

/// Step Functions' side of `.waitForTaskToken`: only the token of a task that waits now may be
/// answered, once.
pub struct FaultyWorkflow {
    faults: Arc<Faults>,
    waiting: Mutex<BTreeSet<String>>,
    answers: Mutex<BTreeMap<String, Answer>>,
    /// The last heartbeat each waiting token received.
    heartbeats: Mutex<BTreeMap<String, DateTime<Utc>>>,
}

impl FaultyWorkflow {
    pub fn new(faults: Arc<Faults>) -> Self {
        Self { faults, waiting: Mutex::new(BTreeSet::new()), answers: Mutex::new(BTreeMap::new()), heartbeats: Mutex::new(BTreeMap::new()) }
    }

    /// A task now waits on `token`.
    pub fn wait_on(&self, token: &str) {
        guard(&self.waiting).insert(token.to_string());
    }

    /// The task stopped waiting (timed out, its execution stopped or failed).
    pub fn forget(&self, token: &str) {
        guard(&self.waiting).remove(token);
        guard(&self.heartbeats).remove(token);
    }

    /// When the task waiting on `token` last received a heartbeat.
    pub fn last_heartbeat(&self, token: &str) -> Option<DateTime<Utc>> {
        guard(&self.heartbeats).get(token).copied()
    }

    /// Whether `token` was answered (and the answer not taken yet).
    pub fn answered(&self, token: &str) -> bool {
        guard(&self.answers).contains_key(token)
    }

    /// The answer to `token`, taken once.
    pub fn take_answer(&self, token: &str) -> Option<Answer> {
        guard(&self.answers).remove(token)
    }

    fn answer(&self, token: &str, answer: Answer) -> Result<(), WorkflowError> {
        if !guard(&self.waiting).remove(token) {
            return Err(WorkflowError::TaskGone("the task timed out, was answered, or its execution ended".into()));
        }
        guard(&self.answers).insert(token.to_string(), answer);
        Ok(())
    }
}

/// No execution is stopped in these runs (no alarm's state change reaches the rollback
/// function): one that is answers that it already ended.
#[async_trait]
impl rollgate::ports::Executions for FaultyWorkflow {
    async fn stop(&self, execution: &str, _error: &str, _cause: &str) -> Result<(), WorkflowError> {
        Err(WorkflowError::TaskGone(format!("execution {execution} is not stopped in this simulation")))
    }
}

#[async_trait]
impl Workflow for FaultyWorkflow {
    async fn resume(&self, task_token: &str, output: &serde_json::Value) -> Result<(), WorkflowError> {
        let fault = self.faults.roll(Component::Workflow, "resume", true);
        let error = |transient| WorkflowError::Backend { transient, message: "simulated".into() };
        around(&self.faults, fault, error, async { self.answer(task_token, Answer::Resumed(output.clone())) }).await
    }

    async fn fail(&self, task_token: &str, error: &str, cause: &str) -> Result<(), WorkflowError> {
        let fault = self.faults.roll(Component::Workflow, "fail", true);
        let failure = |transient| WorkflowError::Backend { transient, message: "simulated".into() };
        let answer = Answer::Failed { error: error.to_string(), cause: cause.to_string() };
        around(&self.faults, fault, failure, async { self.answer(task_token, answer) }).await
    }

    async fn heartbeat(&self, task_token: &str) -> Result<(), WorkflowError> {
        let fault = self.faults.roll(Component::Workflow, "heartbeat", true);
        let failure = |transient| WorkflowError::Backend { transient, message: "simulated".into() };
        around(&self.faults, fault, failure, async {
            if !guard(&self.waiting).contains(task_token) {
                return Err(WorkflowError::TaskGone("the task timed out, was answered, or its execution ended".into()));
            }
            guard(&self.heartbeats).insert(task_token.to_string(), self.faults.now());
            Ok(())
        })
        .await
    }
}
