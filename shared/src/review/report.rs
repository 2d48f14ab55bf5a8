//! The report: recommendations worded as actions, the subject line, and the text for people.

use chrono::Duration;

use super::{Direction, RollbackSummary, WeeklyReview};

fn percent(rate: f64) -> String {
    format!("{:.0}%", rate * 100.0)
}

/// What to look at, worded as actions.
pub(super) fn recommendations(r: &WeeklyReview) -> Vec<String> {
    let mut out = Vec::new();
    for (name, m) in &r.metrics {
        let suspects = r.likely_false_positives.iter().filter(|s| s.metrics.contains(name)).count();
        if suspects > 0 {
            out.push(format!(
                "`{name}` caused {suspects} rollback(s) that look like false positives ({} of {} checks failed, {}): review its bound, or judge it against the baseline instead",
                m.failures, m.checks, percent(m.failure_rate)
            ));
        } else if m.checks >= 5 && m.failure_rate >= 0.2 {
            out.push(format!(
                "`{name}` failed {} of {} checks ({}) across {} release(s): confirm the regressions were real, or re-check the bound",
                m.failures,
                m.checks,
                percent(m.failure_rate),
                m.releases_failed
            ));
        }
        if m.checks > 0 && m.inconclusive * 5 >= m.checks {
            out.push(format!(
                "`{name}` had too little data in {} of {} checks: check its query and dimensions, or lower analysis.min_samples",
                m.inconclusive, m.checks
            ));
        }
    }
    for (item, i) in &r.checklist {
        if i.overridden >= 2 {
            out.push(format!(
                "checklist item `{item}` was overridden {} times: fix its evidence source, or make it `warn` if it should not block",
                i.overridden
            ));
        }
        if i.blocked >= 2 {
            out.push(format!(
                "checklist item `{item}` blocked {} releases: make sure teams can produce its evidence before they release",
                i.blocked
            ));
        }
    }
    let late: Vec<&RollbackSummary> = r.rollbacks.iter().filter(|b| b.within_target == Some(false)).collect();
    if !late.is_empty() {
        out.push(format!(
            "{} of {} rollbacks missed their restore target (slowest {}s): check the router's latency and retries",
            late.len(),
            r.rollbacks.len(),
            late.iter().map(|b| b.time_to_restore_secs).max().unwrap_or(0)
        ));
    }
    if r.approvals.expired > 0 {
        out.push(format!(
            "{} approval(s) expired undecided (each a rollback): route them to people on call, or lengthen the timeout",
            r.approvals.expired
        ));
    }
    out
}

impl WeeklyReview {
    /// The review as published: subject, report, and every figure as JSON.
    pub fn report(&self) -> crate::ports::ReviewReport {
        crate::ports::ReviewReport {
            subject: self.subject(),
            text: self.text(),
            review: serde_json::to_value(self).unwrap_or(serde_json::Value::Null),
        }
    }

    /// The subject line (SNS allows 100 characters).
    pub fn subject(&self) -> String {
        crate::domain::text::subject(&format!(
            "[rollgate] weekly review {}: {} releases, {} rolled back, {} blocked",
            self.week, self.releases, self.outcomes.rolled_back, self.outcomes.blocked
        ))
    }

