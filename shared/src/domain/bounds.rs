//! Judging a value against [`Bounds`], with the words a person reads in a verdict.

use crate::domain::plan::Bounds;

impl Bounds {
    /// True when every given comparison holds.
    pub fn holds(&self, value: f64) -> bool {
        self.comparisons().iter().all(|(op, limit)| op.holds(value, *limit))
    }

    /// The first comparison the value does not meet, e.g. `(Below, 500.0)`.
    pub fn first_unmet(&self, value: f64) -> Option<(Comparison, f64)> {
        self.comparisons().into_iter().find(|(op, limit)| !op.holds(value, *limit))
    }

    /// `p95 < 500 ms`, `coverage ≥ 80 and ≤ 100`.
    pub fn describe(&self, subject: &str, unit: Option<&str>) -> String {
        let parts: Vec<String> =
            self.comparisons().iter().map(|(op, limit)| format!("{} {}", op.symbol(), with_unit(*limit, unit))).collect();
        format!("{subject} {}", parts.join(" and "))
    }

    fn comparisons(&self) -> Vec<(Comparison, f64)> {
        [
            (Comparison::AtLeast, self.at_least),
            (Comparison::Above, self.above),
            (Comparison::AtMost, self.at_most),
            (Comparison::Below, self.below),
        ]
        .into_iter()
        .filter_map(|(op, limit)| limit.map(|l| (op, l)))
        .collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    AtLeast,
    Above,
    AtMost,
    Below,
}

impl Comparison {
    pub fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Comparison::AtLeast => value >= limit,
            Comparison::Above => value > limit,
            Comparison::AtMost => value <= limit,
            Comparison::Below => value < limit,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::AtLeast => "≥",
            Comparison::Above => ">",
            Comparison::AtMost => "≤",
            Comparison::Below => "<",
        }
    }

    /// The symbol for a value that fails this comparison: `612 ms ≥ 500 ms` for `Below`.
    pub fn negated_symbol(self) -> &'static str {
        match self {
            Comparison::AtLeast => "<",
            Comparison::Above => "≤",
            Comparison::AtMost => ">",
            Comparison::Below => "≥",
        }
    }
}

/// A number as people write it (no trailing `.0`, at most 4 decimals), with its unit.
pub fn with_unit(value: f64, unit: Option<&str>) -> String {
    let number = format_number(value);
    match unit {
        None | Some("") => number,
        Some("%") => format!("{number}%"),
        Some(u) => format!("{number} {u}"),
    }
}

pub fn format_number(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.fract() == 0.0 && value.abs() < 1e15 {
        return format!("{}", value as i64);
    }
    // The shortest text of the value rounded to 4 decimals (fast, unlike fixed-precision output).
    let rounded = (value * 1e4).round() / 1e4;
    if rounded.is_finite() { format!("{rounded}") } else { format!("{value}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_exact() {
        let below = Bounds { below: Some(500.0), ..Bounds::default() };
        assert!(below.holds(499.999));
        assert!(!below.holds(500.0));
        let at_least = Bounds { at_least: Some(80.0), ..Bounds::default() };
        assert!(at_least.holds(80.0));
        assert!(!at_least.holds(79.99));
        assert_eq!(at_least.first_unmet(79.0), Some((Comparison::AtLeast, 80.0)));
    }

    #[test]
    fn nan_never_holds() {
        let b = Bounds { at_most: Some(1.0), ..Bounds::default() };
        assert!(!b.holds(f64::NAN));
    }

    #[test]
    fn describes_like_a_runbook() {
        let b = Bounds { below: Some(500.0), ..Bounds::default() };
        assert_eq!(b.describe("p95 latency", Some("ms")), "p95 latency < 500 ms");
        let r = Bounds { at_least: Some(0.0), at_most: Some(1.5), ..Bounds::default() };
        assert_eq!(r.describe("error rate", Some("%")), "error rate ≥ 0% and ≤ 1.5%");
        assert_eq!(format_number(0.001), "0.001");
        assert_eq!(format_number(84.25), "84.25");
    }
}
