//! What goes wrong, and when: one seeded source of faults shared by every faulty adapter, the
//! virtual clock they read, the gates a crashed process stops at, and the trace of it all.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};

use crate::rng::Rng;

/// A dependency that can fail on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Component {
    Store,
    Router,
    Metrics,
    Notifier,
    Workflow,
}

impl Component {
    pub const ALL: [Component; 5] = [Component::Store, Component::Router, Component::Metrics, Component::Notifier, Component::Workflow];

    pub fn name(self) -> &'static str {
        match self {
            Component::Store => "store",
            Component::Router => "router",
            Component::Metrics => "metrics",
            Component::Notifier => "notifier",
            Component::Workflow => "workflow",
        }
    }
}

/// What happens to one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Fails before any effect, worth retrying (throttling, a dropped connection).
    Transient,
    /// The effect is applied, but the answer is lost: the caller sees a transient error.
    LostResponse,
    /// The component is down (an outage): fails before any effect, not worth retrying at once.
    Down,
    /// The process stops here before the call (it died, or it is a zombie resumed later).
    HangBefore,
    /// The process stops here after the call took effect, before it saw the answer.
    HangAfter,
}

/// How often each fault happens in one run. Each seed draws its own mix (swarm testing: some
/// runs are calm, some stormy, some only crash), so rare combinations are reached.
#[derive(Clone, Debug)]
pub struct Profile {
    pub transient: f64,
    pub lost: f64,
    pub hang: f64,
    /// Chance, per scheduling step, that a component goes down for a while.
    pub outage: f64,
}

impl Profile {
    pub fn draw(rng: &mut Rng) -> Self {
        let level = |rng: &mut Rng, max: f64| if rng.chance(0.3) { 0.0 } else { max * (rng.below(1000) as f64 / 1000.0) };
        Self { transient: level(rng, 0.08), lost: level(rng, 0.04), hang: level(rng, 0.03), outage: level(rng, 0.01) }
    }

    pub fn calm() -> Self {
        Self { transient: 0.0, lost: 0.0, hang: 0.0, outage: 0.0 }
    }
}

struct State {
    rng: Rng,
    profile: Profile,
    enabled: bool,
    now: DateTime<Utc>,
    outages: BTreeMap<Component, DateTime<Utc>>,
    next_gate: u64,
    /// The gate the last polled process stopped at.
    hung: Option<u64>,
    released: BTreeSet<u64>,
    tracing: bool,
    trace: Vec<String>,
    /// Who runs now, for the trace.
    actor: String,
    injected: u64,
    /// Router writes by a release that did not hold the lock, seen as they happened.
    violations: Vec<String>,
    /// How many times each invariant was checked.
    checks: BTreeMap<&'static str, u64>,
    /// A zombie process runs now (Step Functions gave up on it; it goes on).
    zombie: bool,
}

pub struct Faults {
    state: Mutex<State>,
}

