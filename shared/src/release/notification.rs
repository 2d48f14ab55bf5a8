//! One message format for every release event: a JSON body for machines, a short summary for
//! people, attributes for filtering, and a Slack Block Kit rendering for chat.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::plan::NotificationEvent;
use crate::domain::text::clip;
use crate::release::{EventKind, Release, ReleaseEvent, ReleaseStatus};

/// Whether `trail` already records a notification (sent or failed) of `event`: a retried Task
/// announces once.
pub fn announced(trail: &[ReleaseEvent], event: NotificationEvent) -> bool {
    let name = event.as_str();
    trail.iter().any(|e| match &e.kind {
        EventKind::Notified { event, .. } | EventKind::NotificationFailed { event, .. } => event == name,
        _ => false,
    })
}

/// The notification that announces a release's end, for the ends that have one: an aborted
/// release is announced as rolled back when its traffic was (an operator's abort), and not at all
/// when it never moved any (an admission undone).
pub fn end_event(release: &Release, trail: &[ReleaseEvent]) -> Option<NotificationEvent> {
    match release.status {
        ReleaseStatus::RolledBack => Some(NotificationEvent::RolledBack),
        ReleaseStatus::Promoted => Some(NotificationEvent::Promoted),
        ReleaseStatus::Blocked => Some(NotificationEvent::Blocked),
        ReleaseStatus::Aborted if trail.iter().any(|e| matches!(e.kind, EventKind::RolledBack(_))) => Some(NotificationEvent::RolledBack),
        _ => None,
    }
}

/// Whether the end of closed `release` still waits to be announced: its plan asks for the
/// notification and `trail` records none.
pub fn end_unannounced(release: &Release, trail: &[ReleaseEvent]) -> bool {
    end_event(release, trail).filter(|e| release.plan.notifications.events.contains(e)).is_some_and(|e| !announced(trail, e))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// A release event as published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReleaseNotification {
    pub event: NotificationEvent,
    pub severity: Severity,
    pub release_id: String,
    pub service: String,
    pub environment: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_version: Option<String>,
    /// 1-based step for people, with the number of steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    pub steps: usize,
    pub canary_weight: u32,
    pub stable_weight: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The verdict's explanation (one line per metric or checklist item), when there is one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub explanation: Vec<String>,
    /// The short human summary.
    pub summary: String,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_channel: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    /// The approval a `waiting_for_approval` message asks for; Slack shows its buttons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalAsk>,
}

/// The pending approval: the plan's approval id and the (0-based) step it guards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalAsk {
    pub id: String,
    pub step: usize,
}

impl ReleaseNotification {
    /// Builds the notification of `event` for `release` as it stands now.
    pub fn new(event: NotificationEvent, release: &Release, reason: Option<String>, explanation: Vec<String>, at: DateTime<Utc>) -> Self {
        let steps = release.plan.traffic.steps.len();
        let (canary, stable) = (release.canary_weight, 100 - release.canary_weight.min(100));
        let who = format!("{} {} in {}", release.service, release.version, release.environment);
        let previous = release.stable_version.clone().unwrap_or_else(|| "the previous version".into());
        let next = release.step.and_then(|s| release.plan.traffic.steps.get(s + 1));
        let severity = match event {
            NotificationEvent::RolledBack => Severity::Critical,
            NotificationEvent::Blocked | NotificationEvent::WaitingForApproval => Severity::Warning,
            _ => Severity::Info,
        };
        let summary = match event {
            NotificationEvent::Started => format!("Deployment of {who} started; traffic shifts in {steps} steps."),
            NotificationEvent::StepAdvanced => format!(
                "{who}: {canary}% of traffic on the new version; metrics within bounds.{}",
                next.map(|n| format!(
                    " Next step: {}% after {} of baking.",
                    n.weight,
                    release.plan.traffic.steps[release.step.unwrap_or(0)].bake
                ))
                .unwrap_or_default()
            ),
            NotificationEvent::WaitingForApproval => format!("{who} is waiting for a Go/No-Go decision."),
            NotificationEvent::Promoted => format!(
                "Deployment of {who} completed: 100% of traffic on {} in {}.",
                release.version,
                crate::HumanDuration::from_secs(u64::try_from((at - release.created_at).num_seconds().max(0)).unwrap_or(0))
            ),
            NotificationEvent::Blocked => format!("Deployment of {who} is blocked before any traffic moved."),
            NotificationEvent::RolledBack => format!("URGENT: deployment of {who} was rolled back; {previous} serves 100% of traffic."),
        };
        let summary = match &reason {
            Some(r) => format!("{summary} Reason: {r}"),
            None => summary,
        };
        let mentions = if severity >= Severity::Warning && event != NotificationEvent::WaitingForApproval {
            release.plan.notifications.mention_on_failure.clone()
        } else {
            Vec::new()
        };
        Self {
            event,
            severity,
            release_id: release.id.clone(),
            service: release.service.clone(),
            environment: release.environment.clone(),
            version: release.version.clone(),
            stable_version: release.stable_version.clone(),
            step: release.step.map(|s| s + 1),
            steps,
            canary_weight: canary,
            stable_weight: stable,
            reason,
            explanation,
            summary,
            at,
            dashboard_url: release.plan.notifications.dashboard_url.clone(),
            slack_channel: release.plan.notifications.slack_channel.clone(),
            mentions,
            approval: None,
        }
    }

