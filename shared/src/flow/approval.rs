//! Go/No-Go approvals: asking for one, who may decide, the quorum, and telling the waiting
//! execution. Plain Rust over the release's audit trail and the [`Workflow`] port; the
//! approval-request function, the Slack webhook, the CLI and the simulator all come through here.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::domain::identity::{Principal, principal};
use crate::domain::plan::NotificationEvent;
use crate::flow::trail::{record, record_with};
use crate::ports::{Directory, DirectoryError, ReleaseStore, StoreError, TaskTokens, TokenKey, Workflow, WorkflowError};
pub use crate::release::approval::{ApprovalRef, REJECTED_ERROR, Resolution, Vote};
use crate::release::notification::{ApprovalAsk, ReleaseNotification};
use crate::release::{EventKind, Release, ReleaseEvent, ReleaseStatus};

#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("this vote was for `{voted}` at step {}, but release {release_id} now waits on `{pending}` at step {}; decide on the newest message", .voted_step.saturating_add(1), .pending_step.saturating_add(1))]
    Superseded { release_id: String, voted: String, voted_step: usize, pending: String, pending_step: usize },
    #[error("release {0} has no pending approval; `rollgate status {0}` shows where it is")]
    NothingPending(String),
    #[error("{by} is not an approver of `{approval}`; approvers: {approvers}")]
    NotAnApprover { by: String, approval: String, approvers: String },
    #[error("approval `{approval}` expired at {expires_at}; an expired approval is a rejection")]
    Expired { approval: String, expires_at: DateTime<Utc> },
    #[error("{by} wrote or started this release and cannot approve it: another approver must")]
    SelfApproval { by: String },
    #[error("approvals of `{approval}` are given {window}; {next}")]
    OutsideWindow { approval: String, window: String, next: String },
    #[error("whether {by} may decide could not be checked: {source}")]
    Directory { by: String, source: DirectoryError },
    #[error("the decision was recorded, but {0}")]
    Workflow(#[from] WorkflowError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApprovalError {
    /// The HTTP status an endpoint answers a refused vote with (Slack's webhook, the operators'
    /// control endpoint): 403 not allowed to decide, 409 nothing or something else to decide,
    /// 410 too late, 503 a backend to try again.
    pub fn http_status(&self) -> u16 {
        match self {
            ApprovalError::NotAnApprover { .. } | ApprovalError::SelfApproval { .. } => 403,
            ApprovalError::NothingPending(_) | ApprovalError::Superseded { .. } | ApprovalError::OutsideWindow { .. } => 409,
            ApprovalError::Expired { .. } | ApprovalError::Workflow(WorkflowError::TaskGone(_)) => 410,
            ApprovalError::Directory { source, .. } if !source.transient => 403,
            ApprovalError::Workflow(_) | ApprovalError::Store(_) | ApprovalError::Directory { .. } => 503,
        }
    }

    /// Worth retrying as it is (a throttled store or Step Functions).
    pub fn is_transient(&self) -> bool {
        match self {
            ApprovalError::Workflow(e) => e.is_transient(),
            ApprovalError::Directory { source, .. } => source.transient,
            ApprovalError::Store(e) => e.is_transient(),
            _ => false,
        }
    }
}

/// The pending approval as `approval-request` recorded it.
struct Pending {
    requested_at: DateTime<Utc>,
    approval: String,
    step: usize,
    approvers: Vec<String>,
    quorum: u32,
    expires_at: DateTime<Utc>,
}

fn pending(events: &[ReleaseEvent]) -> Option<Pending> {
    events.iter().rev().find_map(|e| match &e.kind {
        EventKind::ApprovalRequested { approval, step, approvers, quorum, expires_at } => Some(Pending {
            requested_at: e.at,
            approval: approval.clone(),
            step: *step,
            approvers: approvers.clone(),
            quorum: *quorum,
            expires_at: *expires_at,
        }),
        _ => None,
    })
}

/// Distinct approvers who said yes to `pending` so far.
fn approvals(events: &[ReleaseEvent], pending: &Pending) -> Vec<String> {
    let mut yes: Vec<String> = events
        .iter()
        .filter(|e| e.at >= pending.requested_at)
        .filter_map(|e| match &e.kind {
            EventKind::ApprovalDecided { approval, by, approved: true, .. } if *approval == pending.approval => Some(by.to_lowercase()),
            _ => None,
        })
        .collect();
    yes.sort();
    yes.dedup();
    yes
}

