//! What must hold after every step and at the end of every run (issue #13).

use rollgate::domain::gate::GateOutcome;
use rollgate::domain::plan::{InconclusivePolicy, NotificationEvent};
use rollgate::ports::ReleaseStore;
use rollgate::release::{EventKind, Release, ReleaseEvent, ReleaseStatus};

use crate::world::World;

/// Traffic on a router is only ever set by the release holding the service's lock (checked at
/// every router write).
pub const ROUTER_OWNER: &str = "router-owner";
/// The audit trail: gapless, no duplicates, in order (checked at every append and at the end),
/// and explaining every weight change (at the end).
pub const TRAIL: &str = "trail";
/// At the end every release is closed or provably waiting on a person.
pub const CLOSED: &str = "closed";
/// At the end no router is left split, and 100% is only on a promoted release's version.
pub const HALF_SHIFTED: &str = "half-shifted";
/// No release is promoted if a check of its final bake failed or was inconclusive beyond the
/// plan's allowance.
pub const FINAL_BAKE: &str = "final-bake";
/// A lock is held only by an open release, or one whose failed rollback is alarmed.
pub const LOCKS: &str = "locks";
/// Every notification that was due was sent or its failure recorded.
pub const NOTIFIED: &str = "notified";
/// A hook that failed stops its step: no promotion, and no shift past a failed `before_shift`.
pub const HOOKS: &str = "hooks";

pub const ALL: [&str; 8] = [ROUTER_OWNER, TRAIL, CLOSED, HALF_SHIFTED, FINAL_BAKE, LOCKS, NOTIFIED, HOOKS];

/// After every step: what the faulty adapters saw as it happened.
pub fn after_step(world: &World) -> Result<(), String> {
    match world.faults().take_violations().into_iter().next() {
        Some(violation) => Err(violation),
        None => Ok(()),
    }
}

/// At the end of the run, after the settling sweeps.
pub fn at_end(world: &World) -> Result<(), String> {
    after_step(world)?;
    let store = world.memory();
    let faults = world.faults();
    let mut releases = Vec::new();
    for (id, waiting) in world.release_ids() {
        let release = world.read(store.release(&id)).and_then(Result::ok).flatten();
        let events = world.read(store.events(&id)).and_then(Result::ok).unwrap_or_default();
        let Some(release) = release else { continue };
        faults.checked(CLOSED, 1);
        let waits_on_a_person = waiting && release.status == ReleaseStatus::AwaitingApproval;
        if !(release.status.is_final() || waits_on_a_person) {
            return Err(format!(
                "{CLOSED}: release {id} is still {} at the end ({} events; last: {})",
                release.status.as_str(),
                events.len(),
                events.last().map_or("none".to_string(), |e| e.kind.summary())
            ));
        }
        trail(&release, &events).map_err(|e| format!("{TRAIL}: {e}"))?;
        faults.checked(TRAIL, 1);
        final_bake(&release, &events).map_err(|e| format!("{FINAL_BAKE}: {e}"))?;
        faults.checked(FINAL_BAKE, 1);
        let published: Vec<String> = world.notifier().published().into_iter().filter(|p| p.release_id == id).map(|p| p.event).collect();
        notified(&release, &events, &published).map_err(|e| format!("{NOTIFIED}: {e}"))?;
        faults.checked(NOTIFIED, 1);
        hooks(&release, &events).map_err(|e| format!("{HOOKS}: {e}"))?;
        faults.checked(HOOKS, 1);
        releases.push((release, events, waiting));
    }
    let locks = world.read(store.locks()).and_then(Result::ok).unwrap_or_default();
    // The lock table is checked as a whole (usually empty at the end), then each lock left.
    faults.checked(LOCKS, 1);
    for lock in locks {
        faults.checked(LOCKS, 1);
        let Some((release, events, _)) = releases.iter().find(|(r, _, _)| r.id == lock.holder) else {
            return Err(format!("{LOCKS}: the lock of {} is held by {}, which was never stored", lock.service, lock.holder));
        };
        if release.status.is_final() || !alarmed(events) {
            return Err(format!(
                "{LOCKS}: the lock of {} is held by {} ({}) and no alarm says why",
                lock.service,
                lock.holder,
                release.status.as_str()
            ));
        }
    }
    for (key, alias) in world.router().aliases() {
        faults.checked(HALF_SHIFTED, 1);
        let writer = releases.iter().find(|(r, _, _)| Some(&r.id) == alias.writer.as_ref());
        let waiting = writer.is_some_and(|(_, _, waiting)| *waiting);
        if let Some((canary, weight)) = &alias.split
            && !waiting
        {
            return Err(format!(
                "{HALF_SHIFTED}: {key} is left with {weight}% on {canary} (last written by {})",
                alias.writer.as_deref().unwrap_or("nobody")
            ));
        }
        let service = key.trim_start_matches("lambda:").trim_end_matches(":live");
        if let Some((owner, _, _)) = releases.iter().find(|(r, _, _)| r.service == service && r.version == alias.version)
            && owner.status != ReleaseStatus::Promoted
            && !waiting
        {
            return Err(format!(
                "{HALF_SHIFTED}: {key} sends 100% to {} of release {}, which is {}",
                alias.version,
                owner.id,
                owner.status.as_str()
            ));
        }
        // The trail explains the weight the router carries.
        if let Some((writer, events, _)) = writer {
            faults.checked(TRAIL, 1);
            let share = if alias.version == writer.version {
                100
            } else {
                alias.split.as_ref().filter(|(canary, _)| *canary == writer.version).map_or(0, |(_, w)| *w)
            };
            let recorded = events.iter().rev().find_map(|e| match &e.kind {
                EventKind::WeightChanged(c) => Some(c.after),
                _ => None,
            });
            if recorded.unwrap_or(0) != share {
                return Err(format!(
                    "{TRAIL}: {key} carries {share}% of {}, but its trail's last weight change says {}",
                    writer.id,
                    recorded.map_or("nothing".to_string(), |w| format!("{w}%"))
                ));
            }
        }
    }
    Ok(())
}

