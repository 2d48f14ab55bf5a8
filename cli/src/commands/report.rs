//! `rollgate report`: one release, as read from its record and its audit trail: the timeline
//! chart, every verdict with its values, bounds, windows and baseline, the approvals, the
//! operators' controls, the hooks, the rollback, the final status and whether the trail's hash
//! chain verifies. One model, printed as a self-contained HTML page (`--html`: inline CSS and
//! SVG, no script, nothing fetched), as JSON (`--json`) or as text.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use rollgate::domain::bounds::format_number;
use rollgate::domain::decision::Decision;
use rollgate::domain::gate::{GateVerdict, MetricVerdict};
use rollgate::release::chain::{Break, Verified};
use rollgate::release::{EventKind, Release, ReleaseEvent};
use serde_json::{Value, json};

use super::chart::{self, Chart, escape};

/// A release and its trail, with the verdict of the trail's hash chain.
pub struct Report<'a> {
    pub release: &'a Release,
    pub events: &'a [ReleaseEvent],
    /// `rollgate verify`'s walk of the chain.
    pub chain: Result<Verified, Break>,
}

/// One metric check and what the release did on it (a time-only check has no verdict).
pub struct Check<'a> {
    pub at: DateTime<Utc>,
    pub step: usize,
    pub verdict: Option<&'a GateVerdict>,
    pub decision: Option<&'a Decision>,
}

impl<'a> Report<'a> {
    pub fn new(release: &'a Release, events: &'a [ReleaseEvent]) -> Self {
        Report { release, events, chain: rollgate::release::chain::verify(events) }
    }

    /// Every check, in order: each verdict with the decision taken on it.
    pub fn checks(&self) -> Vec<Check<'a>> {
        let mut checks = Vec::new();
        let mut judged: Option<(DateTime<Utc>, usize, &'a GateVerdict)> = None;
        for event in self.events {
            match &event.kind {
                EventKind::GateJudged { step, verdict, .. } => {
                    if let Some((at, step, verdict)) = judged.take() {
                        checks.push(Check { at, step, verdict: Some(verdict), decision: None });
                    }
                    judged = Some((event.at, *step, verdict));
                }
                EventKind::Decided(decision) => {
                    let (at, verdict) = match judged.take() {
                        Some((at, _, verdict)) => (at, Some(verdict)),
                        None => (event.at, None),
                    };
                    checks.push(Check { at, step: decision.step, verdict, decision: Some(decision) });
                }
                _ => {}
            }
        }
        if let Some((at, step, verdict)) = judged {
            checks.push(Check { at, step, verdict: Some(verdict), decision: None });
        }
        checks
    }

