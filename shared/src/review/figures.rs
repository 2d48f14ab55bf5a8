//! The figures a week is compared on (gate failure rate, override rate, false-positive rate,
//! time to roll back at p90), for the fleet and per service and environment, and the trend of
//! each: this week beside each of the previous weeks, and which way it moved.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ReviewWeek;
use super::aggregate::Tally;
use super::{ReleaseFacts, SuspectRollback};

/// What a release whose record and admission are both out of reach is grouped under.
pub const UNKNOWN: &str = "unknown";

/// One week's figures (the fleet's, or one service's in one environment). A rate is absent when
/// its denominator is zero: no checks is not a 0% failure rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeekFigures {
    pub week: ReviewWeek,
    pub releases: usize,
    /// Gate checks (metric checks of a baking step) and those whose verdict was fail or critical.
    pub gate_checks: usize,
    pub gate_checks_failed: usize,
    /// Releases whose checklist was judged, and those of them let through by an override.
    pub checklists_judged: usize,
    pub releases_overridden: usize,
    pub rollbacks: usize,
    /// Rollbacks decided by a failing gate check, and those of them that look like false positives.
    pub gate_rollbacks: usize,
    pub likely_false_positives: usize,
    /// `gate_checks_failed / gate_checks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate_failure_rate: Option<f64>,
    /// `releases_overridden / checklists_judged`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_rate: Option<f64>,
    /// `likely_false_positives / gate_rollbacks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub false_positive_rate: Option<f64>,
    /// The 90th percentile of the week's times to restore (linear interpolation), in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90_time_to_rollback_secs: Option<i64>,
}

/// One service in one environment, this week.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceFigures {
    pub service: String,
    pub environment: String,
    pub figures: WeekFigures,
}

/// The counts figures are computed from.
#[derive(Debug, Default)]
struct Counts {
    releases: usize,
    gate_checks: usize,
    gate_checks_failed: usize,
    checklists_judged: usize,
    releases_overridden: usize,
    gate_rollbacks: usize,
    likely_false_positives: usize,
    restore_secs: Vec<f64>,
}

impl Counts {
    fn figures(mut self, week: ReviewWeek) -> WeekFigures {
        let rate = |part: usize, whole: usize| (whole > 0).then(|| part as f64 / whole as f64);
        self.restore_secs.sort_by(f64::total_cmp);
        WeekFigures {
            week,
            releases: self.releases,
            gate_checks: self.gate_checks,
            gate_checks_failed: self.gate_checks_failed,
            checklists_judged: self.checklists_judged,
            releases_overridden: self.releases_overridden,
            rollbacks: self.restore_secs.len(),
            gate_rollbacks: self.gate_rollbacks,
            likely_false_positives: self.likely_false_positives,
            gate_failure_rate: rate(self.gate_checks_failed, self.gate_checks),
            override_rate: rate(self.releases_overridden, self.checklists_judged),
            false_positive_rate: rate(self.likely_false_positives, self.gate_rollbacks),
            p90_time_to_rollback_secs: (!self.restore_secs.is_empty())
                .then(|| crate::domain::gate::quantile(&self.restore_secs, 0.9).round() as i64),
        }
    }
}

/// A week's figures for the fleet and per service and environment, from its tally and its
/// likely false positives.
pub(super) fn week_figures(
    week: ReviewWeek,
    tally: &Tally<'_>,
    suspects: &[SuspectRollback],
    facts: &BTreeMap<&str, ReleaseFacts>,
) -> (WeekFigures, Vec<ServiceFigures>) {
    let group = |id: &str| facts.get(id).map_or((UNKNOWN, UNKNOWN), |f| (f.service.as_str(), f.environment.as_str()));
    let mut fleet = Counts::default();
    let mut by_service: BTreeMap<(&str, &str), Counts> = BTreeMap::new();
    let mut add = |id: &str, change: &dyn Fn(&mut Counts)| {
        change(&mut fleet);
        change(by_service.entry(group(id)).or_default());
    };
    for r in &tally.releases {
        add(r.id, &|c| {
            c.releases += 1;
            c.gate_checks += r.gate_checks;
            c.gate_checks_failed += r.gate_checks_failed;
            c.checklists_judged += usize::from(r.checklist_judged);
            c.releases_overridden += usize::from(r.overridden);
        });
    }
    for r in &tally.rollbacks {
        let gate = !r.summary.metrics.is_empty();
        let secs = r.summary.time_to_restore_secs as f64;
        add(&r.summary.release_id, &|c| {
            c.gate_rollbacks += usize::from(gate);
            c.restore_secs.push(secs);
        });
    }
    for s in suspects {
        add(&s.release_id, &|c| c.likely_false_positives += 1);
    }
    let services = by_service
        .into_iter()
        .map(|((service, environment), counts)| ServiceFigures {
            service: service.to_string(),
            environment: environment.to_string(),
            figures: counts.figures(week),
        })
        .collect();
    (fleet.figures(week), services)
}

