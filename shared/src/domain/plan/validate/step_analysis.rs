//! Steps with their own analysis, and the templates they use.
//!
//! A step's analysis is the plan-wide one changed by its template and its own settings
//! ([`Plan::analysis_at`]). That result is checked with the same rules as the plan-wide analysis;
//! each problem is reported where the setting that causes it was written (the step, its
//! template, or the plan-wide analysis), once.

use std::collections::HashSet;

use super::{Issues, PlanIssue, analysis::check_analysis};
use crate::domain::plan::{Plan, StepAnalysis};

/// The settings a step or a template may change, as validation names them.
const SETTINGS: [&str; 9] = [
    "interval",
    "window",
    "look_before_step",
    "min_samples",
    "consecutive_failures",
    "max_inconclusive",
    "on_inconclusive",
    "max_hold",
    "score",
];

pub(super) fn check_step_analyses(plan: &Plan, issues: &mut Issues) {
    // What the plan-wide analysis already reported is not repeated for each step that inherits it.
    let mut seen: HashSet<(String, String)> = issues.0.iter().map(|i| (i.path.clone(), i.problem.clone())).collect();
    for (i, step) in plan.traffic.steps.iter().enumerate() {
        let Some(own) = &step.analysis else { continue };
        let path = format!("traffic.steps[{i}].analysis");
        let template = match own.template.as_deref() {
            None => None,
            Some(name) => match plan.analysis_templates.get(name) {
                Some(template) => Some((name, template)),
                None => {
                    let known: Vec<&str> = plan.analysis_templates.keys().map(String::as_str).collect();
                    issues.add(
                        format!("{path}.template"),
                        format!("`{name}` is not defined"),
                        if known.is_empty() {
                            "define it under `analysis_templates`".to_string()
                        } else {
                            format!("use one of: {}", known.join(", "))
                        },
                    );
                    None
                }
            },
        };
        check_metric_names(own, plan, &path, issues);
        let layers = Layers { plan, step: (&path, own), template };
        if plan.analysis.is_none() && layers.setting_path("interval").starts_with("analysis.") {
            issues.add(
                format!("{path}.interval"),
                "is missing: the plan has no plan-wide analysis to take it from",
                "say how often this step is judged, e.g. `interval: 5m`",
            );
            continue;
        }
        let Some(analysis) = plan.analysis_at(i) else { continue };
        let mut found = Issues::default();
        check_analysis(&analysis, &plan.traffic.steps, &mut found);
        for issue in found.0 {
            if seen.contains(&(issue.path.clone(), issue.problem.clone())) {
                continue;
            }
            let Some(issue) = layers.locate(issue, &analysis.metrics) else { continue };
            if seen.insert((issue.path.clone(), issue.problem.clone())) {
                issues.0.push(issue);
            }
        }
    }
    for (name, template) in &plan.analysis_templates {
        let path = format!("analysis_templates.{name}");
        if !super::is_identifier(name) {
            issues.add(&path, format!("`{name}` is not a valid template name"), "use lowercase letters, digits, `-` and `_`");
        }
        if template.template.is_some() {
            issues.add(
                format!("{path}.template"),
                "a template cannot refer to another template",
                "copy the settings it needs, or have the step refer to the other template",
            );
        }
        check_metric_names(template, plan, &path, issues);
        let used = plan.traffic.steps.iter().any(|s| s.analysis.as_ref().and_then(|a| a.template.as_ref()) == Some(name));
        if !used {
            issues.add(&path, "no step uses it", format!("refer to it from a step with `analysis: {{ template: {name} }}`, or remove it"));
        }
    }
}

/// A step's (or template's) metrics: each name once; a name that is not a metric of the plan or
/// the template adds a metric, which needs its query.
fn check_metric_names(layer: &StepAnalysis, plan: &Plan, path: &str, issues: &mut Issues) {
    let mut names = HashSet::new();
    let template = layer.template.as_deref().and_then(|t| plan.analysis_templates.get(t));
    let known: Vec<&str> = plan
        .analysis
        .iter()
        .flat_map(|a| a.metrics.iter().map(|m| m.name.as_str()))
        .chain(template.iter().flat_map(|t| t.metrics.iter().map(|m| m.name.as_str())))
        .collect();
    for (j, metric) in layer.metrics.iter().enumerate() {
        let metric_path = format!("{path}.metrics[{j}]");
        if !names.insert(metric.name.as_str()) {
            issues.add(
                format!("{metric_path}.name"),
                format!("`{}` is listed twice here", metric.name),
                "give each metric's changes in one entry",
            );
        }
        if metric.query.is_none() && !known.contains(&metric.name.as_str()) {
            let fix = if known.is_empty() {
                "give it a `query`: the plan has no plan-wide metrics to change".to_string()
            } else {
                format!("to change a plan-wide metric use its name ({}); to add a metric give it a `query`", known.join(", "))
            };
            issues.add(format!("{metric_path}.name"), format!("`{}` is not a plan-wide metric and has no query", metric.name), fix);
        }
    }
}

