//! Backtest: a changed plan against the past releases of a service, from the datapoints each of
//! their metric checks kept in the trail (`gate_judged`). Where the trail cannot answer what the
//! new plan reads (a check recorded before checks kept their datapoints, datapoints cut to fit
//! the event, a new metric, another query, a longer window), [`read_again`] reads that check's
//! metrics from the metric source (CloudWatch) as the new plan queries them, at the check's
//! time, while CloudWatch still keeps datapoints of that period. Each recorded
//! check is judged again by the one gate check's verdict (`flow::gate_check::check_verdict`)
//! and decided by the one decision (`domain::decision::decide`) under the new plan; the first
//! check where the new plan rolls back is set against what happened.
//!
//! What neither the trail nor CloudWatch can say is said, never guessed:
//! - a check recorded before checks kept their datapoints, or whose datapoints for a metric of
//!   the new plan were cut to fit the event, and not read again, is not comparable, and neither
//!   is what follows it;
//! - a metric of the new plan that the old checks did not read (a new metric, another query, a
//!   longer window), and not read again, is left out of the judgement, and the release's notes
//!   say so (with why it was not read again: too old for CloudWatch, or CloudWatch's error);
//! - checks are mapped to the new plan's steps by step index; when the plans' steps differ, the
//!   notes say so;
//! - a release's checks end where it rolled back, so "later" cannot be told from "not at all":
//!   a new plan that passes every recorded check is reported as not rolling back at them.
//!
//! Operators' pauses and skips and the platform's freezes are not replayed: they hold or count
//! a bake, never turn a rollback into a pass.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::HumanDuration;
use crate::domain::decision::{Action, Decision, StepProgress, decide};
use crate::domain::gate::{GateOutcome, GateVerdict, MetricOutcome};
use crate::domain::observation::{lookback, period};
use crate::domain::plan::{Analysis, Plan};
use crate::domain::query::{cloudwatch_keeps, range_start};
use crate::domain::recorded::RecordedCheck;
use crate::flow::gate_check::{check_verdict, observe, query_context};
use crate::ports::{MetricError, MetricSource, ReleaseStore, StoreError, WeeklyEvents};
use crate::release::week::ReviewWeek;
use crate::release::{EventKind, Release, ReleaseEvent, ReleaseStatus};

/// A past release: its record (with the plan it ran), its audit trail, oldest first, and what
/// [`read_again`] read for the checks whose trail could not answer the new plan.
#[derive(Clone, Debug)]
pub struct PastRelease {
    pub release: Release,
    pub trail: Vec<ReleaseEvent>,
    /// By the index of the check's `gate_judged` event in `trail`: its datapoints as the new
    /// plan queries them, or why they could not be read.
    pub read_again: BTreeMap<usize, Result<RecordedCheck, String>>,
}

impl PastRelease {
    pub fn new(release: Release, trail: Vec<ReleaseEvent>) -> Self {
        Self { release, trail, read_again: BTreeMap::new() }
    }
}

/// How the new plan's decision compares with what happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// Rolled back at the same check, or neither rolled back.
    Same,
    /// The new plan rolls back at an earlier check (or at all, where the release was promoted).
    Earlier,
    /// The release rolled back; the new plan rolls back at none of its recorded checks.
    NotAtAll,
    /// A check the new plan needs could not be judged again (see `not_comparable`).
    NotComparable,
}

impl Comparison {
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Same => "same",
            Comparison::Earlier => "earlier",
            Comparison::NotAtAll => "not at all",
            Comparison::NotComparable => "not comparable",
        }
    }
}

/// A metric that did not hold at a check: its bound and what was seen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Breach {
    pub metric: String,
    pub outcome: MetricOutcome,
    pub bound: String,
    pub observed: String,
}

/// Where a release rolls back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RollbackPoint {
    /// The check (1 is the release's first recorded check); absent for a rollback between
    /// checks (an alarm, an operator's abort, a rejected approval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<usize>,
    /// The step (0-based, as the trail counts) and the check's place in it (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_in_step: Option<usize>,
    pub at: DateTime<Utc>,
    pub reason: String,
    /// The metrics that failed the check, with their values and bounds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breaches: Vec<Breach>,
}