    fn events_where(&self, pick: impl Fn(&EventKind) -> bool) -> Vec<&'a ReleaseEvent> {
        self.events.iter().filter(|e| pick(&e.kind)).collect()
    }

    fn approvals(&self) -> Vec<&'a ReleaseEvent> {
        self.events_where(|k| matches!(k, EventKind::ApprovalRequested { .. } | EventKind::ApprovalDecided { .. }))
    }

    fn controls(&self) -> Vec<&'a ReleaseEvent> {
        self.events_where(|k| matches!(k, EventKind::Controlled { .. }))
    }

    fn rollbacks(&self) -> Vec<&'a ReleaseEvent> {
        self.events_where(|k| matches!(k, EventKind::RolledBack(_) | EventKind::RollbackFailed { .. } | EventKind::AlarmRaised(_)))
    }

    /// Every hook that ran: before a step's shift, and with a check.
    fn hooks(&self) -> Vec<(DateTime<Utc>, String, &'a rollgate::domain::hook::HookResult)> {
        let mut hooks = Vec::new();
        for event in self.events {
            match &event.kind {
                EventKind::HooksRan { step, results } => {
                    hooks.extend(results.iter().map(|r| (event.at, format!("before step {}'s shift", step + 1), r)));
                }
                EventKind::GateJudged { step, verdict, .. } => {
                    hooks.extend(verdict.hooks.iter().map(|r| (event.at, format!("with step {}'s check", step + 1), r)));
                }
                _ => {}
            }
        }
        hooks
    }

    /// Why the release rolled back, as its rollback (or its closing) recorded it.
    pub fn rollback_reason(&self) -> Option<&'a str> {
        self.events
            .iter()
            .rev()
            .find_map(|e| match &e.kind {
                EventKind::RolledBack(record) => Some(record.reason.as_str()),
                EventKind::RollbackFailed { reason, .. } => Some(reason.as_str()),
                _ => None,
            })
            .or_else(|| {
                matches!(self.release.status, rollgate::release::ReleaseStatus::RolledBack | rollgate::release::ReleaseStatus::Aborted)
                    .then_some(self.release.closed_reason.as_deref())
                    .flatten()
            })
    }

    /// The chain's verdict in a sentence, as `rollgate verify` words it.
    pub fn chain_sentence(&self) -> String {
        let id = &self.release.id;
        match &self.chain {
            Ok(v) if v.unchained > 0 => format!(
                "trail of {id} intact: {} events; the first {} were written before trails were chained and are not covered; head {}",
                v.events, v.unchained, v.head
            ),
            Ok(v) => format!("trail of {id} intact: {} events, head {}", v.events, v.head),
            Err(b) => format!("trail of {id} is NOT intact: {b}"),
        }
    }

    fn chart_svg(&self) -> String {
        let start = self.events.first().map_or(self.release.created_at, |e| e.at);
        let end = self.events.last().map_or(start, |e| e.at);
        let timeline = rollgate::simulate::timeline(&self.release.plan, self.events, start);
        let thresholds = rollgate::simulate::thresholds(&self.release.plan);
        let subtitle = format!("{} {} in {}", self.release.service, self.release.version, self.release.environment);
        chart::svg(&Chart {
            title: &self.release.plan.name,
            subtitle: &subtitle,
            duration_secs: u64::try_from((end - start).num_seconds()).unwrap_or(0),
            timeline: &timeline,
            thresholds: &thresholds,
        })
    }

    /// The report as JSON: the release, the chain's verdict, the checks and the trail.
    pub fn json(&self) -> Value {
        let r = self.release;
        let checks: Vec<Value> =
            self.checks().iter().map(|c| json!({"at": c.at, "step": c.step, "verdict": c.verdict, "decision": c.decision})).collect();
        let chain = match &self.chain {
            Ok(v) => json!({"intact": true, "events": v.events, "unchained": v.unchained, "head": v.head}),
            Err(b) => json!({"intact": false, "seq": b.seq, "problem": b.problem}),
        };
        json!({
            "release_id": r.id, "service": r.service, "environment": r.environment, "version": r.version,
            "stable_version": r.stable_version, "plan": r.plan.name, "plan_hash": r.plan_hash, "status": r.status,
            "closed_reason": r.closed_reason, "rollback_reason": self.rollback_reason(), "chain": chain, "checks": checks,
            "approvals": self.approvals(), "controls": self.controls(), "rollbacks": self.rollbacks(), "trail": self.events,
        })
    }

    /// The report as text, for a terminal.
    pub fn text(&self) -> String {
        let r = self.release;
        let mut out =
            format!("release {}: {} — {} {} in {} (plan `{}`)", r.id, r.status.as_str(), r.service, r.version, r.environment, r.plan.name);
        if let Some(reason) = &r.closed_reason {
            let _ = write!(out, "\n  {reason}");
        }
        let _ = write!(out, "\n{}", self.chain_sentence());
        let checks = self.checks();
        if !checks.is_empty() {
            out.push_str("\nchecks:");
        }
        for check in &checks {
            let _ = write!(out, "\n  {} step {}: ", time(check.at), check.step + 1);
            match check.verdict {
                Some(v) => out.push_str(&format!("{:?}: {}", v.outcome, v.summary).to_lowercase()),
                None => out.push_str("time only"),
            }
            if let Some(d) = check.decision {
                let _ = write!(out, " → {}: {}", format!("{:?}", d.action).to_lowercase(), d.reason);
            }
            for m in check.verdict.iter().flat_map(|v| &v.metrics) {
                let _ = write!(out, "\n    {:?}: {} (window {}–{})", m.outcome, m.sentence, clock(m.window_start), clock(m.window_end));
            }
        }
        for (title, events) in [("approvals", self.approvals()), ("operators", self.controls()), ("rollback", self.rollbacks())] {
            if !events.is_empty() {
                let _ = write!(out, "\n{title}:");
                for e in events {
                    let _ = write!(out, "\n  {} {}  {}", time(e.at), e.actor, e.kind.summary());
                }
            }
        }
        let hooks = self.hooks();
        if !hooks.is_empty() {
            out.push_str("\nhooks:");
            for (at, when, hook) in hooks {
                let _ = write!(out, "\n  {} {when}: {}", time(at), hook.sentence());
            }
        }
        out
    }

    /// The report as one self-contained HTML page: inline CSS and SVG, no script, nothing
    /// fetched; every text from the trail or the plan escaped. Its content security policy
    /// forbids scripts and every fetch, so even markup that slipped through the escaping could
    /// neither run nor call out, and the page reads the same in any browser with or without
    /// JavaScript.
    pub fn html(&self) -> String {
        let r = self.release;
        let mut page = String::new();
        let _ = write!(
            page,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"{CONTENT_SECURITY_POLICY}\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>release {} — rollgate report</title><style>{STYLE}</style></head><body>",
            escape(&r.id)
        );
        let _ = write!(
            page,
            "<h1>Release {}</h1><p class=\"status {}\">{}</p>",
            escape(&r.id),
            r.status.as_str(),
            escape(&r.status.as_str().replace('_', " "))
        );
        if let Some(reason) = &r.closed_reason {
            let _ = write!(page, "<p class=\"reason\">{}</p>", escape(reason));
        }
        let chain_class = if self.chain.is_ok() { "ok" } else { "bad" };
        let _ = write!(page, "<p class=\"chain {chain_class}\">{}</p>", escape(&self.chain_sentence()));

        page.push_str("<table class=\"facts\">");
        let facts: Vec<(&str, String)> = vec![
            ("service", r.service.clone()),
            ("environment", r.environment.clone()),
            ("version", r.version.clone()),
            ("stable version", r.stable_version.clone().unwrap_or_default()),
            ("plan", format!("{} ({} steps; hash {})", r.plan.name, r.plan.traffic.steps.len(), r.plan_hash)),
            ("author", r.author.clone().unwrap_or_default()),
            ("requested by", r.requested_by.clone().unwrap_or_default()),
            ("created", time(r.created_at)),
            ("last updated", time(r.updated_at)),
            ("canary weight now", format!("{}%", r.canary_weight)),
        ];
        for (name, value) in facts.iter().filter(|(_, v)| !v.is_empty()) {
            let _ = write!(page, "<tr><th>{name}</th><td>{}</td></tr>", escape(value));
        }
        page.push_str("</table>");

        let _ = write!(page, "<h2>Timeline</h2><div class=\"chart\">{}</div>", self.chart_svg());

        if let Some(reason) = self.rollback_reason() {
            let _ = write!(page, "<h2>Rollback</h2><p class=\"reason\">{}</p>", escape(reason));
        }
        let rollbacks: Vec<Vec<String>> = self
            .rollbacks()
            .iter()
            .map(|e| {
                let detail = match &e.kind {
                    EventKind::RolledBack(rec) => format!(
                        "detected {}, restored {} ({}s{})",
                        time(rec.detected_at),
                        time(rec.restored_at),
                        rec.time_to_restore_secs,
                        match (rec.target_secs, rec.within_target) {
                            (Some(t), Some(true)) => format!("; within the target of {t}s"),
                            (Some(t), _) => format!("; the target was {t}s: MISSED"),
                            _ => String::new(),
                        }
                    ),
                    EventKind::RollbackFailed { reason, .. } => reason.clone(),
                    _ => String::new(),
                };
                vec![time(e.at), e.actor.clone(), e.kind.summary(), detail]
            })
            .collect();
        if !rollbacks.is_empty() {
            table(&mut page, &["at", "by", "what", "detail"], &rollbacks);
        }

        page.push_str("<h2>Checklist</h2>");
        let checklist = self.events.iter().find_map(|e| match &e.kind {
            EventKind::ChecklistJudged(v) => Some(v),
            _ => None,
        });
        match checklist {
            Some(v) => {
                let _ = write!(page, "<p>{}</p>", escape(&format!("{:?}: {}", v.verdict, v.summary)));
                if !v.items.is_empty() {
                    page.push_str("<ul>");
                    for line in v.lines() {
                        let _ = write!(page, "<li>{}</li>", escape(&line));
                    }
                    page.push_str("</ul>");
                }
            }
            None => page.push_str("<p>not judged</p>"),
        }

        page.push_str("<h2>Checks</h2>");
        let checks = self.checks();
        if checks.is_empty() {
            page.push_str("<p>no check was made</p>");
        }
        for check in &checks {
            write_check(&mut page, check);
        }

        let approvals: Vec<Vec<String>> = self
            .approvals()
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::ApprovalRequested { approval, step, approvers, quorum, expires_at } => Some(vec![
                    time(e.at),
                    approval.clone(),
                    approvers.join(", "),
                    format!("requested before step {} (quorum {quorum}), expires {}", step + 1, time(*expires_at)),
                    String::new(),
                ]),
                EventKind::ApprovalDecided { approval, by, approved, comment, via } => Some(vec![
                    time(e.at),
                    approval.clone(),
                    match via {
                        Some(group) => format!("{by} (member of {group}; as {})", e.actor),
                        None if *by != e.actor => format!("{by} (as {})", e.actor),
                        None => by.clone(),
                    },
                    if *approved { "granted".to_string() } else { "REJECTED".to_string() },
                    comment.clone().unwrap_or_default(),
                ]),
                _ => None,
            })
            .collect();
        section(&mut page, "Approvals", "none asked", &["at", "approval", "who", "decision", "comment"], &approvals);

        let controls: Vec<Vec<String>> = self
            .controls()
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Controlled { control, by, reason } => {
                    Some(vec![time(e.at), control.as_str().to_string(), by.clone(), reason.clone()])
                }
                _ => None,
            })
            .collect();
        section(&mut page, "Operators", "no operator acted", &["at", "control", "who", "why"], &controls);

        let hooks: Vec<Vec<String>> = self
            .hooks()
            .into_iter()
            .map(|(at, when, hook)| vec![time(at), when, hook.hook.clone(), hook.sentence(), format!("{} ms", hook.took_ms)])
            .collect();
        section(&mut page, "Hooks", "no hook ran", &["at", "when", "hook", "result", "took"], &hooks);

        let trail: Vec<Vec<String>> = self
            .events
            .iter()
            .map(|e| vec![e.seq.to_string(), time(e.at), e.actor.clone(), e.kind.name().to_string(), e.kind.summary()])
            .collect();
        section(&mut page, "Audit trail", "no event", &["#", "at", "actor", "event", "what"], &trail);
        let _ = write!(
            page,
            "<footer>written by rollgate {} from table records; no script runs on this page</footer>",
            env!("CARGO_PKG_VERSION")
        );
        page.push_str("</body></html>");
        page
    }
}

