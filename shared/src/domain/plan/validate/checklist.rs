//! The checklist section: ids, evidence keys, and each requirement's own rules.

use std::collections::HashSet;

use super::{Issues, check_at_most, check_bounds, is_identifier, limits};
use crate::domain::checklist::{parse_freeze_time, parse_local_time, parse_severity};
use crate::domain::duration::HumanDuration;
use crate::domain::plan::{Bounds, Checklist, Requirement};

pub(super) fn check_checklist(checklist: &Checklist, issues: &mut Issues) {
    let mut seen = HashSet::new();
    for (i, item) in checklist.items.iter().enumerate() {
        let path = format!("checklist.items[{i}]");
        if !is_identifier(&item.id) {
            issues.add(
                format!("{path}.id"),
                format!("`{}` is not a valid id", item.id),
                "use lowercase letters, digits, `-` and `_`, e.g. `security-review`",
            );
        } else if !seen.insert(item.id.as_str()) {
            issues.add(format!("{path}.id"), format!("`{}` is used by an earlier item", item.id), "give each item its own id");
        }
        check_requirement(&item.require, &format!("{path}.require"), issues);
    }
    for (i, approver) in checklist.overrides.approvers.iter().enumerate() {
        if approver.trim().is_empty() {
            issues.add(format!("checklist.overrides.approvers[{i}]"), "is empty", "name the person or group allowed to approve overrides");
        }
    }
}

fn check_evidence_key(key: &str, path: &str, issues: &mut Issues) {
    if key.trim().is_empty() {
        issues.add(format!("{path}.evidence"), "is empty", "name the evidence field this item reads, e.g. `coverage_pct`");
    }
}

fn check_requirement(req: &Requirement, path: &str, issues: &mut Issues) {
    match req {
        Requirement::Attestation { evidence } => check_evidence_key(evidence, path, issues),
        Requirement::Number { evidence, at_least, at_most, above, below, .. } => {
            check_evidence_key(evidence, path, issues);
            let bounds = Bounds { at_least: *at_least, at_most: *at_most, above: *above, below: *below };
            check_bounds(&bounds, path, issues);
        }
        Requirement::Freshness { evidence, max_age, min_age } => {
            check_evidence_key(evidence, path, issues);
            match (max_age, min_age) {
                (None, None) => issues.add(
                    path,
                    "freshness needs `max_age` or `min_age`",
                    "add `max_age: 24h` (no older than) or `min_age: 48h` (at least this old)",
                ),
                (Some(max), Some(min)) if min >= max => issues.add(
                    format!("{path}.min_age"),
                    format!("{min} is not below max_age {max}; no time could satisfy both"),
                    "make min_age shorter than max_age",
                ),
                _ => {}
            }
            for (field, d) in [("max_age", max_age), ("min_age", min_age)] {
                if d.is_some_and(HumanDuration::is_zero) {
                    issues.add(format!("{path}.{field}"), "is 0s", "give a positive duration like 24h");
                }
                if let Some(d) = *d {
                    check_age(d, &format!("{path}.{field}"), issues);
                }
            }
        }
        Requirement::Count { evidence, at_least, exclude, .. } => {
            check_evidence_key(evidence, path, issues);
            if *at_least == 0 {
                issues.add(format!("{path}.at_least"), "is 0, which every list satisfies", "require at least 1");
            }
            if exclude.as_deref().is_some_and(|e| e.trim().is_empty()) {
                issues.add(format!("{path}.exclude"), "is empty", "name the evidence field to exclude (e.g. `author`) or remove it");
            }
        }
        Requirement::Date { evidence, min_remaining } => {
            check_evidence_key(evidence, path, issues);
            if min_remaining.is_zero() {
                issues.add(format!("{path}.min_remaining"), "is 0s", "give the margin needed, e.g. 30d");
            }
            check_age(*min_remaining, &format!("{path}.min_remaining"), issues);
        }
        Requirement::Window { timezone, allow, freeze } => {
            if !crate::domain::timezone::Zone::exists(timezone) {
                issues.add(
                    format!("{path}.timezone"),
                    format!("`{timezone}` is not an IANA time zone"),
                    "use a name like `UTC`, `Europe/Berlin` or `America/New_York`",
                );
            }
            if allow.is_empty() && freeze.is_empty() {
                issues.add(path, "a window needs `allow` or `freeze`", "add allowed hours or freeze periods");
            }
            for (i, w) in allow.iter().enumerate() {
                let wp = format!("{path}.allow[{i}]");
                let from = parse_local_time(&w.from);
                let to = parse_local_time(&w.to);
                if from.is_none() {
                    issues.add(format!("{wp}.from"), format!("`{}` is not a time", w.from), "write HH:MM, e.g. 09:00");
                }
                if to.is_none() {
                    issues.add(format!("{wp}.to"), format!("`{}` is not a time", w.to), "write HH:MM, e.g. 17:00");
                }
                if let (Some(f), Some(t)) = (from, to)
                    && f == t
                {
                    issues.add(format!("{wp}.to"), "equals `from`, an empty window", "make the window end after it starts");
                }
            }
            for (i, fz) in freeze.iter().enumerate() {
                let fp = format!("{path}.freeze[{i}]");
                let from = parse_freeze_time(&fz.from);
                let to = parse_freeze_time(&fz.to);
                if from.is_none() {
                    issues.add(format!("{fp}.from"), format!("`{}` is not a date-time", fz.from), "write YYYY-MM-DDTHH:MM");
                }
                if to.is_none() {
                    issues.add(format!("{fp}.to"), format!("`{}` is not a date-time", fz.to), "write YYYY-MM-DDTHH:MM");
                }
                if let (Some(f), Some(t)) = (from, to)
                    && t <= f
                {
                    issues.add(format!("{fp}.to"), format!("{} is not after {}", fz.to, fz.from), "end the freeze after it starts");
                }
            }
        }
        Requirement::Incidents { evidence, severity_at_or_above, within } => {
            check_evidence_key(evidence, path, issues);
            if parse_severity(severity_at_or_above).is_none() {
                issues.add(
                    format!("{path}.severity_at_or_above"),
                    format!("`{severity_at_or_above}` is not a severity"),
                    "write P0–P5 or SEV0–SEV5 (P0 is the most severe)",
                );
            }
            if within.is_zero() {
                issues.add(format!("{path}.within"), "is 0s", "give the period to look back, e.g. 48h");
            }
            check_age(*within, &format!("{path}.within"), issues);
        }
    }
}

/// Ages, margins and look-backs of checklist items are at most ten years.
fn check_age(d: HumanDuration, path: &str, issues: &mut Issues) {
    check_at_most(
        d,
        limits::CHECKLIST_AGE,
        path,
        "a checklist item may look back or ahead (ten years)",
        "give a duration such as 24h, 30d or 365d",
        issues,
    );
}
