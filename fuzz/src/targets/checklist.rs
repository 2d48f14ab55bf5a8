//! Evidence and the checklist's judgement: a YAML (or JSON) document holding a checklist (or a
//! release request's plan with one), evidence, overrides, the author and the time to judge at.
//! Without a checklist, the reference plans' checklists judge the evidence.

use chrono::{DateTime, Utc};
use rollgate::domain::checklist::{self, Evidence, Override};
use rollgate::domain::plan::Checklist;
use rollgate::domain::yaml;
use rollgate_fuzz::{at, check_checklist_verdict, reference_plans};
use serde::Deserialize;

#[derive(Deserialize)]
struct PlanPart {
    #[serde(default)]
    checklist: Option<Checklist>,
}

#[derive(Deserialize)]
struct Input {
    #[serde(default)]
    checklist: Option<Checklist>,
    #[serde(default)]
    plan: Option<PlanPart>,
    #[serde(default)]
    evidence: Evidence,
    #[serde(default)]
    overrides: Vec<Override>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    at: Option<DateTime<Utc>>,
}

/// One input: `data`, as libFuzzer (or the corpus replay) hands it over.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(input) = yaml::from_str::<Input>(text) else { return };
    let given = input.checklist.or(input.plan.and_then(|p| p.checklist));
    let checklists: Vec<Checklist> = match given {
        Some(c) => vec![c],
        None => reference_plans().iter().map(|p| p.checklist.clone()).collect(),
    };
    let now = input.at.unwrap_or_else(|| at("2025-11-14T08:00:00Z"));
    let author = input.author.as_deref();
    // The author is evidence too, unless the evidence names one.
    let mut seen = input.evidence.clone();
    if let Some(a) = author.filter(|_| !input.evidence.contains_key(checklist::AUTHOR_EVIDENCE)) {
        seen.insert(checklist::AUTHOR_EVIDENCE.into(), serde_json::Value::String(a.to_string()));
    }
    for list in &checklists {
        let verdict = checklist::evaluate(list, &input.evidence, &input.overrides, author, now);
        check_checklist_verdict(list, &seen, &input.overrides, author, &verdict);
    }
}