/// The figures a trend is kept of; lower is better for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    GateFailureRate,
    OverrideRate,
    FalsePositiveRate,
    P90TimeToRollbackSecs,
}

impl Figure {
    pub const ALL: [Figure; 4] = [Figure::GateFailureRate, Figure::OverrideRate, Figure::FalsePositiveRate, Figure::P90TimeToRollbackSecs];

    pub fn of(self, f: &WeekFigures) -> Option<f64> {
        match self {
            Figure::GateFailureRate => f.gate_failure_rate,
            Figure::OverrideRate => f.override_rate,
            Figure::FalsePositiveRate => f.false_positive_rate,
            Figure::P90TimeToRollbackSecs => f.p90_time_to_rollback_secs.map(|s| s as f64),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Figure::GateFailureRate => "gate failure rate",
            Figure::OverrideRate => "override rate",
            Figure::FalsePositiveRate => "false-positive rate",
            Figure::P90TimeToRollbackSecs => "time to roll back (p90)",
        }
    }

    /// The value as the report shows it: rates in whole percent, times in whole seconds.
    pub fn shown(self, value: Option<f64>) -> String {
        match (self, value) {
            (_, None) => "-".into(),
            (Figure::P90TimeToRollbackSecs, Some(v)) => format!("{v:.0}s"),
            (_, Some(v)) => format!("{:.0}%", v * 100.0),
        }
    }

    /// The value at the precision shown, so that a change too small to see is `flat`.
    fn rounded(self, value: f64) -> f64 {
        match self {
            Figure::P90TimeToRollbackSecs => value.round(),
            _ => (value * 100.0).round(),
        }
    }
}

/// Which way this week moved against the mean of the previous weeks that had a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Up,
    Down,
    /// Equal at the precision shown (whole percent, whole second).
    Flat,
    /// This week has a value, no previous week has.
    NoHistory,
    /// This week has no value (nothing to divide by, no rollback).
    NoData,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeekValue {
    pub week: ReviewWeek,
    pub value: Option<f64>,
}

/// One figure this week beside each previous week (oldest first).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    pub figure: Figure,
    pub this_week: Option<f64>,
    pub previous: Vec<WeekValue>,
    /// The mean of the previous weeks that had a value: what `direction` compares with.
    pub previous_mean: Option<f64>,
    pub direction: Direction,
}

/// Each figure's trend over `history` (oldest first, this week last).
pub(super) fn trends(history: &[WeekFigures]) -> Vec<Trend> {
    let Some((this_week, previous)) = history.split_last() else { return Vec::new() };
    Figure::ALL
        .iter()
        .map(|&figure| {
            let values: Vec<f64> = previous.iter().filter_map(|w| figure.of(w)).collect();
            let previous_mean = (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64);
            let now = figure.of(this_week);
            let direction = match (now, previous_mean) {
                (None, _) => Direction::NoData,
                (Some(_), None) => Direction::NoHistory,
                (Some(now), Some(mean)) => match figure.rounded(now).total_cmp(&figure.rounded(mean)) {
                    std::cmp::Ordering::Greater => Direction::Up,
                    std::cmp::Ordering::Less => Direction::Down,
                    std::cmp::Ordering::Equal => Direction::Flat,
                },
            };
            Trend {
                figure,
                this_week: now,
                previous: previous.iter().map(|w| WeekValue { week: w.week, value: figure.of(w) }).collect(),
                previous_mean,
                direction,
            }
        })
        .collect()
}