impl Faults {
    pub fn new(rng: Rng, profile: Profile, now: DateTime<Utc>, tracing: bool) -> Self {
        Self {
            state: Mutex::new(State {
                rng,
                profile,
                enabled: true,
                now,
                outages: BTreeMap::new(),
                next_gate: 0,
                hung: None,
                released: BTreeSet::new(),
                tracing,
                trace: Vec::new(),
                actor: String::new(),
                injected: 0,
                violations: Vec::new(),
                checks: BTreeMap::new(),
                zombie: false,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The virtual clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.state().now
    }

    pub fn set_now(&self, now: DateTime<Utc>) {
        let mut state = self.state();
        state.now = state.now.max(now);
    }

    /// Faults on or off (off: the settling phase at the end, and the invariant checks' reads).
    pub fn enable(&self, enabled: bool) {
        let mut state = self.state();
        state.enabled = enabled;
        if !enabled {
            state.outages.clear();
        }
    }

    pub fn injected(&self) -> u64 {
        self.state().injected
    }

    /// The seeded randomness, for the driver's own choices.
    pub fn with_rng<T>(&self, f: impl FnOnce(&mut Rng) -> T) -> T {
        f(&mut self.state().rng)
    }

    pub fn set_actor(&self, actor: &str) {
        let mut state = self.state();
        if state.tracing {
            state.actor = actor.to_string();
        }
    }

    pub fn tracing(&self) -> bool {
        self.state().tracing
    }

    pub fn trace(&self, line: impl FnOnce() -> String) {
        let mut state = self.state();
        if state.tracing {
            let at = state.now.format("%H:%M:%S").to_string();
            let line = format!("{at} {}", line());
            state.trace.push(line);
        }
    }

    pub fn take_trace(&self) -> Vec<String> {
        std::mem::take(&mut self.state().trace)
    }

    pub fn violate(&self, what: String) {
        self.state().violations.push(what);
    }

    /// Counts one check of `invariant`.
    pub fn checked(&self, invariant: &'static str, times: u64) {
        *self.state().checks.entry(invariant).or_insert(0) += times;
    }

    pub fn checks(&self) -> BTreeMap<&'static str, u64> {
        self.state().checks.clone()
    }

    pub fn set_zombie(&self, zombie: bool) {
        self.state().zombie = zombie;
    }

    pub fn zombie(&self) -> bool {
        self.state().zombie
    }

    pub fn take_violations(&self) -> Vec<String> {
        std::mem::take(&mut self.state().violations)
    }

    /// Maybe starts an outage of one component (for 1 to 40 minutes).
    pub fn maybe_outage(&self) {
        let mut state = self.state();
        if !state.enabled {
            return;
        }
        let p = state.profile.outage;
        if state.rng.chance(p) {
            let component = Component::ALL[state.rng.index(Component::ALL.len())];
            let minutes = state.rng.between(1, 40);
            let until = state.now + chrono::Duration::minutes(i64::try_from(minutes).unwrap_or(1));
            state.outages.insert(component, until);
            if state.tracing {
                let line = format!("{} OUTAGE {} down for {minutes}m", state.now.format("%H:%M:%S"), component.name());
                state.trace.push(line);
            }
        }
    }

    /// What happens to a call of `operation` on `component` now.
    pub fn roll(&self, component: Component, operation: &'static str, writes: bool) -> Fault {
        let mut state = self.state();
        if !state.enabled {
            return Fault::None;
        }
        let now = state.now;
        let fault = if state.outages.get(&component).is_some_and(|until| *until > now) {
            Fault::Down
        } else {
            let profile = state.profile.clone();
            let roll = (state.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let lost = if writes { profile.lost } else { 0.0 };
            if roll < profile.transient {
                Fault::Transient
            } else if roll < profile.transient + lost {
                Fault::LostResponse
            } else if roll < profile.transient + lost + profile.hang {
                if state.rng.chance(0.5) { Fault::HangBefore } else { Fault::HangAfter }
            } else {
                Fault::None
            }
        };
        if fault != Fault::None {
            state.injected += 1;
            if state.tracing {
                let line = format!("{}   fault {fault:?} on {}.{operation} ({})", now.format("%H:%M:%S"), component.name(), state.actor);
                state.trace.push(line);
            }
        }
        fault
    }

    /// A gate a process stops at: pending until [`Faults::release`] opens it.
    pub fn gate(&self) -> Gate<'_> {
        let mut state = self.state();
        state.next_gate += 1;
        Gate { faults: self, id: state.next_gate }
    }

    /// Clears the mark of a stopped process before a poll.
    pub fn clear_hung(&self) -> Option<u64> {
        self.state().hung.take()
    }

    /// Opens gate `id`: the process stopped there goes on when polled next.
    pub fn release(&self, id: u64) {
        self.state().released.insert(id);
    }
}

/// Where a process stops (see [`Faults::gate`]).
pub struct Gate<'a> {
    faults: &'a Faults,
    id: u64,
}

impl Future for Gate<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        let mut state = self.faults.state();
        if state.released.remove(&self.id) {
            return Poll::Ready(());
        }
        // No waker is kept: the driver sees the mark and decides (crash, or resume later).
        state.hung = Some(self.id);
        Poll::Pending
    }
}

/// Runs `effect` under `fault`: fails before it, stops before or after it, or loses its answer.
/// `error(transient)` builds the component's own error.
pub async fn around<T, E>(
    faults: &Faults,
    fault: Fault,
    error: impl Fn(bool) -> E,
    effect: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    match fault {
        Fault::Transient => return Err(error(true)),
        Fault::Down => return Err(error(false)),
        Fault::HangBefore => faults.gate().await,
        _ => {}
    }
    let result = effect.await;
    match fault {
        Fault::LostResponse => Err(error(true)),
        Fault::HangAfter => {
            faults.gate().await;
            result
        }
        _ => result,
    }
}
