//! Reading plan files: YAML or JSON, with every structural problem located by path and worded
//! without Rust type names.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::validate::PlanIssue;
use super::{ApprovalGate, Checklist, ChecklistItem, MetricGate, Notifications, Plan, RollbackPolicy, RouterSpec, Step};
use crate::domain::yaml::{self, YamlError, words};

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

/// Reads and fully validates a plan file (at most 1 MiB, read no further).
pub fn parse_plan_file(path: &Path) -> Result<Plan, Vec<PlanIssue>> {
    let text = yaml::read_file(path).map_err(|e| issues_from_yaml(&e))?;
    parse_plan(&text, PlanFormat::from_path(path))
}

/// Parses a plan and validates all of it; every problem comes back at once.
pub fn parse_plan(text: &str, format: PlanFormat) -> Result<Plan, Vec<PlanIssue>> {
    let root: Value = match format {
        PlanFormat::Json => {
            // Size and depth capped as for YAML; serde_json refuses NaN and infinity itself.
            if text.len() > yaml::MAX_BYTES {
                return yaml::to_value(text).map_err(|e| issues_from_yaml(&e)).and_then(plan_from_value);
            }
            serde_json::from_str(text).map_err(|e| {
                vec![PlanIssue::new(
                    format!("line {} column {}", e.line(), e.column()),
                    format!("not valid JSON: {e}"),
                    "fix the JSON syntax (a missing comma, quote or bracket)",
                )]
            })?
        }
        PlanFormat::Yaml => yaml::to_value(text).map_err(|e| issues_from_yaml(&e))?,
    };
    plan_from_value(root)
}

/// The YAML reader's problems as plan issues: located by path where known, else by line.
fn issues_from_yaml(err: &YamlError) -> Vec<PlanIssue> {
    err.problems
        .iter()
        .map(|p| {
            let path = if p.path.is_empty() { p.line_column().unwrap_or_default() } else { p.path.clone() };
            PlanIssue::new(path, p.problem.clone(), p.fix.clone())
        })
        .collect()
}

/// Deserializes and validates a plan given as a JSON value (a release request carries one).
pub fn plan_from_value(root: Value) -> Result<Plan, Vec<PlanIssue>> {
    match deserialize_at::<Plan>(&root, &[]) {
        Ok(plan) => {
            let issues = super::validate(&plan);
            if issues.is_empty() { Ok(plan) } else { Err(issues) }
        }
        Err(first) => Err(structural_issues(&root, first.into_issue(&root, &[]))),
    }
}

// ---------------------------------------------------------------------------------------------
// Every structural problem at once

/// One step of a path into the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn render(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn keys(path: &[&str]) -> Vec<Seg> {
    path.iter().map(|k| Seg::Key((*k).to_string())).collect()
}

/// Serde stops at the first problem. To report all of them, each list element and section is
/// deserialized on its own, each problem found is cut out and the rest tried again, and what
/// remains of the plan is tried once more without the broken parts.
fn structural_issues(root: &Value, first: PlanIssue) -> Vec<PlanIssue> {
    let mut issues = Vec::new();
    let mut pruned = root.clone();
    probe_list::<ChecklistItem>(&mut pruned, &["checklist", "items"], &mut issues);
    probe_list::<Step>(&mut pruned, &["traffic", "steps"], &mut issues);
    probe_list::<MetricGate>(&mut pruned, &["analysis", "metrics"], &mut issues);
    probe_list::<ApprovalGate>(&mut pruned, &["approvals"], &mut issues);
    probe_section::<RouterSpec>(&mut pruned, &["traffic", "router"], true, &mut issues);
    probe_section::<Checklist>(&mut pruned, &["checklist"], false, &mut issues);
    probe_section::<Notifications>(&mut pruned, &["notifications"], false, &mut issues);
    probe_section::<RollbackPolicy>(&mut pruned, &["rollback"], false, &mut issues);
    probe_section::<super::Analysis>(&mut pruned, &["analysis"], false, &mut issues);
    probe_section::<BTreeMap<String, super::StepAnalysis>>(&mut pruned, &["analysis_templates"], false, &mut issues);
    if issues.len() >= MAX_STRUCTURAL_ISSUES {
        issues.truncate(MAX_STRUCTURAL_ISSUES);
        issues.sort_by_cached_key(|i| section_rank(&i.path));
        issues.push(PlanIssue::new(
            "",
            format!("more problems may follow (stopped after the first {MAX_STRUCTURAL_ISSUES})"),
            "fix these and validate again",
        ));
        return issues;
    }
    let reported: Vec<String> = issues.iter().map(|i| i.path.clone()).collect();
    for issue in all_issues::<Plan>(&mut pruned, &[]) {
        // A part removed above leaves its parent incomplete; do not report that twice.
        let related = reported.iter().any(|p| related_paths(p, &issue.path));
        if !related {
            issues.push(issue);
        }
    }
    if issues.is_empty() {
        issues.push(first);
    }
    // In the order of the plan's sections, as `validate` reports.
    issues.sort_by_cached_key(|i| section_rank(&i.path));
    issues
}

