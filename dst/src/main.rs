//! `rollgate-dst`: run many seeds (`--seeds N [--from S] [--threads T]`) or replay one with its
//! trace (`--seed N`).

use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "usage: rollgate-dst [--seeds N] [--from S] [--threads T] | --seed N";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| -> Result<Option<u64>, String> {
        match args.iter().position(|a| a == name) {
            None => Ok(None),
            Some(i) => args
                .get(i + 1)
                .and_then(|v| v.replace('_', "").parse::<u64>().ok())
                .map(Some)
                .ok_or_else(|| format!("{name} needs a whole number; {USAGE}")),
        }
    };
    let parsed = (|| Ok::<_, String>((value("--seed")?, value("--seeds")?, value("--from")?, value("--threads")?)))();
    let (seed, seeds, from, threads) = match parsed {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if let Some(seed) = seed {
        return replay(seed);
    }
    let threads =
        threads.and_then(|t| usize::try_from(t).ok()).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let (from, count) = (from.unwrap_or(0), seeds.unwrap_or(100_000));
    println!("rollgate-dst: seeds {from}..{} on {threads} threads", from + count);
    let started = Instant::now();
    let summary = rollgate_dst::run_many(from, count, threads);
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    println!(
        "{} seeds in {secs:.1}s: {:.0} seeds/s, {:.0} simulated releases/s ({:.0} per hour), {} steps, {} faults injected",
        summary.seeds,
        summary.seeds as f64 / secs,
        summary.releases as f64 / secs,
        summary.releases as f64 / secs * 3600.0,
        summary.steps,
        summary.faults
    );
    println!("invariant checks:");
    for name in rollgate_dst::invariant::ALL {
        println!("  {name:<14} {}", summary.checks.get(name).copied().unwrap_or(0));
    }
    if summary.failures.is_empty() {
        println!("no violation");
        return ExitCode::SUCCESS;
    }
    println!("{} seeds FAILED:", summary.failures.len());
    for (seed, violation) in summary.failures.iter().take(20) {
        println!("  seed {seed}: {violation}\n    replay: {}", rollgate_dst::replay_command(*seed));
    }
    ExitCode::FAILURE
}

fn replay(seed: u64) -> ExitCode {
    let outcome = rollgate_dst::run(seed, true);
    for line in &outcome.trace {
        println!("{line}");
    }
    println!("seed {seed}: {} releases, {} steps, {} faults", outcome.releases, outcome.steps, outcome.faults);
    match outcome.violation {
        None => {
            println!("no violation");
            ExitCode::SUCCESS
        }
        Some(v) => {
            println!("VIOLATION: {v}\nreplay: {}", rollgate_dst::replay_command(seed));
            ExitCode::FAILURE
        }
    }
}
