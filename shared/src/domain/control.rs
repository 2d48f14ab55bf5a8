//! What operators do to a release in flight (`rollgate pause | resume | skip | promote`), and
//! how a check's decision takes it in: a pause holds the weight and stops the bake clock, a skip
//! ends the bake, a promotion goes to full traffic; none of them stops a failure rolling back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::decision::{Action, Decision};

/// What an operator can ask of a release in flight (besides abort, which rolls back at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Control {
    /// Stop the bake clock and hold the weight; checks go on.
    Pause,
    /// Start the bake clock again.
    Resume,
    /// End the current step's bake now: its next passing check advances.
    Skip,
    /// Go to full traffic at the next passing check, skipping the remaining steps.
    Promote,
    /// Run a rollback that could not finish again.
    Retry,
}

impl Control {
    pub fn as_str(self) -> &'static str {
        match self {
            Control::Pause => "pause",
            Control::Resume => "resume",
            Control::Skip => "skip",
            Control::Promote => "promote",
            Control::Retry => "retry",
        }
    }
}

/// What an operator asks of the control endpoint: its route's `{action}`, and the `rollgate`
/// command that sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperatorCommand {
    /// A vote for the pending approval.
    Approve,
    /// A vote against it: the release rolls back.
    Reject,
    /// A control of the release in flight.
    Control(Control),
    /// Roll back now; the release ends aborted.
    Abort,
}

impl OperatorCommand {
    pub const ALL: [OperatorCommand; 8] = [
        OperatorCommand::Approve,
        OperatorCommand::Reject,
        OperatorCommand::Control(Control::Pause),
        OperatorCommand::Control(Control::Resume),
        OperatorCommand::Control(Control::Skip),
        OperatorCommand::Control(Control::Promote),
        OperatorCommand::Abort,
        OperatorCommand::Control(Control::Retry),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OperatorCommand::Approve => "approve",
            OperatorCommand::Reject => "reject",
            OperatorCommand::Control(control) => control.as_str(),
            OperatorCommand::Abort => "abort",
        }
    }

    /// Every command's name: `approve, reject, … or retry`.
    fn names() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|c| c.as_str()).collect();
        match names.split_last() {
            Some((last, [])) => (*last).to_string(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

impl std::fmt::Display for OperatorCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not an operator command.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no action `{0}`; the actions are {names}", names = OperatorCommand::names())]
pub struct UnknownCommand(pub String);

impl std::str::FromStr for OperatorCommand {
    type Err = UnknownCommand;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|c| c.as_str() == name).ok_or_else(|| UnknownCommand(name.to_string()))
    }
}

/// Who did it, why and when: the AWS caller (its IAM principal ARN) or a Slack user id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorAction {
    pub by: String,
    pub reason: String,
    pub at: DateTime<Utc>,
    /// A pause's end: a release not resumed by then rolls back (a pause does not hold traffic
    /// split, and the lock, forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

/// How long a pause lasts unless `--for` says otherwise, and the longest it may: a release's
/// execution checks it all along (a Standard execution holds 25,000 history events).
pub const DEFAULT_PAUSE: crate::domain::duration::HumanDuration = crate::domain::duration::HumanDuration::from_secs(4 * 3600);
pub const MAX_PAUSE: crate::domain::duration::HumanDuration = crate::domain::duration::HumanDuration::from_secs(7 * 24 * 3600);

/// A skip or a promotion waiting for the step's next passing check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorRequest {
    pub control: Control,
    pub step: usize,
    #[serde(flatten)]
    pub action: OperatorAction,
}

impl Control {
    /// Whether operators may use this control on a release under `policy` (pause, resume and
    /// retry always: they never let more traffic through).
    pub fn allowed_by(self, policy: &crate::domain::policy::Policy) -> bool {
        match self {
            Control::Promote => policy.operators.as_ref().is_none_or(|o| o.promote),
            Control::Skip => policy.operators.as_ref().is_none_or(|o| o.skip),
            Control::Pause | Control::Resume | Control::Retry => true,
        }
    }
}

/// Whole seconds from `from` to `to` (0 if `to` is earlier).
fn secs_between(from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    u64::try_from(to.signed_duration_since(from).num_seconds()).unwrap_or(0)
}

/// When the step's bake counts from: its start, moved later by the time it spent paused (a pause
/// under way included).
pub fn bake_counted_from(
    started_at: DateTime<Utc>,
    paused_secs: u64,
    paused: Option<&OperatorAction>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let paused_for = paused_secs.saturating_add(paused.map_or(0, |p| secs_between(p.at, now)));
    i64::try_from(paused_for)
        .ok()
        .and_then(chrono::Duration::try_seconds)
        .and_then(|d| started_at.checked_add_signed(d))
        .unwrap_or(started_at)
}