fn section_rank(path: &str) -> usize {
    const ORDER: [&str; 12] = [
        "name",
        "description",
        "owner",
        "checklist",
        "traffic.router",
        "traffic",
        "analysis",
        "analysis_templates",
        "approvals",
        "notifications",
        "rollback",
        "",
    ];
    ORDER.iter().position(|s| related_paths(s, path) && !s.is_empty()).unwrap_or(ORDER.len())
}

/// Two paths end in keys of the same mapping.
fn sibling(a: &str, b: &str) -> bool {
    let parent = |p: &str| p.rsplit_once('.').map_or(String::new(), |(parent, _)| parent.to_string());
    parent(a) == parent(b)
}

/// One path is the other or lies inside it.
fn related_paths(a: &str, b: &str) -> bool {
    let inside = |outer: &str, inner: &str| {
        outer.is_empty() || inner.strip_prefix(outer).is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
    };
    inside(a, b) || inside(b, a)
}

/// Serde-level problems reported at most; past that, the file is not a plan yet.
const MAX_STRUCTURAL_ISSUES: usize = 100;

fn probe_list<T: DeserializeOwned>(root: &mut Value, path: &[&str], issues: &mut Vec<PlanIssue>) {
    let base = keys(path);
    let Some(Value::Array(items)) = pointer_mut(root, &base) else { return };
    let mut keep = Vec::with_capacity(items.len());
    for (index, mut item) in items.drain(..).enumerate() {
        if issues.len() >= MAX_STRUCTURAL_ISSUES {
            break;
        }
        let mut at = base.clone();
        at.push(Seg::Index(index));
        let found = all_issues::<T>(&mut item, &at);
        if found.is_empty() {
            keep.push(item);
        } else {
            issues.extend(found);
        }
    }
    *items = keep;
}

fn probe_section<T: DeserializeOwned>(root: &mut Value, path: &[&str], required: bool, issues: &mut Vec<PlanIssue>) {
    let base = keys(path);
    if issues.len() >= MAX_STRUCTURAL_ISSUES {
        return;
    }
    let Some(section) = pointer_mut(root, &base) else { return };
    let mut copy = section.clone();
    let found = all_issues::<T>(&mut copy, &base);
    if found.is_empty() {
        return;
    }
    issues.extend(found);
    // Optional sections fall back to their defaults; a required one stays and fails later
    // (where its problem is not reported twice).
    if !required
        && let Some((Seg::Key(last), parent)) = base.split_last()
        && let Some(Value::Object(parent)) = pointer_mut(root, parent)
    {
        parent.remove(last);
    }
}

