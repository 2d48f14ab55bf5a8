use std::fmt::Write as _;
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
        std::fs::write(path, chart(&simulation)).map_err(|source| CliError::Read { path: path.display().to_string(), source })?;
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

/// An SVG chart: the canary weight over time, and each metric's canary (and baseline) values with
/// the plan's thresholds drawn.
pub fn chart(sim: &Simulation) -> String {
    let metrics: Vec<String> = {
        // Lines with a value only (a hook's line has none and is not charted).
        let mut names: Vec<String> = sim
            .timeline
            .iter()
            .flat_map(|e| e.metrics.iter().filter(|m| m.canary.is_some() || m.baseline.is_some()).map(|m| m.metric.clone()))
            .collect();
        names.dedup();
        let mut unique = Vec::new();
        for n in names {
            if !unique.contains(&n) {
                unique.push(n);
            }
        }
        unique
    };
    let (width, panel, left, top) = (900.0, 120.0, 70.0, 40.0);
    let height = top + panel * (1 + metrics.len()) as f64 + 30.0 * (1 + metrics.len()) as f64 + 20.0;
    let span = sim.duration_secs.max(1) as f64;
    let x = |secs: u64| left + (width - left - 20.0) * secs as f64 / span;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/><text x="{left}" y="20" font-size="14" font-weight="bold">{} — {}</text>"#,
        escape(&sim.plan),
        escape(sim.scenario.as_deref().unwrap_or("scenario"))
    );
    let mut panel_top = top;
    let mut draw_panel = |svg: &mut String,
                          title: &str,
                          lines: Vec<(String, Vec<(u64, f64)>)>,
                          thresholds: Vec<(String, f64)>,
                          fixed: Option<(f64, f64)>| {
        let values: Vec<f64> =
            lines.iter().flat_map(|(_, p)| p.iter().map(|(_, v)| *v)).chain(thresholds.iter().map(|(_, v)| *v)).collect();
        let (mut lo, mut hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        if hi - lo < 1e-9 {
            hi = lo + 1.0;
        }
        let pad = (hi - lo) * 0.1;
        let (lo, hi) = fixed.unwrap_or((lo - pad, hi + pad));
        let y = |v: f64| panel_top + panel * (1.0 - (v - lo) / (hi - lo));
        let _ = write!(
            svg,
            r##"<text x="{left}" y="{}" font-weight="bold">{}</text><rect x="{left}" y="{panel_top}" width="{}" height="{panel}" fill="none" stroke="#ccc"/>"##,
            panel_top - 6.0,
            escape(title),
            width - left - 20.0
        );
        let _ = write!(
            svg,
            r##"<text x="4" y="{}">{}</text><text x="4" y="{}">{}</text>"##,
            panel_top + 10.0,
            axis(hi),
            panel_top + panel,
            axis(lo)
        );
        for (label, value) in &thresholds {
            let color = if label == "rollback" { "#d62728" } else { "#ff7f0e" };
            let _ = write!(
                svg,
                r#"<line x1="{left}" x2="{}" y1="{yv}" y2="{yv}" stroke="{color}" stroke-dasharray="4 3"/><text x="{}" y="{}" fill="{color}">{label} {}</text>"#,
                width - 20.0,
                width - 120.0,
                y(*value) - 3.0,
                rollgate::domain::bounds::format_number(*value),
                yv = y(*value)
            );
        }
        for (i, (name, points)) in lines.iter().enumerate() {
            let color = ["#1f77b4", "#7f7f7f"][i % 2];
            let path: Vec<String> = points.iter().map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v))).collect();
            let _ = write!(
                svg,
                r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"/><text x="{}" y="{}" fill="{color}">{name}</text>"#,
                path.join(" "),
                left + 6.0 + 70.0 * i as f64,
                panel_top + panel + 14.0
            );
        }
        panel_top += panel + 30.0;
    };
    let weights: Vec<(u64, f64)> = sim.timeline.iter().map(|e| (e.offset_secs, f64::from(e.canary_weight))).collect();
    draw_panel(&mut svg, "canary weight (%)", vec![("weight".into(), weights)], vec![], Some((0.0, 100.0)));
    for metric in &metrics {
        let series = |pick: fn(&rollgate::simulate::MetricPoint) -> Option<f64>| -> Vec<(u64, f64)> {
            sim.timeline
                .iter()
                .flat_map(|e| e.metrics.iter().filter(|m| &m.metric == metric).filter_map(move |m| pick(m).map(|v| (e.offset_secs, v))))
                .collect()
        };
        let mut lines = vec![("canary".to_string(), series(|m| m.canary))];
        let baseline = series(|m| m.baseline);
        if !baseline.is_empty() {
            lines.push(("baseline".to_string(), baseline));
        }
        let thresholds = sim.thresholds.iter().filter(|(m, _, _)| m == metric).map(|(_, l, v)| (l.clone(), *v)).collect();
        draw_panel(&mut svg, metric, lines, thresholds, None);
    }
    if let Some(end) = sim.timeline.last().filter(|e| e.kind == EntryKind::RolledBack) {
        let _ = write!(
            svg,
            r##"<line x1="{x0}" x2="{x0}" y1="{top}" y2="{}" stroke="#d62728" stroke-width="2"/><text x="{}" y="{}" fill="#d62728">rollback</text>"##,
            height - 20.0,
            x(end.offset_secs) - 50.0,
            top - 8.0,
            x0 = x(end.offset_secs)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn axis(value: f64) -> String {
    if value.abs() >= 100.0 { format!("{value:.0}") } else { rollgate::domain::bounds::format_number((value * 100.0).round() / 100.0) }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
