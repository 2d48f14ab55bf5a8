//! libFuzzer's entry for `slack_webhook`: the checks live in fuzz/src/targets/slack_webhook.rs, which the
//! main workspace's corpus replay (shared/tests/fuzz_corpus.rs) runs too.
#![no_main]

#[path = "../src/targets/slack_webhook.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
