//! The driver: several executions of the deployed state machine, CI, approvers, operators and
//! the sweeper, interleaved by the seed on one virtual clock, over the faulty adapters.
//!
//! Every Task is the real boundary function, run as a future polled by this driver. The
//! in-memory adapters are always ready, so a task that is still pending after a poll stopped at
//! a gate a faulty adapter put there: the driver treats it as a process that died at that
//! await point (Lambda reports an exit or a timeout, and Step Functions retries or catches as
//! the ASL says), or as a zombie: Step Functions saw the invoke fail and moved on, while the
//! process goes on later (never past the function's timeout).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use chrono::{DateTime, Duration, Utc};
use rollgate::adapters::memory::MemoryStore;
use rollgate::boundary;
use rollgate::flow::approval::{self, ApprovalRef, Vote};
use rollgate::flow::rollback::{RestorePolicy, RollbackEnd, roll_back};
use rollgate::release::{EventKind, ReleaseStatus};
use rollgate::simulate::done;
use rollgate::simulate::machine::{Call, Definition, Ending, Invocation, Next, Run, TaskFailure};
use serde_json::{Value, json};

use crate::adapters::{Answer, FaultyMetrics, FaultyNotifier, FaultyRouter, FaultyStore, FaultyWorkflow};
use crate::faults::{Faults, Profile};
use crate::rng::Rng;
use crate::scenario::{self, APPROVERS, PlannedRelease, Voting};

type TaskFuture = Pin<Box<dyn Future<Output = Result<Value, TaskFailure>>>>;

/// The most scheduling steps one seed may take before it counts as stuck.
const MAX_STEPS: u64 = 50_000;
/// How often the sweeper runs (the template's `SweepSchedule` default).
const SWEEP_EVERY: Duration = Duration::minutes(5);
/// How many times CI submits a release that found its service locked.
const MAX_SUBMISSIONS: u32 = 6;

/// One execution of the state machine.
struct Execution {
    release: usize,
    name: String,
    run: Run,
    phase: Phase,
}

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    /// Takes its next step once the clock reaches `run.now()`.
    Ready,
    /// A `.waitForTaskToken` task waits for its answer until `deadline`, and, with a heartbeat,
    /// no longer than `heartbeat` after `since` or its last heartbeat.
    Waiting { token: String, deadline: DateTime<Utc>, since: DateTime<Utc>, heartbeat: Option<Duration> },
    /// Ended, or stopped by an operator.
    Done,
}

/// A process that Step Functions gave up on but that goes on later.
struct Zombie {
    what: String,
    future: TaskFuture,
    gate: u64,
    resume_at: DateTime<Utc>,
    /// Lambda kills it at its timeout.
    dies_at: DateTime<Utc>,
}

/// What a person does, and when.
#[derive(Clone, Debug)]
enum Action {
    Vote {
        release: usize,
        voter: String,
        approved: bool,
        on: ApprovalRef,
        tries: u32,
    },
    Abort {
        release: usize,
        tries: u32,
    },
    /// `rollgate pause | resume | skip | promote` (a pause lasts `minutes`).
    Control {
        release: usize,
        control: rollgate::release::Control,
        minutes: u64,
    },
}

pub struct Outcome {
    pub seed: u64,
    /// Releases submitted.
    pub releases: usize,
    pub steps: u64,
    pub faults: u64,
    pub checks: std::collections::BTreeMap<&'static str, u64>,
    pub violation: Option<String>,
    pub trace: Vec<String>,
}

pub struct World {
    runtime: tokio::runtime::Runtime,
    definition: Definition,
    faults: Arc<Faults>,
    memory: Arc<MemoryStore>,
    store: Arc<FaultyStore>,
    router: Arc<FaultyRouter>,
    metrics: Arc<FaultyMetrics>,
    notifier: Arc<FaultyNotifier>,
    workflow: Arc<FaultyWorkflow>,
    releases: Vec<PlannedRelease>,
    /// Per release: the next submission, and how many were made.
    submissions: Vec<(Option<DateTime<Utc>>, u32)>,
    executions: Vec<Execution>,
    zombies: Vec<Zombie>,
    actions: Vec<(DateTime<Utc>, Action)>,
    next_sweep: DateTime<Utc>,
    steps: u64,
}

fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-11-14T09:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default()
}

fn seconds(secs: u64) -> Duration {
    Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000))
}

