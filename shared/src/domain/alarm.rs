//! CloudWatch alarms a plan trusts to stop a release (`rollback_alarms`, as CodeDeploy's): read
//! at every check and judged with its metrics. An alarm in ALARM rolls back at once; one that
//! cannot be found is never a pass.

use chrono::{DateTime, Utc};
use serde::Deserialize;

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
    let mut verdict = verdict.unwrap_or_else(|| GateVerdict::empty(now));
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
    let counts = !(verdict.summary.is_empty() || (metrics_fine && verdict.metrics.is_empty()));
    let trouble = (!notes.is_empty()).then(|| notes.join("; "));
    verdict.summary = crate::domain::gate::joined_summary(&verdict.summary, counts, metrics_fine, trouble, quiet);
    verdict
}

/// One line for an alarm that went to ALARM: its name, when, and CloudWatch's reason.
pub fn raised(alarm: &AlarmReading) -> String {
    let since = alarm.since.map(|t| format!(" at {}", t.format("%Y-%m-%d %H:%M:%S UTC"))).unwrap_or_default();
    let reason = alarm.reason.as_ref().map(|r| format!(" ({})", crate::domain::text::clip(r, 200))).unwrap_or_default();
    format!("alarm `{}` went to {}{since}{reason}", alarm.name, alarm.state.as_str())
}

/// Why an EventBridge event is not an alarm's state change rollgate can act on.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StateChangeError {
    #[error(
        "the event is not a CloudWatch alarm state change ({0}); route only `detail-type: CloudWatch Alarm State Change` from `aws.cloudwatch` to alarm-rollback"
    )]
    NotAStateChange(String),
    #[error("the alarm's new state `{0}` is none of ALARM, OK, INSUFFICIENT_DATA")]
    UnknownState(String),
}

#[derive(Deserialize)]
struct StateChangeEvent {
    #[serde(rename = "detail-type")]
    detail_type: String,
    #[serde(default)]
    time: Option<DateTime<Utc>>,
    detail: StateChangeDetail,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateChangeDetail {
    alarm_name: String,
    state: NewState,
}

#[derive(Deserialize)]
struct NewState {
    value: String,
    #[serde(default)]
    reason: Option<String>,
    /// CloudWatch writes `2026-12-01T10:04:40.985+0000` (no colon in the offset).
    #[serde(default)]
    timestamp: Option<String>,
}

/// The alarm and its new state from EventBridge's "CloudWatch Alarm State Change" event (metric
/// and composite alarms alike).
pub fn state_change(event: serde_json::Value) -> Result<AlarmReading, StateChangeError> {
    let event: StateChangeEvent = serde_json::from_value(event).map_err(|e| StateChangeError::NotAStateChange(e.to_string()))?;
    if event.detail_type != "CloudWatch Alarm State Change" {
        return Err(StateChangeError::NotAStateChange(format!("detail-type is `{}`", event.detail_type)));
    }
    let state = match event.detail.state.value.as_str() {
        "ALARM" => AlarmState::Alarm,
        "OK" => AlarmState::Ok,
        "INSUFFICIENT_DATA" => AlarmState::InsufficientData,
        other => return Err(StateChangeError::UnknownState(other.to_string())),
    };
    let changed = event.detail.state.timestamp.as_deref().and_then(|t| {
        DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f%z")
            .or_else(|_| DateTime::parse_from_rfc3339(t))
            .ok()
            .map(|t| t.with_timezone(&Utc))
    });
    Ok(AlarmReading { name: event.detail.alarm_name, state, reason: event.detail.state.reason, since: changed.or(event.time) })
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

    #[test]
    fn an_eventbridge_state_change_names_the_alarm_its_state_reason_and_time() {
        let event = serde_json::json!({
            "version": "0", "id": "c4c1c1c9", "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
            "account": "123456789012", "time": "2026-12-01T10:04:41Z", "region": "us-east-1",
            "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout-5xx"],
            "detail": {
                "alarmName": "checkout-5xx",
                "state": { "value": "ALARM", "reason": "Threshold Crossed: 1 datapoint [7.0] was greater than 5.0", "timestamp": "2026-12-01T10:04:40.985+0000" },
                "previousState": { "value": "OK", "reason": "fine", "timestamp": "2026-11-30T08:00:00.000+0000" },
                "configuration": { "metrics": [] }
            }
        });
        let alarm = state_change(event.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((alarm.name.as_str(), alarm.state), ("checkout-5xx", AlarmState::Alarm));
        assert_eq!(alarm.since.map(|t| t.timestamp_millis()), Some(at(4).timestamp_millis() + 40_985));
        assert_eq!(
            raised(&alarm),
            "alarm `checkout-5xx` went to ALARM at 2026-12-01 10:04:40 UTC (Threshold Crossed: 1 datapoint [7.0] was greater than 5.0)"
        );
        let mut other = event.clone();
        other["detail-type"] = "EC2 Instance State-change Notification".into();
        assert!(matches!(state_change(other), Err(StateChangeError::NotAStateChange(_))));
        let mut odd = event;
        odd["detail"]["state"]["value"] = "PENDING".into();
        assert_eq!(state_change(odd), Err(StateChangeError::UnknownState("PENDING".into())));
        assert!(state_change(serde_json::json!({ "detail-type": "CloudWatch Alarm State Change" })).is_err());
    }
}
