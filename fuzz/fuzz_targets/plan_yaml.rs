//! A plan file as YAML: any text is a plan that holds every promise of an accepted plan, or
//! problems worded for people.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollgate::domain::plan::{PlanFormat, parse_plan};
use rollgate_fuzz::check_plan_result;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    check_plan_result(text, &parse_plan(text, PlanFormat::Yaml));
});
