//! The checklist gate: typed requirements judged against a release's evidence.
//!
//! Plain Rust, no I/O: the caller passes the evidence, the overrides and the time.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, DurationRound, NaiveDateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::bounds::with_unit;
use crate::domain::duration::HumanDuration;
use crate::domain::plan::{Bounds, Checklist, EnforcementMode, Requirement, Weekday};

/// Evidence submitted with a release: field name to value.
pub type Evidence = BTreeMap<String, Value>;

/// A request to let a failed `soft` item pass.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// The checklist item id.
    pub item: String,
    /// Why the release may go ahead anyway.
    pub justification: String,
    /// Who approved the override.
    pub approver: String,
}

/// Overall result of the checklist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Warn,
    Blocked,
}

/// What the evidence showed for one item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    Met,
    NotMet,
    Missing,
    Malformed,
}

/// What the finding did to the release, given the item's enforcement mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Passed,
    /// `monitor`: recorded only.
    Recorded,
    /// `warn`: passes with a warning.
    Warning,
    /// `soft`: passed through an accepted override.
    Overridden,
    Blocked,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemResult {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub mode: EnforcementMode,
    pub finding: Finding,
    pub effect: Effect,
    /// The evidence value judged (absent when missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Value>,
    /// The rule it was held to, e.g. `coverage_pct ≥ 80`.
    pub rule: String,
    /// What was found, e.g. `72 < 80`.
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OverrideRecord {
    #[serde(flatten)]
    pub request: Override,
    pub accepted: bool,
    /// Why it was refused or not needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The checklist's verdict with one explained line per item and the overrides it used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChecklistVerdict {
    pub verdict: Verdict,
    pub judged_at: DateTime<Utc>,
    pub items: Vec<ItemResult>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<OverrideRecord>,
    pub summary: String,
}

impl ChecklistVerdict {
    pub fn is_blocked(&self) -> bool {
        self.verdict == Verdict::Blocked
    }

    /// One line per item, for people.
    pub fn lines(&self) -> Vec<String> {
        self.items
            .iter()
            .map(|i| {
                let mark = match i.effect {
                    Effect::Passed => "pass",
                    Effect::Recorded => "note",
                    Effect::Warning => "warn",
                    Effect::Overridden => "override",
                    Effect::Blocked => "BLOCK",
                };
                format!("[{mark:>8}] {} ({}): {} — {}", i.id, i.mode.as_str(), i.rule, i.detail)
            })
            .collect()
    }
}

/// The evidence name under which the release's author is visible to rules.
pub const AUTHOR_EVIDENCE: &str = "author";

/// Judges every item of the checklist against the evidence at `now`.
pub fn evaluate(
    checklist: &Checklist,
    evidence: &Evidence,
    overrides: &[Override],
    author: Option<&str>,
    now: DateTime<Utc>,
) -> ChecklistVerdict {
    // The release's author is evidence too (`exclude: author`), unless the evidence says otherwise.
    let with_author;
    let evidence = match author {
        Some(name) if !evidence.contains_key(AUTHOR_EVIDENCE) => {
            let mut all = evidence.clone();
            all.insert(AUTHOR_EVIDENCE.to_string(), Value::String(name.to_string()));
            with_author = all;
            &with_author
        }
        _ => evidence,
    };
    let mut records: Vec<OverrideRecord> = Vec::new();
    let mut items = Vec::with_capacity(checklist.items.len());
    for item in &checklist.items {
        let mode = item.mode.unwrap_or(checklist.mode);
        let judged = judge(&item.require, evidence, now);
        let requests: Vec<&Override> = overrides.iter().filter(|o| o.item == item.id).collect();
        let effect = match (judged.finding, mode) {
            (Finding::Met, _) => {
                records.extend(requests.into_iter().map(|o| refused(o, "not needed: the item passed")));
                Effect::Passed
            }
            (_, EnforcementMode::Monitor) => Effect::Recorded,
            (_, EnforcementMode::Warn) => Effect::Warning,
            (_, EnforcementMode::Strict) => {
                records.extend(requests.into_iter().map(|o| refused(o, "the item is strict; overrides are not allowed")));
                Effect::Blocked
            }
            (_, EnforcementMode::Soft) => {
                let mut effect = Effect::Blocked;
                for request in requests {
                    match override_problem(request, checklist, author) {
                        None if effect == Effect::Blocked => {
                            effect = Effect::Overridden;
                            records.push(OverrideRecord { request: request.clone(), accepted: true, note: None });
                        }
                        None => records.push(refused(request, "an earlier override already covers this item")),
                        Some(problem) => records.push(refused(request, &problem)),
                    }
                }
                effect
            }
        };
        items.push(ItemResult {
            id: item.id.clone(),
            title: item.title.clone(),
            mode,
            finding: judged.finding,
            effect,
            evidence: judged.value,
            rule: judged.rule,
            detail: judged.detail,
        });
    }
    for unknown in overrides.iter().filter(|o| !checklist.items.iter().any(|i| i.id == o.item)) {
        records.push(refused(unknown, "no checklist item has this id"));
    }
    let verdict = if items.iter().any(|i| i.effect == Effect::Blocked) {
        Verdict::Blocked
    } else if items.iter().any(|i| matches!(i.effect, Effect::Warning | Effect::Overridden)) {
        Verdict::Warn
    } else {
        Verdict::Pass
    };
    let summary = summarize(verdict, &items);
    ChecklistVerdict { verdict, judged_at: now, items, overrides: records, summary }
}

fn refused(request: &Override, note: &str) -> OverrideRecord {
    OverrideRecord { request: request.clone(), accepted: false, note: Some(note.to_string()) }
}

/// Why an override cannot be accepted, if it cannot.
fn override_problem(request: &Override, checklist: &Checklist, author: Option<&str>) -> Option<String> {
    let approver = request.approver.trim();
    if approver.is_empty() {
        return Some("no approver given; an override needs the identity of who approved it".into());
    }
    if request.justification.trim().chars().count() < 10 {
        return Some("the justification is missing or too short; say why the release may go ahead".into());
    }
    if author.is_some_and(|a| a.trim().eq_ignore_ascii_case(approver)) {
        return Some(format!("{approver} is the release's author and cannot approve their own override"));
    }
    let allowed = &checklist.overrides.approvers;
    if !allowed.is_empty() && !allowed.iter().any(|a| a.eq_ignore_ascii_case(approver)) {
        return Some(format!("{approver} may not approve overrides; allowed: {}", allowed.join(", ")));
    }
    None
}

fn summarize(verdict: Verdict, items: &[ItemResult]) -> String {
    let count = |effect: Effect| items.iter().filter(|i| i.effect == effect).count();
    let failing: Vec<String> = items.iter().filter(|i| i.effect == Effect::Blocked).map(|i| format!("{} ({})", i.id, i.detail)).collect();
    match verdict {
        Verdict::Blocked => format!("blocked by {} of {} items: {}", failing.len(), items.len(), failing.join("; ")),
        Verdict::Warn => format!(
            "passed with {} warning(s) and {} override(s) across {} items",
            count(Effect::Warning),
            count(Effect::Overridden),
            items.len()
        ),
        Verdict::Pass => match count(Effect::Recorded) {
            0 => format!("all {} items passed", items.len()),
            n => format!("passed; {n} monitored item(s) did not hold and were recorded"),
        },
    }
}

struct Judged {
    finding: Finding,
    value: Option<Value>,
    rule: String,
    detail: String,
}

impl Judged {
    fn new(finding: Finding, value: Option<&Value>, rule: String, detail: impl Into<String>) -> Self {
        Self { finding, value: value.cloned(), rule, detail: detail.into() }
    }
}

/// Looks up evidence; a JSON `null` counts as missing.
fn lookup<'e>(evidence: &'e Evidence, key: &str) -> Option<&'e Value> {
    evidence.get(key).filter(|v| !v.is_null())
}

