//! A scenario file (YAML): an accepted scenario holds only finite numbers, and the small plan run
//! against it ends, passing no check whose canary mean is not finite or not within the bounds.

use rollgate::domain::gate::MetricOutcome;
use rollgate::domain::yaml;
use rollgate::release::EventKind;
use rollgate::simulate::{self, Scenario, SimOutcome};
use rollgate_fuzz::{SIM_PLAN, plan, runtime};

/// One input: `data`, as libFuzzer (or the corpus replay) hands it over.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(scenario) = yaml::from_str::<Scenario>(text) else { return };
    for m in scenario.metrics.values() {
        for s in std::iter::once(&m.canary).chain(m.baseline.as_ref()) {
            let numbers = [Some(s.level), Some(s.noise), s.floor, s.change.as_ref().map(|c| c.to), s.ramp.as_ref().map(|r| r.by)];
            assert!(numbers.into_iter().flatten().all(f64::is_finite), "{s:?}");
        }
    }
    // Simulated against the small plan, whose metric is `m`: the scenario's first metric plays it.
    let mut scenario = scenario;
    if let Some(first) = scenario.metrics.values().next().cloned() {
        scenario.metrics.insert("m".into(), first);
    }
    scenario.evidence_file = None;
    scenario.recorded = None;
    let simulation = match runtime().block_on(simulate::simulate(&plan(SIM_PLAN), &scenario, None)) {
        Ok(s) => s,
        Err(e) => panic!("the simulation did not end: {e}"),
    };
    let mut passes = 0;
    for event in &simulation.trail {
        if let EventKind::GateJudged { verdict, .. } = &event.kind {
            for m in verdict.metrics.iter().filter(|m| m.outcome == MetricOutcome::Pass) {
                let mean = m.canary.map_or(f64::NAN, |c| c.value);
                assert!(mean.is_finite() && mean < 1.0, "passed with canary mean {mean}: {}", m.sentence);
                passes += 1;
            }
        }
    }
    assert!(simulation.outcome != SimOutcome::Promoted || passes > 0, "promoted without a passing check");
}
