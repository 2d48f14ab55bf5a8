//! One function per subcommand; each returns the process exit code.

mod aws;
pub mod backtest;
pub mod chart;
pub mod check;
pub mod control;
pub mod cost;
pub mod output;
pub mod policy;
pub mod release;
pub mod report;
pub mod simulate;
mod validate;

use std::path::Path;
use std::process::ExitCode;

pub use check::check;
pub use validate::validate;

/// Errors of the CLI itself (files, arguments); each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot read {path}: {source}; check the path")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {problem}")]
    Parse { path: String, problem: String },
    #[error("{0}")]
    Usage(String),
}

pub fn read(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|source| CliError::Read { path: path.display().to_string(), source })
}

/// Pretty JSON on stdout (through [`output`]: a reader that goes away ends the process quietly).
pub fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => output::outln!("{text}"),
        Err(e) => output::errln!("error: cannot render JSON: {e}"),
    }
}

/// The plan at `path`, or (printed) its problems with their paths, and what was not done for them.
pub fn plan_or_problems(path: &Path, not_done: &str) -> Option<rollgate::domain::plan::Plan> {
    match rollgate::domain::plan::parse_plan_file(path) {
        Ok(plan) => Some(plan),
        Err(issues) => {
            output::errln!("error {}: the plan has {} problem(s); {not_done}:", path.display(), issues.len());
            for issue in &issues {
                output::errln!("  {issue}");
            }
            None
        }
    }
}

pub fn schema() -> Result<ExitCode, CliError> {
    print_json(&rollgate::domain::plan::Plan::json_schema());
    Ok(ExitCode::SUCCESS)
}
