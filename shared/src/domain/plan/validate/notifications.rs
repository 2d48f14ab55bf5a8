//! The notifications section: which events are published, and to whom.

use std::collections::HashSet;

use super::Issues;
use crate::domain::plan::Notifications;

pub(super) fn check_notifications(notifications: &Notifications, issues: &mut Issues) {
    let path = "notifications";
    let mut seen = HashSet::new();
    for (i, event) in notifications.events.iter().enumerate() {
        if !seen.insert(*event) {
            issues.add(format!("{path}.events[{i}]"), format!("`{}` is listed twice", event.as_str()), "list each event once");
        }
    }
    if notifications.slack_channel.as_deref().is_some_and(|c| c.trim().is_empty()) {
        issues.add(format!("{path}.slack_channel"), "is empty", "name the channel, e.g. `#deploys`, or remove it");
    }
    for (i, who) in notifications.mention_on_failure.iter().enumerate() {
        if who.trim().is_empty() {
            issues.add(format!("{path}.mention_on_failure[{i}]"), "is empty", "name the person or group to mention");
        }
    }
    if let Some(url) = &notifications.dashboard_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        issues.add(format!("{path}.dashboard_url"), format!("`{url}` is not a web address"), "give the dashboard's https URL");
    }
}
