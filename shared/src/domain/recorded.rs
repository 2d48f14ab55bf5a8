//! What a metric check read, kept with its verdict in the audit trail (`gate_judged`), so that a
//! backtest (`rollgate backtest`) judges the check again under another plan without reading
//! CloudWatch.
//!
//! Compact: one side's datapoints are the first one's time, the period and the values in the
//! order read, a missing period written `null`; datapoints off that grid (recorded scenarios,
//! out of order) keep each its offset. Exact: values keep every digit (a mean of rounded values
//! could judge otherwise), and a value that is not a finite number is written as the verdicts
//! write it (`NaN`, `inf`, `-inf`).
//!
//! Bounded: a DynamoDB item holds at most 400 KB, and the event also holds the verdict, so a
//! check keeps at most [`BUDGET_BYTES`] of datapoints, whole metrics at a time (the smallest
//! first); the metrics that do not fit are named in `cut`. A backtest says a check that needs a
//! cut metric is not comparable, and never guesses its datapoints.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::domain::gate::wire;
use crate::domain::observation::{Datapoint, MetricReading, Observation, period};
use crate::domain::plan::Analysis;
use crate::domain::query::range_start;

/// The most JSON a check's datapoints take in its event (about 10,000 values of full precision).
pub const BUDGET_BYTES: usize = 200 * 1024;

/// What one check read: everything its verdict was judged on, besides the plan.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordedCheck {
    /// The start of the range the check read: its metrics' longest lookback before the check.
    pub from: DateTime<Utc>,
    /// When the step being judged began (windows stop there unless `look_before_step`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// The datapoints read, by metric.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, RecordedReading>,
    /// Metrics that were read and judged but whose datapoints did not fit in [`BUDGET_BYTES`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cut: Vec<String>,
}

/// One metric's datapoints, canary and baseline.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordedReading {
    pub canary: RecordedSeries,
    /// Absent when the metric had no baseline query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<RecordedSeries>,
}

/// One side's datapoints: value `i` is stamped `start + i × period`, or `start + offsets_ms[i]`
/// when the datapoints are not one per period in time order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordedSeries {
    /// The first datapoint's time; absent when there was none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    /// Seconds between consecutive values.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub period: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Slot>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offsets_ms: Vec<i64>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A value, or a period without a datapoint (`null`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slot(pub Option<f64>);

impl Serialize for Slot {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(value) => wire::number::serialize(&value, serializer),
            None => serializer.serialize_none(),
        }
    }
}

