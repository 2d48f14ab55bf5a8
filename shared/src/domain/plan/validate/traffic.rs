//! The traffic section's steps: weights that rise, bakes, approvals they wait for.

use crate::domain::plan::{Plan, Step};

use super::{Issues, check_at_most, limits};

pub(super) fn check_steps(plan: &Plan, issues: &mut Issues) {
    let steps: &[Step] = &plan.traffic.steps;
    if steps.is_empty() {
        issues.add("traffic.steps", "is empty", "add at least one step, e.g. `- { weight: 10, bake: 15m }`");
    }
    let mut previous: Option<u32> = None;
    for (i, step) in steps.iter().enumerate() {
        let path = format!("traffic.steps[{i}]");
        if step.weight > 100 {
            issues.add(
                format!("{path}.weight"),
                format!("{} is above 100", step.weight),
                "give the percent of traffic for the new version, 0–100 (0 measures it with no traffic shifted)",
            );
        } else if let Some(prev) = previous {
            if step.weight < prev {
                issues.add(
                    format!("{path}.weight"),
                    format!("{} is below the previous step's {prev}", step.weight),
                    "weights must not decrease",
                );
            } else if step.weight == prev && step.weight < 100 {
                // Only full traffic is held over several steps (a longer watch after the cutover).
                issues.add(
                    format!("{path}.weight"),
                    format!("{} repeats the previous step's weight", step.weight),
                    "raise it or merge the two steps (only 100 may repeat: a watch after full traffic)",
                );
            }
        }
        if step.weight <= 100 {
            previous = Some(step.weight);
        }
        if i + 1 == steps.len() && step.weight == 0 {
            issues.add(
                format!("{path}.weight"),
                "the last step shifts no traffic, so the promotion would go from 0% to 100% at once",
                "add a step with traffic after it, e.g. `- { weight: 10, bake: 15m }`",
            );
        }
        if let Some(id) = &step.approval
            && !plan.approvals.iter().any(|a| &a.id == id)
        {
            let known: Vec<_> = plan.approvals.iter().map(|a| a.id.as_str()).collect();
            issues.add(
                format!("{path}.approval"),
                format!("`{id}` is not defined"),
                if known.is_empty() { "define it under `approvals`".to_string() } else { format!("use one of: {}", known.join(", ")) },
            );
        }
        check_at_most(
            step.bake,
            limits::BAKE,
            &format!("{path}.bake"),
            "a step may bake",
            "bake at most 30d; split a longer soak into several steps",
            issues,
        );
        if let Some(analysis) = plan.analysis_at(i)
            && !step.bake.is_zero()
            && step.bake < analysis.interval
        {
            let whose = if step.analysis.is_some() { "this step's analysis.interval" } else { "analysis.interval" };
            issues.add(
                format!("{path}.bake"),
                format!("{} is shorter than {whose} {}; no check would run", step.bake, analysis.interval),
                format!("bake at least {} or shorten the interval", analysis.interval),
            );
        }
    }
}
