//! What the review keeps of its window's events: they come one at a time (a page of the weekly
//! index at a time) and each is cut down at once to what the tally reads of it, so that a
//! window of a million events never sits in memory as events. A gate check keeps each metric's
//! name, outcome and shared-failure line, not its datapoints; an event the tally never reads
//! (traffic moved, a notification, a hook) keeps only that its release was active that week.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{MAX_PREVIOUS_WEEKS, ReleaseFacts, ReviewWeek, window};
use crate::domain::checklist::Effect;
use crate::domain::decision::Action;
use crate::domain::gate::{GateOutcome, MetricOutcome};
use crate::release::{EventKind, ReleaseEvent, ReleaseStatus};

// A release's active weeks are the bits of a `u16`.
const _: () = assert!(MAX_PREVIOUS_WEEKS < 16);

/// The events of a review's window (its week and the weeks before it), as the review reads
/// them: fed one at a time in any order ([`ReviewInput::add`]), then reviewed
/// ([`ReviewInput::review`]). Events outside the window are ignored.
#[derive(Debug)]
pub struct ReviewInput {
    pub(super) week: ReviewWeek,
    /// The window's weeks, oldest first and the reviewed one last.
    pub(super) weeks: Vec<ReviewWeek>,
    /// Each week's start, then the window's end: which week an event falls in.
    bounds: Vec<DateTime<Utc>>,
    pub(super) releases: HashMap<String, Trail>,
    /// Metric names, checklist items, services, environments and versions: a handful of names
    /// repeated over a million events, each kept once.
    pub(super) names: Names,
}

/// One release's part of the window.
#[derive(Debug, Default)]
pub(super) struct Trail {
    /// The window's weeks (bit `i`: `weeks[i]`) in which the release has an event of any kind.
    pub active: u16,
    /// The events the tally reads, oldest first (by time, then sequence).
    pub events: Vec<Entry>,
}

#[derive(Debug)]
pub(super) struct Entry {
    pub at: DateTime<Utc>,
    pub seq: u64,
    pub kind: Kind,
}

/// What the tally reads of an event.
#[derive(Debug)]
pub(super) enum Kind {
    Admitted {
        service: Name,
        environment: Name,
        version: Name,
    },
    Closed(ReleaseStatus),
    GateJudged {
        failed: bool,
        metrics: Box<[MetricCheck]>,
    },
    /// A decision to roll back (other decisions are not read).
    RollbackDecided,
    RolledBack(Box<RolledBack>),
    ChecklistJudged(Box<Checklist>),
    ApprovalRequested {
        expires_at: DateTime<Utc>,
    },
    ApprovalDecided {
        approved: bool,
    },
}

/// One metric of a gate check.
#[derive(Debug)]
pub(super) struct MetricCheck {
    pub metric: Name,
    pub outcome: MetricOutcome,
    /// For a failed metric whose bound the stable version breached just as much, the line that
    /// says so ([`super::false_positives::shared_failure`]).
    pub shared_failure: Option<Box<str>>,
}

#[derive(Debug)]
pub(super) struct RolledBack {
    pub reason: String,
    pub time_to_restore_secs: i64,
    pub target_secs: Option<u64>,
    pub within_target: Option<bool>,
}

#[derive(Debug)]
pub(super) struct Checklist {
    /// Each item judged, with what it did to the release.
    pub items: Box<[(Name, Effect)]>,
    /// The overrides that were accepted.
    pub overrides: Box<[AcceptedOverride]>,
}

#[derive(Debug)]
pub(super) struct AcceptedOverride {
    pub item: String,
    pub approver: String,
    pub justification: String,
}

/// A name kept once in [`Names`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Name(u32);

#[derive(Debug, Default)]
pub(super) struct Names {
    ids: HashMap<Box<str>, Name>,
    names: Vec<Box<str>>,
}

impl Names {
    fn intern(&mut self, name: &str) -> Name {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        // More than 4 billion distinct names cannot come from one window's events: each is a
        // metric, checklist item, service, environment or version of one of its releases.
        let id = Name(u32::try_from(self.names.len()).unwrap_or(u32::MAX));
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    pub fn get(&self, name: Name) -> &str {
        self.names.get(name.0 as usize).map_or("", |n| n)
    }
}

impl ReviewInput {
    /// Nothing yet of the window of `week` and its `previous` weeks (see [`window`]).
    pub fn new(week: ReviewWeek, previous: usize) -> Self {
        let weeks = window(week, previous);
        let bounds = weeks.iter().map(|w| w.start()).chain([week.end()]).collect();
        Self { week, weeks, bounds, releases: HashMap::new(), names: Names::default() }
    }

