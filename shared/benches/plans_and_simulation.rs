//! How fast rollgate answers the plans people write and the plans attackers write, and what a
//! whole simulated release costs. Run with `make bench` (criterion prints the figures); these
//! are the figures behind "validate answers every hostile plan in well under a second" and the
//! simulator's speed, measured here rather than asserted in timed tests.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use rollgate::domain::checklist::{Evidence, Override};
use rollgate::domain::plan::{PlanFormat, parse_plan, parse_plan_file};
use rollgate::simulate::{Scenario, simulate};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Hostile plans: each must be refused with a clear error, quickly.
fn hostile_plans(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate a hostile plan");
    group.sample_size(10);
    let many_mistakes = {
        let mut text = String::from(
            "name: t\ntraffic:\n  router: { type: dry_run }\n  steps:\n    - { weight: 10, bake: 15m }\nchecklist:\n  items:\n",
        );
        for i in 0..3_000 {
            text.push_str(&format!("    - {{ id: item-{i}, colour: red, require: {{ kind: attestation, evidence: e{i} }} }}\n"));
        }
        text
    };
    let cases = [
        ("100,000 nested mappings", "{a: ".repeat(100_000)),
        ("100,000 nested sequences", "[".repeat(100_000)),
        ("a 4 MiB string", format!("name: t\ndescription: \"{}\"\n", "a".repeat(4 << 20))),
        ("3,000 checklist items with a mistake each", many_mistakes),
        ("an absurd bake and NaN bounds", "name: t\ntraffic:\n  router: { type: dry_run }\n  steps: [{ weight: 10, bake: 300000000d }]\nanalysis:\n  metrics:\n    - { name: e, query: { metric: { namespace: A, name: E, stat: Sum } }, must: { below: .nan } }\n".to_string()),
    ];
    for (name, text) in cases {
        group.bench_function(name, |b| b.iter(|| black_box(parse_plan(black_box(&text), PlanFormat::Yaml)).is_err()));
    }
    group.finish();
}

/// The reference plans, read and validated from their files.
fn reference_plans(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate a reference plan");
    for name in ["greenlang-production-deploy", "vision-to-code-production", "greenlang-first-enforcement"] {
        let path = repo().join(format!("examples/{name}.yaml"));
        group.bench_function(name, |b| b.iter(|| black_box(parse_plan_file(black_box(&path))).is_ok()));
    }
    group.finish();
}

#[derive(serde::Deserialize)]
struct EvidenceFile {
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    evidence: Evidence,
    #[serde(default)]
    overrides: Vec<Override>,
}

/// A whole release on the virtual clock: the deployed state machine interpreted, every Task
/// through the same code as the functions, with in-memory adapters.
fn simulated_releases(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
    let mut group = c.benchmark_group("simulate a release");
    group.sample_size(10);
    for (plan, scenario) in [
        ("greenlang-production-deploy", "greenlang-production-deploy.healthy"),
        ("greenlang-production-deploy", "greenlang-production-deploy.failing"),
        ("vision-to-code-production", "vision-to-code-production.healthy"),
    ] {
        let plan = parse_plan_file(&repo().join(format!("examples/{plan}.yaml"))).unwrap_or_else(|e| panic!("{e:?}"));
        let path = repo().join(format!("examples/scenarios/{scenario}.yaml"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut loaded: Scenario = rollgate::domain::yaml::from_str(&text).unwrap_or_else(|e| panic!("{scenario}: {e}"));
        if let Some(file) = loaded.evidence_file.clone() {
            let evidence_path = path.parent().unwrap_or(Path::new(".")).join(file);
            let text = std::fs::read_to_string(&evidence_path).unwrap_or_else(|e| panic!("{}: {e}", evidence_path.display()));
            let evidence: EvidenceFile = rollgate::domain::yaml::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
            loaded.evidence.extend(evidence.evidence);
            loaded.overrides.extend(evidence.overrides);
            loaded.author = loaded.author.or(evidence.author);
        }
        group.bench_function(scenario, |b| {
            b.iter(|| runtime.block_on(simulate(black_box(&plan), black_box(&loaded), None)).unwrap_or_else(|e| panic!("{e}")))
        });
    }
    group.finish();
}

criterion_group!(benches, hostile_plans, reference_plans, simulated_releases);
criterion_main!(benches);
