//! What kind of principal an approver entry names: votes count under Slack user ids (a Slack
//! click), Slack user groups (any member, as Slack says), or IAM ARNs (the CLI's caller), never
//! under names, which people change.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Principal {
    /// `U024BE7LH` (or `W…` on Enterprise Grid).
    SlackUser,
    /// `S0604QSJC`.
    SlackGroup,
    /// `arn:aws:iam::123456789012:role/ReleaseManager`, `arn:aws:sts::…:assumed-role/…`.
    Iam,
    /// Anything else (a name, an email address).
    Other,
}

/// The kind of principal `id` names.
pub fn principal(id: &str) -> Principal {
    let slack_id =
        |first: &[char]| id.len() >= 3 && id.starts_with(first) && id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if slack_id(&['U', 'W']) {
        Principal::SlackUser
    } else if slack_id(&['S']) {
        Principal::SlackGroup
    } else if id.starts_with("arn:") {
        Principal::Iam
    } else {
        Principal::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_told_apart_by_their_shape() {
        assert_eq!(principal("U024BE7LH"), Principal::SlackUser);
        assert_eq!(principal("W012A3CDE"), Principal::SlackUser);
        assert_eq!(principal("S0604QSJC"), Principal::SlackGroup);
        assert_eq!(principal("arn:aws:iam::123456789012:role/ReleaseManager"), Principal::Iam);
        for other in ["alice", "Sam", "US", "u024be7lh", "bob@example.com", ""] {
            assert_eq!(principal(other), Principal::Other, "{other}");
        }
    }
}