fn missing(key: &str, rule: String) -> Judged {
    Judged::new(Finding::Missing, None, rule, format!("no evidence `{key}` was submitted"))
}

fn judge(req: &Requirement, evidence: &Evidence, now: DateTime<Utc>) -> Judged {
    match req {
        Requirement::Attestation { evidence: key } => {
            let rule = format!("{key} is true");
            match lookup(evidence, key) {
                None => missing(key, rule),
                Some(v @ Value::Bool(true)) => Judged::new(Finding::Met, Some(v), rule, "attested"),
                Some(v @ Value::Bool(false)) => Judged::new(Finding::NotMet, Some(v), rule, "attested as not done"),
                Some(v) => Judged::new(Finding::Malformed, Some(v), rule, format!("expected true or false, got {v}")),
            }
        }
        Requirement::Number { evidence: key, at_least, at_most, above, below, unit } => {
            let bounds = Bounds { at_least: *at_least, at_most: *at_most, above: *above, below: *below };
            let unit = unit.as_deref();
            let rule = bounds.describe(key, unit);
            match lookup(evidence, key) {
                None => missing(key, rule),
                Some(v) => match v.as_f64().filter(|n| n.is_finite()) {
                    None => Judged::new(Finding::Malformed, Some(v), rule, format!("expected a number, got {v}")),
                    Some(n) => match bounds.first_unmet(n) {
                        None => Judged::new(Finding::Met, Some(v), rule, format!("{} holds", with_unit(n, unit))),
                        Some((op, limit)) => Judged::new(
                            Finding::NotMet,
                            Some(v),
                            rule,
                            format!("{} {} {}", with_unit(n, unit), op.negated_symbol(), with_unit(limit, unit)),
                        ),
                    },
                },
            }
        }
        Requirement::Freshness { evidence: key, max_age, min_age } => {
            let mut parts = Vec::new();
            if let Some(max) = max_age {
                parts.push(format!("within the last {max}"));
            }
            if let Some(min) = min_age {
                parts.push(format!("at least {min} ago"));
            }
            let rule = format!("{key} {}", parts.join(" and "));
            let Some(v) = lookup(evidence, key) else { return missing(key, rule) };
            let at = match parse_instant(v) {
                Ok(at) => at,
                Err(why) => return Judged::new(Finding::Malformed, Some(v), rule, why),
            };
            let age = now.signed_duration_since(at);
            if age < -chrono::Duration::minutes(5) {
                return Judged::new(Finding::Malformed, Some(v), rule, format!("{at} is in the future"));
            }
            let age_text = describe_age(age);
            if let Some(max) = max_age.filter(|m| age > m.chrono()) {
                return Judged::new(Finding::NotMet, Some(v), rule, format!("{age_text} ago, older than {max}"));
            }
            if let Some(min) = min_age.filter(|m| age < m.chrono()) {
                return Judged::new(Finding::NotMet, Some(v), rule, format!("only {age_text} ago, less than {min}"));
            }
            Judged::new(Finding::Met, Some(v), rule, format!("{age_text} ago"))
        }
        Requirement::Count { evidence: key, at_least, distinct, exclude } => {
            let rule = format!(
                "{key} has ≥ {at_least} {}entries{}",
                if *distinct { "distinct " } else { "" },
                exclude.as_ref().map(|e| format!(", not counting `{e}`")).unwrap_or_default()
            );
            let Some(v) = lookup(evidence, key) else { return missing(key, rule) };
            let Some(entries) =
                v.as_array().and_then(|a| a.iter().map(|e| e.as_str().map(|s| s.trim().to_string())).collect::<Option<Vec<_>>>())
            else {
                return Judged::new(Finding::Malformed, Some(v), rule, format!("expected a list of names, got {v}"));
            };
            let excluded = match exclude {
                None => None,
                Some(ex) => match lookup(evidence, ex).and_then(Value::as_str) {
                    Some(name) => Some(name.trim().to_lowercase()),
                    None => {
                        return Judged::new(
                            Finding::Missing,
                            Some(v),
                            rule,
                            format!("no evidence `{ex}` was submitted, so it cannot be left out of the count"),
                        );
                    }
                },
            };
            let mut counted: Vec<String> = entries.iter().filter(|e| !e.is_empty()).map(|e| e.to_lowercase()).collect();
            let mut notes = Vec::new();
            if let Some(ex) = &excluded
                && counted.iter().any(|e| e == ex)
            {
                notes.push(format!("{ex} is excluded"));
                counted.retain(|e| e != ex);
            }
            let n = if *distinct { counted.iter().collect::<BTreeSet<_>>().len() } else { counted.len() };
            let note = if notes.is_empty() { String::new() } else { format!(" ({})", notes.join(", ")) };
            if n as u64 >= u64::from(*at_least) {
                Judged::new(Finding::Met, Some(v), rule, format!("{n} counted{note}"))
            } else {
                Judged::new(Finding::NotMet, Some(v), rule, format!("{n} counted, fewer than {at_least}{note}"))
            }
        }
        Requirement::Date { evidence: key, min_remaining } => {
            let rule = format!("{key} is more than {min_remaining} away");
            let Some(v) = lookup(evidence, key) else { return missing(key, rule) };
            match parse_instant(v) {
                Err(why) => Judged::new(Finding::Malformed, Some(v), rule, why),
                Ok(at) => {
                    let remaining = at.signed_duration_since(now);
                    let text = if remaining <= chrono::Duration::zero() {
                        format!("{} passed {} ago", at.format("%Y-%m-%d %H:%M UTC"), describe_age(-remaining))
                    } else {
                        format!("{} is {} away", at.format("%Y-%m-%d %H:%M UTC"), describe_age(remaining))
                    };
                    let finding = if remaining > min_remaining.chrono() { Finding::Met } else { Finding::NotMet };
                    Judged::new(finding, Some(v), rule, text)
                }
            }
        }
        Requirement::Window { timezone, allow, freeze } => judge_window(timezone, allow, freeze, now),
        Requirement::Incidents { evidence: key, severity_at_or_above, within } => {
            judge_incidents(evidence, key, severity_at_or_above, *within, now)
        }
    }
}

