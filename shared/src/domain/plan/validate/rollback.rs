//! The rollback section: the target time to restore traffic.

use super::{Issues, check_at_most, limits};
use crate::domain::plan::RollbackPolicy;

pub(super) fn check_rollback(rollback: &RollbackPolicy, issues: &mut Issues) {
    if let Some(rto) = rollback.restore_within {
        let path = "rollback.restore_within";
        if rto.is_zero() {
            issues.add(path, "is 0s", "give the runbook's RTO, e.g. 15m");
        }
        check_at_most(rto, limits::RESTORE_WITHIN, path, "rollback target", "give the runbook's RTO, e.g. 15m", issues);
    }
}
