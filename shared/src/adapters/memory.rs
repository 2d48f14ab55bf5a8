//! In-process release store with the same guarantees as the DynamoDB one.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ports::{Fence, ReleaseStore, StoreError};
use crate::release::route::RouteState;
use crate::release::{Lease, Release, ReleaseEvent};

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    locks: HashMap<(String, String), Lease>,
    releases: HashMap<String, Release>,
    /// Per release, by sequence number.
    events: HashMap<String, BTreeMap<u64, ReleaseEvent>>,
    routes: HashMap<String, RouteState>,
    /// Task tokens by (release, approval, step).
    tokens: HashMap<(String, String, usize), String>,
    /// Platform policies by (service, environment).
    policies: HashMap<(String, String), crate::ports::StoredPolicy>,
}

impl State {
    /// A fenced write goes ahead only while the fence's holder holds its lock.
    fn fenced(&self, fence: Fence<'_>) -> Result<(), StoreError> {
        let held = self.locks.get(&(fence.service.to_string(), fence.environment.to_string())).is_some_and(|l| l.holder == fence.holder);
        if held { Ok(()) } else { Err(fence.lost()) }
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State half-written (every update is a
        // single insert), so a poisoned lock is safe to keep using.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The sort key of an event: its sequence number, zero-padded so that keys sort as numbers.
pub fn event_sort_key(seq: u64) -> String {
    format!("EVT#{seq:020}")
}

#[async_trait]
impl crate::ports::TaskTokens for MemoryStore {
    async fn keep_token(&self, key: crate::ports::TokenKey<'_>, token: &str, _expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        self.state().tokens.insert((key.release_id.to_string(), key.approval.to_string(), key.step), token.to_string());
        Ok(())
    }

    async fn token(&self, key: crate::ports::TokenKey<'_>) -> Result<Option<String>, StoreError> {
        Ok(self.state().tokens.get(&(key.release_id.to_string(), key.approval.to_string(), key.step)).cloned())
    }
}

#[async_trait]
impl ReleaseStore for MemoryStore {
    async fn acquire_lock(&self, lease: &Lease, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.state();
        let key = (lease.service.clone(), lease.environment.clone());
        if let Some(current) = state.locks.get(&key)
            && current.holder != lease.holder
            && !current.is_expired(now)
        {
            return Err(StoreError::LockHeld {
                service: current.service.clone(),
                environment: current.environment.clone(),
                holder: current.holder.clone(),
                expires_at: current.expires_at,
            });
        }
        state.locks.insert(key, lease.clone());
        Ok(())
    }

    async fn release_lock(&self, service: &str, environment: &str, holder: &str) -> Result<bool, StoreError> {
        let mut state = self.state();
        let key = (service.to_string(), environment.to_string());
        let open = state.releases.get(holder).is_some_and(|r| !r.status.is_final());
        if !open && state.locks.get(&key).is_some_and(|l| l.holder == holder) {
            state.locks.remove(&key);
            return Ok(true);
        }
        Ok(false)
    }

    async fn locks(&self) -> Result<Vec<Lease>, StoreError> {
        Ok(self.state().locks.values().cloned().collect())
    }

    async fn lock(&self, service: &str, environment: &str) -> Result<Option<Lease>, StoreError> {
        Ok(self.state().locks.get(&(service.to_string(), environment.to_string())).cloned())
    }

    async fn create_release(&self, release: &Release) -> Result<(), StoreError> {
        let mut state = self.state();
        if let Some(stored) = state.releases.get(&release.id) {
            // The same release again is a retried write (as DynamoDB's adapter reads it).
            return if stored == release { Ok(()) } else { Err(StoreError::ReleaseExists(release.id.clone())) };
        }
        state.fenced(Fence::of(release))?;
        state.releases.insert(release.id.clone(), release.clone());
        Ok(())
    }

    async fn update_release(&self, release: &mut Release) -> Result<(), StoreError> {
        let mut state = self.state();
        let stored = state.releases.get(&release.id).ok_or_else(|| StoreError::ReleaseNotFound(release.id.clone()))?;
        if stored.revision != release.revision {
            return Err(StoreError::RevisionConflict { id: release.id.clone(), expected: release.revision });
        }
        release.revision += 1;
        state.releases.insert(release.id.clone(), release.clone());
        Ok(())
    }

    async fn release(&self, id: &str) -> Result<Option<Release>, StoreError> {
        Ok(self.state().releases.get(id).cloned())
    }

    async fn append(&self, events: Vec<ReleaseEvent>, release: Option<&mut Release>) -> Result<Vec<ReleaseEvent>, StoreError> {
        let mut state = self.state();
        if let Some(release) = &release {
            let stored = state.releases.get(&release.id).ok_or_else(|| StoreError::ReleaseNotFound(release.id.clone()))?;
            if stored.revision != release.revision {
                return Err(StoreError::RevisionConflict { id: release.id.clone(), expected: release.revision });
            }
        }
        let mut stored_events = Vec::with_capacity(events.len());
        for mut event in events {
            let trail = state.events.entry(event.release_id.clone()).or_default();
            if let Some(earlier) = trail.values().find(|e| !event.id.is_empty() && e.id == event.id) {
                stored_events.push(earlier.clone());
                continue;
            }
            let previous = trail.values().next_back().map(|last| (last.seq, last.hash.clone()));
            event.seq = previous.as_ref().map_or(1, |(seq, _)| seq + 1);
            event.hash = crate::release::chain::link(previous.as_ref().map_or("", |(_, hash)| hash.as_str()), &event);
            trail.insert(event.seq, event.clone());
            stored_events.push(event);
        }
        if let Some(release) = release {
            release.revision += 1;
            state.releases.insert(release.id.clone(), release.clone());
        }
        Ok(stored_events)
    }

    async fn events(&self, release_id: &str) -> Result<Vec<ReleaseEvent>, StoreError> {
        Ok(self.state().events.get(release_id).map(|t| t.values().cloned().collect()).unwrap_or_default())
    }

    async fn route(&self, key: &str) -> Result<Option<RouteState>, StoreError> {
        Ok(self.state().routes.get(key).cloned())
    }

    async fn claim_route(&self, state: &RouteState, expected: Option<u64>, fence: Fence<'_>) -> Result<(), StoreError> {
        let mut all = self.state();
        all.fenced(fence)?;
        if all.routes.get(&state.key).map(|r| r.version) != expected {
            return Err(StoreError::RouterConflict { key: state.key.clone(), expected });
        }
        all.routes.insert(state.key.clone(), state.clone());
        Ok(())
    }
}

#[async_trait]
impl crate::ports::WeeklyEvents for MemoryStore {
    async fn visit_events_in_week(
        &self,
        week: crate::release::week::ReviewWeek,
        visit: &mut (dyn FnMut(ReleaseEvent) + Send),
    ) -> Result<(), StoreError> {
        let (from, to) = (week.start(), week.end());
        // Copied out first: `visit` runs without the store's lock held, so it may read the store.
        let events: Vec<ReleaseEvent> =
            self.state().events.values().flat_map(|t| t.values()).filter(|e| e.at >= from && e.at < to).cloned().collect();
        events.into_iter().for_each(visit);
        Ok(())
    }
}

/// Keeps published notifications in memory (simulator, unit tests); can be told to fail.
#[derive(Default)]
pub struct RecordingNotifier {
    published: Mutex<Vec<crate::release::notification::ReleaseNotification>>,
    reviews: Mutex<Vec<crate::ports::ReviewReport>>,
    pub fail: std::sync::atomic::AtomicBool,
}

impl RecordingNotifier {
    pub fn published(&self) -> Vec<crate::release::notification::ReleaseNotification> {
        self.published.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub fn reviews(&self) -> Vec<crate::ports::ReviewReport> {
        self.reviews.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

#[async_trait]
impl crate::ports::ReviewPublisher for RecordingNotifier {
    async fn publish_review(&self, review: &crate::ports::ReviewReport) -> Result<(), crate::ports::NotifyError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(crate::ports::NotifyError {
                event: "weekly_review".into(),
                transient: false,
                message: "publishing is switched off".into(),
            });
        }
        self.reviews.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(review.clone());
        Ok(())
    }
}

#[async_trait]
impl crate::ports::Notifier for RecordingNotifier {
    async fn publish(&self, notification: &crate::release::notification::ReleaseNotification) -> Result<(), crate::ports::NotifyError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(crate::ports::NotifyError {
                event: notification.event_name().into(),
                transient: false,
                message: "publishing is switched off".into(),
            });
        }
        self.published.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(notification.clone());
        Ok(())
    }
}

/// What an in-process workflow was told about a task token.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskOutcome {
    Resumed(serde_json::Value),
    Failed { error: String, cause: String },
}

/// Waiting tasks in memory: a token is answered once; answering it again finds it gone, as in
/// Step Functions.
#[derive(Default)]
pub struct RecordingWorkflow {
    answered: Mutex<BTreeMap<String, TaskOutcome>>,
    heartbeats: Mutex<Vec<String>>,
    /// Executions stopped, with the error and cause they were stopped with, in order.
    stopped: Mutex<Vec<(String, String, String)>>,
}

impl RecordingWorkflow {
    /// The executions stopped so far: (execution, error, cause).
    pub fn stopped(&self) -> Vec<(String, String, String)> {
        self.stopped.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The task tokens heartbeats were sent for, in order.
    pub fn heartbeats(&self) -> Vec<String> {
        self.heartbeats.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub fn outcome(&self, task_token: &str) -> Option<TaskOutcome> {
        self.answered.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(task_token).cloned()
    }

    fn answer(&self, task_token: &str, outcome: TaskOutcome) -> Result<(), crate::ports::WorkflowError> {
        let mut answered = self.answered.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if answered.contains_key(task_token) {
            return Err(crate::ports::WorkflowError::TaskGone("the task was already resumed or its execution ended".into()));
        }
        answered.insert(task_token.to_string(), outcome);
        Ok(())
    }
}

#[async_trait]
impl crate::ports::Workflow for RecordingWorkflow {
    async fn resume(&self, task_token: &str, output: &serde_json::Value) -> Result<(), crate::ports::WorkflowError> {
        self.answer(task_token, TaskOutcome::Resumed(output.clone()))
    }

    async fn fail(&self, task_token: &str, error: &str, cause: &str) -> Result<(), crate::ports::WorkflowError> {
        self.answer(task_token, TaskOutcome::Failed { error: error.into(), cause: cause.into() })
    }

    async fn heartbeat(&self, task_token: &str) -> Result<(), crate::ports::WorkflowError> {
        if self.outcome(task_token).is_some() {
            return Err(crate::ports::WorkflowError::TaskGone("the task was already resumed or its execution ended".into()));
        }
        self.heartbeats.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(task_token.to_string());
        Ok(())
    }
}

#[async_trait]
impl crate::ports::Executions for RecordingWorkflow {
    async fn stop(&self, execution: &str, error: &str, cause: &str) -> Result<(), crate::ports::WorkflowError> {
        let mut stopped = self.stopped.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if stopped.iter().any(|(e, ..)| e == execution) {
            return Err(crate::ports::WorkflowError::TaskGone(format!("execution {execution} already ended")));
        }
        stopped.push((execution.into(), error.into(), cause.into()));
        Ok(())
    }
}

#[async_trait]
impl crate::ports::PolicyStore for MemoryStore {
    async fn policy(&self, service: &str, environment: &str) -> Result<Option<crate::ports::StoredPolicy>, StoreError> {
        Ok(self.state().policies.get(&(service.to_string(), environment.to_string())).cloned())
    }

    async fn put_policy(&self, policy: &crate::ports::StoredPolicy, expected: Option<u64>) -> Result<(), StoreError> {
        let mut state = self.state();
        let key = (policy.policy.service.clone(), policy.policy.environment.clone());
        if state.policies.get(&key).map(|p| p.version) != expected {
            return Err(StoreError::PolicyConflict { service: key.0, environment: key.1, expected });
        }
        state.policies.insert(key, policy.clone());
        Ok(())
    }
}

/// User groups in memory (tests): each group's members.
#[derive(Default)]
pub struct MemoryDirectory {
    pub groups: BTreeMap<String, Vec<String>>,
}

#[async_trait]
impl crate::ports::Directory for MemoryDirectory {
    async fn is_member(&self, group: &str, user: &str) -> Result<bool, crate::ports::DirectoryError> {
        Ok(self.groups.get(group).is_some_and(|members| members.iter().any(|m| m == user)))
    }
}

/// A router in memory (the simulator, tests): the weight it was given, and a revision that
/// changes with every write, as a Lambda alias's does.
#[derive(Default)]
pub struct MemoryRouter {
    /// (weight, revision)
    state: Mutex<(u32, u64)>,
}

#[async_trait]
impl crate::ports::TrafficRouter for MemoryRouter {
    async fn set_weight(
        &self,
        target: &crate::release::route::RouteTarget,
        weight: u32,
        revision: Option<&str>,
    ) -> Result<(), crate::ports::RouterError> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(expected) = revision.filter(|r| *r != state.1.to_string()) {
            let router = crate::release::route::route_key(&target.router, &target.service, &target.environment);
            return Err(crate::ports::RouterError::Moved { router, expected: expected.to_string() });
        }
        *state = (weight, state.1 + 1);
        Ok(())
    }

    async fn read(&self, _: &crate::release::route::RouteTarget) -> Result<crate::ports::RouterReading, crate::ports::RouterError> {
        let (weight, revision) = *self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(crate::ports::RouterReading { weight, revision: Some(revision.to_string()) })
    }
}

/// Hooks answered from a table (by hook name), each call recorded: a hook not in the table passes.
#[derive(Default)]
pub struct MemoryHooks {
    pub answers: Mutex<std::collections::BTreeMap<String, (crate::domain::hook::HookOutcome, String)>>,
    pub calls: Mutex<Vec<crate::domain::hook::HookContext>>,
}

impl MemoryHooks {
    /// `name` answers `outcome` with `output` from now on.
    pub fn answer(&self, name: &str, outcome: crate::domain::hook::HookOutcome, output: &str) {
        self.answers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(name.to_string(), (outcome, output.to_string()));
    }

    pub fn calls(&self) -> Vec<crate::domain::hook::HookContext> {
        self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

#[async_trait]
impl crate::ports::HookRunner for MemoryHooks {
    async fn run(
        &self,
        hook: &crate::domain::plan::Hook,
        context: &crate::domain::hook::HookContext,
    ) -> Result<crate::domain::hook::HookAnswer, crate::ports::HookError> {
        self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(context.clone());
        let (outcome, output) = self
            .answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&hook.name)
            .cloned()
            .unwrap_or((crate::domain::hook::HookOutcome::Passed, String::new()));
        Ok(crate::domain::hook::HookAnswer::new(outcome, &output, std::time::Duration::from_millis(10)))
    }
}
