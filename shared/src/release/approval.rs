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

/// The names an AWS caller goes by, most specific first, from the ARN that STS
/// `GetCallerIdentity` reports: an IAM user's ARN; or, for an assumed role (SSO, a CI role), the
/// session's ARN and the role's IAM ARN, so that a plan may list the role as an approver
/// (`arn:aws:iam::<account>:role/<name>`, without a path: the session does not carry it).
/// Nothing here is taken from what the caller typed.
pub fn iam_identities(caller_arn: &str) -> Vec<String> {
    let mut names = vec![caller_arn.to_string()];
    // arn:<partition>:sts::<account>:assumed-role/<role name>/<session>
    let parts: Vec<&str> = caller_arn.splitn(6, ':').collect();
    if let [arn, partition, "sts", _, account, resource] = parts.as_slice()
        && *arn == "arn"
        && let Some(rest) = resource.strip_prefix("assumed-role/")
        && let Some((role, _session)) = rest.rsplit_once('/')
        && !role.is_empty()
    {
        names.push(format!("arn:{partition}:iam::{account}:role/{role}"));
    }
    names
}

#[cfg(test)]
mod tests {
    use super::iam_identities;

    #[test]
    fn an_assumed_role_session_goes_by_its_session_and_its_role() {
        assert_eq!(
            iam_identities("arn:aws:sts::123456789012:assumed-role/ReleaseManager/alice@example.com"),
            ["arn:aws:sts::123456789012:assumed-role/ReleaseManager/alice@example.com", "arn:aws:iam::123456789012:role/ReleaseManager"]
        );
        assert_eq!(iam_identities("arn:aws:iam::123456789012:user/bob"), ["arn:aws:iam::123456789012:user/bob"]);
        assert_eq!(iam_identities("arn:aws:sts::123456789012:assumed-role/noslash"), ["arn:aws:sts::123456789012:assumed-role/noslash"]);
        assert_eq!(iam_identities("not an arn"), ["not an arn"]);
    }
}
