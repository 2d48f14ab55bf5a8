//! Telling people: publish a release notification and record the outcome in the audit trail.

use crate::flow::trail::record;
use crate::ports::{Notifier, ReleaseStore, StoreError};
use crate::release::notification::ReleaseNotification;
pub use crate::release::notification::announced;
use crate::release::{EventKind, Release};

/// Publishes `event` for `release` if the plan asks for it, and records the outcome in the audit
/// trail. A failed publish never fails the caller: it is recorded for people to see.
pub async fn announce(
    store: &dyn ReleaseStore,
    notifier: &dyn Notifier,
    actor: &str,
    release: &Release,
    notification: &ReleaseNotification,
) -> Result<bool, StoreError> {
    if !release.plan.notifications.events.contains(&notification.event) {
        return Ok(false);
    }
    deliver(store, notifier, actor, release, notification).await
}

/// Publishes `notification` whatever the plan's event list says (an approval's buttons must
/// reach the approvers), and records the outcome in the audit trail.
pub async fn deliver(
    store: &dyn ReleaseStore,
    notifier: &dyn Notifier,
    actor: &str,
    release: &Release,
    notification: &ReleaseNotification,
) -> Result<bool, StoreError> {
    let event = notification.event_name().to_string();
    let kind = match notifier.publish(notification).await {
        Ok(()) => EventKind::Notified { event, via: Some(notifier.channel().into()) },
        Err(e) => EventKind::NotificationFailed { event, error: e.to_string(), via: Some(notifier.channel().into()) },
    };
    let published = matches!(kind, EventKind::Notified { .. });
    record(store, actor, &release.id, notification.at, kind).await?;
    Ok(published)
}
