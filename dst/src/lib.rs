//! Deterministic simulation testing of rollgate (issue #13): the deployed state machine and the
//! real task functions, in-process on a virtual clock, several releases at once, with seeded
//! faults (transient and persistent failures, lost answers, crashes at any await point, zombie
//! processes), operators and approvers acting at any moment, the clock jumping, and the
//! sweeper; every invariant checked after every step and at the end. A seed replays exactly.
//!
//! `make dst SEEDS=...` runs many seeds on every core; `cargo run --release -p rollgate-dst --
//! --seed N` replays one with its trace. See docs/dst.md.

pub mod adapters;
pub mod faults;
pub mod invariant;
pub mod rng;
pub mod scenario;
pub mod world;

pub use world::Outcome;

/// Runs one seed; `trace` keeps the readable trace (the interleaving and the faults).
pub fn run(seed: u64, trace: bool) -> Outcome {
    match world::World::new(seed, trace) {
        Ok(world) => world.run(seed),
        Err(problem) => Outcome {
            seed,
            releases: 0,
            steps: 0,
            faults: 0,
            checks: Default::default(),
            violation: Some(format!("the simulation could not start: {problem}")),
            trace: Vec::new(),
        },
    }
}

/// The command that replays `seed` with its trace.
pub fn replay_command(seed: u64) -> String {
    format!("cargo run --release -p rollgate-dst -- --seed {seed}")
}

/// Runs seeds `from..from + count` on `threads` threads; returns the failures (seed and
/// violation, in seed order), the releases simulated, and the invariant check counts.
pub fn run_many(from: u64, count: u64, threads: usize) -> Summary {
    let next = std::sync::atomic::AtomicU64::new(from);
    let end = from.saturating_add(count);
    let summaries: Vec<Summary> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut summary = Summary::default();
                    loop {
                        let seed = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if seed >= end {
                            break;
                        }
                        summary.add(run(seed, false));
                    }
                    summary
                })
            })
            .collect();
        workers.into_iter().filter_map(|w| w.join().ok()).collect()
    });
    let mut total = Summary::default();
    for s in summaries {
        total.merge(s);
    }
    total.failures.sort();
    total
}

#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub seeds: u64,
    pub releases: u64,
    pub steps: u64,
    pub faults: u64,
    pub checks: std::collections::BTreeMap<&'static str, u64>,
    pub failures: Vec<(u64, String)>,
}

impl Summary {
    pub fn add(&mut self, outcome: Outcome) {
        self.seeds += 1;
        self.releases += outcome.releases as u64;
        self.steps += outcome.steps;
        self.faults += outcome.faults;
        for (name, n) in outcome.checks {
            *self.checks.entry(name).or_insert(0) += n;
        }
        if let Some(violation) = outcome.violation {
            self.failures.push((outcome.seed, violation));
        }
    }

    fn merge(&mut self, other: Summary) {
        self.seeds += other.seeds;
        self.releases += other.releases;
        self.steps += other.steps;
        self.faults += other.faults;
        for (name, n) in other.checks {
            *self.checks.entry(name).or_insert(0) += n;
        }
        self.failures.extend(other.failures);
    }
}
