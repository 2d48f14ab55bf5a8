//! The audit trail's time bucket: ISO weeks (the table's `by-week` index, the weekly review).

use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};

/// An ISO week (Monday to Monday, UTC), e.g. `2026-W47`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReviewWeek {
    pub year: i32,
    pub week: u32,
}

impl ReviewWeek {
    pub fn containing(at: DateTime<Utc>) -> Self {
        let week = at.iso_week();
        Self { year: week.year(), week: week.week() }
    }

    /// The last full week before `at`: what a Monday-morning schedule reviews.
    pub fn before(at: DateTime<Utc>) -> Self {
        Self::containing(at.checked_sub_signed(Duration::weeks(1)).unwrap_or(at))
    }

    /// Monday 00:00 UTC.
    pub fn start(self) -> DateTime<Utc> {
        NaiveDate::from_isoywd_opt(self.year, self.week, Weekday::Mon)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc())
            .unwrap_or_default()
    }

    /// The next Monday 00:00 UTC (exclusive).
    pub fn end(self) -> DateTime<Utc> {
        self.start().checked_add_signed(Duration::weeks(1)).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

impl fmt::Display for ReviewWeek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-W{:02}", self.year, self.week)
    }
}

impl std::str::FromStr for ReviewWeek {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not an ISO week; write it like 2026-W47");
        let (year, week) = s.trim().split_once("-W").ok_or_else(bad)?;
        let (year, week) = (year.parse::<i32>().map_err(|_| bad())?, week.parse::<u32>().map_err(|_| bad())?);
        NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).ok_or_else(|| format!("{year} has no week {week}"))?;
        Ok(Self { year, week })
    }
}

impl TryFrom<String> for ReviewWeek {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<ReviewWeek> for String {
    fn from(w: ReviewWeek) -> String {
        w.to_string()
    }
}
