//! The report of releases run in the simulator (the same flow, the same trail a deployed release
//! writes), and of trails with hostile text in them.

use std::path::PathBuf;

use rollgate::domain::plan::parse_plan_file;
use rollgate::release::{Control, ReleaseStatus};
use rollgate::simulate::{SimOutcome, simulate};

use super::*;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join(path)
}

/// The record and the trail of the reference plan `plan` run against `scenario`.
fn simulated(plan: &str, scenario: &str) -> (Release, Vec<ReleaseEvent>) {
    let plan = parse_plan_file(&repo(&format!("examples/{plan}.yaml"))).unwrap_or_else(|e| panic!("{e:?}"));
    let (scenario, recorded) =
        crate::commands::simulate::load_scenario(&repo(&format!("examples/scenarios/{scenario}.yaml"))).unwrap_or_else(|e| panic!("{e}"));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap_or_else(|e| panic!("{e}"));
    let sim = runtime.block_on(simulate(&plan, &scenario, recorded)).unwrap_or_else(|e| panic!("{e}"));
    let first = sim.trail.first().map(|e| e.at).unwrap_or_default();
    let last = sim.trail.last().map(|e| e.at).unwrap_or_default();
    let release = Release {
        id: "rel-1".into(),
        service: "greenlang-api".into(),
        environment: "production".into(),
        version: "v1.2.3".into(),
        stable_version: Some("v1.2.2".into()),
        author: Some("alice".into()),
        requested_by: Some("arn:aws:iam::123456789012:user/ci".into()),
        status: match sim.outcome {
            SimOutcome::Promoted => ReleaseStatus::Promoted,
            SimOutcome::RolledBack => ReleaseStatus::RolledBack,
            SimOutcome::Blocked => ReleaseStatus::Blocked,
        },
        plan_hash: "abc123".into(),
        plan,
        evidence: Default::default(),
        step: sim.final_step,
        step_started_at: None,
        step_outcomes: vec![],
        canary_weight: 0,
        created_at: first,
        updated_at: last,
        closed_reason: Some(sim.reason.clone()),
        last_check: None,
        execution: None,
        paused: None,
        paused_secs: 0,
        asked: None,
        revision: 1,
    };
    (release, sim.trail)
}

fn failing() -> (Release, Vec<ReleaseEvent>) {
    simulated("greenlang-production-deploy", "greenlang-production-deploy.failing")
}

