//! CloudWatch alarms a plan trusts to stop a release (`rollback_alarms`, as CodeDeploy's): read
//! at every check and judged with its metrics. An alarm in ALARM rolls back at once; one that
//! cannot be found is never a pass.

use chrono::{DateTime, Utc};

use crate::domain::gate::{GateOutcome, GateVerdict};

pub use crate::domain::observation::{AlarmReading, AlarmState};

/// What the check makes of `reading`: its outcome and, unless it is fine, a sentence.
fn judged(reading: &AlarmReading) -> (GateOutcome, Option<String>) {
    let since = reading.since.map(|t| format!(" since {}", t.format("%H:%M"))).unwrap_or_default();
    let reason = reading.reason.as_ref().map(|r| format!(" ({})", crate::domain::text::clip(r, 200))).unwrap_or_default();
    match reading.state {
        AlarmState::Ok => (GateOutcome::Pass, None),
        // Not firing: CloudWatch has too little data to say (CodeDeploy treats it alike).
        AlarmState::InsufficientData => (GateOutcome::Pass, None),
        AlarmState::Alarm => (GateOutcome::Critical, Some(format!("alarm `{}` is in ALARM{since}{reason}", reading.name))),
        AlarmState::Missing => (
            GateOutcome::Inconclusive,
            Some(format!("alarm `{}` does not exist; an alarm that cannot be read is not a pass", reading.name)),
        ),
    }
}

/// `verdict` (or, for a plan that judges no metrics, a verdict of its own) with the plan's
/// `alarms` as `readings` found them: an alarm in ALARM is critical, a missing one (or one the
/// readings do not mention) inconclusive. The alarms' sentences lead the summary.
pub fn with_alarms(verdict: Option<GateVerdict>, alarms: &[String], readings: &[AlarmReading], now: DateTime<Utc>) -> GateVerdict {
    let mut verdict = verdict.unwrap_or_else(|| GateVerdict {
        outcome: GateOutcome::Pass,
        judged_at: now,
        metrics: Vec::new(),
        score: None,
        summary: String::new(),
        alarms: Vec::new(),
    });
    let metrics_fine = verdict.outcome == GateOutcome::Pass;
    let mut notes = Vec::new();
    for name in alarms {
        let reading = readings.iter().find(|r| &r.name == name).cloned().unwrap_or_else(|| AlarmReading {
            name: name.clone(),
            state: AlarmState::Missing,
            reason: None,
            since: None,
        });
        let (outcome, note) = judged(&reading);
        verdict.outcome = verdict.outcome.max(outcome);
        notes.extend(note);
        verdict.alarms.push(reading);
    }
    let quiet = format!("{} alarm(s) quiet", alarms.len());
    verdict.summary = match (notes.is_empty(), verdict.summary.is_empty() || (metrics_fine && verdict.metrics.is_empty())) {
        (true, true) => quiet,
        (true, false) => format!("{}; {quiet}", verdict.summary),
        (false, true) => notes.join("; "),
        (false, false) if metrics_fine => notes.join("; "),
        (false, false) => format!("{}; {}", notes.join("; "), verdict.summary),
    };
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(2026, 12, 1, 10, minute, 0).single().unwrap_or_default()
    }

    fn reading(name: &str, state: AlarmState) -> AlarmReading {
        AlarmReading {
            name: name.into(),
            state,
            reason: Some("Threshold Crossed: 3 datapoints were greater than 5.0".into()),
            since: Some(at(5)),
        }
    }

    #[test]
    fn an_alarm_in_alarm_is_critical_and_named_in_the_summary() {
        let names = ["checkout-5xx".to_string(), "checkout-latency".to_string()];
        let quiet = with_alarms(
            None,
            &names,
            &[reading("checkout-5xx", AlarmState::Ok), reading("checkout-latency", AlarmState::InsufficientData)],
            at(10),
        );
        assert_eq!((quiet.outcome, quiet.summary.as_str()), (GateOutcome::Pass, "2 alarm(s) quiet"));
        let firing =
            with_alarms(None, &names, &[reading("checkout-5xx", AlarmState::Alarm), reading("checkout-latency", AlarmState::Ok)], at(10));
        assert_eq!(firing.outcome, GateOutcome::Critical);
        assert_eq!(firing.summary, "alarm `checkout-5xx` is in ALARM since 10:05 (Threshold Crossed: 3 datapoints were greater than 5.0)");
        assert_eq!(firing.alarms.len(), 2, "the verdict carries every alarm as read");
    }

    #[test]
    fn a_missing_or_unread_alarm_is_never_a_pass() {
        let names = ["gone".to_string(), "unread".to_string()];
        let verdict = with_alarms(None, &names, &[reading("gone", AlarmState::Missing)], at(10));
        assert_eq!(verdict.outcome, GateOutcome::Inconclusive);
        assert!(
            verdict.summary.contains("alarm `gone` does not exist") && verdict.summary.contains("alarm `unread` does not exist"),
            "{}",
            verdict.summary
        );
    }
}
