//! The approvals section: Go/No-Go gates, who decides, and how long they wait.

use std::collections::HashSet;

use super::{Issues, check_at_most, is_identifier, limits};
use crate::domain::plan::{ApprovalGate, Plan};

pub(super) fn check_approvals(plan: &Plan, issues: &mut Issues) {
    let mut seen = HashSet::new();
    for (i, gate) in plan.approvals.iter().enumerate() {
        let path = format!("approvals[{i}]");
        check_approval(gate, &path, issues);
        if !seen.insert(gate.id.as_str()) {
            issues.add(format!("{path}.id"), format!("`{}` is used by an earlier approval", gate.id), "give each approval its own id");
        }
        if !plan.traffic.steps.iter().any(|s| s.approval.as_deref() == Some(gate.id.as_str())) {
            issues.add(
                format!("{path}.id"),
                format!("`{}` is not used by any step", gate.id),
                "reference it from a step (`approval: <id>`) or remove it",
            );
        }
    }
}

fn check_approval(gate: &ApprovalGate, path: &str, issues: &mut Issues) {
    if !is_identifier(&gate.id) {
        issues.add(format!("{path}.id"), format!("`{}` is not a valid id", gate.id), "use lowercase letters, digits, `-` and `_`");
    }
    if gate.approvers.is_empty() {
        issues.add(format!("{path}.approvers"), "is empty; nobody could approve", "list who decides, e.g. Slack user ids");
    }
    if gate.quorum == 0 {
        issues.add(format!("{path}.quorum"), "is 0, which would approve without anyone", "require at least 1 approval");
    } else if gate.quorum as usize > gate.approvers.len() && !gate.approvers.is_empty() {
        issues.add(
            format!("{path}.quorum"),
            format!("{} is more than the {} approvers listed", gate.quorum, gate.approvers.len()),
            "lower the quorum or add approvers",
        );
    }
    if gate.timeout.is_zero() {
        issues.add(format!("{path}.timeout"), "is 0s", "give approvers time, e.g. 2h; an expired approval is a rejection");
    }
    check_at_most(
        gate.timeout,
        limits::APPROVAL_TIMEOUT,
        &format!("{path}.timeout"),
        "an approval may wait",
        "give approvers at most 7d, e.g. 2h; an expired approval is a rejection",
        issues,
    );
    if let Some(hb) = gate.heartbeat
        && (hb.is_zero() || hb >= gate.timeout)
    {
        issues.add(
            format!("{path}.heartbeat"),
            format!("{hb} must be positive and shorter than the timeout {}", gate.timeout),
            "use e.g. a tenth of the timeout, or remove it",
        );
    }
}
