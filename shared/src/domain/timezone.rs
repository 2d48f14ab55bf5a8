//! IANA time zones by name, for checklist windows, freezes, approval hours and deploy windows.
//!
//! The database is jiff's bundled copy of the IANA tz database: one compact blob of TZif data
//! in the binary, looked up by name and read when a zone is first used. (chrono-tz compiles every
//! zone's transitions into static tables of pointers: about 2 MB of relocated data per function,
//! fixed up by the loader at each cold start.) Names are matched exactly as written in the
//! database, as IANA spells them (`Europe/Berlin`, `UTC`).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// A time zone of the IANA database.
#[derive(Clone, Debug)]
pub struct Zone(jiff::tz::TimeZone);

impl Zone {
    /// The zone named `name`, spelled as the IANA database spells it; `None` when there is none.
    pub fn named(name: &str) -> Option<Self> {
        let zone = jiff::tz::db().get(name).ok()?;
        // The bundled database matches names without regard to case; plans name zones exactly.
        (zone.iana_name() == Some(name)).then_some(Self(zone))
    }

    /// Whether `name` is a zone of the IANA database.
    pub fn exists(name: &str) -> bool {
        Self::named(name).is_some()
    }

    /// The wall-clock time in this zone at `at` (every instant has exactly one).
    pub fn local(&self, at: DateTime<Utc>) -> NaiveDateTime {
        let civil = jiff::Timestamp::from_second(at.timestamp()).map(|t| self.0.to_datetime(t)).ok();
        civil
            .and_then(|c| {
                let date = NaiveDate::from_ymd_opt(i32::from(c.year()), u32::try_from(c.month()).ok()?, u32::try_from(c.day()).ok()?)?;
                let (hour, minute, second) =
                    (u32::try_from(c.hour()).ok()?, u32::try_from(c.minute()).ok()?, u32::try_from(c.second()).ok()?);
                date.and_hms_nano_opt(hour, minute, second, at.timestamp_subsec_nanos())
            })
            // Beyond the years both libraries can represent (±9999): the zone's offset no longer
            // matters to a release window.
            .unwrap_or_else(|| at.naive_utc())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn names_are_the_databases_exact_spelling() {
        for name in ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Etc/GMT+5", "US/Pacific"] {
            assert!(Zone::exists(name), "{name}");
        }
        for name in ["", "utc", "europe/berlin", "Europe/Nowhere", "Mars/Olympus", "../etc/passwd", "Europe/Berlin\0", "UTC "] {
            assert!(!Zone::exists(name), "{name:?}");
        }
    }

    #[test]
    fn local_time_follows_daylight_saving_as_wall_clocks_do() {
        let berlin = Zone::named("Europe/Berlin").unwrap_or_else(|| panic!("Europe/Berlin"));
        // Winter (UTC+1), summer (UTC+2), and both sides of the spring change on 2026-03-29.
        assert_eq!(berlin.local(utc("2026-01-15T12:00:00Z")), local("2026-01-15 13:00:00"));
        assert_eq!(berlin.local(utc("2026-07-15T12:00:00Z")), local("2026-07-15 14:00:00"));
        assert_eq!(berlin.local(utc("2026-03-29T00:59:59Z")), local("2026-03-29 01:59:59"));
        assert_eq!(berlin.local(utc("2026-03-29T01:00:00Z")), local("2026-03-29 03:00:00"));
        let kolkata = Zone::named("Asia/Kolkata").unwrap_or_else(|| panic!("Asia/Kolkata"));
        assert_eq!(kolkata.local(utc("2026-12-02T00:00:00Z")), local("2026-12-02 05:30:00"));
        let new_york = Zone::named("America/New_York").unwrap_or_else(|| panic!("America/New_York"));
        assert_eq!(new_york.local(utc("2026-11-01T05:30:00Z")), local("2026-11-01 01:30:00"));
        assert_eq!(new_york.local(utc("2026-11-01T06:30:00Z")), local("2026-11-01 01:30:00"));
    }

    #[test]
    fn utc_keeps_subseconds_and_instants_beyond_the_calendar_fall_back_to_utc() {
        let utc_zone = Zone::named("UTC").unwrap_or_else(|| panic!("UTC"));
        let now =
            Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).single().unwrap_or_else(|| panic!("date")) + chrono::Duration::milliseconds(250);
        assert_eq!(utc_zone.local(now), now.naive_utc());
        let max = DateTime::<Utc>::MAX_UTC;
        assert_eq!(utc_zone.local(max), max.naive_utc());
    }
}
