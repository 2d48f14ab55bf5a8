//! Moving traffic: the router's desired state, claimed in the store before the router is
//! touched (so a stale or concurrent writer gets `RouterConflict` and moves nothing), applied,
//! read back, and recorded with before and after.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::plan::RouterSpec;
use crate::flow::trail::{record_close, record_with, renew_lock};
use crate::ports::ReleaseStore;
use crate::ports::{Fence, HookError, HookRunner, RouterError, StoreError, TrafficRouter};
use crate::release::route::{RouteStage, RouteState, RouteTarget, WeightChange, route_key};
use crate::release::{EventKind, Release, ReleaseStatus};

/// Who writes these events in the audit trail.
pub const ACTOR: &str = "traffic-switch";

#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    #[error("release {0} was not found; check the id")]
    ReleaseNotFound(String),
    #[error("release {id} is already {status}; its traffic is no longer rollgate's to move")]
    ReleaseClosed { id: String, status: &'static str },
    #[error("release {0} names no stable version; start releases with stable_version so that traffic can be split and restored")]
    NoStableVersion(String),
    #[error("step {step} does not exist; the plan has {steps} steps")]
    NoSuchStep { step: usize, steps: usize },
    #[error("router {router} reports {actual}% on the canary after setting {expected}%; check the router, then retry")]
    Mismatch { router: String, expected: u32, actual: u32 },
    #[error(
        "release {release_id} may not move to step {} without its approval: {why}. The trail records no decision that lets it; rollgate moved no traffic (was the execution resumed outside rollgate?)",
        .step.saturating_add(1)
    )]
    NotApproved { release_id: String, step: usize, why: String },
    #[error(
        "release {release_id} has already moved on to {claimed:?} on its route; a late {wanted:?} (a task that ran past its timeout) moves nothing"
    )]
    Superseded { release_id: String, claimed: RouteStage, wanted: RouteStage },
    #[error("before step {}'s traffic shift, {reason}; rollgate moved no traffic", .step.saturating_add(1))]
    HookFailed { release_id: String, step: usize, reason: String },
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error(transparent)]
    Router(#[from] RouterError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SwitchError {
    pub fn is_transient(&self) -> bool {
        match self {
            SwitchError::Router(e) => e.is_transient(),
            SwitchError::Store(e) => e.is_transient(),
            SwitchError::Hook(_) => true,
            _ => false,
        }
    }
}

/// Where to move a release's traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SwitchTarget {
    /// The weight of a plan step.
    Step(usize),
    /// 100% to the new version, which becomes stable; the release ends promoted.
    Promote,
}

#[derive(Clone, Debug)]
pub struct SwitchOutcome {
    pub release: Release,
    /// `None` when the router already had the weight (a no-op).
    pub change: Option<WeightChange>,
    pub weight: u32,
    /// The release moved to the step (with or without a weight change).
    pub step_started: bool,
}

