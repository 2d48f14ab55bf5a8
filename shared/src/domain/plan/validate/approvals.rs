//! The approvals section: Go/No-Go gates, who decides, and how long they wait.

use std::collections::HashSet;

use super::{Issues, check_at_most, is_identifier, limits};
use crate::domain::checklist::parse_local_time;
use crate::domain::identity::{Principal, principal};
use crate::domain::plan::{ApprovalGate, Plan};

pub(super) fn check_approvals(plan: &Plan, issues: &mut Issues) {
    let mut seen = HashSet::new();
    for (i, gate) in plan.approvals.iter().enumerate() {
        let path = format!("approvals[{i}]");
        check_approval(plan, gate, &path, issues);
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

fn check_approval(plan: &Plan, gate: &ApprovalGate, path: &str, issues: &mut Issues) {
    if let Some(window) = &gate.decide_within {
        let wp = format!("{path}.decide_within");
        if !crate::domain::timezone::Zone::exists(&window.timezone) {
            issues.add(
                format!("{wp}.timezone"),
                format!("`{}` is not an IANA time zone", window.timezone),
                "use a name like `UTC`, `Europe/Berlin` or `America/New_York`",
            );
        }
        if window.allow.is_empty() {
            issues.add(
                format!("{wp}.allow"),
                "is empty, so no approval could ever be given",
                "add the hours, e.g. `- { days: [fri], from: \"14:00\", to: \"15:00\" }`",
            );
        }
        for (i, w) in window.allow.iter().enumerate() {
            let (from, to) = (parse_local_time(&w.from), parse_local_time(&w.to));
            if from.is_none() {
                issues.add(format!("{wp}.allow[{i}].from"), format!("`{}` is not a time", w.from), "write HH:MM, e.g. 14:00");
            }
            if to.is_none() {
                issues.add(format!("{wp}.allow[{i}].to"), format!("`{}` is not a time", w.to), "write HH:MM, e.g. 15:00");
            }
            if from.is_some() && from == to {
                issues.add(format!("{wp}.allow[{i}].to"), "equals `from`, an empty window", "make the window end after it starts");
            }
        }
    }
    if !is_identifier(&gate.id) {
        issues.add(format!("{path}.id"), format!("`{}` is not a valid id", gate.id), "use lowercase letters, digits, `-` and `_`");
    }
    if gate.approvers.is_empty() {
        issues.add(format!("{path}.approvers"), "is empty; nobody could approve", "list who decides, e.g. Slack user ids");
    }
    // A Slack user group may have any number of members: only named people are counted.
    let approvers = plan.approvers_of(gate);
    let has_group = approvers.iter().any(|a| principal(a) == Principal::SlackGroup);
    if gate.quorum == 0 {
        issues.add(format!("{path}.quorum"), "is 0, which would approve without anyone", "require at least 1 approval");
    } else if gate.quorum as usize > approvers.len() && !approvers.is_empty() && !has_group {
        issues.add(
            format!("{path}.quorum"),
            format!("{} is more than the {} approvers listed", gate.quorum, approvers.len()),
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

/// Roles: each named like an id, with members, none of them a role itself.
pub(super) fn check_roles(plan: &Plan, issues: &mut Issues) {
    for (name, members) in &plan.roles {
        let path = format!("roles.{name}");
        if !is_identifier(name) {
            issues.add(path.clone(), format!("`{name}` is not a valid role name"), "use lowercase letters, digits, `-` and `_`");
        }
        if members.is_empty() {
            issues.add(
                path.clone(),
                "has no members; nobody could approve as it",
                "list its members' Slack user ids, Slack user groups or IAM ARNs",
            );
        }
        for (i, member) in members.iter().enumerate() {
            if plan.roles.contains_key(member) {
                issues.add(
                    format!("{path}[{i}]"),
                    format!("`{member}` is a role; roles do not nest"),
                    "list that role's members here instead",
                );
            }
        }
    }
}

/// Approvers that no vote can match: a Slack vote counts under the clicker's user id (or a user
/// group they belong to), a CLI vote under the caller's IAM ARN; a name (which people change)
/// never matches.
pub(super) fn approver_warnings(plan: &Plan, issues: &mut Issues) {
    let written = plan.approvals.iter().enumerate().flat_map(|(i, gate)| {
        gate.approvers
            .iter()
            .enumerate()
            .filter(|(_, a)| !plan.roles.contains_key(*a))
            .map(move |(j, a)| (format!("approvals[{i}].approvers[{j}]"), a))
    });
    let members =
        plan.roles.iter().flat_map(|(name, members)| members.iter().enumerate().map(move |(i, m)| (format!("roles.{name}[{i}]"), m)));
    for (path, approver) in written.chain(members).filter(|(_, a)| !plan.roles.contains_key(*a)) {
        if principal(approver) == Principal::Other {
            issues.add(
                path,
                format!("`{approver}` is not a Slack user id, a Slack user group, an IAM ARN nor a role of `roles`; votes count under those only (names change and can be taken)"),
                "write the Slack member id (profile → ⋯ → Copy member ID, e.g. U024BE7LH), a user group id (S0604QSJC), the IAM user's or role's ARN, or define the role under `roles`",
            );
        }
    }
}