/// Where each part of a step's analysis was written.
struct Layers<'a> {
    plan: &'a Plan,
    step: (&'a str, &'a StepAnalysis),
    template: Option<(&'a str, &'a StepAnalysis)>,
}

impl Layers<'_> {
    fn template_path(&self) -> Option<String> {
        self.template.map(|(name, _)| format!("analysis_templates.{name}"))
    }

    /// The path of setting `name` as it applies at the step.
    fn setting_path(&self, name: &str) -> String {
        let (step_path, own) = self.step;
        if sets(own, name) {
            format!("{step_path}.{name}")
        } else if let (Some((_, template)), Some(path)) = (self.template, self.template_path())
            && sets(template, name)
        {
            format!("{path}.{name}")
        } else {
            format!("analysis.{name}")
        }
    }

    /// The path of the metric named `name` as it applies at the step; `None` for a plan-wide
    /// metric the step leaves alone.
    fn metric_path(&self, name: &str) -> Option<String> {
        let (step_path, own) = self.step;
        if let Some(j) = own.metrics.iter().position(|m| m.name == name) {
            return Some(format!("{step_path}.metrics[{j}]"));
        }
        let (_, template) = self.template?;
        let j = template.metrics.iter().position(|m| m.name == name)?;
        Some(format!("{}.metrics[{j}]", self.template_path()?))
    }

    /// `issue`, found in the step's merged analysis (paths `analysis.…`), moved to where its
    /// cause was written. `None` for what `check_metric_names` already reports better (the query
    /// of an added metric that has none).
    fn locate(&self, issue: PlanIssue, metrics: &[crate::domain::plan::MetricGate]) -> Option<PlanIssue> {
        let rest = issue.path.strip_prefix("analysis").unwrap_or(&issue.path);
        let step_path = self.step.0;
        let path = if let Some(indexed) = rest.strip_prefix(".metrics[") {
            let (index, tail) = indexed.split_once(']').unwrap_or((indexed, ""));
            let metric = index.parse::<usize>().ok().and_then(|k| metrics.get(k));
            match metric.map(|m| (m, self.metric_path(&m.name))) {
                Some((metric, Some(path))) => {
                    let added = self.plan.analysis.as_ref().is_none_or(|a| a.metrics.iter().all(|m| m.name != metric.name));
                    if added && tail.starts_with(".query") && metric.query == Default::default() {
                        return None;
                    }
                    format!("{path}{tail}")
                }
                // A plan-wide metric the step leaves alone: its problem shows only with this
                // step's settings, so it says where.
                _ => {
                    return Some(PlanIssue::new(
                        issue.path.clone(),
                        format!("{} (with the analysis of {step_path})", issue.problem),
                        issue.fix,
                    ));
                }
            }
        } else if let Some(field) = rest.strip_prefix('.') {
            let (name, tail) = field.split_once('.').map_or((field, String::new()), |(n, t)| (n, format!(".{t}")));
            if SETTINGS.contains(&name) { format!("{}{tail}", self.setting_path(name)) } else { format!("{step_path}{rest}") }
        } else {
            format!("{step_path}{rest}")
        };
        Some(PlanIssue::new(path, issue.problem, issue.fix))
    }
}

fn sets(layer: &StepAnalysis, setting: &str) -> bool {
    match setting {
        "interval" => layer.interval.is_some(),
        "window" => layer.window.is_some(),
        "look_before_step" => layer.look_before_step.is_some(),
        "min_samples" => layer.min_samples.is_some(),
        "consecutive_failures" => layer.consecutive_failures.is_some(),
        "max_inconclusive" => layer.max_inconclusive.is_some(),
        "on_inconclusive" => layer.on_inconclusive.is_some(),
        "max_hold" => layer.max_hold.is_some(),
        "score" => layer.score.is_some(),
        _ => false,
    }
}