/// A section: its heading, then its rows as a table, or `none` when it has none.
fn section(page: &mut String, title: &str, none: &str, headers: &[&str], rows: &[Vec<String>]) {
    let _ = write!(page, "<h2>{title}</h2>");
    if rows.is_empty() {
        let _ = write!(page, "<p>{none}</p>");
    } else {
        table(page, headers, rows);
    }
}

/// A table; every cell is text, escaped here.
fn table(page: &mut String, headers: &[&str], rows: &[Vec<String>]) {
    page.push_str("<table><tr>");
    for header in headers {
        let _ = write!(page, "<th>{header}</th>");
    }
    page.push_str("</tr>");
    for row in rows {
        page.push_str("<tr>");
        for cell in row {
            let _ = write!(page, "<td>{}</td>", escape(cell));
        }
        page.push_str("</tr>");
    }
    page.push_str("</table>");
}

/// One check: its outcome and decision, then per metric its values, bounds, window and baseline.
fn write_check(page: &mut String, check: &Check<'_>) {
    let outcome = check.verdict.map_or("time only".to_string(), |v| format!("{:?}", v.outcome).to_lowercase());
    let _ = write!(page, "<div class=\"check {outcome}\"><h3>{} · step {} · {outcome}</h3>", escape(&time(check.at)), check.step + 1);
    if let Some(v) = check.verdict {
        let _ = write!(page, "<p>{}</p>", escape(&v.summary));
        if let Some(score) = &v.score {
            let _ = write!(
                page,
                "<p>score {} ({} of weight {} passed){}</p>",
                format_number(score.value),
                format_number(score.passed_weight),
                format_number(score.total_weight),
                score.zeroed_by.as_ref().map(|m| escape(&format!("; zeroed by {m}"))).unwrap_or_default()
            );
        }
    }
    if let Some(d) = check.decision {
        let _ = write!(
            page,
            "<p class=\"decision\">decision <b>{}</b>: {} (bake {} of {} served; {} consecutive failure(s), {} inconclusive)</p>",
            format!("{:?}", d.action).to_lowercase(),
            escape(&d.reason),
            rollgate::HumanDuration::from_secs(d.bake_served_secs),
            rollgate::HumanDuration::from_secs(d.bake_required_secs),
            d.consecutive_failures,
            d.inconclusive_checks
        );
    }
    let metrics = check.verdict.map(|v| v.metrics.as_slice()).unwrap_or_default();
    if !metrics.is_empty() {
        page.push_str(
            "<table><tr><th>metric</th><th>outcome</th><th>window</th><th>canary</th><th>baseline</th><th>bounds (held?)</th></tr>",
        );
        for m in metrics {
            write_metric(page, m);
        }
        page.push_str("</table>");
    }
    for alarm in check.verdict.iter().flat_map(|v| &v.alarms) {
        let _ = write!(
            page,
            "<p>alarm {}: {:?}{}</p>",
            escape(&alarm.name),
            alarm.state,
            alarm.reason.as_ref().map(|r| escape(&format!(" ({r})"))).unwrap_or_default()
        );
    }
    page.push_str("</div>");
}