/// Every problem serde finds in `value` as a `T`: report one, cut it out, try again.
fn all_issues<T: DeserializeOwned>(value: &mut Value, base: &[Seg]) -> Vec<PlanIssue> {
    let mut issues: Vec<PlanIssue> = Vec::new();
    // Array elements cut out so far, to give later problems their original index.
    let mut removed: Vec<(Vec<Seg>, usize)> = Vec::new();
    let original = value.clone();
    for _ in 0..64 {
        let Err(failure) = deserialize_at::<T>(value, &[]) else { break };
        let original_path = restore_indices(&failure.path, &removed);
        let mut full = base.to_vec();
        full.extend(original_path.iter().cloned());
        let issue = failure.clone().with_path(full).into_issue(&original, base);
        // Cutting a part out can leave its parent incomplete; that is the same problem. So is a
        // missing field that a misspelled one was taken for (`wieght`: did you mean `weight`?).
        let misspelled =
            failure.message.strip_prefix("missing field `").and_then(|r| r.split('`').next()).is_some_and(|name| {
                issues.iter().any(|i| i.fix.contains(&format!("did you mean `{name}`?")) && sibling(&i.path, &issue.path))
            });
        if !misspelled && !issues.iter().any(|i| related_paths(&i.path, &issue.path)) {
            issues.push(issue);
        }
        if !prune(value, &failure, &mut removed) {
            break;
        }
    }
    issues
}

/// Maps a path in the pruned value back to the value as written.
fn restore_indices(path: &[Seg], removed: &[(Vec<Seg>, usize)]) -> Vec<Seg> {
    let mut path = path.to_vec();
    for (array, index) in removed.iter().rev() {
        if path.len() > array.len()
            && path.starts_with(array)
            && let Seg::Index(i) = &mut path[array.len()]
            && *i >= *index
        {
            *i += 1;
        }
    }
    path
}

/// Cuts the part that failed out of `value`; false if nothing could be cut.
fn prune(value: &mut Value, failure: &Failure, removed: &mut Vec<(Vec<Seg>, usize)>) -> bool {
    let path = &failure.path;
    if let Some(field) = &failure.unknown_field {
        // Usually the path ends at the unknown key; inside a tagged enum it ends at the enum.
        if let Some(Value::Object(object)) = pointer_mut(value, path)
            && object.remove(field).is_some()
        {
            return true;
        }
    }
    let Some((last, parent)) = path.split_last() else { return false };
    match (pointer_mut(value, parent), last) {
        (Some(Value::Object(object)), Seg::Key(key)) => object.remove(key).is_some(),
        (Some(Value::Array(items)), Seg::Index(i)) if *i < items.len() => {
            items.remove(*i);
            removed.push((parent.to_vec(), *i));
            true
        }
        _ => false,
    }
}

fn pointer_mut<'v>(root: &'v mut Value, path: &[Seg]) -> Option<&'v mut Value> {
    path.iter().try_fold(root, |node, seg| match seg {
        Seg::Key(k) => node.get_mut(k.as_str()),
        Seg::Index(i) => node.get_mut(*i),
    })
}

fn pointer<'v>(root: &'v Value, path: &[Seg]) -> Option<&'v Value> {
    path.iter().try_fold(root, |node, seg| match seg {
        Seg::Key(k) => node.get(k.as_str()),
        Seg::Index(i) => node.get(*i),
    })
}

/// Where serde stopped and what it said.
#[derive(Clone, Debug)]
struct Failure {
    path: Vec<Seg>,
    message: String,
    /// The field named by an "unknown field" message.
    unknown_field: Option<String>,
}

impl Failure {
    fn with_path(mut self, path: Vec<Seg>) -> Self {
        self.path = path;
        self
    }

    /// The failure as a plan issue in plain words. `root` is the value the path starts in
    /// after `base` (for the `kind` or `type` of a tagged section).
    fn into_issue(self, root: &Value, base: &[Seg]) -> PlanIssue {
        let rel = self.path.get(base.len()..).unwrap_or_default();
        let (path, problem, fix) = plain_words(&self.path, &self.message, pointer(root, rel), root, rel);
        PlanIssue::new(path, problem, fix)
    }
}

