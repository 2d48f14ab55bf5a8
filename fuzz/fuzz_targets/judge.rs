//! libFuzzer's entry for `judge`: the checks live in fuzz/src/targets/judge.rs, which the
//! main workspace's corpus replay (shared/tests/fuzz_corpus.rs) runs too.
#![no_main]

#[path = "../src/targets/judge.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
