//! libFuzzer's entry for `plan_json`: the checks live in fuzz/src/targets/plan_json.rs, which the
//! main workspace's corpus replay (shared/tests/fuzz_corpus.rs) runs too.
#![no_main]

#[path = "../src/targets/plan_json.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
