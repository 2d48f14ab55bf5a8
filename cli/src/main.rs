//! `rollgate`: the command line for people.

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "rollgate", version, about = "Release gates for AWS: validate plans, check evidence, run releases")]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a plan file and report every problem with its path and a fix.
    Validate {
        /// Plan files (YAML or JSON).
        #[arg(required = true)]
        plans: Vec<PathBuf>,
    },
    /// Judge release evidence against a plan's checklist.
    Check {
        plan: PathBuf,
        /// Evidence file: `{author, evidence: {...}, overrides: [...]}` (YAML or JSON).
        #[arg(long, short)]
        evidence: PathBuf,
        /// Judge as of this time (RFC 3339) instead of now, e.g. to replay a past release.
        #[arg(long)]
        at: Option<String>,
    },
    /// Run a plan on a virtual clock against a metric scenario: a timeline of every check and decision.
    Simulate {
        plan: PathBuf,
        /// Scenario file (YAML or JSON): synthetic series, or datapoints recorded from CloudWatch.
        #[arg(long, short)]
        scenario: PathBuf,
        /// Write an SVG chart of the weight and the metrics, with thresholds.
        #[arg(long)]
        chart: Option<PathBuf>,
        /// Fail (exit 1) unless the simulation ends this way: promoted, rolled_back or blocked.
        #[arg(long, value_parser = ["promoted", "rolled_back", "blocked"])]
        expect: Option<String>,
    },
    /// Print the JSON Schema of plan files (for editors).
    Schema,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate { plans } => commands::validate(&plans, cli.json),
        Command::Check { plan, evidence, at } => commands::check(&plan, &evidence, at.as_deref(), cli.json),
        Command::Simulate { plan, scenario, chart, expect } => commands::simulate::run(commands::simulate::SimulateArgs {
            plan: &plan,
            scenario: &scenario,
            chart: chart.as_ref(),
            expect: expect.as_deref(),
            json: cli.json,
        }),
        Command::Schema => commands::schema(),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
    }
}