fn deserialize_at<T: DeserializeOwned>(value: &Value, base: &[Seg]) -> Result<T, Failure> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let mut path = base.to_vec();
        for seg in err.path().iter() {
            match seg {
                serde_path_to_error::Segment::Seq { index } => path.push(Seg::Index(*index)),
                serde_path_to_error::Segment::Map { key } => path.push(Seg::Key(key.clone())),
                serde_path_to_error::Segment::Enum { variant } => path.push(Seg::Key(variant.clone())),
                serde_path_to_error::Segment::Unknown => {}
            }
        }
        let message = err.into_inner().to_string();
        let unknown_field = message.strip_prefix("unknown field `").and_then(|r| r.split('`').next()).map(str::to_string);
        Failure { path, message, unknown_field }
    })
}

/// The names in backticks of a serde message (`expected one of `a`, `b``).
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// An example for a missing field, where one helps.
fn example_for(field: &str) -> Option<&'static str> {
    Some(match field {
        "name" => "name: checkout-api-production",
        "traffic" => "traffic: { router: { type: dry_run }, steps: [{ weight: 10, bake: 15m }] }",
        "router" => "router: { type: lambda_alias, function_name: checkout-api, alias: live }",
        "steps" => "steps: [{ weight: 10, bake: 15m }, { weight: 100, bake: 30m }]",
        "weight" => "weight: 10",
        "bake" => "bake: 15m",
        "interval" => "interval: 5m",
        "metrics" => "metrics: [{ name: error_rate, query: {...}, must: { below: 1 } }]",
        "query" => "query: { metric: { namespace: AWS/Lambda, name: Errors, stat: Sum } }",
        "namespace" => "namespace: AWS/Lambda",
        "stat" => "stat: Average",
        "id" => "id: security-review",
        "require" => "require: { kind: attestation, evidence: security_review_done }",
        "evidence" => "evidence: coverage_pct",
        "kind" => "kind: attestation",
        "type" => "type: lambda_alias",
        "approvers" => "approvers: [alice, bob]",
        "timeout" => "timeout: 2h",
        "function" => "function: rollgate-hook-smoke",
        "url" => "url: https://tests.example.com/smoke",
        "secret_arn" => "secret_arn: arn:aws:secretsmanager:us-east-1:123456789012:secret:rollgate/hooks/smoke",
        "for" => "for: 15m",
        "timezone" => "timezone: Europe/Berlin",
        "pass" => "pass: 95",
        "marginal" => "marginal: 75",
        _ => return None,
    })
}

/// What the fields of the section at `path` belong to: "step", "webhook router", …
fn section_noun(path: &[Seg], section: Option<&Value>) -> String {
    let text = render(path);
    let noun = words::noun_for_fields(&text);
    let tag = section.and_then(|s| s.get("type").or_else(|| s.get("kind"))).and_then(Value::as_str);
    match (noun.as_str(), tag) {
        ("router", Some(t)) => format!("{t} router"),
        ("requirement", Some(k)) => format!("{k} requirement"),
        _ => noun,
    }
}