/// `counted_from` (from `bake_counted_from`), or, when an operator asked to skip or promote
/// step `step` and it is not paused, early enough that its bake of `required_secs` is served.
pub fn with_skip(
    counted_from: DateTime<Utc>,
    step: usize,
    paused: Option<&OperatorAction>,
    asked: Option<&OperatorRequest>,
    required_secs: u64,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let skipping = paused.is_none() && asked.is_some_and(|a| a.step == step && matches!(a.control, Control::Skip | Control::Promote));
    if !skipping {
        return counted_from;
    }
    let served_from = i64::try_from(required_secs).ok().and_then(chrono::Duration::try_seconds).and_then(|d| now.checked_sub_signed(d));
    served_from.map_or(counted_from, |served_from| counted_from.min(served_from))
}

/// `decision` with what operators asked: a pause holds a step that would advance (checked again
/// at its interval) and says so in every decision; a promotion asked of this step promotes where
/// the step would advance; a skip says who ended the bake. A rollback is never changed.
/// `served_secs` is the bake the step really served (a skip counts it as served in full). A
/// pause not resumed by its end rolls back.
pub fn with_operators(
    mut decision: Decision,
    paused: Option<&OperatorAction>,
    asked: Option<&OperatorRequest>,
    interval_secs: u64,
    served_secs: u64,
    now: DateTime<Utc>,
) -> Decision {
    if decision.action == Action::Rollback {
        return decision;
    }
    if let Some(pause) = paused {
        if let Some(until) = pause.until.filter(|until| *until <= now) {
            decision.action = Action::Rollback;
            decision.next_step = None;
            decision.next_check_in_secs = None;
            decision.reason = format!(
                "paused by {} at {} ({}) and not resumed by {}, when the pause ended; a pause does not hold a release forever: rolling back",
                pause.by,
                pause.at.format("%Y-%m-%d %H:%M UTC"),
                pause.reason,
                until.format("%Y-%m-%d %H:%M UTC")
            );
            return decision;
        }
        decision.reason = format!("paused by {} since {}: {}; {}", pause.by, pause.at.format("%H:%M UTC"), pause.reason, decision.reason);
        if matches!(decision.action, Action::Advance | Action::Promote) {
            decision.action = Action::Bake;
            decision.next_step = None;
            decision.next_check_in_secs = Some(interval_secs.max(1));
        }
        // Checked again when the pause ends, at the latest.
        if let (Some(until), Some(next)) = (pause.until, decision.next_check_in_secs.as_mut()) {
            *next = (*next).min(secs_between(now, until).max(1));
        }
        return decision;
    }
    let Some(asked) = asked.filter(|a| a.step == decision.step) else { return decision };
    let who = format!("{} by {}: {}", asked.control.as_str(), asked.action.by, asked.action.reason);
    let served = format!(
        "step {} passed its check after {} of its {} bake",
        decision.step + 1,
        crate::HumanDuration::from_secs(served_secs),
        crate::HumanDuration::from_secs(decision.bake_required_secs)
    );
    match (asked.control, decision.action) {
        (Control::Promote, Action::Advance | Action::Promote) => {
            decision.action = Action::Promote;
            decision.next_step = None;
            decision.bake_served_secs = served_secs;
            decision.reason = format!("{who}; {served}; promoting to 100%, skipping the remaining steps");
        }
        (Control::Skip, Action::Advance | Action::Promote) => {
            decision.bake_served_secs = served_secs;
            decision.reason = match decision.next_step {
                Some(next) => format!("{who}; {served}; next step {}", next + 1),
                None => format!("{who}; {served}; promoting"),
            };
        }
        // Asked, not yet taken: the step's check did not pass.
        _ => {
            decision.reason =
                format!("{} asked by {}, waiting for a passing check; {}", asked.control.as_str(), asked.action.by, decision.reason)
        }
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::decision::{StepProgress, decide};
    use crate::domain::gate::{GateOutcome, GateVerdict};

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default()
            + chrono::Duration::minutes(minutes)
    }

    fn plan() -> crate::domain::plan::Plan {
        crate::domain::plan::parse_plan(
            "name: p\ntraffic:\n  router: { type: dry_run }\n  steps: [{ weight: 10, bake: 30m }, { weight: 50, bake: 30m }, { weight: 100, bake: 30m }]\n\
             analysis:\n  interval: 5m\n  max_inconclusive: 2\n  metrics: [{ name: e, query: { metric: { namespace: A, name: E, stat: Sum } }, must: { below: 1 } }]\n",
            crate::domain::plan::PlanFormat::Yaml,
        )
        .unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn by(who: &str, at: i64) -> OperatorAction {
        OperatorAction { by: who.into(), reason: "checking the dashboards".into(), at: t(at), until: None }
    }

    /// The decision of a check at `now` of step `step` started at minute 0.
    fn check(
        step: usize,
        paused_secs: u64,
        paused: Option<&OperatorAction>,
        asked: Option<&OperatorRequest>,
        now: i64,
        outcome: GateOutcome,
    ) -> Decision {
        let plan = plan();
        let counted = bake_counted_from(t(0), paused_secs, paused, t(now));
        let from = with_skip(counted, step, paused, asked, 1800, t(now));
        let verdict = GateVerdict { outcome, ..GateVerdict::empty(t(now)) };
        let decision = decide(&plan, &StepProgress { step, started_at: from, prior: Vec::new() }, Some(&verdict), t(now));
        with_operators(decision, paused, asked, 300, secs_between(counted, t(now)), t(now))
    }

    #[test]
    fn operator_commands_are_read_back_from_their_names_and_an_unknown_one_lists_them() {
        for command in OperatorCommand::ALL {
            assert_eq!(command.as_str().parse::<OperatorCommand>(), Ok(command));
        }
        assert_eq!("pause".parse::<OperatorCommand>(), Ok(OperatorCommand::Control(Control::Pause)));
        assert_eq!(
            "launch".parse::<OperatorCommand>().map_err(|e| e.to_string()),
            Err("no action `launch`; the actions are approve, reject, pause, resume, skip, promote, abort or retry".to_string())
        );
        assert!("Approve".parse::<OperatorCommand>().is_err(), "names are lower case, as in the route");
    }

    #[test]
    fn a_pause_holds_the_weight_and_stops_the_bake_clock_but_not_a_rollback() {
        let pause = by("arn:aws:iam::1:user/ops", 10);
        let held = check(0, 0, Some(&pause), None, 40, GateOutcome::Pass);
        assert_eq!(held.action, Action::Bake);
        assert_eq!(held.bake_served_secs, 600, "10 minutes before the pause count, the 30 paused do not");
        assert!(
            held.reason.starts_with("paused by arn:aws:iam::1:user/ops since 10:10 UTC: checking the dashboards; baking: 10m"),
            "{}",
            held.reason
        );
        assert_eq!(check(0, 0, Some(&pause), None, 40, GateOutcome::Critical).action, Action::Rollback);
        // Resumed at minute 40 after 30 paused: the bake is served at minute 60.
        assert_eq!(check(0, 1800, None, None, 55, GateOutcome::Pass).action, Action::Bake);
        assert_eq!(check(0, 1800, None, None, 60, GateOutcome::Pass).action, Action::Advance);
        // A pause until minute 70, never resumed: checked again at its end, then rolled back.
        let lapsing = OperatorAction { until: Some(t(70)), ..pause };
        assert_eq!(check(0, 0, Some(&lapsing), None, 68, GateOutcome::Pass).next_check_in_secs, Some(120));
        let lapsed = check(0, 0, Some(&lapsing), None, 70, GateOutcome::Pass);
        assert_eq!(lapsed.action, Action::Rollback);
        assert!(lapsed.reason.contains("and not resumed by 2026-12-02 11:10 UTC"), "{}", lapsed.reason);
    }

    #[test]
    fn skip_and_promote_are_taken_by_a_passing_check_of_their_step() {
        let skip = OperatorRequest { control: Control::Skip, step: 0, action: by("ops", 5) };
        let skipped = check(0, 0, None, Some(&skip), 6, GateOutcome::Pass);
        assert_eq!((skipped.action, skipped.next_step), (Action::Advance, Some(1)));
        assert_eq!(skipped.reason, "skip by ops: checking the dashboards; step 1 passed its check after 6m of its 30m bake; next step 2");
        assert_eq!(skipped.bake_served_secs, 360);
        let waiting = check(0, 0, None, Some(&skip), 6, GateOutcome::Inconclusive);
        assert_eq!(waiting.action, Action::Bake);
        assert!(waiting.reason.starts_with("skip asked by ops, waiting for a passing check"), "{}", waiting.reason);
        // Asked at another step: nothing.
        assert_eq!(check(1, 0, None, Some(&skip), 6, GateOutcome::Pass).action, Action::Bake);

        let promote = OperatorRequest { control: Control::Promote, step: 0, action: by("ops", 5) };
        let promoted = check(0, 0, None, Some(&promote), 6, GateOutcome::Pass);
        assert_eq!((promoted.action, promoted.next_step), (Action::Promote, None));
        assert_eq!(check(0, 0, None, Some(&promote), 6, GateOutcome::Critical).action, Action::Rollback);
        // A pause wins over a promotion asked before it.
        assert_eq!(check(0, 0, Some(&by("ops", 5)), Some(&promote), 6, GateOutcome::Pass).action, Action::Bake);
    }
}
