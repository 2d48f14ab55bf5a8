//! `rollgate cost`: what one release under a plan costs on AWS, and where the money goes. The
//! release runs in the simulator (the deployed state machine and the functions' own code) and
//! what it asked of AWS is priced at the list prices shipped in `shared/pricing/`.

use std::path::Path;
use std::process::ExitCode;

use rollgate::domain::cost::{Assumptions, Bill, PriceTable, price};
use rollgate::domain::plan::parse_plan_file;
use rollgate::simulate::{SimOutcome, Simulation, healthy_scenario, simulate};
use serde_json::json;

use super::{CliError, print_json};

pub struct CostArgs<'a> {
    pub plan: &'a Path,
    pub evidence: Option<&'a Path>,
    pub scenario: Option<&'a Path>,
    pub per_month: Option<u32>,
    pub assumptions: Assumptions,
    pub json: bool,
}

pub fn run(args: CostArgs<'_>) -> Result<ExitCode, CliError> {
    let plan = match parse_plan_file(args.plan) {
        Ok(plan) => plan,
        Err(issues) => {
            eprintln!("error {}: the plan has {} problem(s); run `rollgate validate` for details", args.plan.display(), issues.len());
            return Ok(ExitCode::FAILURE);
        }
    };
    let (mut scenario, recorded) = match args.scenario {
        Some(path) => super::simulate::load_scenario(path)?,
        None => (healthy_scenario(&plan), None),
    };
    if let Some(path) = args.evidence {
        super::simulate::add_evidence(&mut scenario, path)?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().map_err(|e| CliError::Usage(e.to_string()))?;
    let simulation = runtime.block_on(simulate(&plan, &scenario, recorded)).map_err(|e| CliError::Usage(e.to_string()))?;
    let prices = PriceTable::us_east_1().map_err(|e| CliError::Usage(format!("the shipped price table does not parse: {e}")))?;
    let bill = price(&simulation.usage, args.assumptions, &prices);
    let monthly = args.per_month.map(|n| f64::from(n) * bill.total);
    if args.json {
        print_json(&json!({
            "plan": simulation.plan,
            "scenario": simulation.scenario,
            "outcome": simulation.outcome,
            "reason": simulation.reason,
            "duration_secs": simulation.duration_secs,
            "usage": simulation.usage,
            "bill": bill,
            "releases_per_month": args.per_month,
            "per_month": monthly,
        }));
    } else {
        print_bill(&simulation, &bill, args.evidence.is_some() || args.scenario.is_some());
        if let (Some(n), Some(monthly)) = (args.per_month, monthly) {
            println!("{n} releases a month: {}", dollars(monthly));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_bill(simulation: &Simulation, bill: &Bill, evidence_given: bool) {
    let checks = simulation.usage.lambda_invocations.get("MetricGate").copied().unwrap_or(0);
    let ran = format!("{}, {} checks", simulation.reason, checks);
    println!(
        "one release of `{}` costs {} at {} list prices of {} ({ran})",
        simulation.plan,
        dollars(bill.total),
        bill.region,
        bill.prices_as_of
    );
    if simulation.outcome == SimOutcome::Blocked && !evidence_given {
        println!("  the checklist blocked it without evidence: pass --evidence FILE to cost a release that runs");
    }
    for line in &bill.lines {
        let share = if bill.total > 0.0 { line.dollars / bill.total * 100.0 } else { 0.0 };
        println!("  {:>9}  {share:>3.0}%  {:<14} {}", dollars(line.dollars), line.service, line.usage);
    }
    println!(
        "assumed: each invocation bills {} ms at {} MB (arm64); free tiers are not deducted; CloudWatch Logs and data transfer are not counted",
        bill.assumptions.lambda_billed_ms, bill.assumptions.lambda_memory_mb
    );
}

/// Dollars to the cent above a dollar; a release's lines are fractions of a cent.
fn dollars(amount: f64) -> String {
    match amount {
        a if a >= 1.0 => format!("${a:.2}"),
        a if a >= 0.01 => format!("${a:.4}"),
        a => format!("${a:.5}"),
    }
}