impl<'de> Deserialize<'de> for Slot {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SlotVisitor;
        impl<'de> Visitor<'de> for SlotVisitor {
            type Value = Slot;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, `inf`, `-inf`, `NaN` or null")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Slot, E> {
                Ok(Slot(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Slot, E> {
                Ok(Slot(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Slot, D::Error> {
                wire::number::deserialize(d).map(|v| Slot(Some(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Slot, E> {
                Ok(Slot(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Slot, E> {
                Ok(Slot(Some(v as f64)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Slot, E> {
                Ok(Slot(Some(v as f64)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Slot, E> {
                match v {
                    "inf" => Ok(Slot(Some(f64::INFINITY))),
                    "-inf" => Ok(Slot(Some(f64::NEG_INFINITY))),
                    "NaN" => Ok(Slot(Some(f64::NAN))),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        deserializer.deserialize_any(SlotVisitor)
    }
}

/// A grid with more empty periods than this many per datapoint is written with offsets.
const MAX_GAPS_PER_POINT: usize = 2;

impl RecordedSeries {
    /// `points` in the order read, on a grid of `period_secs` when they fit one.
    pub fn of(points: &[Datapoint], period_secs: u32) -> Self {
        let Some(first) = points.first() else { return Self::default() };
        let start = first.at;
        let period_ms = i64::from(period_secs.max(1)) * 1000;
        let offsets: Vec<i64> = points.iter().map(|p| (p.at - start).num_milliseconds()).collect();
        let on_grid = offsets.iter().all(|o| o % period_ms == 0) && offsets.windows(2).all(|w| w[0] < w[1]);
        let slots = offsets.last().map_or(0, |last| usize::try_from(last / period_ms).unwrap_or(usize::MAX)).saturating_add(1);
        if on_grid && slots <= points.len().saturating_mul(MAX_GAPS_PER_POINT + 1) {
            let mut values = vec![Slot(None); slots];
            for (p, o) in points.iter().zip(&offsets) {
                if let Some(slot) = usize::try_from(o / period_ms).ok().and_then(|i| values.get_mut(i)) {
                    *slot = Slot(Some(p.value));
                }
            }
            return Self { start: Some(start), period: period_secs.max(1), values, offsets_ms: Vec::new() };
        }
        let values = points.iter().map(|p| Slot(Some(p.value))).collect();
        Self { start: Some(start), period: period_secs.max(1), values, offsets_ms: offsets }
    }

    /// The datapoints again, in the order read; `None` when the record does not add up (offsets
    /// that do not match the values, times out of range): such a check is not comparable.
    pub fn points(&self) -> Option<Vec<Datapoint>> {
        let Some(start) = self.start else { return self.values.is_empty().then(Vec::new) };
        let at = |ms: i64| Duration::try_milliseconds(ms).and_then(|d| start.checked_add_signed(d));
        if !self.offsets_ms.is_empty() {
            if self.offsets_ms.len() != self.values.len() {
                return None;
            }
            return self.values.iter().zip(&self.offsets_ms).map(|(v, o)| Some(Datapoint { at: at(*o)?, value: v.0? })).collect();
        }
        let period_ms = i64::from(self.period.max(1)) * 1000;
        let mut points = Vec::with_capacity(self.values.len());
        for (i, slot) in self.values.iter().enumerate() {
            let Some(value) = slot.0 else { continue };
            let offset = i64::try_from(i).ok()?.checked_mul(period_ms)?;
            points.push(Datapoint { at: at(offset)?, value });
        }
        Some(points)
    }
}

impl RecordedCheck {
    /// What `observation` holds, for a check judged under `analysis`, within [`BUDGET_BYTES`].
    pub fn of(analysis: &Analysis, observation: &Observation) -> Self {
        let period_of = |name: &str| analysis.metrics.iter().find(|m| m.name == name).map_or(60, period);
        let mut sized: Vec<(usize, &String, RecordedReading)> = observation
            .readings
            .iter()
            .map(|(name, reading)| {
                let period = period_of(name);
                let recorded = RecordedReading {
                    canary: RecordedSeries::of(&reading.canary, period),
                    baseline: reading.baseline.as_deref().map(|b| RecordedSeries::of(b, period)),
                };
                // The name, its quotes, colon and comma, and the reading.
                let size = serde_json::to_string(&recorded).map_or(usize::MAX, |s| s.len().saturating_add(name.len() + 4));
                (size, name, recorded)
            })
            .collect();
        sized.sort_by_key(|(size, name, _)| (*size, (*name).clone()));
        let mut metrics = BTreeMap::new();
        let mut cut = Vec::new();
        let mut used = 0usize;
        for (size, name, recorded) in sized {
            match used.checked_add(size).filter(|total| *total <= BUDGET_BYTES) {
                Some(total) => {
                    used = total;
                    metrics.insert(name.clone(), recorded);
                }
                None => cut.push(name.clone()),
            }
        }
        cut.sort();
        Self { from: range_start(analysis, observation.now), since: observation.since, metrics, cut }
    }

    /// The observation of the check at `now` (its verdict's time), for the metrics kept; `None`
    /// when a kept metric's record does not add up.
    pub fn observation(&self, now: DateTime<Utc>) -> Option<Observation> {
        let mut readings = BTreeMap::new();
        for (name, recorded) in &self.metrics {
            let baseline = match &recorded.baseline {
                Some(b) => Some(b.points()?),
                None => None,
            };
            readings.insert(name.clone(), MetricReading { canary: recorded.canary.points()?, baseline });
        }
        Some(Observation { now, since: self.since, readings })
    }
}

#[cfg(test)]
mod tests;