/// Sets the traffic for `target`, idempotently. A step's `before_shift` hooks run first, once
/// (not again when the release is already at the step); one that fails moves nothing.
pub async fn switch(
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    hooks: &dyn HookRunner,
    release_id: &str,
    target: SwitchTarget,
    now: DateTime<Utc>,
) -> Result<SwitchOutcome, SwitchError> {
    let mut release = store.release(release_id).await?.ok_or_else(|| SwitchError::ReleaseNotFound(release_id.to_string()))?;
    if release.status == ReleaseStatus::Promoted && target == SwitchTarget::Promote {
        // A retried promotion whose answer was lost after the close: the caller finishes what
        // the close left (the announcement, then the lock).
        return Ok(SwitchOutcome { release, change: None, weight: 100, step_started: false });
    }
    if release.status.is_final() {
        return Err(SwitchError::ReleaseClosed { id: release.id.clone(), status: release.status.as_str() });
    }
    let steps = release.plan.traffic.steps.len();
    let (step, weight) = match target {
        SwitchTarget::Step(i) => {
            let step = release.plan.traffic.steps.get(i).ok_or(SwitchError::NoSuchStep { step: i, steps })?;
            (Some(i), step.weight)
        }
        SwitchTarget::Promote => (release.step, 100),
    };
    if let SwitchTarget::Step(i) = target
        && let Some(gate) = release.plan.approval_for_step(i)
    {
        // Defence in depth: the approval's task token resumes the execution, but only recorded
        // decisions move traffic.
        let trail = store.events(&release.id).await?;
        crate::flow::approval::granted(&trail, &gate.id, i).map_err(|why| SwitchError::NotApproved {
            release_id: release.id.clone(),
            step: i,
            why,
        })?;
    }
    renew_lock(store, &release, now).await?;
    if let SwitchTarget::Step(i) = target
        && release.step != Some(i)
        && release.plan.hooks_at(i, crate::domain::plan::HookRun::BeforeShift).next().is_some()
    {
        // A failure an earlier attempt recorded stands: a retried task must not run the test
        // again until it happens to pass.
        let recorded = store.events(&release.id).await?.iter().rev().find_map(|e| match &e.kind {
            EventKind::HooksRan { step, results } if *step == i => crate::domain::hook::failures(results),
            _ => None,
        });
        if let Some(reason) = recorded {
            return Err(SwitchError::HookFailed { release_id: release.id.clone(), step: i, reason });
        }
        let results = crate::flow::hooks::run(hooks, &release, i, crate::domain::plan::HookRun::BeforeShift, now).await?;
        if !results.is_empty() {
            let failed = crate::domain::hook::failures(&results);
            let id = release.id.clone();
            // Written with the release, over the revision read: a stale attempt (its process
            // paused while another attempt shifted) records nothing.
            release.updated_at = now;
            record_with(store, ACTOR, &id, Some(&mut release), now, vec![EventKind::HooksRan { step: i, results }]).await?;
            if let Some(reason) = failed {
                return Err(SwitchError::HookFailed { release_id: id, step: i, reason });
            }
        }
    }
    let route = RouteTarget::for_release(&release, step).ok_or_else(|| SwitchError::NoStableVersion(release.id.clone()))?;
    let stage = match target {
        SwitchTarget::Step(i) => RouteStage::Step(i),
        SwitchTarget::Promote => RouteStage::Promote,
    };
    let mut changes = apply(store, router, &route, weight, stage, now).await?;
    let change = changes.last().cloned();
    let step_started = release.step != step;
    if step_started && changes.is_empty() {
        // A step that keeps the weight (a 0% first step, a watch after 100%) still starts: the
        // trail says so, with the weight it set and found already there.
        let key = route_key(&route.router, &route.service, &route.environment);
        let route_version = store.route(&key).await?.map_or(0, |r| r.version);
        let dry_run = matches!(route.router, RouterSpec::DryRun {});
        changes.push(WeightChange { router: key, step, before: weight, after: weight, verified: weight, route_version, dry_run });
    }
    let resumed = release.status == ReleaseStatus::AwaitingApproval;
    if resumed {
        // Setting a step's weight means its approval (if any) was granted.
        release.status = ReleaseStatus::Progressing;
    }
    if resumed || !changes.is_empty() || step_started || release.canary_weight != weight {
        if release.step != step {
            release.step_started_at = Some(now);
            release.step_outcomes.clear();
            // A pause's bake time and a skip asked belong to the step they were asked at.
            release.paused_secs = 0;
            release.asked = None;
        }
        release.step = step;
        release.canary_weight = weight;
        release.updated_at = now;
        // The weight change and the release that carries it: one atomic write.
        let kinds = changes.into_iter().map(EventKind::WeightChanged).collect();
        let id = release.id.clone();
        record_with(store, ACTOR, &id, Some(&mut release), now, kinds).await?;
    }
    if target == SwitchTarget::Promote {
        let reason = format!("promoted: {} serves 100% of {} in {}", release.version, release.service, release.environment);
        // The caller announces the promotion, then gives the lock back.
        record_close(store, ACTOR, &mut release, ReleaseStatus::Promoted, &reason, now, Vec::new()).await?;
    }
    Ok(SwitchOutcome { release, change, weight, step_started })
}