    /// The report for people.
    pub fn text(&self) -> String {
        let mut out = vec![
            format!(
                "rollgate weekly review {} ({} to {})",
                self.week,
                self.from.format("%Y-%m-%d"),
                // The week's last day; checked, as a deserialized review may carry any `to`.
                self.to.checked_sub_signed(Duration::days(1)).unwrap_or(self.to).format("%Y-%m-%d")
            ),
            format!(
                "{} releases: {} promoted, {} rolled back, {} blocked, {} aborted, {} still open",
                self.releases,
                self.outcomes.promoted,
                self.outcomes.rolled_back,
                self.outcomes.blocked,
                self.outcomes.aborted,
                self.outcomes.open
            ),
        ];
        if !self.metrics.is_empty() {
            out.push("\nGate checks per metric (failed / checks, releases failed, rollbacks caused, no data):".into());
            for (name, m) in &self.metrics {
                out.push(format!(
                    "  {name}: {}/{} ({}), {} release(s), {} rollback(s), {} inconclusive",
                    m.failures,
                    m.checks,
                    percent(m.failure_rate),
                    m.releases_failed,
                    m.rollbacks,
                    m.inconclusive
                ));
            }
        }
        let noisy: Vec<_> = self.checklist.iter().filter(|(_, i)| i.blocked + i.warned + i.overridden > 0).collect();
        if !noisy.is_empty() {
            out.push("\nChecklist items that did not simply pass (blocked / warned / overridden of judged):".into());
            for (item, i) in noisy {
                out.push(format!("  {item}: {} / {} / {} of {}", i.blocked, i.warned, i.overridden, i.judged));
            }
        }
        if !self.overrides.is_empty() {
            out.push("\nOverrides:".into());
            for o in &self.overrides {
                out.push(format!("  {} `{}` by {}: {}", o.release_id, o.item, o.approver, o.justification));
            }
        }
        if !self.rollbacks.is_empty() {
            out.push(format!("\nRollbacks (median time to restore {}s):", self.median_time_to_restore_secs.unwrap_or(0)));
            for b in &self.rollbacks {
                let target = match (b.target_secs, b.within_target) {
                    (Some(t), Some(true)) => format!(" (target {t}s met)"),
                    (Some(t), _) => format!(" (target {t}s MISSED)"),
                    _ => String::new(),
                };
                out.push(format!("  {} {}: restored in {}s{target}; {}", b.service, b.release_id, b.time_to_restore_secs, b.reason));
            }
        }
        if !self.likely_false_positives.is_empty() {
            out.push("\nLikely false positives:".into());
            for s in &self.likely_false_positives {
                out.push(format!("  {} ({}): {}", s.release_id, s.metrics.join(", "), s.evidence));
            }
        }
        let a = &self.approvals;
        if a.requested > 0 {
            out.push(format!(
                "\nApprovals: {} requested, {} approvals, {} rejections, {} expired{}",
                a.requested,
                a.approved,
                a.rejected,
                a.expired,
                a.median_minutes_to_decide.map(|m| format!(", median {m} min to the first decision")).unwrap_or_default()
            ));
        }
        out.extend(self.trend_lines());
        out.push(String::from(if self.recommendations.is_empty() { "\nNothing to tune this week." } else { "\nRecommendations:" }));
        out.extend(self.recommendations.iter().map(|r| format!("  - {r}")));
        out.join("\n")
    }
}

impl WeeklyReview {
    /// Each figure this week beside the previous weeks, oldest first, and which way it moved
    /// against their mean (lower is better for all of them).
    fn trend_lines(&self) -> Vec<String> {
        let Some(weeks) = self.trends.first().map(|t| t.previous.len()).filter(|n| *n > 0) else { return Vec::new() };
        let mut out = vec![format!("\nTrends (this week against the {weeks} week(s) before; lower is better):")];
        for t in &self.trends {
            let before: Vec<String> = t.previous.iter().map(|w| format!("{} {}", w.week, t.figure.shown(w.value))).collect();
            let moved = match t.direction {
                Direction::Up => format!("up from a mean of {} (worse)", t.figure.shown(t.previous_mean)),
                Direction::Down => format!("down from a mean of {} (better)", t.figure.shown(t.previous_mean)),
                Direction::Flat => format!("flat (mean {})", t.figure.shown(t.previous_mean)),
                Direction::NoHistory => "no earlier week to compare with".into(),
                Direction::NoData => "nothing to measure this week".into(),
            };
            out.push(format!("  {}: {} this week; {}; {moved}", t.figure.label(), t.figure.shown(t.this_week), before.join(", ")));
        }
        out
    }
}