#[test]
fn the_page_names_the_rollback_reason_the_verdicts_values_bounds_windows_and_baseline_and_the_approvals() {
    let (release, events) = failing();
    let report = Report::new(&release, &events);
    let page = report.html();
    let reason = report.rollback_reason().unwrap_or_else(|| panic!("a rolled-back release has a rollback reason"));
    assert!(reason.contains("critical: error_rate"), "{reason}");
    assert!(page.contains(&format!("<h2>Rollback</h2><p class=\"reason\">{}</p>", escape(reason))), "{page}");
    assert!(page.contains("<p class=\"status rolled_back\">rolled back</p>"), "the final status leads the page");

    // Every check's metrics, with the values judged, the window, the baseline and each bound.
    let checks = report.checks();
    let last = checks.last().unwrap_or_else(|| panic!("checks"));
    let verdict = last.verdict.unwrap_or_else(|| panic!("the last check judged metrics"));
    let error_rate = verdict.metrics.iter().find(|m| m.metric == "error_rate").unwrap_or_else(|| panic!("error_rate judged"));
    let canary = error_rate.canary.unwrap_or_else(|| panic!("a canary value"));
    let baseline = error_rate.baseline.unwrap_or_else(|| panic!("a baseline value"));
    let unit = error_rate.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
    for shown in [
        format!("{}{unit} (n={})", format_number(canary.value), canary.samples),
        format!("{}{unit} (n={})", format_number(baseline.value), baseline.samples),
        escape(&time(error_rate.window_start)),
        escape(&error_rate.sentence),
    ]
    .into_iter()
    .chain(error_rate.checks.iter().map(|c| escape(&c.bound)))
    {
        assert!(page.contains(&shown), "the page lacks `{shown}`");
    }
    assert!(page.contains("decision <b>rollback</b>"), "the decision on the last check");
    assert_eq!(page.matches("<div class=\"check ").count(), checks.len(), "one block per check");

    // The Go/No-Go: asked of whom, granted by whom and when.
    let granted = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::ApprovalDecided { by, approved: true, .. } => Some((e.at, by.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("the scenario grants the Go/No-Go"));
    let row = format!("<tr><td>{}</td><td>go-no-go</td><td>{}", escape(&time(granted.0)), escape(&granted.1));
    assert!(page.contains(&row) && page.contains("<td>granted</td>"), "the approval row `{row}`");

    // The chain verifies, as `rollgate verify` would say.
    assert!(report.chain.is_ok());
    assert!(page.contains("<p class=\"chain ok\">trail of rel-1 intact: "), "{page}");
    // The chart: the weight and each judged metric, with the plan's bounds.
    assert!(page.contains("canary weight (%)") && page.contains(">error_rate</text>") && page.contains("<polyline"), "the chart");
}

#[test]
fn the_page_is_self_contained_and_runs_no_script() {
    let (release, events) = failing();
    let page = Report::new(&release, &events).html();
    assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</html>"));
    assert!(page.contains("<style>") && page.contains("<svg "), "inline CSS and SVG");
    let lower = page.to_lowercase();
    for fetches in ["<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import", " on"] {
        let found = lower.match_indices(fetches).map(|(i, _)| crate::commands::chart::escape(&lower[i..(i + 40).min(lower.len())])).next();
        // ` on` is an event handler only as an attribute: `onload=`.
        if fetches == " on" {
            assert!(!lower.contains(" onload=") && !lower.contains(" onerror=") && !lower.contains(" onclick="), "a handler");
            continue;
        }
        assert!(found.is_none(), "the page holds `{fetches}`: {found:?}");
    }
    // The only address is the SVG namespace, which is never fetched (`http-equiv` names the
    // policy's header).
    let addresses = lower.matches("http").count() - lower.matches("http-equiv").count();
    assert_eq!(addresses, lower.matches("http://www.w3.org/2000/svg").count(), "no address but the SVG namespace");
    // And the policy lets nothing run or be fetched, should anything slip through.
    assert!(page.contains(&format!("<meta http-equiv=\"Content-Security-Policy\" content=\"{CONTENT_SECURITY_POLICY}\">")));
    assert!(CONTENT_SECURITY_POLICY.starts_with("default-src 'none';") && !CONTENT_SECURITY_POLICY.contains("script-src"));
}

#[test]
fn hostile_names_and_reasons_are_text_on_the_page_not_markup() {
    let (mut release, mut events) = failing();
    let hostile = r#"<script>alert(1)</script><img src=x onerror="alert(2)">"#;
    release.id = format!("rel-{hostile}");
    release.plan.name = hostile.into();
    release.service = hostile.into();
    release.closed_reason = Some(hostile.into());
    let at = events.last().map(|e| e.at).unwrap_or_default();
    events.push(ReleaseEvent::new(
        &release.id,
        at,
        hostile,
        EventKind::Controlled { control: Control::Pause, by: hostile.into(), reason: hostile.into() },
    ));
    events.push(ReleaseEvent::new(
        &release.id,
        at,
        hostile,
        EventKind::ApprovalDecided {
            approval: hostile.into(),
            by: hostile.into(),
            approved: false,
            comment: Some(hostile.into()),
            via: None,
        },
    ));
    for event in &mut events {
        if let EventKind::GateJudged { verdict, .. } = &mut event.kind {
            for metric in &mut verdict.metrics {
                metric.sentence = hostile.into();
            }
        }
        if let EventKind::RolledBack(record) = &mut event.kind {
            record.reason = hostile.into();
        }
    }
    let report = Report::new(&release, &events);
    let page = report.html();
    let lower = page.to_lowercase();
    assert!(!lower.contains("<script") && !lower.contains("<img") && !lower.contains("onerror=\""), "markup got through");
    let escaped = escape(hostile);
    assert!(page.contains(&format!("<tr><td>{}</td><td>pause</td><td>{escaped}</td><td>{escaped}</td></tr>", escape(&time(at)))));
    assert!(page.contains(&format!("<h2>Rollback</h2><p class=\"reason\">{escaped}</p>")), "the rollback reason, escaped");
    assert!(page.contains(&format!("<title>release rel-{escaped} — rollgate report</title>")));
    // Edited events break the chain, and the page says where.
    assert!(report.chain.is_err());
    assert!(page.contains("<p class=\"chain bad\">") && page.contains("is NOT intact: the trail breaks at event"), "{page}");
}

#[test]
fn text_and_json_tell_what_the_page_tells() {
    let (release, events) = failing();
    let report = Report::new(&release, &events);
    let reason = report.rollback_reason().unwrap_or_default().to_string();
    let text = report.text();
    assert!(text.starts_with("release rel-1: rolled_back — greenlang-api v1.2.3 in production"), "{text}");
    assert!(text.contains(&reason) && text.contains("trail of rel-1 intact") && text.contains("approval `go-no-go` granted by"), "{text}");
    let json = report.json();
    assert_eq!(json["rollback_reason"], reason);
    assert_eq!(json["chain"]["intact"], true);
    assert_eq!(json["checks"].as_array().map(Vec::len), Some(report.checks().len()));
    assert!(json["checks"][0]["verdict"]["metrics"].is_array(), "{json}");
}

#[test]
fn a_promoted_release_has_no_rollback_section() {
    let (release, events) = simulated("greenlang-production-deploy", "greenlang-production-deploy.healthy");
    let report = Report::new(&release, &events);
    assert_eq!(report.rollback_reason(), None);
    let page = report.html();
    assert!(page.contains("<p class=\"status promoted\">promoted</p>") && !page.contains("<h2>Rollback</h2>"), "{page}");
}