fn judge_window(
    timezone: &str,
    allow: &[crate::domain::plan::WeeklyWindow],
    freeze: &[crate::domain::plan::FreezePeriod],
    now: DateTime<Utc>,
) -> Judged {
    let rule = {
        let mut parts = Vec::new();
        if !allow.is_empty() {
            let windows: Vec<String> = allow.iter().map(describe_window).collect();
            parts.push(format!("within {}", windows.join(" or ")));
        }
        if !freeze.is_empty() {
            parts.push(format!("outside {} freeze period(s)", freeze.len()));
        }
        format!("release time {} ({timezone})", parts.join(" and "))
    };
    let Some(zone) = crate::domain::timezone::Zone::named(timezone) else {
        return Judged::new(Finding::Malformed, None, rule, format!("`{timezone}` is not a time zone"));
    };
    let local = zone.local(now);
    let when = format!("{} {timezone}", local.format("%a %Y-%m-%d %H:%M"));
    for period in freeze {
        let (Some(from), Some(to)) = (parse_freeze_time(&period.from), parse_freeze_time(&period.to)) else {
            return Judged::new(Finding::Malformed, None, rule, format!("freeze {}–{} cannot be read", period.from, period.to));
        };
        if from <= local && local < to {
            let reason = period.reason.as_ref().map(|r| format!(" `{r}`")).unwrap_or_default();
            return Judged::new(Finding::NotMet, None, rule, format!("{when} is inside freeze{reason} ({}–{})", period.from, period.to));
        }
    }
    if !allow.is_empty() && !allow.iter().any(|w| window_contains(w, local)) {
        return Judged::new(Finding::NotMet, None, rule, format!("{when} is outside the allowed hours"));
    }
    Judged::new(Finding::Met, None, rule, format!("{when} is allowed"))
}

