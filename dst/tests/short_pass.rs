//! The short pass CI runs (through `cargo test --workspace`, the README's test command): two
//! thousand seeds, every invariant checked. `DST_SEEDS` runs more (or fewer); `make dst` runs
//! a hundred thousand in release mode.

#[test]
fn two_thousand_seeds_keep_every_invariant() {
    let seeds = std::env::var("DST_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(2000);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let summary = rollgate_dst::run_many(0, seeds, threads);
    assert_eq!(summary.seeds, seeds);
    for name in rollgate_dst::invariant::ALL {
        assert!(summary.checks.get(name).is_some_and(|n| *n > 0), "invariant {name} was never checked: {:?}", summary.checks);
    }
    assert!(summary.faults > seeds, "too few faults injected: {}", summary.faults);
    let failures: Vec<String> = summary
        .failures
        .iter()
        .map(|(seed, violation)| format!("seed {seed}: {violation}\n  replay: {}", rollgate_dst::replay_command(*seed)))
        .collect();
    assert!(failures.is_empty(), "{} of {seeds} seeds failed:\n{}", failures.len(), failures.join("\n"));
}

/// A seed replays exactly: the same trace, step for step.
#[test]
fn a_seed_replays_exactly() {
    for seed in [1, 42, 4242] {
        let (first, second) = (rollgate_dst::run(seed, true), rollgate_dst::run(seed, true));
        assert!(!first.trace.is_empty());
        assert_eq!(first.trace, second.trace, "seed {seed}");
        assert_eq!((first.steps, first.faults, first.violation), (second.steps, second.faults, second.violation));
    }
}