impl RollbackPoint {
    /// `step 2 check 3 (09:41)`, or `after its last check (09:50)`.
    pub fn place(&self) -> String {
        match (self.step, self.check_in_step) {
            (Some(step), Some(check)) => format!("step {} check {check} ({})", step + 1, self.at.format("%m-%d %H:%M")),
            _ => format!("after its last check ({})", self.at.format("%m-%d %H:%M")),
        }
    }

    /// The first breach as `metric: observed vs bound`, or the reason.
    pub fn cause(&self) -> String {
        match self.breaches.first() {
            Some(b) => format!("{}: {} vs {}", b.metric, b.observed, b.bound),
            None => self.reason.clone(),
        }
    }
}

/// One past release under the new plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReleaseBacktest {
    pub release_id: String,
    pub version: String,
    pub environment: String,
    pub status: ReleaseStatus,
    pub started_at: DateTime<Utc>,
    /// Metric checks recorded in its trail.
    pub checks: usize,
    /// Of those, the checks the new plan judged (up to its rollback or promotion, or to the
    /// first it could not judge).
    pub judged: usize,
    /// Of those, the checks judged on datapoints read again from CloudWatch.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub read_from_cloudwatch: usize,
    /// Where it rolled back (absent: it did not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub happened: Option<RollbackPoint>,
    /// Where the new plan rolls back (absent: at none of the checks it could judge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_plan: Option<RollbackPoint>,
    pub comparison: Comparison,
    /// Why the replay stopped, at which check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_comparable: Option<String>,
    /// What the comparison leaves out (metrics not read, steps mapped by index).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Every release's backtest, and how many of each comparison.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Backtest {
    pub plan: String,
    pub releases: Vec<ReleaseBacktest>,
    pub same: usize,
    pub earlier: usize,
    pub not_at_all: usize,
    pub not_comparable: usize,
    /// Checks judged on datapoints read again from CloudWatch, over all releases.
    #[serde(default)]
    pub read_from_cloudwatch: usize,
}

/// Replays `releases` (oldest first or any order; reported in that order) under `plan`.
pub fn backtest(plan: &Plan, releases: &[PastRelease]) -> Backtest {
    let mut out = Backtest { plan: plan.name.clone(), ..Backtest::default() };
    for past in releases {
        let replayed = replay(plan, past);
        match replayed.comparison {
            Comparison::Same => out.same += 1,
            Comparison::Earlier => out.earlier += 1,
            Comparison::NotAtAll => out.not_at_all += 1,
            Comparison::NotComparable => out.not_comparable += 1,
        }
        out.read_from_cloudwatch += replayed.read_from_cloudwatch;
        out.releases.push(replayed);
    }
    out
}

/// One recorded metric check and the decision recorded with it.
struct PastCheck<'a> {
    /// Its `gate_judged` event's index in the trail.
    event: usize,
    step: usize,
    verdict: &'a GateVerdict,
    datapoints: Option<&'a RecordedCheck>,
    /// What [`read_again`] read for it.
    read_again: Option<&'a Result<RecordedCheck, String>>,
    decision: Option<&'a Decision>,
    /// When the step's weight was last set before the check.
    step_set_at: Option<DateTime<Utc>>,
}

impl PastCheck<'_> {
    /// When the step being judged began: as the check recorded it, else when its weight was set.
    fn step_began(&self) -> Option<DateTime<Utc>> {
        self.datapoints.and_then(|d| d.since).or(self.step_set_at)
    }
}

fn recorded_checks(past: &PastRelease) -> Vec<PastCheck<'_>> {
    let trail = &past.trail;
    let mut checks: Vec<PastCheck<'_>> = Vec::new();
    let mut step_set_at = None;
    for (i, event) in trail.iter().enumerate() {
        match &event.kind {
            EventKind::WeightChanged(change) if change.step.is_some() => step_set_at = Some(event.at),
            EventKind::GateJudged { step, verdict, datapoints } => {
                // The decision is written with its verdict, right after it.
                let decision = trail.get(i + 1).and_then(|e| match &e.kind {
                    EventKind::Decided(d) => Some(d),
                    _ => None,
                });
                checks.push(PastCheck {
                    event: i,
                    step: *step,
                    verdict,
                    datapoints: datapoints.as_ref(),
                    read_again: past.read_again.get(&i),
                    decision,
                    step_set_at,
                });
            }
            _ => {}
        }
    }
    checks
}

