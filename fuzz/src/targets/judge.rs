//! The gate judge on arbitrary float series, through the domain API, with the reference plans'
//! analyses (and the small plan's). The input:
//!
//! - byte 0: which plan (the three reference plans, then the small one);
//! - byte 1: bit 0, whether the metrics have a baseline reading at all;
//! - then 11-byte datapoints: one byte for the metric (its index) and side (bit 7: baseline),
//!   two (little-endian) for how far back it is stamped, in 2-second steps from 10 minutes
//!   ahead, and eight for the value (an f64, little-endian: NaN, ±inf, denormals and all).

use std::collections::BTreeMap;

use chrono::Duration;
use rollgate::domain::gate::{Datapoint, MetricReading, Observation, judge};
use rollgate::domain::plan::Analysis;
use rollgate_fuzz::{SIM_PLAN, at, check_gate_verdict, plan, reference_plans};

/// One input: `data`, as libFuzzer (or the corpus replay) hands it over.
pub fn run(data: &[u8]) {
    let [which, flags, rest @ ..] = data else { return };
    let analyses: Vec<Analysis> = reference_plans().iter().filter_map(|p| p.analysis.clone()).chain(plan(SIM_PLAN).analysis).collect();
    let analysis = &analyses[usize::from(*which) % analyses.len()];
    let now = at("2025-11-14T10:20:00Z");
    let mut readings: BTreeMap<String, MetricReading> = BTreeMap::new();
    if flags & 1 == 1 {
        for m in &analysis.metrics {
            readings.entry(m.name.clone()).or_default().baseline = Some(Vec::new());
        }
    }
    for chunk in rest.chunks_exact(11) {
        let metric = &analysis.metrics[usize::from(chunk[0] & 0x7f) % analysis.metrics.len()];
        let back = i64::from(u16::from_le_bytes([chunk[1], chunk[2]])) * 2 - 600;
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&chunk[3..11]);
        let point = Datapoint { at: now - Duration::seconds(back), value: f64::from_le_bytes(bytes) };
        let reading = readings.entry(metric.name.clone()).or_default();
        if chunk[0] & 0x80 == 0 {
            reading.canary.push(point);
        } else {
            reading.baseline.get_or_insert_with(Vec::new).push(point);
        }
    }
    let observation = Observation { now, since: None, readings };
    let verdict = judge(analysis, &observation);
    check_gate_verdict(analysis, &observation, &verdict);
}