    pub fn event_name(&self) -> &'static str {
        self.event.as_str()
    }

    /// A subject line (SNS allows 100 characters).
    pub fn subject(&self) -> String {
        let label = match self.event {
            NotificationEvent::Started => "started",
            NotificationEvent::StepAdvanced => "progress",
            NotificationEvent::WaitingForApproval => "approval needed",
            NotificationEvent::Promoted => "complete",
            NotificationEvent::Blocked => "BLOCKED",
            NotificationEvent::RolledBack => "ROLLED BACK",
        };
        crate::domain::text::subject(&format!("[rollgate] {label}: {} {} in {}", self.service, self.version, self.environment))
    }

    /// Slack Block Kit (`{text, blocks}`), ready for chat.postMessage or an incoming webhook.
    pub fn slack(&self) -> Value {
        let icon = match self.event {
            NotificationEvent::Started => ":rocket:",
            NotificationEvent::StepAdvanced => ":large_blue_circle:",
            NotificationEvent::WaitingForApproval => ":raised_hand:",
            NotificationEvent::Promoted => ":white_check_mark:",
            NotificationEvent::Blocked => ":no_entry:",
            NotificationEvent::RolledBack => ":rotating_light:",
        };
        // Slack refuses a message whose texts exceed its limits (a header 150 characters, a
        // section 3000, a field 2000); an approver's comment or a long reason is clipped instead.
        let (header, section, field) = (|t: String| clip(&t, 150), |t: String| clip(&t, 3000), |t: String| clip(&t, 2000));
        let mentions = self.mentions.iter().map(|m| format!("<@{m}>")).collect::<Vec<_>>().join(" ");
        let mut fields = vec![
            json!({"type": "mrkdwn", "text": field(format!("*Service*\n{}", self.service))}),
            json!({"type": "mrkdwn", "text": field(format!("*Environment*\n{}", self.environment))}),
            json!({"type": "mrkdwn", "text": field(format!("*Version*\n{}{}", self.version, self.stable_version.as_ref().map(|s| format!(" (stable {s})")).unwrap_or_default()))}),
            json!({"type": "mrkdwn", "text": format!("*Traffic*\n{}% new / {}% stable", self.canary_weight, self.stable_weight)}),
        ];
        if let Some(step) = self.step {
            fields.push(json!({"type": "mrkdwn", "text": format!("*Step*\n{step} of {}", self.steps)}));
        }
        let mut blocks = vec![
            json!({"type": "header", "text": {"type": "plain_text", "text": header(format!("{} {}", icon, self.subject().trim_start_matches("[rollgate] "))), "emoji": true}}),
            json!({"type": "section", "text": {"type": "mrkdwn", "text": section(format!("{}{}", self.summary, if mentions.is_empty() { String::new() } else { format!("\n{mentions}") }))}}),
            json!({"type": "section", "fields": fields}),
        ];
        if !self.explanation.is_empty() {
            let lines = self.explanation.iter().map(|l| format!("• {l}")).collect::<Vec<_>>().join("\n");
            blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": section(format!("*Why*\n{lines}"))}}));
        }
        if let (NotificationEvent::WaitingForApproval, Some(ask)) = (self.event, &self.approval) {
            blocks.push(crate::release::slack::approval_buttons(&self.release_id, &ask.id, ask.step));
        }
        let mut context =
            vec![json!({"type": "mrkdwn", "text": format!("release `{}` · {}", self.release_id, self.at.format("%Y-%m-%d %H:%M UTC"))})];
        if let Some(url) = &self.dashboard_url {
            context.push(json!({"type": "mrkdwn", "text": format!("<{url}|Dashboard>")}));
        }
        blocks.push(json!({"type": "context", "elements": context}));
        let mut message = json!({"text": self.summary, "blocks": blocks});
        if let Some(channel) = &self.slack_channel {
            message["channel"] = json!(channel);
        }
        message
    }

    /// The published body: the notification's fields, with the Slack rendering beside them.
    pub fn body(&self) -> Value {
        let mut body = serde_json::to_value(self).unwrap_or_else(|_| json!({}));
        body["slack"] = self.slack();
        body
    }

    /// Message attributes subscribers filter on.
    pub fn attributes(&self) -> [(&'static str, String); 4] {
        [
            ("event", self.event_name().to_string()),
            ("severity", self.severity.as_str().to_string()),
            ("service", self.service.clone()),
            ("environment", self.environment.clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::plan::{PlanFormat, parse_plan};
    use crate::release::ReleaseStatus;

    fn release(step: Option<usize>, weight: u32) -> Release {
        let plan = parse_plan(
            "name: p\ntraffic:\n  router: { type: dry_run }\n  steps: [{ weight: 10, bake: 15m }, { weight: 50, bake: 30m }, { weight: 100, bake: 30m }]\n\
notifications: { mention_on_failure: [U0ONCALL], dashboard_url: https://grafana.example/d/deploy }\n",
            PlanFormat::Yaml,
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        let t0 = Utc.with_ymd_and_hms(2025, 11, 14, 9, 0, 0).single().unwrap_or_default();
        Release {
            id: "greenlang-api-1.2.3".into(),
            service: "greenlang-api".into(),
            environment: "production".into(),
            version: "1.2.3".into(),
            stable_version: Some("1.2.2".into()),
            author: None,
            requested_by: None,
            status: ReleaseStatus::Progressing,
            plan_hash: plan.content_hash(),
            plan,
            evidence: Default::default(),
            step,
            step_started_at: None,
            step_outcomes: Vec::new(),
            canary_weight: weight,
            created_at: t0,
            updated_at: t0,
            closed_reason: None,
            last_check: None,
            execution: None,
            paused: None,
            paused_secs: 0,
            asked: None,
            revision: 0,
        }
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 11, 14, 11, 5, 0).single().unwrap_or_default()
    }

    #[test]
    fn every_event_reads_like_the_runbook_templates() {
        let started = ReleaseNotification::new(NotificationEvent::Started, &release(None, 0), None, vec![], at());
        assert_eq!(started.summary, "Deployment of greenlang-api 1.2.3 in production started; traffic shifts in 3 steps.");
        let progress = ReleaseNotification::new(NotificationEvent::StepAdvanced, &release(Some(1), 50), None, vec![], at());
        assert_eq!(
            progress.summary,
            "greenlang-api 1.2.3 in production: 50% of traffic on the new version; metrics within bounds. Next step: 100% after 30m of baking."
        );
        assert_eq!((progress.step, progress.steps, progress.stable_weight), (Some(2), 3, 50));
        let done = ReleaseNotification::new(NotificationEvent::Promoted, &release(Some(2), 100), None, vec![], at());
        assert_eq!(done.summary, "Deployment of greenlang-api 1.2.3 in production completed: 100% of traffic on 1.2.3 in 2h5m.");
        let rolled =
            ReleaseNotification::new(NotificationEvent::RolledBack, &release(Some(1), 0), Some("error rate 7% > 5%".into()), vec![], at());
        assert_eq!(
            rolled.summary,
            "URGENT: deployment of greenlang-api 1.2.3 in production was rolled back; 1.2.2 serves 100% of traffic. Reason: error rate 7% > 5%"
        );
        assert_eq!((rolled.severity, rolled.mentions.clone()), (Severity::Critical, vec!["U0ONCALL".to_string()]));
        assert!(started.mentions.is_empty(), "nobody is paged for good news");
    }

    #[test]
    fn subjects_attributes_and_slack_blocks() {
        let mut long = release(Some(0), 10);
        long.service = "a-service-with-an-extraordinarily-long-name-that-keeps-going-and-going-and-going".into();
        let n = ReleaseNotification::new(
            NotificationEvent::Blocked,
            &long,
            Some("coverage 72% < 80%".into()),
            vec!["coverage: 72% < 80%".into()],
            at(),
        );
        assert!(n.subject().len() <= 100);
        assert_eq!(n.attributes()[0], ("event", "blocked".to_string()));
        assert_eq!(n.attributes()[1], ("severity", "warning".to_string()));
        let slack = n.slack();
        let blocks = slack["blocks"].as_array().cloned().unwrap_or_default();
        assert_eq!(blocks.first().and_then(|b| b["type"].as_str()), Some("header"));
        assert!(slack.to_string().contains("*Why*"), "the explanation is shown");
        assert!(slack.to_string().contains("<https://grafana.example/d/deploy|Dashboard>"));
        assert_eq!(n.body()["slack"], slack);
    }

    #[test]
    fn an_approval_request_carries_its_buttons() {
        let mut n = ReleaseNotification::new(NotificationEvent::WaitingForApproval, &release(Some(0), 10), None, vec![], at());
        assert!(!n.slack().to_string().contains("rollgate_approve"), "no buttons without an approval to decide");
        n.approval = Some(ApprovalAsk { id: "go-no-go".into(), step: 1 });
        let blocks = n.slack()["blocks"].as_array().cloned().unwrap_or_default();
        let actions = blocks.iter().find(|b| b["type"] == "actions").cloned().unwrap_or_default();
        let value = actions["elements"][0]["value"].as_str().unwrap_or_default();
        assert_eq!(
            serde_json::from_str::<crate::release::slack::ButtonValue>(value).ok(),
            Some(crate::release::slack::ButtonValue { release_id: "greenlang-api-1.2.3".into(), approval: "go-no-go".into(), step: 1 })
        );
    }
}