/// Whether `at` falls in one of the weekly windows `allow` in `timezone`; if not, when the next
/// one opens (looked for over the coming eight days, minute by minute, so that daylight saving
/// changes count as the clocks on the wall do). `Err` names what cannot be read.
pub fn weekly_window_at(timezone: &str, allow: &[crate::domain::plan::WeeklyWindow], at: DateTime<Utc>) -> Result<WindowAt, String> {
    let zone = crate::domain::timezone::Zone::named(timezone).ok_or_else(|| format!("`{timezone}` is not a time zone"))?;
    let open = |t: DateTime<Utc>| allow.iter().any(|w| window_contains(w, zone.local(t)));
    if open(at) {
        return Ok(WindowAt::Open);
    }
    let minute = chrono::Duration::minutes(1);
    let mut t = at.duration_trunc(minute).unwrap_or(at);
    let mut next = None;
    for _ in 0..8 * 24 * 60 {
        let Some(later) = t.checked_add_signed(minute) else { break };
        t = later;
        if open(t) {
            next = Some(t);
            break;
        }
    }
    Ok(WindowAt::Closed { next })
}

/// Where a moment stands against weekly windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowAt {
    Open,
    /// Outside every window; the next opens then (`None`: not within eight days).
    Closed {
        next: Option<DateTime<Utc>>,
    },
}

/// The windows as people read them: `Fri 14:00–15:00 or Mon,Tue 09:00–10:00 (Europe/Berlin)`.
pub fn describe_windows(timezone: &str, allow: &[crate::domain::plan::WeeklyWindow]) -> String {
    let windows: Vec<String> = allow.iter().map(describe_window).collect();
    format!("{} ({timezone})", windows.join(" or "))
}

fn describe_window(w: &crate::domain::plan::WeeklyWindow) -> String {
    let days = if w.days.is_empty() { "daily".to_string() } else { w.days.iter().map(|d| format!("{d:?}")).collect::<Vec<_>>().join(",") };
    format!("{days} {}–{}", w.from, w.to)
}

