//! The fuzz targets' short pass in `cargo test`: every input kept under `fuzz/corpus/<target>/`
//! (the checked-in seeds, and whatever `make fuzz` added locally) and every crash input under
//! `fuzz/artifacts/<target>/` runs through the very checks the fuzz targets run
//! (fuzz/src/targets/). Building the targets with libFuzzer's instrumentation takes too long for
//! CI; this pass needs no instrumentation and keeps every input a fuzzer ever found a regression
//! test.

// The target files name their helpers `rollgate_fuzz::…`, as the fuzz crate's binaries do.
extern crate self as rollgate_fuzz;

#[path = "../../fuzz/src/lib.rs"]
mod checks;
pub use checks::*;

// One module per target, beside the crate root (a `#[path]` inside an inline module would be
// read relative to a directory named after it).
#[path = "../../fuzz/src/targets/checklist.rs"]
mod target_checklist;
#[path = "../../fuzz/src/targets/judge.rs"]
mod target_judge;
#[path = "../../fuzz/src/targets/plan_json.rs"]
mod target_plan_json;
#[path = "../../fuzz/src/targets/plan_yaml.rs"]
mod target_plan_yaml;
#[path = "../../fuzz/src/targets/scenario.rs"]
mod target_scenario;
#[path = "../../fuzz/src/targets/slack_webhook.rs"]
mod target_slack_webhook;
#[path = "../../fuzz/src/targets/text.rs"]
mod target_text;

/// Runs every kept input of `target`; a failing input is named (its panic is the check that broke).
fn replay(target: &str, run: fn(&[u8])) {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut inputs = Vec::new();
    for kept in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(kept).join(target)) else { continue };
        inputs.extend(entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()));
    }
    inputs.sort();
    let seeds = inputs.iter().filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("seed-"))).count();
    assert!(seeds > 0, "fuzz/corpus/{target}/ has no seed-* input: the replay would test nothing");
    for input in &inputs {
        let data = std::fs::read(input).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        if let Err(panic) = std::panic::catch_unwind(|| run(&data)) {
            let why = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            panic!("fuzz target {target} fails on {}: {}", input.display(), why.unwrap_or_default());
        }
    }
}

#[test]
fn checklist() {
    replay("checklist", target_checklist::run);
}

#[test]
fn judge() {
    replay("judge", target_judge::run);
}

#[test]
fn plan_json() {
    replay("plan_json", target_plan_json::run);
}

#[test]
fn plan_yaml() {
    replay("plan_yaml", target_plan_yaml::run);
}

#[test]
fn scenario() {
    replay("scenario", target_scenario::run);
}

#[test]
fn slack_webhook() {
    replay("slack_webhook", target_slack_webhook::run);
}

#[test]
fn text() {
    replay("text", target_text::run);
}
