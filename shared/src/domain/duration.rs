//! Human durations in plans (`15m`, `2h`, `1h30m`, `7d`).

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written the way people write them in runbooks: `30s`, `15m`, `2h`, `1h30m`, `7d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(std::time::Duration);

impl HumanDuration {
    pub const ZERO: Self = Self(std::time::Duration::ZERO);

    pub const fn from_secs(secs: u64) -> Self {
        Self(std::time::Duration::from_secs(secs))
    }

    pub fn as_secs(self) -> u64 {
        self.0.as_secs()
    }

    pub fn std(self) -> std::time::Duration {
        self.0
    }

    /// As a chrono duration, saturating at chrono's largest (plans bound their durations far
    /// below it; saturating keeps an absurd one from panicking).
    pub fn chrono(self) -> chrono::Duration {
        i64::try_from(self.0.as_secs()).ok().and_then(chrono::Duration::try_seconds).unwrap_or(chrono::Duration::MAX)
    }

    /// The time this long after `t`, saturating at the largest time chrono can hold.
    pub fn after(self, t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        t.checked_add_signed(self.chrono()).unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
    }

    /// The time this long before `t`, saturating at the earliest time chrono can hold.
    pub fn before(self, t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        t.checked_sub_signed(self.chrono()).unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<std::time::Duration> for HumanDuration {
    fn from(d: std::time::Duration) -> Self {
        Self(d)
    }
}

/// Why a duration string was not understood, worded as advice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationParseError {
    #[error("`{input}` is not a duration; write it like 30s, 15m, 2h, 1h30m or 7d")]
    Invalid { input: String },
    /// Too large for any clock (humantime's overflow); plans bound durations far below it.
    #[error("`{input}` is far too long to be a duration; plan durations are at most 3650d (a bake at most 30d)")]
    TooLong { input: String },
}

impl FromStr for HumanDuration {
    type Err = DurationParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        let input = || s.to_string();
        // A bare number is ambiguous (seconds? minutes?): refuse it rather than guess.
        if trimmed.is_empty() || trimmed.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(DurationParseError::Invalid { input: input() });
        }
        humantime::parse_duration(trimmed).map(Self).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => DurationParseError::TooLong { input: input() },
            _ => DurationParseError::Invalid { input: input() },
        })
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut secs = self.0.as_secs();
        if secs == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if secs >= size {
                write!(f, "{}{unit}", secs / size)?;
                secs %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }
}

/// Text is parsed; a bare number is refused with the units it could mean.
struct DurationVisitor;

impl serde::de::Visitor<'_> for DurationVisitor {
    type Value = HumanDuration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration like 30s, 15m, 2h or 7d")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HumanDuration, E> {
        v.parse().map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<HumanDuration, E> {
        Err(E::custom(format!("`{v}` has no unit; write {v}s, {v}m, {v}h or {v}d")))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<HumanDuration, E> {
        Err(E::custom(format!("`{v}` is not a duration; write a positive duration like 30s, 15m, 2h or 7d")))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<HumanDuration, E> {
        Err(E::custom(format!("`{v}` has no unit; write a duration like 90s, 15m, 2h or 7d")))
    }
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "HumanDuration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration such as 30s, 15m, 2h, 1h30m or 7d",
            "pattern": "^\\s*([0-9]+\\s*(ns|us|ms|s|sec|secs|m|min|mins|h|hr|hrs|hour|hours|d|day|days|w|week|weeks)\\s*)+$",
            "examples": ["15m", "2h", "1h30m", "7d"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_runbook_durations() {
        assert_eq!("15m".parse::<HumanDuration>().map(|d| d.as_secs()), Ok(900));
        assert_eq!("2h".parse::<HumanDuration>().map(|d| d.as_secs()), Ok(7200));
        assert_eq!("1h30m".parse::<HumanDuration>().map(|d| d.as_secs()), Ok(5400));
        assert_eq!("7d".parse::<HumanDuration>().map(|d| d.as_secs()), Ok(604_800));
    }

    #[test]
    fn refuses_bare_numbers_and_garbage() {
        assert!("15".parse::<HumanDuration>().is_err());
        assert!("".parse::<HumanDuration>().is_err());
        assert!("soon".parse::<HumanDuration>().is_err());
    }

    #[test]
    fn a_duration_too_long_for_any_clock_is_refused_without_panicking() {
        let huge = "300000000000000000000000d";
        assert_eq!(huge.parse::<HumanDuration>(), Err(DurationParseError::TooLong { input: huge.into() }));
        // Long but representable: parsed here, refused by plan validation (bake at most 30d).
        let long: HumanDuration = "300000000d".parse().unwrap_or_default();
        assert_eq!(long.as_secs(), 300_000_000 * 86_400);
        assert_eq!(long.after(chrono::DateTime::<chrono::Utc>::MIN_UTC), chrono::DateTime::<chrono::Utc>::MAX_UTC);
    }

    #[test]
    fn displays_compactly_and_round_trips() {
        for text in ["30s", "15m", "2h", "1h30m", "7d", "1d2h"] {
            let d: HumanDuration = text.parse().unwrap_or_default();
            assert_eq!(d.to_string(), text);
        }
    }
}