/// serde's message at `path`, in plain words: (path, problem, fix).
fn plain_words(path: &[Seg], message: &str, at: Option<&Value>, root: &Value, rel: &[Seg]) -> (String, String, String) {
    let text = render(path);
    let field = words::last_key(&text).to_string();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or_default();
        let expected = rest.split_once("expected").map(|(_, list)| backticked(list)).unwrap_or_default();
        // The path ends at the unknown key, or (inside a tagged section) at the section.
        let (section_path, section) = if field == name && !path.is_empty() {
            (&path[..path.len() - 1], rel.split_last().and_then(|(_, parent)| pointer(root, parent)))
        } else {
            (path, at)
        };
        let noun = section_noun(section_path, section);
        let (problem, fix) = words::unknown_name(name, &expected, &noun, true);
        let mut full = section_path.to_vec();
        full.push(Seg::Key(name.to_string()));
        return (render(&full), problem, fix);
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let name = rest.split('`').next().unwrap_or_default();
        let expected = rest.split_once("expected").map(|(_, list)| backticked(list)).unwrap_or_default();
        // In a tagged section (router, requirement) serde loses the path: the unknown name is
        // its `type` or `kind`, or else a value somewhere inside, found by its spelling.
        let tag = ["type", "kind"].into_iter().find(|t| at.and_then(|v| v.get(*t)).and_then(Value::as_str) == Some(name));
        let (where_, noun) = match (tagged_section(&field), tag, at.and_then(|v| locate(v, &Value::String(name.into())))) {
            (true, Some(tag), _) => (format!("{text}.{tag}"), words::noun_for_values(&format!("{text}.{tag}"))),
            (true, None, Some(inner)) => {
                let full = [path, &inner[..]].concat();
                let rendered = render(&full);
                let noun = words::noun_for_values(&rendered);
                (rendered, noun)
            }
            _ => (text.clone(), words::noun_for_values(&text)),
        };
        let (problem, fix) = words::unknown_name(name, &expected, &noun, false);
        return (where_, problem, fix);
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default();
        let noun = section_noun(path, at);
        let where_ = if text.is_empty() { name.to_string() } else { format!("{text}.{name}") };
        let fix = match example_for(name) {
            Some(example) => format!("{} needs `{name}`; add it, e.g. `{example}`", words::a(&noun)),
            None => format!("{} needs `{name}`; add it", words::a(&noun)),
        };
        return (where_, "is missing".into(), fix);
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((unexpected, expected)) = rest.rsplit_once(", expected ")
        {
            // In a tagged section serde loses the path; find the value by what it holds.
            if tagged_section(&field)
                && let Some(inner) = unexpected_value(unexpected).and_then(|needle| at.and_then(|v| locate(v, &needle)))
            {
                let full = render(&[path, &inner[..]].concat());
                let (problem, fix) = words::wrong_kind(&full, unexpected, expected);
                return (full, problem, fix);
            }
            if text.is_empty() {
                let problem = if matches!(unexpected, "null" | "unit value") {
                    "the file is empty".to_string()
                } else {
                    format!("the file holds {} instead of a plan", words::found(unexpected))
                };
                return (String::new(), problem, "start from a plan under examples/ (name, traffic, …)".into());
            }
            let (problem, fix) = words::wrong_kind(&text, unexpected, expected);
            return (text, problem, fix);
        }
    }
    if let Some(rest) = message.strip_prefix("invalid length ") {
        let mapping = rest.contains("struct") || rest.contains("enum");
        return match (text.is_empty(), mapping) {
            (true, _) => {
                (text, "the file holds a list instead of a plan".into(), "start from a plan under examples/ (name, traffic, …)".into())
            }
            (false, true) => (text, "a list is not a mapping".into(), format!("`{field}` is a mapping of fields (name: value)")),
            (false, false) => (text, format!("has the wrong number of entries ({rest})"), "see the plan schema (rollgate schema)".into()),
        };
    }
    // Our own messages (durations, percents) say what is wrong; what to write follows `; `.
    match message.split_once("; ") {
        Some((problem, fix)) => (text, problem.to_string(), fix.to_string()),
        None => (text, message.to_string(), "see the plan schema (rollgate schema) for the expected shape".to_string()),
    }
}

/// Sections whose `type` or `kind` picks their fields; serde reports problems inside them at the
/// section itself.
fn tagged_section(field: &str) -> bool {
    matches!(field, "router" | "require")
}

/// The value serde's `Unexpected` names, when it is a plain one (`string "many"`, `integer `5``).
fn unexpected_value(unexpected: &str) -> Option<Value> {
    if let Some(s) = unexpected.strip_prefix("string \"").and_then(|s| s.strip_suffix('"')) {
        return Some(Value::String(s.to_string()));
    }
    let inner = |prefix: &str| unexpected.strip_prefix(prefix).map(|s| s.trim_matches('`').to_string());
    if let Some(n) = inner("integer ").or_else(|| inner("floating point ")) {
        return serde_json::from_str::<Value>(&n).ok();
    }
    inner("boolean ").and_then(|b| b.parse::<bool>().ok()).map(Value::Bool)
}

