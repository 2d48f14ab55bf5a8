use std::path::PathBuf;
use std::process::ExitCode;

use rollgate::domain::plan::{Plan, parse_plan_file, warnings};
use serde_json::json;

use super::{CliError, print_json};

pub fn validate(paths: &[PathBuf], as_json: bool) -> Result<ExitCode, CliError> {
    let mut failed = false;
    let mut reports = Vec::new();
    for path in paths {
        match parse_plan_file(path) {
            Ok(plan) => {
                let warnings = warnings(&plan);
                if as_json {
                    reports.push(json!({"file": path, "valid": true, "plan": plan.name, "summary": outline(&plan), "warnings": warnings}));
                } else {
                    println!("ok    {}: plan `{}` is valid — {}", path.display(), plan.name, outline(&plan));
                    for warning in &warnings {
                        println!("  warning {warning}");
                    }
                }
            }
            Err(issues) => {
                failed = true;
                if as_json {
                    reports.push(json!({"file": path, "valid": false, "issues": issues}));
                } else {
                    println!("error {}: {} problem(s)", path.display(), issues.len());
                    for issue in &issues {
                        println!("  {issue}");
                    }
                }
            }
        }
    }
    if as_json {
        print_json(&reports);
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// `4 steps (10% 15m → 25% 15m → …), 24 checklist items, 3 metric gates, 1 approval`.
pub fn outline(plan: &Plan) -> String {
    let steps: Vec<String> = plan
        .traffic
        .steps
        .iter()
        .map(|s| {
            let analysis = match s.analysis.as_ref().map(|a| a.template.as_deref()) {
                None => String::new(),
                Some(None) => " (own analysis)".into(),
                Some(Some(template)) => format!(" (analysis: {template})"),
            };
            let hooks = if s.hooks.is_empty() {
                String::new()
            } else {
                format!(" [hooks: {}]", s.hooks.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", "))
            };
            format!("{}{}% {}{analysis}{hooks}", if s.approval.is_some() { "[approval] " } else { "" }, s.weight, s.bake)
        })
        .collect();
    let metrics: std::collections::BTreeSet<String> = (0..plan.traffic.steps.len())
        .filter_map(|step| plan.analysis_at(step))
        .flat_map(|a| a.metrics.iter().map(|m| m.name.clone()).collect::<Vec<_>>())
        .collect();
    format!(
        "{} steps ({}) via {}, {} checklist items, {} metric gates, {} approvals",
        plan.traffic.steps.len(),
        steps.join(" → "),
        plan.traffic.router.kind(),
        plan.checklist.items.len(),
        metrics.len(),
        plan.approvals.len()
    )
}