/// Whether the trail grants step `step` its approval `approval`: the newest request for it is
/// followed by at least its quorum of distinct approvals and by no rejection. The traffic switch
/// asks before it moves past an approval, so an execution resumed outside rollgate (a task token
/// used directly) moves nothing. `Err` says what the trail holds instead.
pub fn granted(events: &[ReleaseEvent], approval: &str, step: usize) -> Result<Vec<String>, String> {
    let Some(position) = events
        .iter()
        .rposition(|e| matches!(&e.kind, EventKind::ApprovalRequested { approval: a, step: s, .. } if a == approval && *s == step))
    else {
        return Err(format!("approval `{approval}` of step {} was never requested", step.saturating_add(1)));
    };
    let Some(pending) = pending(&events[..=position]) else {
        return Err(format!("approval `{approval}` of step {} was never requested", step.saturating_add(1)));
    };
    let after = &events[position..];
    if let Some(by) = after.iter().find_map(|e| match &e.kind {
        EventKind::ApprovalDecided { approval: a, by, approved: false, .. } if a == approval => Some(by.clone()),
        _ => None,
    }) {
        return Err(format!("approval `{approval}` was rejected by {by}"));
    }
    let yes = approvals(after, &pending);
    if yes.len() < pending.quorum as usize {
        return Err(format!(
            "approval `{approval}` of step {} has {} of the {} approvals it needs{}",
            step.saturating_add(1),
            yes.len(),
            pending.quorum,
            if yes.is_empty() { String::new() } else { format!(" ({})", yes.join(", ")) }
        ));
    }
    Ok(yes)
}

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("release {0} was not found; check the id")]
    ReleaseNotFound(String),
    #[error("release {id} is already {status}; there is nothing to approve")]
    ReleaseClosed { id: String, status: &'static str },
    #[error("the plan has no approval `{approval}`; its approvals: {known}")]
    UnknownApproval { approval: String, known: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A Go/No-Go now pending, and the message that asks for it (with its Slack buttons).
#[derive(Clone, Debug)]
pub struct Requested {
    pub release: Release,
    pub approval: String,
    pub expires_at: DateTime<Utc>,
    pub notification: ReleaseNotification,
}

/// Records that the release waits on the plan's approval `approval` before `step` and marks it
/// as awaiting approval; the execution's task token is kept in `tokens`, never in the trail. The
/// caller announces it.
#[allow(clippy::too_many_arguments)]
pub async fn request(
    store: &dyn ReleaseStore,
    tokens: &dyn TaskTokens,
    actor: &str,
    release_id: &str,
    step: usize,
    approval: &str,
    task_token: &str,
    now: DateTime<Utc>,
) -> Result<Requested, RequestError> {
    let mut release = store.release(release_id).await?.ok_or_else(|| RequestError::ReleaseNotFound(release_id.to_string()))?;
    if release.status.is_final() {
        return Err(RequestError::ReleaseClosed { id: release.id, status: release.status.as_str() });
    }
    let Some(gate) = release.plan.approvals.iter().find(|a| a.id == approval).cloned() else {
        let known = release.plan.approvals.iter().map(|a| a.id.as_str()).collect::<Vec<_>>().join(", ");
        return Err(RequestError::UnknownApproval { approval: approval.to_string(), known });
    };
    let expires_at = gate.timeout.after(now);
    // Kept before the request is recorded: once people can see the request, a decision on it
    // finds the token.
    tokens.keep_token(TokenKey { release_id: &release.id, approval: &gate.id, step }, task_token, expires_at).await?;
    let requested = EventKind::ApprovalRequested {
        approval: gate.id.clone(),
        step,
        // Roles named by the plan are recorded as their members: the request says who may decide.
        approvers: release.plan.approvers_of(&gate),
        quorum: gate.quorum,
        expires_at,
    };
    release.status = ReleaseStatus::AwaitingApproval;
    release.updated_at = now;
    // The request and the release waiting on it: one atomic write.
    let id = release.id.clone();
    record_with(store, actor, &id, Some(&mut release), now, vec![requested]).await?;
    let title = gate.title.clone().unwrap_or_else(|| gate.id.clone());
    let reason = format!(
        "{title}: {} of {} must approve before step {} ({}%), by {}",
        gate.quorum,
        gate.approvers.join(", "),
        step + 1,
        release.plan.traffic.steps.get(step).map_or(0, |s| s.weight),
        expires_at.format("%Y-%m-%d %H:%M UTC")
    );
    let reason = match &gate.decide_within {
        Some(window) => {
            format!("{reason}; approvals are given {}", crate::domain::checklist::describe_windows(&window.timezone, &window.allow))
        }
        None => reason,
    };
    let mut notification =
        ReleaseNotification::new(NotificationEvent::WaitingForApproval, &release, Some(reason), gate.criteria.clone(), now);
    notification.approval = Some(ApprovalAsk { id: gate.id.clone(), step });
    if gate.channel.is_some() {
        notification.slack_channel = gate.channel.clone();
    }
    Ok(Requested { release, approval: gate.id, expires_at, notification })
}

/// Whether `vote` may be cast now: what [`decide`] checks before it records anything. The Slack
/// webhook asks before it opens the reason form, so a stranger is refused at once.
pub async fn check(store: &dyn ReleaseStore, directory: &dyn Directory, vote: &Vote, now: DateTime<Utc>) -> Result<(), ApprovalError> {
    eligible(store, directory, vote, now).await.map(|_| ())
}

/// Who a vote counts as: the name it is recorded under, and the group of the approval's list
/// that allowed it (a Slack user group the voter is a member of), if not the name itself.
#[derive(Clone, Debug)]
struct Voter {
    by: String,
    via: Option<String>,
}

/// What [`eligible`] found: the pending approval, who the vote counts as, the trail.
type Eligible = (Pending, Voter, Vec<ReleaseEvent>);

/// Who `vote` counts as among `approvers`: a name it goes by that is listed; else, for a Slack
/// user, a listed Slack user group they are a member of (asked of `directory` now, as
/// membership changes), recorded under their own id.
async fn voter(directory: &dyn Directory, vote: &Vote, approvers: &[String]) -> Result<Option<Voter>, ApprovalError> {
    let identities = &vote.identities;
    if let Some(by) = identities.iter().find(|id| approvers.iter().any(|a| a.eq_ignore_ascii_case(id))) {
        return Ok(Some(Voter { by: by.clone(), via: None }));
    }
    let Some(user) = identities.iter().find(|id| principal(id) == Principal::SlackUser) else { return Ok(None) };
    for group in approvers.iter().filter(|a| principal(a) == Principal::SlackGroup) {
        match directory.is_member(group, user).await {
            Ok(true) => return Ok(Some(Voter { by: user.clone(), via: Some(group.clone()) })),
            Ok(false) => {}
            Err(source) => return Err(ApprovalError::Directory { by: user.clone(), source }),
        }
    }
    Ok(None)
}

/// The pending approval and who `vote` counts as, if it may be cast now.
async fn eligible(store: &dyn ReleaseStore, directory: &dyn Directory, vote: &Vote, now: DateTime<Utc>) -> Result<Eligible, ApprovalError> {
    let release_id = vote.release_id.as_str();
    let release = store.release(release_id).await?.ok_or_else(|| ApprovalError::NothingPending(release_id.to_string()))?;
    let events = store.events(release_id).await?;
    let Some(pending) = pending(&events) else {
        return Err(ApprovalError::NothingPending(release_id.to_string()));
    };
    if release.status != ReleaseStatus::AwaitingApproval {
        return Err(ApprovalError::NothingPending(release_id.to_string()));
    }
    if let Some(on) = &vote.on
        && (on.approval != pending.approval || on.step != pending.step)
    {
        return Err(ApprovalError::Superseded {
            release_id: release_id.to_string(),
            voted: on.approval.clone(),
            voted_step: on.step,
            pending: pending.approval,
            pending_step: pending.step,
        });
    }
    if now > pending.expires_at {
        return Err(ApprovalError::Expired { approval: pending.approval, expires_at: pending.expires_at });
    }
    // Approvals in their hours only; a rejection stops the release at any time.
    if vote.approved
        && let Some(window) = release.plan.approvals.iter().find(|a| a.id == pending.approval).and_then(|a| a.decide_within.as_ref())
    {
        let described = || crate::domain::checklist::describe_windows(&window.timezone, &window.allow);
        let next = match crate::domain::checklist::weekly_window_at(&window.timezone, &window.allow, now) {
            Ok(crate::domain::checklist::WindowAt::Open) => None,
            Ok(crate::domain::checklist::WindowAt::Closed { next: Some(next) }) => {
                let local = crate::domain::timezone::Zone::named(&window.timezone)
                    .map(|zone| zone.local(next).format("%a %Y-%m-%d %H:%M").to_string());
                let expires = if next > pending.expires_at { " (after this approval expires; it will be a rejection)" } else { "" };
                Some(format!("the next window opens {} {}{expires}", local.unwrap_or_else(|| next.to_rfc3339()), window.timezone))
            }
            Ok(crate::domain::checklist::WindowAt::Closed { next: None }) => Some("no window opens in the next eight days".to_string()),
            Err(problem) => Some(problem),
        };
        if let Some(next) = next {
            return Err(ApprovalError::OutsideWindow { approval: pending.approval, window: described(), next });
        }
    }
    let identities = &vote.identities;
    let Some(voter) = voter(directory, vote, &pending.approvers).await? else {
        return Err(ApprovalError::NotAnApprover {
            by: identities.join(" / "),
            approval: pending.approval,
            approvers: pending.approvers.join(", "),
        });
    };
    // Four eyes: neither who wrote the change nor who started its release approves it.
    let own = |who: Option<&str>| who.is_some_and(|w| identities.iter().any(|id| w.eq_ignore_ascii_case(id)));
    if vote.approved && (own(release.author.as_deref()) || own(release.requested_by.as_deref())) {
        return Err(ApprovalError::SelfApproval { by: voter.by });
    }
    Ok((pending, voter, events))
}

/// Records `vote` on the release's pending approval and says whether the execution may resume,
/// and which approval (and step) the vote was counted on.
pub async fn decide(
    store: &dyn ReleaseStore,
    directory: &dyn Directory,
    actor: &str,
    vote: &Vote,
    now: DateTime<Utc>,
) -> Result<(ApprovalRef, Resolution), ApprovalError> {
    let release_id = vote.release_id.as_str();
    let (pending, Voter { by, via }, events) = eligible(store, directory, vote, now).await?;
    let on = ApprovalRef { approval: pending.approval.clone(), step: pending.step };
    let approved = vote.approved;
    // The same vote again (Slack retrying a slow answer, a second click) is recorded once; the
    // execution is told again, and says whether it still waits.
    let earlier = events.iter().filter(|e| e.at >= pending.requested_at).find_map(|e| match &e.kind {
        EventKind::ApprovalDecided { approval, by: who, approved: same, comment, .. }
            if *approval == pending.approval && who.eq_ignore_ascii_case(&by) && *same == approved =>
        {
            Some(comment.clone())
        }
        _ => None,
    });
    let comment = match earlier {
        Some(comment) => comment,
        None => {
            let comment = vote.comment.clone();
            record(
                store,
                actor,
                release_id,
                now,
                EventKind::ApprovalDecided { approval: pending.approval.clone(), by: by.clone(), approved, comment: comment.clone(), via },
            )
            .await?;
            comment
        }
    };
    if !approved {
        let reason = format!("rejected by {by}{}", comment.map(|c| format!(": {c}")).unwrap_or_default());
        return Ok((on, Resolution::Rejected { by, reason }));
    }
    // Counted from the trail as it is *after* our write: of two approvers deciding at once, the
    // later reader sees both votes, so a quorum is never missed.
    let yes = approvals(&store.events(release_id).await?, &pending);
    if yes.len() >= pending.quorum as usize {
        Ok((on, Resolution::Approved { approvers: yes }))
    } else {
        Ok((on, Resolution::Pending { approvals: yes.len(), quorum: pending.quorum }))
    }
}

/// [`decide`], then tells the waiting execution: success with the approvers once the quorum is
/// reached, failure named [`REJECTED_ERROR`] on a rejection. A vote is counted only on a release
/// awaiting its approval; on any other it is refused ([`ApprovalError::NothingPending`]).
pub async fn resolve(
    store: &dyn ReleaseStore,
    tokens: &dyn TaskTokens,
    workflow: &dyn Workflow,
    actor: &str,
    directory: &dyn Directory,
    vote: &Vote,
    now: DateTime<Utc>,
) -> Result<Resolution, ApprovalError> {
    let (on, resolution) = decide(store, directory, actor, vote, now).await?;
    let key = TokenKey { release_id: &vote.release_id, approval: &on.approval, step: on.step };
    if matches!(resolution, Resolution::Pending { .. }) {
        // A vote short of the quorum renews the approval's heartbeat (a plan's `heartbeat`: how
        // long an approval may go without a vote). The vote is recorded either way; a heartbeat
        // that does not arrive lets the approval expire, which is a rejection.
        match tokens.token(key).await {
            Ok(Some(token)) => {
                if let Err(e) = workflow.heartbeat(&token).await {
                    tracing::warn!(release = %vote.release_id, approval = %on.approval, error = %e, "the approval's heartbeat was not sent");
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(release = %vote.release_id, approval = %on.approval, error = %e, "the approval's task token could not be read for its heartbeat")
            }
        }
        return Ok(resolution);
    }
    let token = tokens.token(key).await?.ok_or_else(|| {
        WorkflowError::TaskGone(format!("no task token is kept for approval `{}` of step {}", on.approval, on.step.saturating_add(1)))
    })?;
    match &resolution {
        Resolution::Approved { approvers } => workflow.resume(&token, &json!({ "approved_by": approvers })).await?,
        Resolution::Rejected { reason, .. } => workflow.fail(&token, REJECTED_ERROR, reason).await?,
        Resolution::Pending { .. } => {}
    }
    Ok(resolution)
}

#[cfg(test)]
mod tests;