    /// The weeks to read, oldest first and the reviewed one last.
    pub fn weeks(&self) -> &[ReviewWeek] {
        &self.weeks
    }

    /// Keeps what the review reads of `event`; an event outside the window is ignored.
    pub fn add(&mut self, event: &ReleaseEvent) {
        let Some(week) = self.week_of(event.at) else { return };
        let kind = self.kind_of(&event.kind);
        let id = event.release_id.as_str();
        if !self.releases.contains_key(id) {
            self.releases.insert(id.to_string(), Trail::default());
        }
        let Some(trail) = self.releases.get_mut(id) else { return };
        trail.active |= 1 << week;
        if let Some(kind) = kind {
            // The index reads a week in time order: an event mostly goes last. One that comes
            // later than an equal one (same time and sequence) goes after it, as a stable sort
            // would put it.
            let place = trail.events.partition_point(|e| (e.at, e.seq) <= (event.at, event.seq));
            trail.events.insert(place, Entry { at: event.at, seq: event.seq, kind });
        }
    }

    /// The releases without an `admitted` event in the window: their facts are read elsewhere.
    pub fn releases_not_admitted(&self) -> impl Iterator<Item = &str> {
        self.releases
            .iter()
            .filter(|(_, trail)| !trail.events.iter().any(|e| matches!(e.kind, Kind::Admitted { .. })))
            .map(|(id, _)| id.as_str())
    }

    /// The release's service, environment and version, from its first `admitted` event.
    pub(super) fn admitted(&self, id: &str, trail: &Trail) -> Option<ReleaseFacts> {
        trail.events.iter().find_map(|e| match e.kind {
            Kind::Admitted { service, environment, version } => Some(ReleaseFacts {
                id: id.to_string(),
                service: self.names.get(service).to_string(),
                environment: self.names.get(environment).to_string(),
                version: self.names.get(version).to_string(),
            }),
            _ => None,
        })
    }

    /// The index in `weeks` of the week `at` falls in.
    fn week_of(&self, at: DateTime<Utc>) -> Option<usize> {
        let after = self.bounds.partition_point(|start| *start <= at);
        (after > 0 && after < self.bounds.len()).then(|| after - 1)
    }

    fn kind_of(&mut self, kind: &EventKind) -> Option<Kind> {
        let names = &mut self.names;
        Some(match kind {
            EventKind::Admitted { service, environment, version, .. } => {
                Kind::Admitted { service: names.intern(service), environment: names.intern(environment), version: names.intern(version) }
            }
            EventKind::Closed { status, .. } => Kind::Closed(*status),
            EventKind::GateJudged { verdict, .. } => Kind::GateJudged {
                failed: matches!(verdict.outcome, GateOutcome::Fail | GateOutcome::Critical),
                metrics: verdict
                    .metrics
                    .iter()
                    .map(|m| MetricCheck {
                        metric: names.intern(&m.metric),
                        outcome: m.outcome,
                        shared_failure: matches!(m.outcome, MetricOutcome::Fail | MetricOutcome::Critical)
                            .then(|| super::false_positives::shared_failure(m))
                            .flatten()
                            .map(String::into_boxed_str),
                    })
                    .collect(),
            },
            EventKind::Decided(d) if d.action == Action::Rollback => Kind::RollbackDecided,
            EventKind::RolledBack(r) => Kind::RolledBack(Box::new(RolledBack {
                reason: r.reason.clone(),
                time_to_restore_secs: r.time_to_restore_secs,
                target_secs: r.target_secs,
                within_target: r.within_target,
            })),
            EventKind::ChecklistJudged(v) => Kind::ChecklistJudged(Box::new(Checklist {
                items: v.items.iter().map(|item| (names.intern(&item.id), item.effect)).collect(),
                overrides: v
                    .overrides
                    .iter()
                    .filter(|o| o.accepted)
                    .map(|o| AcceptedOverride {
                        item: o.request.item.clone(),
                        approver: o.request.approver.clone(),
                        justification: o.request.justification.clone(),
                    })
                    .collect(),
            })),
            EventKind::ApprovalRequested { expires_at, .. } => Kind::ApprovalRequested { expires_at: *expires_at },
            EventKind::ApprovalDecided { approved, .. } => Kind::ApprovalDecided { approved: *approved },
            _ => return None,
        })
    }
}
