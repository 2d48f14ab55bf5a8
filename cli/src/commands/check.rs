use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use rollgate::domain::checklist::{self, Evidence, Override, Verdict};
use rollgate::domain::plan::parse_plan_file;
use rollgate::domain::yaml;
use serde::Deserialize;

use super::{CliError, print_json};

/// The evidence part of a release request (a whole release request is accepted too).
#[derive(Debug, Default, Deserialize)]
pub struct EvidenceFile {
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub evidence: Evidence,
    #[serde(default)]
    pub overrides: Vec<Override>,
}

/// Reads an evidence file (at most 1 MiB, nested at most 64 levels, numbers finite).
pub fn read_evidence(path: &Path) -> Result<EvidenceFile, CliError> {
    let parse_error = |e: yaml::YamlError| CliError::Parse {
        path: path.display().to_string(),
        problem: format!("{e}\n  an evidence file holds {{author, evidence: {{...}}, overrides: [...]}}"),
    };
    let text = yaml::read_file(path).map_err(parse_error)?;
    yaml::from_str(&text).map_err(parse_error)
}

pub fn check(plan_path: &Path, evidence_path: &Path, at: Option<&str>, as_json: bool) -> Result<ExitCode, CliError> {
    let plan = match parse_plan_file(plan_path) {
        Ok(plan) => plan,
        Err(issues) => {
            eprintln!("error {}: the plan has {} problem(s); run `rollgate validate` for details:", plan_path.display(), issues.len());
            for issue in &issues {
                eprintln!("  {issue}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let file = read_evidence(evidence_path)?;
    let now = match at {
        None => Utc::now(),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| CliError::Usage(format!("--at `{text}` is not an RFC 3339 time like 2025-11-07T09:00:00Z")))?,
    };
    let verdict = checklist::evaluate(&plan.checklist, &file.evidence, &file.overrides, file.author.as_deref(), now);
    if as_json {
        print_json(&verdict);
    } else {
        println!("checklist of `{}` at {}:", plan.name, now.format("%Y-%m-%d %H:%M UTC"));
        for line in verdict.lines() {
            println!("  {line}");
        }
        for o in &verdict.overrides {
            let state = if o.accepted { "accepted".to_string() } else { format!("refused: {}", o.note.clone().unwrap_or_default()) };
            println!("  override of {} by {} (\"{}\"): {state}", o.request.item, o.request.approver, o.request.justification);
        }
        println!("verdict: {:?} — {}", verdict.verdict, verdict.summary);
    }
    Ok(if verdict.verdict == Verdict::Blocked { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