/// The one place in `value` holding exactly `needle`, if there is exactly one.
fn locate(value: &Value, needle: &Value) -> Option<Vec<Seg>> {
    fn walk(value: &Value, needle: &Value, at: &mut Vec<Seg>, found: &mut Vec<Vec<Seg>>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    at.push(Seg::Key(k.clone()));
                    walk(v, needle, at, found);
                    at.pop();
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    at.push(Seg::Index(i));
                    walk(v, needle, at, found);
                    at.pop();
                }
            }
            leaf if same(leaf, needle) => found.push(at.clone()),
            _ => {}
        }
    }
    // Numbers as equal as their spelling in a message can say: serde_json reads a float back
    // from its text to within an ulp, not always to the same bits.
    fn same(leaf: &Value, needle: &Value) -> bool {
        match (leaf.as_f64(), needle.as_f64()) {
            (Some(a), Some(b)) if leaf.is_f64() || needle.is_f64() => (a - b).abs() <= 1e-12 * a.abs().max(b.abs()),
            _ => leaf == needle,
        }
    }
    let mut found = Vec::new();
    walk(value, needle, &mut Vec::new(), &mut found);
    if found.len() == 1 { found.pop() } else { None }
}

/// A step's weight: a whole number of percent, written `10` or `"10%"`.
pub(super) fn whole_percent<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    struct Percent;
    impl serde::de::Visitor<'_> for Percent {
        type Value = u32;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a whole number of percent, like 10")
        }

        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u32, E> {
            u32::try_from(v).map_err(|_| E::custom(format!("{v} is not a percent; write a whole number from 1 to 100, like 10")))
        }

        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u32, E> {
            u32::try_from(v).map_err(|_| E::custom(format!("{v} is not a percent; write a whole number from 1 to 100, like 10")))
        }

        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u32, E> {
            Err(E::custom(format!("{v} is not a whole number of percent; write a whole number like 10")))
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u32, E> {
            let digits = v.trim().strip_suffix('%').unwrap_or(v).trim();
            digits.parse::<u32>().map_err(|_| E::custom(format!("`{v}` is not a whole number of percent; write a whole number like 10")))
        }
    }
    deserializer.deserialize_any(Percent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue_strings(text: &str) -> Vec<String> {
        parse_plan(text, PlanFormat::Yaml).err().unwrap_or_default().iter().map(ToString::to_string).collect()
    }

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

    /// Found by `mutated_reference_plans_read_the_same_in_yaml_and_json`: serde_json reads this
    /// float back from the error's text one ulp away, and the value's path was lost.
    #[test]
    fn a_number_inside_a_tagged_section_is_found_by_its_spelling() {
        let plan = |evidence: &str| {
            format!(
                "name: t\nchecklist:\n  items:\n    - {{ id: a, require: {{ kind: attestation, evidence: {evidence} }} }}\ntraffic:\n  router: {{ type: dry_run }}\n  steps: [{{ weight: 10, bake: 5m }}]\n"
            )
        };
        for number in ["-108454.79856199844", "-108454.79856199845", "12", "0.1"] {
            let issues = issue_strings(&plan(number));
            assert!(issues.iter().any(|i| i.starts_with("checklist.items[0].require.evidence:")), "{number}: {issues:?}");
        }
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let issues = parse_plan("name: [unclosed", PlanFormat::Yaml).err().unwrap_or_default();
        assert_eq!(issues.len(), 1);
        assert!(issues[0].path.starts_with("line "), "{issues:?}");
    }

    #[test]
    fn several_problems_in_one_step_are_all_reported_with_original_indices() {
        let issues = issue_strings(
            "name: t\ntraffic:\n  router: { type: dry_run }\n  steps:\n    - { weight: 10, bake: 5m, colour: red, approval: 3 }\n\
             notifications: { events: [started, bogus, promoted, also_bogus] }\n",
        );
        let joined = issues.join("\n");
        assert!(joined.contains("traffic.steps[0].colour: `colour` is not a step field"), "{joined}");
        assert!(joined.contains("traffic.steps[0].approval"), "{joined}");
        assert!(joined.contains("notifications.events[1]: `bogus` is not a notification event"), "{joined}");
        assert!(joined.contains("notifications.events[3]: `also_bogus` is not a notification event"), "{joined}");
    }

    #[test]
    fn messages_carry_no_rust_type_names() {
        let issues = issue_strings(
            "name: t\ntraffic:\n  router: { type: dryrun }\n  steps:\n    - { weight: lots, bake: 5m, colour: red }\n    - { weight: 20, bake: 15 }\n\
             approvals:\n  - { id: go, approvers: [a], quorum: two, timeout: 1h }\n",
        );
        let joined = issues.join("\n");
        for rust in ["u32", "u64", "f64", "struct ", "enum ", "a string"] {
            assert!(!joined.contains(rust), "`{rust}` in:\n{joined}");
        }
        assert!(joined.contains("traffic.router.type: `dryrun` is not a router type; did you mean `dry_run`?"), "{joined}");
        assert!(joined.contains("traffic.steps[0].weight: `lots` is not a whole number of percent"), "{joined}");
        assert!(
            joined.contains(
                "traffic.steps[0].colour: `colour` is not a step field; Step fields are name, weight, bake, approval, analysis, hooks"
            ),
            "{joined}"
        );
        assert!(joined.contains("traffic.steps[1].bake: `15` has no unit"), "{joined}");
        assert!(joined.contains("approvals[0].quorum: \"two\" is not a whole number"), "{joined}");
    }

    #[test]
    fn a_percent_sign_is_accepted_in_weights() {
        let plan = parse_plan(
            "name: t\ntraffic:\n  router: { type: dry_run }\n  steps: [{ weight: 10%, bake: 5m }, { weight: \"100 %\", bake: 5m }]\n",
            PlanFormat::Yaml,
        );
        assert_eq!(plan.map(|p| p.traffic.steps.iter().map(|s| s.weight).collect::<Vec<_>>()), Ok(vec![10, 100]));
    }

    #[test]
    fn missing_and_misspelled_fields_say_what_to_write() {
        // The misspelling explains the missing field; it is reported once.
        assert_eq!(
            issue_strings("name: t\ntrafic: {}\n"),
            vec![
                "trafic: `trafic` is not a plan field; did you mean `traffic`? \
                  Plan fields are name, description, owner, checklist, traffic, analysis, analysis_templates, approvals, roles, notifications, rollback, rollback_alarms"
            ]
        );
        assert_eq!(
            issue_strings("name: t\n"),
            vec![
                "traffic: is missing; a plan needs `traffic`; add it, e.g. `traffic: { router: { type: dry_run }, steps: [{ weight: 10, bake: 15m }] }`"
            ]
        );
        let tagged = issue_strings(
            "name: t\ntraffic:\n  router: { type: dry_run }\n  steps: [{ weight: 10, bake: 5m }]\nchecklist:\n  items:\n    \
             - { id: c, require: { kind: count, evidence: r, at_least: many } }\n    \
             - { id: w, require: { kind: window, timezone: UTC, allow: [{ days: [mon, funday], from: \"09:00\", to: \"17:00\" }] } }\n",
        );
        assert_eq!(
            tagged,
            vec![
                "checklist.items[0].require.at_least: \"many\" is not a whole number; `at_least` is a whole number, like 3",
                "checklist.items[1].require.allow[0].days[1]: `funday` is not a weekday; use one of mon, tue, wed, thu, fri, sat, sun",
            ]
        );
        assert_eq!(issue_strings(""), vec!["plan: the file is empty; start from a plan under examples/ (name, traffic, …)"]);
    }
}
