//! The records of Go/No-Go decisions: a vote, which approval it was cast on, and what the
//! waiting execution is told.

/// The error name the state machine sees when an approver rejects.
pub const REJECTED_ERROR: &str = "ApprovalRejected";

/// What the waiting execution should be told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Quorum reached: resume with success.
    Approved { approvers: Vec<String> },
    /// One rejection rejects: resume with failure.
    Rejected { by: String, reason: String },
    /// Recorded; more approvals are needed.
    Pending { approvals: usize, quorum: u32 },
}

impl Resolution {
    /// One line for the person who decided.
    pub fn describe(&self) -> String {
        match self {
            Resolution::Approved { approvers, .. } => format!("approved by {}; the release continues", approvers.join(", ")),
            Resolution::Rejected { reason, .. } => format!("{reason}; the release rolls back"),
            Resolution::Pending { approvals, quorum } => format!("recorded; {approvals} of {quorum} approvals so far"),
        }
    }
}

/// Which approval a vote was cast on: the plan's approval id and the step it guards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalRef {
    pub approval: String,
    pub step: usize,
}

/// One person's decision on a release's pending approval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vote {
    pub release_id: String,
    /// Every name the person goes by (a Slack user id, a user name); the first one the approval
    /// lists is the one recorded.
    pub identities: Vec<String>,
    pub approved: bool,
    pub comment: Option<String>,
    /// The approval the voter was shown (a Slack button); a vote on an earlier one is refused,
    /// so an old message cannot approve a later step.
    pub on: Option<ApprovalRef>,
}