fn write_metric(page: &mut String, m: &MetricVerdict) {
    let unit = m.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
    let side = |s: Option<rollgate::domain::gate::SideSummary>| {
        s.map_or("no data".to_string(), |s| format!("{}{unit} (n={})", format_number(s.value), s.samples))
    };
    let bounds: Vec<String> = m
        .checks
        .iter()
        .map(|c| format!("{}: {} — {} {}", criterion_name(c.criterion), c.bound, c.observed, if c.held { "✓" } else { "✗" }))
        .collect();
    let _ = write!(
        page,
        "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{} – {}</td><td>{}</td><td>{}</td><td>{}<br><small>{}</small></td></tr>",
        format!("{:?}", m.outcome).to_lowercase(),
        escape(&m.metric),
        format!("{:?}", m.outcome).to_lowercase(),
        escape(&time(m.window_start)),
        escape(&clock(m.window_end)),
        escape(&side(m.canary)),
        escape(&side(m.baseline)),
        bounds.iter().map(|b| escape(b)).collect::<Vec<_>>().join("<br>"),
        escape(&m.sentence)
    );
}

/// A criterion as the trail names it (`min_samples`, `rollback_if`, ...).
fn criterion_name(criterion: rollgate::domain::gate::Criterion) -> String {
    match serde_json::to_value(criterion) {
        Ok(Value::String(name)) => name,
        _ => format!("{criterion:?}").to_lowercase(),
    }
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn clock(at: DateTime<Utc>) -> String {
    at.format("%H:%M:%S").to_string()
}

/// No script, no fetch of any kind; only the page's own inline style.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222}\
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}h3{font-size:1em;margin:.2em 0}\
table{border-collapse:collapse;margin:.5em 0;width:100%;font-size:.9em}th,td{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}\
th{background:#f5f5f5}table.facts{width:auto}table.facts th{width:10em}\
.status{display:inline-block;font-weight:bold;font-size:1.2em;padding:.2em .6em;border-radius:4px;background:#eee}\
.status.promoted{background:#d4edda;color:#155724}.status.rolled_back,.status.aborted,.status.blocked{background:#f8d7da;color:#721c24}\
.status.progressing,.status.awaiting_approval,.status.admitted{background:#fff3cd;color:#856404}\
.reason{font-weight:bold}.chain.ok{color:#155724}.chain.bad{color:#721c24;font-weight:bold}\
.check{border-left:4px solid #ccc;padding:.2em .8em;margin:.8em 0}.check.pass{border-color:#28a745}.check.marginal,.check.inconclusive{border-color:#ffc107}\
.check.fail,.check.critical{border-color:#dc3545}tr.fail td,tr.critical td{background:#fdecea}tr.inconclusive td{background:#fff8e1}\
.chart svg{max-width:100%;height:auto}footer{margin-top:2em;color:#777;font-size:.8em}";

#[cfg(test)]
mod tests;