fn window_contains(w: &crate::domain::plan::WeeklyWindow, local: NaiveDateTime) -> bool {
    let (Some(from), Some(to)) = (parse_local_time(&w.from), parse_local_time(&w.to)) else { return false };
    let t = local.time();
    let day_of = |d: chrono::Weekday| match d {
        chrono::Weekday::Mon => Weekday::Mon,
        chrono::Weekday::Tue => Weekday::Tue,
        chrono::Weekday::Wed => Weekday::Wed,
        chrono::Weekday::Thu => Weekday::Thu,
        chrono::Weekday::Fri => Weekday::Fri,
        chrono::Weekday::Sat => Weekday::Sat,
        chrono::Weekday::Sun => Weekday::Sun,
    };
    let today = day_of(local.weekday());
    let yesterday = day_of(local.weekday().pred());
    let applies = |d: Weekday| w.days.is_empty() || w.days.contains(&d);
    if from < to {
        applies(today) && from <= t && t < to
    } else {
        // An overnight window (22:00–02:00) belongs to the day it starts on.
        (applies(today) && t >= from) || (applies(yesterday) && t < to)
    }
}

fn judge_incidents(evidence: &Evidence, key: &str, threshold: &str, within: HumanDuration, now: DateTime<Utc>) -> Judged {
    let rule = format!("no {threshold}-or-worse incident in {key} within the last {within}");
    let Some(v) = lookup(evidence, key) else { return missing(key, rule) };
    let Some(level) = parse_severity(threshold) else {
        return Judged::new(Finding::Malformed, Some(v), rule, format!("`{threshold}` is not a severity"));
    };
    let Some(list) = v.as_array() else {
        return Judged::new(Finding::Malformed, Some(v), rule, format!("expected a list of incidents, got {v}"));
    };
    let since = within.before(now);
    let mut hits = Vec::new();
    for (i, incident) in list.iter().enumerate() {
        let id = incident.get("id").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| format!("#{i}"));
        let severity = incident.get("severity").and_then(Value::as_str);
        let Some(sev) = severity.and_then(parse_severity) else {
            return Judged::new(Finding::Malformed, Some(v), rule, format!("incident {id} has no readable severity (P0–P5)"));
        };
        let Some(started) = incident.get("started_at").and_then(|s| parse_instant(s).ok()) else {
            return Judged::new(Finding::Malformed, Some(v), rule, format!("incident {id} has no readable started_at"));
        };
        let resolved = match incident.get("resolved_at").filter(|r| !r.is_null()) {
            None => None,
            Some(r) => match parse_instant(r) {
                Ok(at) => Some(at),
                Err(_) => return Judged::new(Finding::Malformed, Some(v), rule, format!("incident {id} has an unreadable resolved_at")),
            },
        };
        let overlaps = started <= now && resolved.is_none_or(|r| r >= since);
        if sev <= level && overlaps {
            let state = match resolved {
                None => "still open".to_string(),
                Some(r) => format!("resolved {} ago", describe_age(now - r)),
            };
            hits.push(format!("{id} ({}, {state})", severity.unwrap_or_default()));
        }
    }
    if hits.is_empty() {
        Judged::new(Finding::Met, Some(v), rule, format!("{} incident(s) listed, none {threshold} or worse in the period", list.len()))
    } else {
        Judged::new(
            Finding::NotMet,
            Some(v),
            rule,
            format!("{} within {within}: {}", if hits.len() == 1 { "incident" } else { "incidents" }, hits.join(", ")),
        )
    }
}

/// `P0`…`P5` or `SEV0`…`SEV5`; lower is more severe.
pub fn parse_severity(text: &str) -> Option<u8> {
    let t = text.trim().to_ascii_uppercase();
    let digits = t.strip_prefix("SEV").or_else(|| t.strip_prefix('P'))?;
    digits.parse::<u8>().ok().filter(|n| *n <= 5)
}

/// `HH:MM` local time.
pub fn parse_local_time(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M").ok()
}

/// `YYYY-MM-DDTHH:MM` (or with seconds) local date-time.
pub fn parse_freeze_time(text: &str) -> Option<NaiveDateTime> {
    let t = text.trim();
    NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M"))
        .ok()
}

fn parse_instant(v: &Value) -> Result<DateTime<Utc>, String> {
    let Some(text) = v.as_str() else { return Err(format!("expected an RFC 3339 time, got {v}")) };
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("`{text}` is not an RFC 3339 time like 2025-11-07T09:00:00Z"))
}

fn describe_age(d: chrono::Duration) -> String {
    let secs = d.num_seconds().max(0);
    HumanDuration::from_secs(u64::try_from(secs).unwrap_or(0)).to_string()
}

#[cfg(test)]
mod tests;