/// Claims the route at its stored version, moves the router, reads it back. Returns the weight
/// changes to record, in order: first a change an earlier attempt of this release made (it moved
/// the router, then stopped before its trail write) that the trail does not know yet, then this
/// one. This one is left out when the router already carried `weight`: either the applied state
/// says so (then nothing is touched), or the router reported `weight` before the change (then
/// the route is still claimed, set and verified, but no weight change happened to record; e.g.
/// a rollback before any traffic moved). The caller records them with the release that carries
/// the new weight, in one write, so that the trail explains every weight the router carried.
pub async fn apply(
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    route: &RouteTarget,
    weight: u32,
    stage: RouteStage,
    now: DateTime<Utc>,
) -> Result<Vec<WeightChange>, SwitchError> {
    let key = route_key(&route.router, &route.service, &route.environment);
    // The weight the trail last recorded for this release (a closed one records no more, but
    // for what its seal finds: a stopped process's write that landed before the close).
    let sealing = stage == RouteStage::Closed;
    let recorded = store.release(&route.release_id).await?.filter(|r| !r.status.is_final() || sealing).map(|r| r.canary_weight);
    let stored = store.route(&key).await?;
    // Never back to an earlier stage of the same release; the claim below is conditional on the
    // version read here, so a later claim made meanwhile refuses this one too.
    if let Some(claimed) = stored.as_ref().filter(|s| s.release_id == route.release_id).and_then(|s| s.stage)
        && claimed > stage
    {
        return Err(SwitchError::Superseded { release_id: route.release_id.clone(), claimed, wanted: stage });
    }
    let same_versions =
        stored.as_ref().is_some_and(|s| s.stable_version == route.stable_version && s.canary_version == route.canary_version);
    // A rollback (and a seal) never trusts the applied record: a process that stopped between
    // its claim and its router write (a zombie) may have moved the router since; it reads the
    // router instead.
    let reads_router = matches!(stage, RouteStage::Rollback | RouteStage::Closed);
    let trusted = stored.as_ref().filter(|s| s.applied && same_versions && !reads_router);
    let dry_run = matches!(route.router, RouterSpec::DryRun {});
    let missed = |carried: u32, route_version: u64| {
        recorded.filter(|before| *before != carried).map(|before| WeightChange {
            router: key.clone(),
            step: None,
            before,
            after: carried,
            verified: carried,
            route_version,
            dry_run,
        })
    };
    let mut changes = Vec::with_capacity(2);
    if let Some(applied) = trusted {
        changes.extend(missed(applied.canary_weight, applied.version));
        // A promotion writes even then: its write makes a new router revision, so that a
        // rollback that read the router before it (the sweeper's, racing the execution) is
        // refused instead of landing after the release closed as promoted.
        if applied.canary_weight == weight && stage != RouteStage::Promote {
            for change in &mut changes {
                change.step = route.step;
            }
            return Ok(changes);
        }
    }
    // A claim of this release that was never confirmed: its weight may or may not have reached
    // the router, and the change it made (if any) is not in the audit trail yet.
    let unfinished = stored.as_ref().is_some_and(|s| (!s.applied || reads_router) && same_versions);
    // The router's revision, read before the claim: the write below is made only if the router
    // is still at it. A process that pauses between its claim and its write and resumes after
    // others moved on (a rollback, the next step, the seal of the close) then moves nothing.
    // Every move waits for a router it can read, a rollback too: an unfenced write could land
    // from a stopped process long after the release closed (the rollback retries instead).
    let reading = if dry_run { None } else { Some(router.read(route).await?) };
    let revision = reading.as_ref().and_then(|r| r.revision.clone());
    // What the route carried before this change.
    let before = match (trusted, &reading) {
        (Some(s), _) => s.canary_weight,
        // Unknown or unfinished: what the router routes now; a weight an unfinished claim left
        // there is a change of its own.
        (None, Some(reading)) => {
            if unfinished {
                changes.extend(missed(reading.weight, stored.as_ref().map_or(0, |s| s.version)));
            }
            reading.weight
        }
        // A dry run routes nothing: this release's share is what it last recorded, 0 at first.
        (None, None) => recorded.filter(|_| unfinished).unwrap_or(0),
    };
    let expected = stored.as_ref().map(|s| s.version);
    let mut state = RouteState {
        key: key.clone(),
        canary_weight: weight,
        stable_version: route.stable_version.clone(),
        canary_version: route.canary_version.clone(),
        release_id: route.release_id.clone(),
        version: expected.map_or(1, |v| v + 1),
        applied: false,
        updated_at: now,
        stage: Some(stage),
    };
    let fence = Fence { service: &route.service, environment: &route.environment, holder: &route.release_id };
    store.claim_route(&state, expected, fence).await?;
    let verified = if dry_run {
        weight
    } else {
        router.set_weight(route, weight, revision.as_deref()).await?;
        let actual = router.current_weight(route).await?;
        if actual != weight {
            return Err(SwitchError::Mismatch { router: key, expected: weight, actual });
        }
        actual
    };
    let claimed = state.version;
    state.version += 1;
    state.applied = true;
    store.claim_route(&state, Some(claimed), fence).await?;
    // Claimed, set and verified; unless the route already carried this weight, a change.
    if before != weight {
        changes.push(WeightChange {
            router: key,
            step: route.step,
            before,
            after: weight,
            verified,
            route_version: state.version,
            dry_run,
        });
    }
    Ok(changes)
}