/// What one past release would have done under `plan`.
pub fn replay(plan: &Plan, past: &PastRelease) -> ReleaseBacktest {
    let release = &past.release;
    let checks = recorded_checks(past);
    let numbered = number_in_steps(&checks);
    let happened = happened(past, &checks, &numbered);
    let mut notes = BTreeSet::new();
    if differs(&release.plan, plan) {
        notes.insert("the plans' steps differ (weights, bakes or count): checks are mapped to the new plan's steps by step index".into());
    }
    let mut new_plan = None;
    let mut not_comparable = None;
    let mut prior: Vec<GateOutcome> = Vec::new();
    let mut judged_checks = 0;
    let mut read_from_cloudwatch = 0;
    for (i, check) in checks.iter().enumerate() {
        if i == 0 || checks.get(i - 1).is_some_and(|c| c.step != check.step) {
            prior.clear();
        }
        let place = numbered.get(i).copied().unwrap_or_default();
        let judged = match judge_again(plan, &release.plan, check, &prior, &mut notes) {
            Ok(judged) => judged,
            Err(why) => {
                not_comparable = Some(format!("step {} check {}: {why}", check.step + 1, place));
                break;
            }
        };
        let (verdict, decision) = judged;
        judged_checks += 1;
        read_from_cloudwatch += usize::from(check.read_again.is_some_and(|r| r.is_ok()));
        if let Some(v) = &verdict {
            prior.push(v.outcome);
        }
        match decision.action {
            Action::Rollback => {
                new_plan = Some(point(i, check.step, place, check.verdict.judged_at, &decision.reason, verdict.as_ref()));
                break;
            }
            Action::Promote => {
                if check.decision.is_none_or(|d| d.action != Action::Promote) {
                    notes.insert(format!(
                        "the new plan promotes at step {} check {place}, before the release's later checks",
                        check.step + 1
                    ));
                }
                break;
            }
            Action::Advance if check.decision.is_some_and(|d| d.action == Action::Bake) => {
                notes.insert(format!(
                    "the new plan advances from step {} at check {place}, where the release kept baking; its later checks there are judged as the new plan's",
                    check.step + 1
                ));
            }
            _ => {}
        }
    }
    // A rollback between checks (an alarm, an abort, a rejected approval) was no check's
    // decision: the new plan passing every check meets it all the same.
    let at = |p: &Option<RollbackPoint>| p.as_ref().map(|p| p.check.unwrap_or(usize::MAX));
    let comparison = match (at(&happened), at(&new_plan)) {
        (old, Some(new)) if old.is_none_or(|old| new < old) => Comparison::Earlier,
        (_, Some(_)) => Comparison::Same,
        _ if not_comparable.is_some() => Comparison::NotComparable,
        (None | Some(usize::MAX), None) => Comparison::Same,
        (Some(_), None) => Comparison::NotAtAll,
    };
    ReleaseBacktest {
        release_id: release.id.clone(),
        version: release.version.clone(),
        environment: release.environment.clone(),
        status: release.status,
        started_at: release.created_at,
        checks: checks.len(),
        judged: judged_checks,
        read_from_cloudwatch,
        happened,
        new_plan,
        comparison,
        not_comparable,
        notes: notes.into_iter().collect(),
    }
}