/// Gapless, no duplicate, in order; each weight change starts where the previous one ended.
fn trail(release: &Release, events: &[ReleaseEvent]) -> Result<(), String> {
    let mut ids = std::collections::BTreeSet::new();
    let mut last_weight: Option<(u32, u64, u64)> = None;
    for (i, event) in events.iter().enumerate() {
        if event.seq != i as u64 + 1 {
            return Err(format!("{}: event {} has seq {} at position {}", release.id, event.kind.name(), event.seq, i + 1));
        }
        if event.release_id != release.id || !ids.insert(event.id.as_str()) {
            return Err(format!("{}: event {} (seq {}) is a duplicate or another release's", release.id, event.id, event.seq));
        }
        if let EventKind::WeightChanged(change) = &event.kind {
            if let Some((after, version, seq)) = last_weight {
                // A step that keeps the weight records it at the route version it found.
                let unchanged = change.before == change.after;
                if change.route_version < version || (change.route_version == version && !unchanged) {
                    return Err(format!(
                        "{}: weight change at seq {} has route version {} after {version} at seq {seq}",
                        release.id, event.seq, change.route_version
                    ));
                }
                if change.before != after {
                    return Err(format!(
                        "{}: the trail does not explain a weight change: seq {seq} left {after}%, seq {} starts from {}%",
                        release.id, event.seq, change.before
                    ));
                }
            }
            last_weight = Some((change.after, change.route_version, event.seq));
        }
    }
    Ok(())
}

