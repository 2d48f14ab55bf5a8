//! A plan file as YAML: any text is a plan that holds every promise of an accepted plan, or
//! problems worded for people.

use rollgate::domain::plan::{PlanFormat, parse_plan};
use rollgate_fuzz::check_plan_result;

/// One input: `data`, as libFuzzer (or the corpus replay) hands it over.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    check_plan_result(text, &parse_plan(text, PlanFormat::Yaml));
}