/// Each check's place in its step (1-based).
fn number_in_steps(checks: &[PastCheck<'_>]) -> Vec<usize> {
    let mut out = Vec::with_capacity(checks.len());
    let mut n = 0;
    for (i, check) in checks.iter().enumerate() {
        n = if i > 0 && checks.get(i - 1).is_some_and(|c| c.step == check.step) { n + 1 } else { 1 };
        out.push(n);
    }
    out
}

/// Where the release rolled back: at the check that decided it, or between checks.
fn happened(past: &PastRelease, checks: &[PastCheck<'_>], numbered: &[usize]) -> Option<RollbackPoint> {
    if let Some(i) = checks.iter().position(|c| c.decision.is_some_and(|d| d.action == Action::Rollback)) {
        let check = checks.get(i)?;
        let reason = check.decision.map(|d| d.reason.as_str()).unwrap_or_default();
        return Some(point(i, check.step, numbered.get(i).copied().unwrap_or(1), check.verdict.judged_at, reason, Some(check.verdict)));
    }
    if !matches!(past.release.status, ReleaseStatus::RolledBack | ReleaseStatus::Aborted) {
        return None;
    }
    let rolled = past.trail.iter().find_map(|e| match &e.kind {
        EventKind::RolledBack(r) => Some((e.at, r.reason.clone())),
        _ => None,
    });
    let (at, reason) =
        rolled.unwrap_or_else(|| (past.release.updated_at, past.release.closed_reason.clone().unwrap_or_else(|| "rolled back".into())));
    Some(RollbackPoint { check: None, step: None, check_in_step: None, at, reason, breaches: Vec::new() })
}

fn point(index: usize, step: usize, in_step: usize, at: DateTime<Utc>, reason: &str, verdict: Option<&GateVerdict>) -> RollbackPoint {
    let breaches = verdict
        .map(|v| {
            v.metrics
                .iter()
                .filter(|m| matches!(m.outcome, MetricOutcome::Fail | MetricOutcome::Critical))
                .flat_map(|m| {
                    m.checks.iter().filter(|c| !c.held).map(|c| Breach {
                        metric: m.metric.clone(),
                        outcome: m.outcome,
                        bound: c.bound.clone(),
                        observed: c.observed.clone(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    RollbackPoint { check: Some(index + 1), step: Some(step), check_in_step: Some(in_step), at, reason: reason.to_string(), breaches }
}

/// Whether the plans' steps differ in count, weight or bake.
fn differs(old: &Plan, new: &Plan) -> bool {
    let steps = |p: &Plan| p.traffic.steps.iter().map(|s| (s.weight, s.bake.as_secs())).collect::<Vec<_>>();
    steps(old) != steps(new)
}

/// One recorded check judged and decided under `plan`; the error says why it cannot be.
fn judge_again(
    plan: &Plan,
    old_plan: &Plan,
    check: &PastCheck<'_>,
    prior: &[GateOutcome],
    notes: &mut BTreeSet<String>,
) -> Result<(Option<GateVerdict>, Decision), String> {
    let step = check.step;
    if step >= plan.traffic.steps.len() {
        return Err(format!("the new plan has no step {}", step + 1));
    }
    let now = check.verdict.judged_at;
    let analysis = plan.analysis_at(step).filter(|a| !a.metrics.is_empty());
    let mut observation = None;
    let mut kept = None;
    if let Some(analysis) = analysis {
        // Read again as the new plan queries them, or the trail's, read as the old plan queried.
        let old_analysis = old_plan.analysis_at(step);
        if let Some(Err(why)) = check.read_again {
            notes.insert(format!("not read again from CloudWatch: {why}"));
        }
        let (datapoints, queried) = match check.read_again {
            Some(Ok(read)) => (Some(read), Some(&*analysis)),
            _ => (check.datapoints, old_analysis.as_deref()),
        };
        let datapoints = datapoints.ok_or("recorded before metric checks kept their datapoints")?;
        let judged = readable(&analysis, queried, datapoints, now, notes)?;
        observation = Some(datapoints.observation(now).ok_or("its recorded datapoints do not add up")?);
        kept = Some(judged);
    }
    // The new plan's alarms, as this check read them; one it did not read is left out.
    let read: Vec<String> = plan.rollback_alarms.iter().filter(|a| check.verdict.alarms.iter().any(|r| &r.name == *a)).cloned().collect();
    for alarm in plan.rollback_alarms.iter().filter(|a| !read.contains(a)) {
        notes.insert(format!("alarm `{alarm}` left out: the old checks did not read it"));
    }
    let verdict = check_verdict(kept.as_ref().zip(observation.as_ref()), &read, &check.verdict.alarms, &check.verdict.hooks, now);
    let started_at = check.step_began().unwrap_or(now);
    let progress = StepProgress { step, started_at, prior: prior.to_vec() };
    let decision = decide(plan, &progress, verdict.as_ref(), now);
    Ok((verdict, decision))
}

/// The new analysis with only the metrics this check read as the new plan would (same query,
/// a window within what was read); the others go into the notes. A metric whose datapoints were
/// cut, or a step where none is left, is not comparable.
fn readable(
    analysis: &Analysis,
    old: Option<&Analysis>,
    datapoints: &RecordedCheck,
    now: DateTime<Utc>,
    notes: &mut BTreeSet<String>,
) -> Result<Analysis, String> {
    let mut kept = analysis.clone();
    kept.metrics.retain(|m| {
        let why = if datapoints.cut.contains(&m.name) {
            return true;
        } else if !datapoints.metrics.contains_key(&m.name) {
            Some("the old checks did not read it")
        } else if old.and_then(|o| o.metrics.iter().find(|g| g.name == m.name)).is_none_or(|g| g.query != m.query) {
            Some("its query differs from the one the old checks read")
        } else if lookback(analysis, m).before(now) < datapoints.from {
            Some("its window reaches back further than the old checks read")
        } else {
            None
        };
        if let Some(why) = why {
            notes.insert(format!("metric `{}` left out: {why}", m.name));
        }
        why.is_none()
    });
    if let Some(cut) = kept.metrics.iter().find(|m| datapoints.cut.contains(&m.name)) {
        return Err(format!("the datapoints of `{}` were cut to keep the event within DynamoDB's item size", cut.name));
    }
    if kept.metrics.is_empty() {
        return Err("none of the new plan's metrics at this step were read by the check".into());
    }
    Ok(kept)
}

/// Reads again, through `source` (CloudWatch), the metrics of every check of `releases` whose
/// trail cannot answer what `plan` reads at its step (see [`readable`]): as `plan` queries them,
/// at the check's time, when CloudWatch still keeps datapoints of their period at `now`. What
/// could not be read is kept with why, and the backtest then judges on the trail as far as it
/// goes. After CloudWatch refuses once (the SDK has retried what was worth retrying), the other
/// checks are not asked for: a missing permission would otherwise cost a round of retries per
/// check. Returns how many checks were read.
pub async fn read_again(source: &dyn MetricSource, plan: &Plan, releases: &mut [PastRelease], now: DateTime<Utc>) -> usize {
    let mut read = 0;
    let mut refused: Option<String> = None;
    for past in releases.iter_mut() {
        let mut wanted = Vec::new();
        for check in recorded_checks(past) {
            let Some(analysis) = plan.analysis_at(check.step).filter(|a| !a.metrics.is_empty()) else { continue };
            let at = check.verdict.judged_at;
            let old = past.release.plan.analysis_at(check.step);
            let answered = check.datapoints.is_some_and(|d| {
                readable(&analysis, old.as_deref(), d, at, &mut BTreeSet::new())
                    .is_ok_and(|kept| kept.metrics.len() == analysis.metrics.len())
            });
            if !answered {
                wanted.push((check.event, analysis, at, check.step_began()));
            }
        }
        for (event, analysis, at, since) in wanted {
            let finest = analysis.metrics.iter().map(period).min().unwrap_or(60);
            let keeps = cloudwatch_keeps(finest);
            let outcome = if now.checked_sub_signed(keeps).is_none_or(|kept_from| range_start(&analysis, at) < kept_from) {
                let (period, keeps) =
                    (HumanDuration::from_secs(finest.into()), HumanDuration::from_secs(keeps.num_seconds().unsigned_abs()));
                Err(format!("older than CloudWatch keeps datapoints of a {period} period ({keeps})"))
            } else if let Some(why) = &refused {
                Err(format!("{why}; not asked again for the other checks"))
            } else {
                match observe(source, &analysis, &query_context(&past.release), at).await {
                    Ok(mut observation) => {
                        observation.since = since;
                        read += 1;
                        Ok(RecordedCheck::of(&analysis, &observation))
                    }
                    // This release's queries cannot be made (a baseline without a stable version).
                    Err(e @ MetricError::Plan(_)) => Err(e.to_string()),
                    Err(e) => {
                        let why = format!("CloudWatch could not be read ({e})");
                        refused = Some(why.clone());
                        Err(why)
                    }
                }
            };
            past.read_again.insert(event, outcome);
        }
    }
    read
}

/// The ended releases of `service` (in `environment`, if given) admitted from `since` to `now`,
/// oldest first, with their trails: found by their admission in the weekly index.
pub async fn past_releases(
    index: &dyn WeeklyEvents,
    store: &dyn ReleaseStore,
    service: &str,
    environment: Option<&str>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<PastRelease>, StoreError> {
    let mut ids = BTreeSet::new();
    let mut week = ReviewWeek::containing(since);
    while week.start() <= now {
        // A page at a time: only the admissions of the service are kept, not the week.
        index
            .visit_events_in_week(week, &mut |event| {
                if let EventKind::Admitted { service: s, environment: env, .. } = &event.kind
                    && s == service
                    && environment.is_none_or(|e| e == env)
                    && event.at >= since
                    && event.at <= now
                {
                    ids.insert(event.release_id);
                }
            })
            .await?;
        let next = ReviewWeek::containing(week.end());
        if next == week {
            break;
        }
        week = next;
    }
    let mut out = Vec::new();
    for id in ids {
        let Some(release) = store.release(&id).await? else { continue };
        if !release.status.is_final() || release.status == ReleaseStatus::Blocked {
            continue;
        }
        let trail = store.events(&id).await?;
        out.push(PastRelease::new(release, trail));
    }
    out.sort_by_key(|p| p.release.created_at);
    Ok(out)
}

impl Backtest {
    /// The table for people: one line per release, and the new plan's cause under it.
    pub fn text(&self) -> String {
        let mut out = format!(
            "backtest of plan `{}` on {} release(s): {} earlier, {} not at all, {} same, {} not comparable\n",
            self.plan,
            self.releases.len(),
            self.earlier,
            self.not_at_all,
            self.same,
            self.not_comparable
        );
        if self.read_from_cloudwatch > 0 {
            out.push_str(&format!(
                "{} check(s) judged on datapoints read again from CloudWatch (their trail lacked what the new plan reads)\n",
                self.read_from_cloudwatch
            ));
        }
        if self.releases.is_empty() {
            return out;
        }
        out.push_str(&format!("{:<28} {:<12} {:<46} {:<46} {}\n", "RELEASE", "VERSION", "HAPPENED", "NEW PLAN", "COMPARED"));
        for r in &self.releases {
            let happened = match &r.happened {
                Some(p) => format!("rolled back at {}", p.place()),
                None => r.status.as_str().replace('_', " "),
            };
            let new_plan = match (&r.new_plan, &r.not_comparable) {
                (Some(p), _) => format!("rolls back at {}", p.place()),
                (None, Some(_)) => "cannot tell".to_string(),
                (None, None) if r.judged == r.checks => format!("passes all {} check(s)", r.checks),
                (None, None) => format!("passes {} check(s), then promotes", r.judged),
            };
            out.push_str(&format!("{:<28} {:<12} {:<46} {:<46} {}\n", r.release_id, r.version, happened, new_plan, r.comparison.as_str()));
            if let Some(p) = r.new_plan.as_ref().filter(|_| r.comparison != Comparison::Same) {
                out.push_str(&format!("    new plan: {}\n", p.cause()));
            }
            if let Some(p) = r.happened.as_ref().filter(|_| r.comparison == Comparison::NotAtAll) {
                out.push_str(&format!("    happened: {}\n", p.cause()));
            }
            if let Some(why) = &r.not_comparable {
                out.push_str(&format!("    not comparable from {why}\n"));
            }
            for note in &r.notes {
                out.push_str(&format!("    note: {note}\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
