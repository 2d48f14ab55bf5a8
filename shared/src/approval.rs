//! Deciding a pending Go/No-Go: who may decide, the quorum, and what the waiting execution is
//! told. Plain Rust over the release's audit trail; the caller resumes the execution.

use chrono::{DateTime, Utc};

use crate::admission::record_as;
use crate::ports::{ReleaseStore, StoreError};
use crate::release::EventKind;

/// What the waiting execution should be told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Quorum reached: resume with success.
    Approved { task_token: String, approvers: Vec<String> },
    /// One rejection rejects: resume with failure.
    Rejected { task_token: String, by: String, reason: String },
    /// Recorded; more approvals are needed.
    Pending { approvals: usize, quorum: u32 },
}

#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("release {0} has no pending approval; `rollgate status {0}` shows where it is")]
    NothingPending(String),
    #[error("{by} is not an approver of `{approval}`; approvers: {approvers}")]
    NotAnApprover { by: String, approval: String, approvers: String },
    #[error("approval `{approval}` expired at {expires_at}; an expired approval is a rejection")]
    Expired { approval: String, expires_at: DateTime<Utc> },
    #[error("{by} is the release's author and cannot approve it")]
    SelfApproval { by: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records `by`'s decision on the release's pending approval and says whether the execution
/// may resume.
pub async fn decide(
    store: &dyn ReleaseStore,
    actor: &str,
    release_id: &str,
    by: &str,
    approved: bool,
    comment: Option<String>,
    now: DateTime<Utc>,
) -> Result<Resolution, ApprovalError> {
    let release = store.release(release_id).await?.ok_or_else(|| ApprovalError::NothingPending(release_id.to_string()))?;
    let events = store.events(release_id).await?;
    let Some((at, approval, approvers, quorum, expires_at, token)) = events.iter().rev().find_map(|e| match &e.kind {
        EventKind::ApprovalRequested { approval, approvers, quorum, expires_at, task_token, .. } => {
            Some((e.at, approval.clone(), approvers.clone(), *quorum, *expires_at, task_token.clone()))
        }
        _ => None,
    }) else {
        return Err(ApprovalError::NothingPending(release_id.to_string()));
    };
    if release.status != crate::release::ReleaseStatus::AwaitingApproval {
        return Err(ApprovalError::NothingPending(release_id.to_string()));
    }
    if now > expires_at {
        return Err(ApprovalError::Expired { approval, expires_at });
    }
    if !approvers.iter().any(|a| a.eq_ignore_ascii_case(by)) {
        return Err(ApprovalError::NotAnApprover { by: by.to_string(), approval, approvers: approvers.join(", ") });
    }
    if approved && release.author.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(by)) {
        return Err(ApprovalError::SelfApproval { by: by.to_string() });
    }
    record_as(
        store,
        actor,
        release_id,
        now,
        EventKind::ApprovalDecided { approval: approval.clone(), by: by.to_string(), approved, comment: comment.clone() },
    )
    .await?;
    if !approved {
        let reason = format!("rejected by {by}{}", comment.map(|c| format!(": {c}")).unwrap_or_default());
        return Ok(Resolution::Rejected { task_token: token, by: by.to_string(), reason });
    }
    let mut yes: Vec<String> = events
        .iter()
        .filter(|e| e.at >= at)
        .filter_map(|e| match &e.kind {
            EventKind::ApprovalDecided { approval: a, by, approved: true, .. } if *a == approval => Some(by.to_lowercase()),
            _ => None,
        })
        .collect();
    yes.push(by.to_lowercase());
    yes.sort();
    yes.dedup();
    if yes.len() >= quorum as usize {
        Ok(Resolution::Approved { task_token: token, approvers: yes })
    } else {
        Ok(Resolution::Pending { approvals: yes.len(), quorum })
    }
}
