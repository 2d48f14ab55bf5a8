//! A plan file as JSON (and a release request's plan): the same promises as YAML.

use rollgate::domain::plan::{PlanFormat, parse_plan, plan_from_value};
use rollgate_fuzz::check_plan_result;

/// One input: `data`, as libFuzzer (or the corpus replay) hands it over.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parsed = parse_plan(text, PlanFormat::Json);
    check_plan_result(text, &parsed);
    // A release request carries its plan as a JSON value: read that way, the same plan.
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        let from_value = plan_from_value(value);
        assert_eq!(from_value.is_ok(), parsed.is_ok(), "{from_value:?} / {parsed:?}");
    }
}