/// Seals the route of closed `release`: claims it as [`RouteStage::Closed`] and writes the
/// weight the release closed on once more, as a new router revision. A process of the release
/// that claimed the route before the close and stopped before its router write (a zombie
/// rollback, the sweeper's racing a promotion) read the router before this write, so its write
/// is refused, not landed after the lock went back; a later claim is superseded. Returns the
/// change when a zombie had moved the router meanwhile (recorded by the caller). Nothing to seal
/// for a release that never routed, whose route another release claimed since, whose router
/// keeps no revisions (no write of it can be refused: only Lambda aliases do), or that is sealed
/// already.
pub async fn seal(
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    release: &Release,
    now: DateTime<Utc>,
) -> Result<Vec<WeightChange>, SwitchError> {
    let weight = match release.status {
        ReleaseStatus::Promoted => 100,
        ReleaseStatus::RolledBack | ReleaseStatus::Aborted => 0,
        _ => return Ok(Vec::new()),
    };
    let Some(route) = RouteTarget::for_release(release, release.step) else { return Ok(Vec::new()) };
    // Only a Lambda alias keeps revisions a write can be conditioned on: an ALB listener or a
    // webhook cannot refuse a late write, so a seal would add a write and protect nothing.
    if !matches!(route.router, RouterSpec::LambdaAlias { .. }) {
        return Ok(Vec::new());
    }
    let key = route_key(&route.router, &route.service, &route.environment);
    // A claim conflicts when a zombie of the release claimed in between: read again, claim again.
    let mut conflicts = 0;
    loop {
        let stored = store.route(&key).await?;
        let ours = stored.as_ref().filter(|s| s.release_id == release.id && s.canary_version == route.canary_version);
        match ours {
            None => return Ok(Vec::new()),
            Some(s) if s.stage == Some(RouteStage::Closed) && s.applied => return Ok(Vec::new()),
            Some(_) => {}
        }
        // An alias that reports no revision cannot refuse a late write either.
        if router.read(&route).await?.revision.is_none() {
            return Ok(Vec::new());
        }
        match apply(store, router, &route, weight, RouteStage::Closed, now).await {
            Err(SwitchError::Store(StoreError::RouterConflict { .. }) | SwitchError::Router(RouterError::Moved { .. }))
                if conflicts < 3 =>
            {
                conflicts += 1;
            }
            done => return done,
        }
    }
}

/// What a closed release does last: seal its route, record what the seal found a zombie had
/// moved, and give the lock back. `Ok(false)` when the lock was no longer this release's.
pub async fn hand_back(
    store: &dyn ReleaseStore,
    router: &dyn TrafficRouter,
    release: &Release,
    now: DateTime<Utc>,
) -> Result<bool, SwitchError> {
    let changes = match seal(store, router, release, now).await {
        Ok(changes) => changes,
        // Another release holds the service: its router is not this release's to touch.
        Err(SwitchError::Store(StoreError::LockLost { .. })) => return Ok(false),
        Err(e) => return Err(e),
    };
    if !changes.is_empty() {
        let kinds = changes.into_iter().map(EventKind::WeightChanged).collect();
        record_with(store, ACTOR, &release.id, None, now, kinds).await?;
    }
    Ok(store.release_lock(&release.service, &release.environment, &release.id).await?)
}

#[cfg(test)]
mod tests;
