use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use rollgate::domain::plan::parse_plan_file;
use rollgate::domain::yaml;
use rollgate::simulate::{EntryKind, Scenario, SimOutcome, Simulation, simulate};

use super::{CliError, print_json, read};

pub struct SimulateArgs<'a> {
    pub plan: &'a Path,
    pub scenario: &'a Path,
    pub policy: Option<&'a Path>,
    pub chart: Option<&'a PathBuf>,
    pub expect: Option<&'a str>,
    /// 1-based, as the timeline counts steps.
    pub at_step: Option<u32>,
    pub reason: Option<&'a str>,
    pub json: bool,
}

pub fn run(args: SimulateArgs<'_>) -> Result<ExitCode, CliError> {
    let plan = match parse_plan_file(args.plan) {
        Ok(plan) => plan,
        Err(issues) => {
            eprintln!("error {}: the plan has {} problem(s); run `rollgate validate` for details", args.plan.display(), issues.len());
            return Ok(ExitCode::FAILURE);
        }
    };
    let (mut scenario, recorded) = load_scenario(args.scenario)?;
    if let Some(path) = args.policy {
        scenario.policy = Some(super::policy::read_policy(path)?);
    }
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().map_err(|e| CliError::Usage(e.to_string()))?;
    let simulation = runtime.block_on(simulate(&plan, &scenario, recorded)).map_err(|e| CliError::Usage(e.to_string()))?;
    let elapsed = started.elapsed();
    if args.json {
        print_json(&simulation);
    } else {
        print_timeline(&simulation, elapsed);
    }
    if let Some(path) = args.chart {
        std::fs::write(path, super::chart::svg(&super::chart::Chart::of_simulation(&simulation)))
            .map_err(|source| CliError::Read { path: path.display().to_string(), source })?;
        if !args.json {
            println!("chart written to {}", path.display());
        }
    }
    let outcome = match simulation.outcome {
        SimOutcome::Promoted => "promoted",
        SimOutcome::RolledBack => "rolled_back",
        SimOutcome::Blocked => "blocked",
    };
    let Some(expected) = args.expect else { return Ok(ExitCode::SUCCESS) };
    let step = simulation.final_step.and_then(|s| u32::try_from(s).ok()).and_then(|s| s.checked_add(1));
    let mut misses = Vec::new();
    if expected != outcome {
        misses.push(format!("to end {expected} (it ended {outcome})"));
    }
    if let Some(wanted) = args.at_step
        && step != Some(wanted)
    {
        misses.push(match step {
            Some(step) => format!("to end at step {wanted} (it ended at step {step})"),
            None => format!("to end at step {wanted} (it ended before the first step)"),
        });
    }
    if let Some(wanted) = args.reason
        && !simulation.reason.contains(wanted)
    {
        misses.push(format!("to end with a reason containing `{wanted}`"));
    }
    if misses.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("error: expected the simulation {}; its reason: {}", misses.join(" and "), simulation.reason);
    Ok(ExitCode::FAILURE)
}

/// A scenario file, with the evidence file it names read into it, and the recorded datapoints
/// it names (parsed), if any.
pub fn load_scenario(path: &Path) -> Result<(Scenario, Option<serde_json::Value>), CliError> {
    let parse_error = |e: yaml::YamlError| CliError::Parse { path: path.display().to_string(), problem: e.to_string() };
    let text = yaml::read_file(path).map_err(parse_error)?;
    let mut scenario: Scenario = yaml::from_str(&text).map_err(parse_error)?;
    let beside = |file: &str| path.parent().unwrap_or(Path::new(".")).join(file);
    if let Some(file) = scenario.evidence_file.clone() {
        add_evidence(&mut scenario, &beside(&file))?;
    }
    let recorded = match &scenario.recorded {
        None => None,
        Some(r) => {
            let path = beside(&r.file);
            let text = read(&path)?;
            Some(serde_json::from_str(&text).map_err(|e| CliError::Parse { path: path.display().to_string(), problem: e.to_string() })?)
        }
    };
    Ok((scenario, recorded))
}

/// Adds an evidence file (`{author, evidence, overrides}`, as `rollgate check` reads) to `scenario`.
pub fn add_evidence(scenario: &mut Scenario, path: &Path) -> Result<(), CliError> {
    let evidence = super::check::read_evidence(path)?;
    scenario.evidence.extend(evidence.evidence);
    scenario.overrides.extend(evidence.overrides);
    scenario.author = scenario.author.take().or(evidence.author);
    Ok(())
}

fn clock(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    if d > 0 { format!("d{d} {h:02}:{m:02}") } else { format!("{h:02}:{m:02}") }
}

fn print_timeline(sim: &Simulation, elapsed: std::time::Duration) {
    println!("simulating `{}`{}", sim.plan, sim.scenario.as_ref().map(|s| format!(" against `{s}`")).unwrap_or_default());
    for entry in &sim.timeline {
        let mark = match entry.kind {
            EntryKind::Checklist => "checklist",
            EntryKind::Approval => "approval",
            EntryKind::Weight => "traffic",
            EntryKind::Check => "check",
            EntryKind::Alarm => "ALARM",
            EntryKind::Hooks => "hooks",
            EntryKind::Control => "operator",
            EntryKind::Promoted => "PROMOTED",
            EntryKind::RolledBack => "ROLLBACK",
            EntryKind::Blocked => "BLOCKED",
        };
        println!("  +{:>9}  {:>3}%  {mark:<9} {}", clock(entry.offset_secs), entry.canary_weight, entry.text);
        for m in &entry.metrics {
            println!("  {:>10}  {:>4}  {:<9}   {:?}: {}", "", "", "", m.outcome, m.sentence);
        }
    }
    let outcome = match sim.outcome {
        SimOutcome::Promoted => "promoted",
        SimOutcome::RolledBack => "rolled back",
        SimOutcome::Blocked => "blocked",
    };
    println!(
        "outcome: {outcome}{} after {} of virtual time ({} checks, simulated in {:.1} ms)",
        sim.final_step.map(|s| format!(" at step {}", s + 1)).unwrap_or_default(),
        rollgate::HumanDuration::from_secs(sim.duration_secs),
        sim.timeline.iter().filter(|e| e.kind == EntryKind::Check).count(),
        elapsed.as_secs_f64() * 1000.0
    );
}