impl World {
    pub fn new(seed: u64, tracing: bool) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().map_err(|e| e.to_string())?;
        let definition = Definition::deployed().map_err(|e| e.to_string())?;
        let start = start_time();
        let mut setup = Rng::new(seed);
        let profile = Profile::draw(&mut setup);
        let releases = scenario::releases(&mut setup, start);
        let faults = Arc::new(Faults::new(Rng::new(seed ^ 0x5EED_FA17), profile.clone(), start, tracing));
        let memory = Arc::new(MemoryStore::new());
        let metrics = Arc::new(FaultyMetrics::new(faults.clone()));
        for release in &releases {
            metrics.set_health(&release.service, &release.version, release.health);
        }
        faults.trace(|| format!("seed {seed}: faults {profile:?}"));
        for r in &releases {
            faults.trace(|| {
                format!(
                    "plan {} of {} at {}: health {:?}, reviewed {}, approvers {:?}, abort at {:?}, plan {}",
                    r.id,
                    r.service,
                    r.submit_at.format("%H:%M:%S"),
                    r.health,
                    r.reviewed,
                    r.approvers,
                    r.abort_at.map(|t| t.format("%H:%M:%S").to_string()),
                    r.plan
                )
            });
        }
        let mut actions = Vec::new();
        for (i, release) in releases.iter().enumerate() {
            if let Some(at) = release.abort_at {
                actions.push((at, Action::Abort { release: i, tries: 0 }));
            }
        }
        // Operators' controls, drawn from a stream of their own (the seeds kept as regressions
        // draw the rest as before): a fifth of the releases get one to three.
        let mut operators = Rng::new(seed ^ 0x0BE7_A70B);
        for (i, release) in releases.iter().enumerate() {
            if !operators.chance(0.2) {
                continue;
            }
            use rollgate::release::Control;
            // Within a release's first quarter hour (its steps bake minutes), a pause, most
            // often resumed (unresumed, it lapses and rolls back), and a skip or a promotion.
            let paused_at = release.submit_at + Duration::seconds(i64::try_from(operators.below(15 * 60)).unwrap_or(0));
            let (resumed_in, minutes) = (operators.between(1, 30), operators.between(1, 60));
            if operators.chance(0.7) {
                actions.push((paused_at, Action::Control { release: i, control: Control::Pause, minutes }));
                if operators.chance(0.7) {
                    actions.push((
                        paused_at + Duration::minutes(i64::try_from(resumed_in).unwrap_or(1)),
                        Action::Control { release: i, control: Control::Resume, minutes },
                    ));
                }
            }
            if operators.chance(0.6) {
                let control = [Control::Skip, Control::Promote][operators.index(2)];
                let when = release.submit_at + Duration::seconds(i64::try_from(operators.below(15 * 60)).unwrap_or(0));
                actions.push((when, Action::Control { release: i, control, minutes }));
            }
        }
        Ok(Self {
            runtime,
            definition,
            store: Arc::new(FaultyStore::new(memory.clone(), faults.clone())),
            router: Arc::new(FaultyRouter::new(faults.clone(), memory.clone())),
            notifier: Arc::new(FaultyNotifier::new(faults.clone())),
            workflow: Arc::new(FaultyWorkflow::new(faults.clone())),
            metrics,
            memory,
            submissions: releases.iter().map(|r| (Some(r.submit_at), 0)).collect(),
            releases,
            faults,
            executions: Vec::new(),
            zombies: Vec::new(),
            actions,
            next_sweep: start + SWEEP_EVERY,
            steps: 0,
        })
    }

    fn now(&self) -> DateTime<Utc> {
        self.faults.now()
    }

    fn random(&self, n: u64) -> u64 {
        self.faults.with_rng(|r| r.below(n))
    }

    fn chance(&self, p: f64) -> bool {
        self.faults.with_rng(|r| r.chance(p))
    }

    /// Runs the seed to its end and checks every invariant.
    pub fn run(mut self, seed: u64) -> Outcome {
        let violation = self.drive().err().or_else(|| self.settle().err()).or_else(|| crate::invariant::at_end(&self).err());
        if let Some(v) = &violation {
            self.faults.trace(|| format!("VIOLATION {v}"));
        }
        Outcome {
            seed,
            releases: self.submissions.iter().filter(|(_, n)| *n > 0).count(),
            steps: self.steps,
            faults: self.faults.injected(),
            checks: self.faults.checks(),
            violation,
            trace: self.faults.take_trace(),
        }
    }

    /// The main phase: until every release was submitted and every execution ended.
    fn drive(&mut self) -> Result<(), String> {
        loop {
            self.steps += 1;
            if self.steps > MAX_STEPS {
                return Err(format!("the run did not end within {MAX_STEPS} steps"));
            }
            self.faults.maybe_outage();
            let candidates = self.candidates();
            if candidates.is_empty() {
                if self.quiet() {
                    return Ok(());
                }
                self.advance_clock();
                continue;
            }
            let pick = candidates[usize::try_from(self.random(candidates.len() as u64)).unwrap_or(0)];
            self.act(pick)?;
            crate::invariant::after_step(self)?;
        }
    }

    /// Nothing left to happen but sweeps.
    fn quiet(&self) -> bool {
        self.submissions.iter().all(|(next, _)| next.is_none())
            && self.executions.iter().all(|e| e.phase == Phase::Done)
            && self.zombies.is_empty()
            && self.actions.is_empty()
    }

    fn candidates(&self) -> Vec<Candidate> {
        let now = self.now();
        let mut out = Vec::new();
        for (i, (next, _)) in self.submissions.iter().enumerate() {
            if next.is_some_and(|at| at <= now) {
                out.push(Candidate::Submit(i));
            }
        }
        for (i, e) in self.executions.iter().enumerate() {
            let due = match &e.phase {
                Phase::Ready => e.run.now() <= now,
                Phase::Waiting { token, .. } => {
                    self.wait_ends(&e.phase).is_some_and(|(end, _)| end <= now) || self.workflow.answered(token)
                }
                Phase::Done => false,
            };
            if due {
                out.push(Candidate::Step(i));
            }
        }
        for (i, z) in self.zombies.iter().enumerate() {
            if z.resume_at <= now {
                out.push(Candidate::Zombie(i));
            }
        }
        for (i, (at, _)) in self.actions.iter().enumerate() {
            if *at <= now {
                out.push(Candidate::Action(i));
            }
        }
        if self.next_sweep <= now {
            out.push(Candidate::Sweep);
        }
        out
    }

    /// Moves the clock to the next thing due; sometimes jumps further (a delayed scheduler).
    fn advance_clock(&mut self) {
        let mut due: Vec<DateTime<Utc>> = vec![self.next_sweep];
        due.extend(self.submissions.iter().filter_map(|(next, _)| *next));
        for e in &self.executions {
            match &e.phase {
                Phase::Ready => due.push(e.run.now()),
                Phase::Waiting { .. } => due.extend(self.wait_ends(&e.phase).map(|(end, _)| end)),
                Phase::Done => {}
            }
        }
        due.extend(self.zombies.iter().map(|z| z.resume_at));
        due.extend(self.actions.iter().map(|(at, _)| *at));
        let mut next = due.into_iter().min().unwrap_or_else(|| self.now() + SWEEP_EVERY);
        if self.chance(0.02) {
            let jump = if self.chance(0.1) { seconds(self.random(3 * 3600)) } else { seconds(self.random(20 * 60)) };
            next += jump;
            self.faults.trace(|| format!("CLOCK JUMP by {}s", jump.num_seconds()));
        }
        self.faults.set_now(next);
    }

    fn act(&mut self, candidate: Candidate) -> Result<(), String> {
        match candidate {
            Candidate::Submit(i) => {
                self.submit(i);
                Ok(())
            }
            Candidate::Step(i) => self.step(i),
            Candidate::Zombie(i) => {
                let zombie = self.zombies.swap_remove(i);
                self.resume(zombie);
                Ok(())
            }
            Candidate::Action(i) => {
                let (_, action) = self.actions.swap_remove(i);
                self.person(action);
                Ok(())
            }
            Candidate::Sweep => {
                self.next_sweep = self.now() + SWEEP_EVERY;
                self.sweep();
                Ok(())
            }
        }
    }

    /// CI starts an execution for release `i`, naming the last promoted version as stable.
    /// (Not what the router serves at that moment: during another release's 100% step that is a
    /// canary, which rollgate does not refuse as a stable version; see docs/dst.md.)
    fn submit(&mut self, i: usize) {
        let release = &self.releases[i];
        let stable = self.last_promoted(&release.service);
        let release = &self.releases[i];
        let input = scenario::request(release, &stable);
        let (next, count) = &mut self.submissions[i];
        *next = None;
        *count += 1;
        let name = format!("{}#{count}", release.id);
        self.faults.trace(|| format!("CI submits {name} (stable {stable})"));
        let run = self.definition.start(input, &name, self.faults.now());
        self.executions.push(Execution { release: i, name, run, phase: Phase::Ready });
    }

    /// The version of the service's last promoted release (the initial one before any).
    fn last_promoted(&self, service: &str) -> String {
        use rollgate::ports::ReleaseStore;
        self.releases
            .iter()
            .filter(|r| r.service == service)
            .filter_map(|r| now_or_never(self.memory.release(&r.id)).and_then(Result::ok).flatten())
            .filter(|r| r.status == ReleaseStatus::Promoted)
            .max_by_key(|r| r.updated_at)
            .map_or_else(|| scenario::INITIAL_VERSION.to_string(), |r| r.version)
    }

    /// One step of execution `i`: the states up to its next Task, Wait or end, and that Task.
    fn step(&mut self, i: usize) -> Result<(), String> {
        let now = self.now();
        self.executions[i].run.catch_up(now);
        let phase = self.executions[i].phase.clone();
        if let Phase::Waiting { token, .. } = &phase {
            let (token, ends) = (token.clone(), self.wait_ends(&phase));
            let result = match self.workflow.take_answer(&token) {
                Some(Answer::Resumed(output)) => Ok(output),
                Some(Answer::Failed { error, cause }) => Err(TaskFailure { error, cause }),
                None => {
                    self.workflow.forget(&token);
                    let (end, error) = ends.unwrap_or((now, "States.Timeout"));
                    Err(TaskFailure { error: error.into(), cause: format!("no answer by {end}") })
                }
            };
            let execution = &mut self.executions[i];
            let name = execution.name.clone();
            self.faults.trace(|| format!("{name}: token answered: {}", brief(&result)));
            execution.phase = Phase::Ready;
            return execution.run.finish(&self.definition, Invocation { result, took: Duration::zero() }).map_err(|e| e.to_string());
        }
        let execution = &mut self.executions[i];
        let next = execution.run.next(&self.definition).map_err(|e| format!("the definition could not run: {e}"))?;
        let name = execution.name.clone();
        let release = execution.release;
        match next {
            Next::Wait { until } => {
                self.faults.trace(|| format!("{name}: waits until {}", until.format("%H:%M:%S")));
                Ok(())
            }
            Next::End(ending) => {
                self.executions[i].phase = Phase::Done;
                self.ended(release, &name, &ending);
                Ok(())
            }
            Next::Task(call) => {
                let state = call.state.clone();
                let (invocation, waits_on) = match call.call {
                    Call::Invoke { function, payload, token } => {
                        if let Some(token) = &token {
                            self.workflow.wait_on(token);
                        }
                        let invocation = self.invoke(&name, &state, &function, payload);
                        match (token, &invocation.result) {
                            (Some(token), Ok(_)) => {
                                let deadline = now + seconds(call.timeout_secs.unwrap_or(365 * 24 * 3600));
                                (None, Some((token, deadline, call.heartbeat_secs.map(seconds))))
                            }
                            (Some(token), Err(_)) => {
                                self.workflow.forget(&token);
                                (Some(invocation), None)
                            }
                            (None, _) => (Some(invocation), None),
                        }
                    }
                    // The alarm topic: its publish is not where rollgate's safety lies.
                    Call::Integrate { .. } => {
                        (Some(Invocation { result: Ok(json!({ "MessageId": "simulated" })), took: Duration::zero() }), None)
                    }
                };
                let execution = &mut self.executions[i];
                if let Some((token, deadline, heartbeat)) = waits_on {
                    self.faults.trace(|| format!("{name}: {state} waits for its token until {}", deadline.format("%H:%M:%S")));
                    execution.phase = Phase::Waiting { token, deadline, since: now, heartbeat };
                    self.ask_people(release);
                    return Ok(());
                }
                let Some(invocation) = invocation else { return Ok(()) };
                self.faults.trace(|| format!("{name}: {state} → {}", brief(&invocation.result)));
                execution.run.finish(&self.definition, invocation).map_err(|e| e.to_string())
            }
        }
    }

    /// When a waiting task's wait ends unanswered, and with which error: its timeout, or its
    /// heartbeat when no heartbeat came for that long.
    fn wait_ends(&self, phase: &Phase) -> Option<(DateTime<Utc>, &'static str)> {
        let Phase::Waiting { token, deadline, since, heartbeat } = phase else { return None };
        let beat = heartbeat.map(|h| self.workflow.last_heartbeat(token).unwrap_or(*since) + h).filter(|end| end < deadline);
        Some(match beat {
            Some(end) => (end, "States.HeartbeatTimeout"),
            None => (*deadline, "States.Timeout"),
        })
    }

    /// An execution ended: CI submits again a release that found its service locked.
    fn ended(&mut self, release: usize, name: &str, ending: &Ending) {
        let (state, error) = match ending {
            Ending::Succeeded { state, .. } => (state.clone(), String::new()),
            Ending::Failed { state, error, .. } | Ending::Aborted { state, error, .. } => (state.clone(), error.clone()),
        };
        self.faults.trace(|| format!("{name}: ended in {state} {error}"));
        let aborted = self.releases[release].abort_at.is_some_and(|at| at <= self.now());
        let (next, count) = &mut self.submissions[release];
        if state == "Refused" && *count < MAX_SUBMISSIONS && !aborted {
            let delay = self.faults.with_rng(|r| r.between(5, 15 * 60));
            *next = Some(self.faults.now() + seconds(delay));
        }
    }

    /// The function a Task names, as the deployed Lambda runs it.
    fn function(&self, function: &str, payload: Value, now: DateTime<Utc>) -> TaskFuture {
        let (store, router, notifier, metrics) = (self.store.clone(), self.router.clone(), self.notifier.clone(), self.metrics.clone());
        let (faults, workflow) = (self.faults.clone(), self.workflow.clone());
        match function {
            "${ChecklistValidatorFunctionArn}" => Box::pin(async move {
                done(boundary::validate_checklist(payload, &*store, &rollgate::ports::NoPolicies, &*notifier, now).await).result
            }),
            "${ApprovalRequestFunctionArn}" => {
                Box::pin(async move { done(boundary::request_approval(payload, &*store, &*store, &*notifier, None, now).await).result })
            }
            "${TrafficSwitchFunctionArn}" => {
                Box::pin(async move { done(boundary::set_weight(payload, &*store, &*router, &*metrics, &*notifier, now).await).result })
            }
            "${MetricGateFunctionArn}" => Box::pin(async move {
                done(boundary::evaluate_gates(payload, &*store, &rollgate::ports::NoPolicies, &*metrics, &*metrics, now).await).result
            }),
            "${RollbackNotifierFunctionArn}" => Box::pin(async move {
                let clock = move || faults.now();
                done(boundary::rollback_function(payload, &*store, &*router, &*notifier, &*workflow, RestorePolicy::default(), clock).await)
                    .result
            }),
            other => {
                let cause = format!("no function {other} in the simulation");
                Box::pin(async move { Err(TaskFailure { error: "Lambda.ResourceNotFoundException".into(), cause }) })
            }
        }
    }

    /// Invokes a Lambda task; a process that stops at a gate dies or becomes a zombie.
    fn invoke(&mut self, execution: &str, state: &str, function: &str, payload: Value) -> Invocation {
        let now = self.now();
        self.faults.set_actor(&format!("{execution} {state}"));
        let mut future = self.function(function, payload, now);
        match self.poll(&mut future) {
            Polled::Done(result) => Invocation { result, took: Duration::zero() },
            Polled::Stopped(gate) => {
                let timeout = if function.contains("Rollback") { 120 } else { 60 };
                let what = format!("{execution} {state}");
                let (error, took) = match self.random(3) {
                    0 => ("Runtime.ExitError", 1),
                    1 => ("Sandbox.Timedout", timeout),
                    _ => {
                        let resume_at = now + seconds(1 + self.random(timeout - 1));
                        self.faults.trace(|| format!("{what}: ZOMBIE until {}", resume_at.format("%H:%M:%S")));
                        self.zombies.push(Zombie { what, future, gate, resume_at, dies_at: now + seconds(timeout) });
                        ("Lambda.ServiceException", 1)
                    }
                };
                self.faults.trace(|| format!("{execution} {state}: process stopped; Step Functions sees {error}"));
                Invocation { result: Err(TaskFailure { error: error.into(), cause: "simulated".into() }), took: seconds(took) }
            }
        }
    }

    /// Polls a process until it finishes or stops at a gate (a rollback's backoff passes on the
    /// runtime's paused clock).
    fn poll(&self, future: &mut TaskFuture) -> Polled {
        self.faults.clear_hung();
        let stopped = Cell::new(None);
        let faults = &self.faults;
        let result = self.runtime.block_on(std::future::poll_fn(|cx| match future.as_mut().poll(cx) {
            Poll::Ready(result) => Poll::Ready(Some(result)),
            Poll::Pending => match faults.clear_hung() {
                Some(gate) => {
                    stopped.set(Some(gate));
                    Poll::Ready(None)
                }
                None => Poll::Pending,
            },
        }));
        match (result, stopped.get()) {
            (Some(result), _) => Polled::Done(result),
            (None, gate) => Polled::Stopped(gate.unwrap_or(0)),
        }
    }

    fn resume(&mut self, mut zombie: Zombie) {
        if self.now() >= zombie.dies_at {
            self.faults.trace(|| format!("{}: zombie killed by its timeout", zombie.what));
            return;
        }
        self.faults.trace(|| format!("{}: ZOMBIE resumes", zombie.what));
        self.faults.set_actor(&format!("zombie {}", zombie.what));
        self.faults.release(zombie.gate);
        self.faults.set_zombie(true);
        let polled = self.poll(&mut zombie.future);
        self.faults.set_zombie(false);
        match polled {
            Polled::Done(result) => self.faults.trace(|| format!("{}: zombie finished: {}", zombie.what, brief(&result))),
            Polled::Stopped(gate) => {
                if self.chance(0.5) {
                    zombie.gate = gate;
                    zombie.resume_at = self.now() + seconds(1 + self.random(30));
                    self.faults.trace(|| format!("{}: zombie stopped again", zombie.what));
                    self.zombies.push(zombie);
                } else {
                    self.faults.trace(|| format!("{}: zombie died", zombie.what));
                }
            }
        }
    }

    /// Runs a process that no state machine waits on (the sweeper, a person's command): if it
    /// stops at a gate, it died there or goes on later.
    fn detached(&mut self, what: String, mut future: TaskFuture, timeout_secs: u64) -> Option<Result<Value, TaskFailure>> {
        self.faults.set_actor(&what);
        match self.poll(&mut future) {
            Polled::Done(result) => Some(result),
            Polled::Stopped(gate) => {
                let now = self.now();
                if self.chance(0.5) {
                    let resume_at = now + seconds(1 + self.random(timeout_secs - 1));
                    self.faults.trace(|| format!("{what}: ZOMBIE until {}", resume_at.format("%H:%M:%S")));
                    self.zombies.push(Zombie { what, future, gate, resume_at, dies_at: now + seconds(timeout_secs) });
                } else {
                    self.faults.trace(|| format!("{what}: process died"));
                }
                None
            }
        }
    }

    fn sweep(&mut self) {
        let (store, router, notifier, faults) = (self.store.clone(), self.router.clone(), self.notifier.clone(), self.faults.clone());
        let workflow = self.workflow.clone();
        let future: TaskFuture = Box::pin(async move {
            // The schedule's input to the rollback function.
            let event = json!({ "sweep": true });
            let clock = move || faults.now();
            done(boundary::rollback_function(event, &*store, &*router, &*notifier, &*workflow, RestorePolicy::default(), clock).await)
                .result
        });
        if let Some(result) = self.detached("sweeper".into(), future, 120) {
            let acted = result.as_ref().ok().is_some_and(|r| {
                r["rolled_back"].as_array().is_some_and(|a| !a.is_empty())
                    || r["freed"].as_array().is_some_and(|a| !a.is_empty())
                    || r["failed"].as_array().is_some_and(|a| !a.is_empty())
            });
            if acted || result.is_err() {
                self.faults.trace(|| format!("sweeper: {}", brief(&result)));
            }
        }
    }

    /// A release now waits on a Go/No-Go: the approvers' answers, as the seed has them.
    fn ask_people(&mut self, release: usize) {
        let Some(on) = self.pending_approval(release) else { return };
        let planned = &self.releases[release];
        let timeout =
            planned.plan["approvals"][0]["timeout"].as_str().and_then(|t| t.trim_end_matches('m').parse::<u64>().ok()).unwrap_or(10) * 60;
        let quorum = planned.plan["approvals"][0]["quorum"].as_u64().unwrap_or(1);
        let now = self.now();
        let mut votes = Vec::new();
        match planned.approvers {
            Voting::Silence => {}
            Voting::Reject => votes.push((APPROVERS[0].to_string(), false)),
            Voting::Approve => votes.extend(APPROVERS.iter().take(usize::try_from(quorum).unwrap_or(1)).map(|a| (a.to_string(), true))),
            Voting::StrangerThenApprove => {
                votes.push((scenario::AUTHOR.to_string(), true));
                votes.push(("mallory".to_string(), true));
                votes.extend(APPROVERS.iter().skip(1).take(usize::try_from(quorum).unwrap_or(1)).map(|a| (a.to_string(), true)));
            }
        }
        for (voter, approved) in votes {
            // Mostly in time; sometimes just after the deadline.
            let at = now + seconds(self.random(timeout + timeout / 5 + 1));
            self.actions.push((at, Action::Vote { release, voter, approved, on: on.clone(), tries: 0 }));
        }
    }

    /// The approval the release's trail says is pending.
    fn pending_approval(&self, release: usize) -> Option<ApprovalRef> {
        let id = &self.releases[release].id;
        let events = now_or_never(self.memory_events(id))?;
        events.iter().rev().find_map(|e| match &e.kind {
            EventKind::ApprovalRequested { approval, step, .. } => Some(ApprovalRef { approval: approval.clone(), step: *step }),
            _ => None,
        })
    }

    fn memory_events(&self, id: &str) -> impl Future<Output = Vec<rollgate::release::ReleaseEvent>> + '_ {
        let id = id.to_string();
        async move {
            use rollgate::ports::ReleaseStore;
            self.memory.events(&id).await.unwrap_or_default()
        }
    }

    fn person(&mut self, action: Action) {
        let now = self.now();
        match action {
            Action::Vote { release, voter, approved, on, tries } => {
                let (store, workflow) = (self.store.clone(), self.workflow.clone());
                let vote = Vote {
                    release_id: self.releases[release].id.clone(),
                    identities: vec![voter.clone()],
                    approved,
                    comment: None,
                    on: Some(on.clone()),
                };
                let actor = voter.clone();
                let future: TaskFuture = Box::pin(async move {
                    match approval::resolve(&*store, &*store, &*workflow, &actor, &rollgate::ports::NoDirectory, &vote, now).await {
                        Ok(resolution) => Ok(json!(format!("{resolution:?}"))),
                        Err(e) => Err(TaskFailure {
                            error: if e.is_transient() { "Transient".into() } else { "Refused".into() },
                            cause: e.to_string(),
                        }),
                    }
                });
                let what = format!("{voter} votes on {} ({})", self.releases[release].id, if approved { "approve" } else { "reject" });
                let result = self.detached(what.clone(), future, 10);
                self.faults.trace(|| format!("{what}: {}", result.as_ref().map_or_else(|| "stopped".to_string(), brief)));
                // Slack retries a slow answer; a person clicks again after an error.
                let again = match &result {
                    None => true,
                    Some(Err(f)) => f.error == "Transient",
                    Some(Ok(_)) => false,
                };
                if again && tries < 3 {
                    let at = now + seconds(1 + self.random(120));
                    self.actions.push((at, Action::Vote { release, voter, approved, on, tries: tries + 1 }));
                }
            }
            Action::Control { release, control, minutes } => self.control(release, control, minutes),
            Action::Abort { release, tries } => {
                let id = self.releases[release].id.clone();
                // `rollgate abort`: stop the execution first, then roll back.
                for execution in self.executions.iter_mut().filter(|e| e.release == release && e.phase != Phase::Done) {
                    if let Phase::Waiting { token, .. } = &execution.phase {
                        self.workflow.forget(token);
                    }
                    execution.phase = Phase::Done;
                }
                self.submissions[release].0 = None;
                let (store, router, notifier, faults) =
                    (self.store.clone(), self.router.clone(), self.notifier.clone(), self.faults.clone());
                let reason = "aborted by ops: DST".to_string();
                let release_id = id.clone();
                let future: TaskFuture = Box::pin(async move {
                    match roll_back(
                        &*store,
                        &*router,
                        &*notifier,
                        &release_id,
                        &reason,
                        RollbackEnd::Aborted,
                        RestorePolicy::default(),
                        move || faults.now(),
                    )
                    .await
                    {
                        Ok(outcome) => Ok(json!(outcome.release.status.as_str())),
                        Err(e) => Err(TaskFailure { error: "AbortFailed".into(), cause: e.to_string() }),
                    }
                });
                let result = self.detached(format!("abort {id}"), future, 60);
                self.faults.trace(|| format!("operator aborts {id}: {}", result.as_ref().map_or_else(|| "stopped".to_string(), brief)));
                let unknown = result.as_ref().is_none_or(|r| r.as_ref().err().is_some_and(|f| !f.cause.contains("not found")));
                if unknown && tries < 3 && self.chance(0.7) {
                    let at = now + seconds(30 + self.random(600));
                    self.actions.push((at, Action::Abort { release, tries: tries + 1 }));
                }
            }
        }
    }

    /// An operator's `rollgate pause | resume | skip | promote`, through the same flow function as
    /// the CLI (with the store's faults); refused ones are what the CLI would print.
    fn control(&mut self, release: usize, control: rollgate::release::Control, minutes: u64) {
        let id = self.releases[release].id.clone();
        let (store, now) = (self.store.clone(), self.now());
        let release_id = id.clone();
        let future: TaskFuture = Box::pin(async move {
            let lasting = Some(rollgate::HumanDuration::from_secs(minutes * 60));
            match rollgate::flow::control::request(&*store, &rollgate::ports::NoPolicies, &release_id, control, "ops", "DST", lasting, now)
                .await
            {
                Ok(recorded) => Ok(json!(recorded.release.status.as_str())),
                Err(e) => Err(TaskFailure { error: "ControlRefused".into(), cause: e.to_string() }),
            }
        });
        let result = self.detached(format!("{} {id}", control.as_str()), future, 10);
        self.faults
            .trace(|| format!("operator {}s {id}: {}", control.as_str(), result.as_ref().map_or_else(|| "stopped".to_string(), brief)));
    }

    /// The end: no more faults; zombies finish within their timeout, the sweeper runs for three
    /// hours (longer than any lease plus the sweeper's settling time).
    fn settle(&mut self) -> Result<(), String> {
        self.faults.enable(false);
        self.faults.trace(|| "SETTLE: faults off; sweeper for 3h".to_string());
        let zombies = std::mem::take(&mut self.zombies);
        for zombie in zombies {
            self.faults.set_now(zombie.resume_at);
            self.resume(zombie);
            crate::invariant::after_step(self)?;
        }
        let end = self.now() + Duration::hours(3);
        while self.now() < end {
            let next = self.now() + SWEEP_EVERY;
            self.faults.set_now(next);
            self.sweep();
            crate::invariant::after_step(self)?;
        }
        Ok(())
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    pub fn memory(&self) -> &MemoryStore {
        &self.memory
    }

    pub fn router(&self) -> &FaultyRouter {
        &self.router
    }

    pub fn notifier(&self) -> &FaultyNotifier {
        &self.notifier
    }

    /// Release ids, with whether an execution of it still waits on a person's answer.
    pub fn release_ids(&self) -> Vec<(String, bool)> {
        self.releases
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), self.executions.iter().any(|e| e.release == i && matches!(e.phase, Phase::Waiting { .. }))))
            .collect()
    }

    /// Runs a future of the always-ready memory store to its end.
    pub fn read<T>(&self, future: impl Future<Output = T>) -> Option<T> {
        now_or_never(future)
    }
}

#[derive(Clone, Copy, Debug)]
enum Candidate {
    Submit(usize),
    Step(usize),
    Zombie(usize),
    Action(usize),
    Sweep,
}

enum Polled {
    Done(Result<Value, TaskFailure>),
    Stopped(u64),
}

/// The result of a future that is ready at its first poll (the memory store's).
pub fn now_or_never<T>(future: impl Future<Output = T>) -> Option<T> {
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

/// One line for the trace: a result's gist.
fn brief(result: &Result<Value, TaskFailure>) -> String {
    match result {
        Ok(value) => {
            let text = value.to_string();
            text.chars().take(160).collect()
        }
        Err(f) => {
            let cause: String = f.cause.chars().take(160).collect();
            format!("ERROR {} ({cause})", f.error)
        }
    }
}

/// Statuses a release may end in.
pub fn is_closed(status: ReleaseStatus) -> bool {
    status.is_final()
}