/// A promoted release's final step: no critical check, no failure run as long as the plan's
/// limit, the last check not a failure, inconclusive checks within the allowance.
fn final_bake(release: &Release, events: &[ReleaseEvent]) -> Result<(), String> {
    if release.status != ReleaseStatus::Promoted {
        return Ok(());
    }
    let Some(analysis) = &release.plan.analysis else { return Ok(()) };
    let last = release.plan.traffic.steps.len().saturating_sub(1);
    let outcomes: Vec<GateOutcome> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::GateJudged { step, verdict, .. } if *step == last => Some(verdict.outcome),
            _ => None,
        })
        .collect();
    let mut run = 0u32;
    for outcome in &outcomes {
        run = if *outcome == GateOutcome::Fail { run + 1 } else { 0 };
        if *outcome == GateOutcome::Critical || run >= analysis.consecutive_failures.max(1) {
            return Err(format!("{} was promoted although its final bake's checks were {outcomes:?}", release.id));
        }
    }
    let inconclusive = outcomes.iter().filter(|o| matches!(o, GateOutcome::Inconclusive | GateOutcome::Marginal)).count();
    let last_outcome = outcomes.last().copied();
    let allowed = inconclusive <= analysis.max_inconclusive as usize
        || analysis.on_inconclusive == InconclusivePolicy::Pass
        || last_outcome == Some(GateOutcome::Pass);
    if last_outcome == Some(GateOutcome::Fail) || !allowed {
        return Err(format!("{} was promoted although its final bake's checks were {outcomes:?}", release.id));
    }
    Ok(())
}

/// A release whose trail records a failed hook was not promoted, and traffic never moved to a
/// step whose `before_shift` hooks failed.
fn hooks(release: &Release, events: &[ReleaseEvent]) -> Result<(), String> {
    let mut refused: Option<usize> = None;
    for event in events {
        match &event.kind {
            EventKind::HooksRan { step, results } if results.iter().any(|r| !r.passed()) => refused = Some(*step),
            EventKind::GateJudged { step, verdict, .. }
                if verdict.hooks.iter().any(|h| !h.passed()) && release.status == ReleaseStatus::Promoted =>
            {
                return Err(format!("{} was promoted although a hook failed at step {}", release.id, step + 1));
            }
            EventKind::WeightChanged(change) if change.step.is_some() && change.step == refused => {
                return Err(format!(
                    "{} moved traffic to step {} after that step's smoke test failed",
                    release.id,
                    change.step.map_or(0, |s| s + 1)
                ));
            }
            _ => {}
        }
    }
    if refused.is_some() && release.status == ReleaseStatus::Promoted {
        return Err(format!("{} was promoted although a before_shift hook failed", release.id));
    }
    Ok(())
}

/// The notifications a release's end makes due, each sent (the topic has it, or the trail says
/// so) or its failure recorded.
fn notified(release: &Release, events: &[ReleaseEvent], published: &[String]) -> Result<(), String> {
    let mut due = Vec::new();
    match release.status {
        ReleaseStatus::Promoted => due.push(NotificationEvent::Promoted),
        ReleaseStatus::RolledBack => due.push(NotificationEvent::RolledBack),
        // An operator's abort rolled the traffic back: announced as a rollback.
        ReleaseStatus::Aborted if events.iter().any(|e| matches!(e.kind, EventKind::RolledBack(_))) => {
            due.push(NotificationEvent::RolledBack)
        }
        ReleaseStatus::Blocked => due.push(NotificationEvent::Blocked),
        _ => {}
    }
    // Past admission: the state machine asked for an approval or set a step's weight (a
    // rollback's own weight change does not count).
    let went_on = events.iter().any(|e| match e.kind {
        EventKind::WeightChanged(_) => e.actor == rollgate::flow::tasks::actor::TRAFFIC_SWITCH,
        EventKind::ApprovalRequested { .. } => true,
        _ => false,
    });
    if went_on && release.status != ReleaseStatus::Blocked {
        due.push(NotificationEvent::Started);
    }
    for event in due.into_iter().filter(|e| release.plan.notifications.events.contains(e)) {
        if !rollgate::flow::notify::announced(events, event) && !published.iter().any(|p| p == event.as_str()) {
            return Err(format!(
                "{} is {} but its trail records no `{}` notification",
                release.id,
                release.status.as_str(),
                event.as_str()
            ));
        }
    }
    Ok(())
}

/// The release's failed rollback is on record (the state machine's alarm and the sweeper's
/// retries follow from it).
fn alarmed(events: &[ReleaseEvent]) -> bool {
    events
        .iter()
        .rev()
        .find(|e| !matches!(e.kind, EventKind::Notified { .. } | EventKind::NotificationFailed { .. }))
        .is_some_and(|e| matches!(e.kind, EventKind::RollbackFailed { .. }))
}
