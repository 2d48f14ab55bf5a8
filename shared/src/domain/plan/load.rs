//! Reading plan files: YAML or JSON, with every structural problem located by path.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::validate::PlanIssue;
use super::{ApprovalGate, ChecklistItem, MetricGate, Notifications, Plan, RollbackPolicy, RouterSpec, Step};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanFormat {
    Yaml,
    Json,
}

impl PlanFormat {
    /// JSON for `.json` files, YAML otherwise (YAML is a superset of JSON anyway).
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => PlanFormat::Json,
            _ => PlanFormat::Yaml,
        }
    }
}

/// Reads and fully validates a plan file.
pub fn parse_plan_file(path: &Path) -> Result<Plan, Vec<PlanIssue>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![PlanIssue::new("", format!("cannot read {}: {e}", path.display()), "check the path and that the file is readable")]
    })?;
    parse_plan(&text, PlanFormat::from_path(path))
}

/// Parses a plan and validates all of it; every problem comes back at once.
pub fn parse_plan(text: &str, format: PlanFormat) -> Result<Plan, Vec<PlanIssue>> {
    let root: Value = match format {
        PlanFormat::Json => serde_json::from_str(text).map_err(|e| {
            vec![PlanIssue::new(
                format!("line {} column {}", e.line(), e.column()),
                format!("not valid JSON: {e}"),
                "fix the JSON syntax (a missing comma, quote or bracket)",
            )]
        })?,
        PlanFormat::Yaml => serde_yaml::from_str(text).map_err(|e| {
            let at = e.location().map(|l| format!("line {} column {}", l.line(), l.column())).unwrap_or_default();
            vec![PlanIssue::new(at, format!("not valid YAML: {e}"), "fix the YAML syntax (indentation, a stray `:` or quote)")]
        })?,
    };
    plan_from_value(root)
}

/// Deserializes and validates a plan given as a JSON value (a release request carries one).
pub fn plan_from_value(root: Value) -> Result<Plan, Vec<PlanIssue>> {
    match deserialize_at::<Plan>(&root, "") {
        Ok(plan) => {
            let issues = super::validate(&plan);
            if issues.is_empty() { Ok(plan) } else { Err(issues) }
        }
        Err(first) => Err(structural_issues(&root, first)),
    }
}

/// Serde stops at the first problem; to report all of them, each list element and section is
/// deserialized on its own, then what remains is tried once more without the broken parts.
fn structural_issues(root: &Value, first: PlanIssue) -> Vec<PlanIssue> {
    let mut issues = Vec::new();
    let mut pruned = root.clone();
    probe_list::<ChecklistItem>(&mut pruned, &["checklist", "items"], &mut issues);
    probe_list::<Step>(&mut pruned, &["traffic", "steps"], &mut issues);
    probe_list::<MetricGate>(&mut pruned, &["analysis", "metrics"], &mut issues);
    probe_list::<ApprovalGate>(&mut pruned, &["approvals"], &mut issues);
    probe_section::<RouterSpec>(&mut pruned, &["traffic", "router"], &mut issues);
    probe_section::<Notifications>(&mut pruned, &["notifications"], &mut issues);
    probe_section::<RollbackPolicy>(&mut pruned, &["rollback"], &mut issues);
    if let Err(rest) = deserialize_at::<Plan>(&pruned, "") {
        // A part removed above may leave its parent incomplete; do not report that twice.
        let already = issues.iter().any(|i| rest.path.starts_with(&i.path) || i.path.starts_with(&rest.path));
        if !already || issues.is_empty() {
            issues.push(rest);
        }
    }
    if issues.is_empty() {
        issues.push(first);
    }
    issues
}

fn probe_list<T: DeserializeOwned>(root: &mut Value, path: &[&str], issues: &mut Vec<PlanIssue>) {
    let Some(Value::Array(items)) = pointer_mut(root, path) else { return };
    let base = path.join(".");
    let mut keep = Vec::with_capacity(items.len());
    for (index, item) in items.drain(..).enumerate() {
        match deserialize_at::<T>(&item, &format!("{base}[{index}]")) {
            Ok(_) => keep.push(item),
            Err(issue) => issues.push(issue),
        }
    }
    *items = keep;
}

fn probe_section<T: DeserializeOwned>(root: &mut Value, path: &[&str], issues: &mut Vec<PlanIssue>) {
    let Some((last, parent_path)) = path.split_last() else { return };
    let Some(Value::Object(parent)) = pointer_mut(root, parent_path) else { return };
    let Some(section) = parent.get(*last) else { return };
    if let Err(issue) = deserialize_at::<T>(section, &path.join(".")) {
        issues.push(issue);
        // Optional sections fall back to their defaults; a required one stays and fails later.
        if !matches!(*last, "router") {
            parent.remove(*last);
        }
    }
}

fn pointer_mut<'v>(root: &'v mut Value, path: &[&str]) -> Option<&'v mut Value> {
    path.iter().try_fold(root, |node, key| node.get_mut(*key))
}

fn deserialize_at<T: DeserializeOwned>(value: &Value, base: &str) -> Result<T, PlanIssue> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let inner = err.path().to_string();
        let path = match (base.is_empty(), inner.as_str()) {
            (true, ".") => String::new(),
            (true, _) => inner.clone(),
            (false, ".") => base.to_string(),
            (false, _) if inner.starts_with('[') => format!("{base}{inner}"),
            (false, _) => format!("{base}.{inner}"),
        };
        let problem = err.into_inner().to_string();
        let fix = fix_for_serde_message(&problem);
        PlanIssue::new(path, problem, fix)
    })
}

/// Advice for serde's messages, which say what is wrong but not what to do.
fn fix_for_serde_message(problem: &str) -> String {
    if problem.starts_with("unknown field") {
        "remove the field or correct its spelling to one of the expected names".into()
    } else if problem.starts_with("missing field") {
        "add the field".into()
    } else if problem.starts_with("unknown variant") {
        "use one of the expected values".into()
    } else if problem.contains("is not a duration") {
        "write durations like 30s, 15m, 2h or 7d".into()
    } else if problem.starts_with("invalid type") || problem.starts_with("invalid value") {
        "give a value of the expected type".into()
    } else {
        "see the plan schema (rollgate schema) for the expected shape".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_broken_element_with_its_path() {
        let text = r#"
name: broken
traffic:
  router: { type: dry_run }
  steps:
    - { weight: 10, bake: 15m }
    - { weight: "lots", bake: 15m }
    - { weight: 50, bake: soon }
checklist:
  items:
    - { id: a, require: { kind: attestation, evidence: x, extra: 1 } }
"#;
        let issues = parse_plan(text, PlanFormat::Yaml).err().unwrap_or_default();
        let paths: Vec<_> = issues.iter().map(|i| i.path.as_str()).collect();
        assert!(paths.contains(&"traffic.steps[1].weight"), "{issues:?}");
        assert!(paths.contains(&"traffic.steps[2].bake"), "{issues:?}");
        assert!(paths.iter().any(|p| p.starts_with("checklist.items[0].require")), "{issues:?}");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let issues = parse_plan("name: [unclosed", PlanFormat::Yaml).err().unwrap_or_default();
        assert_eq!(issues.len(), 1);
        assert!(issues[0].path.starts_with("line "), "{issues:?}");
    }
}
