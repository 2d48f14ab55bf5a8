//! The message builders on arbitrary Unicode: the text cutters, every notification (subject,
//! summary, Slack message, published body) and the Slack buttons. The input is text; byte 0 is
//! also the limit for the cutters; the text split at U+001E (record separator) gives the
//! service, environment, version, stable version, reason and explanation lines.

use rollgate::domain::checklist::Evidence;
use rollgate::domain::plan::NotificationEvent;
use rollgate::domain::text;
use rollgate::release::notification::{ApprovalAsk, ReleaseNotification};
use rollgate::release::slack::{self, ButtonValue};
use rollgate::release::{Release, ReleaseStatus};
use rollgate_fuzz::{at, check_subject, reference_plans};

fn label(event: NotificationEvent) -> &'static str {
    match event {
        NotificationEvent::Started => "started",
        NotificationEvent::StepAdvanced => "progress",
        NotificationEvent::WaitingForApproval => "approval needed",
        NotificationEvent::Promoted => "complete",
        NotificationEvent::Blocked => "BLOCKED",
        NotificationEvent::RolledBack => "ROLLED BACK",
    }
}

/// One input: `data`, as libFuzzer (or the corpus replay) hands it over.
pub fn run(data: &[u8]) {
    let Some(first) = data.first() else { return };
    let input = String::from_utf8_lossy(data);
    let max = usize::from(*first);
    // The cutters: within the limit, a prefix of the input, never inside a character.
    let clipped = text::clip(&input, max);
    assert!(clipped.chars().count() <= max);
    if input.chars().count() <= max {
        assert_eq!(clipped, input);
    } else if max > 0 {
        assert!(clipped.strip_suffix('…').is_some_and(|k| input.starts_with(k)), "{clipped:?}");
    }
    let prefix = text::prefix(&input, max);
    assert!(input.starts_with(prefix) && prefix.chars().count() == max.min(input.chars().count()));
    check_subject(&text::subject(&input), &input);

    let mut parts = input.split('\u{1e}').map(str::to_string);
    let mut next = || parts.next().unwrap_or_default();
    let (service, environment, version, stable, reason) = (next(), next(), next(), next(), next());
    let explanation: Vec<String> = std::iter::from_fn(|| parts.next()).collect();
    let plan = reference_plans()[0].clone();
    let steps = plan.traffic.steps.len();
    let t0 = at("2025-11-14T09:00:00Z");
    let release = Release {
        id: version.clone(),
        service: service.clone(),
        environment: environment.clone(),
        version: version.clone(),
        stable_version: Some(stable).filter(|s| !s.is_empty()),
        author: None,
        requested_by: None,
        status: ReleaseStatus::Progressing,
        plan_hash: plan.content_hash(),
        step: Some(max % (steps + 1)).filter(|s| *s < steps),
        plan,
        evidence: Evidence::default(),
        step_started_at: None,
        step_outcomes: Vec::new(),
        canary_weight: u32::from(*first) % 101,
        created_at: t0,
        updated_at: t0,
        closed_reason: None,
        last_check: None,
        execution: None,
        paused: None,
        paused_secs: 0,
        asked: None,
        revision: 0,
    };
    let reason = Some(reason).filter(|r| !r.is_empty());
    let short = [&service, &environment, &version].iter().all(|s| s.chars().count() <= 64)
        && reason.as_ref().is_none_or(|r| r.chars().count() <= 400)
        && explanation.len() <= 5
        && explanation.iter().all(|l| l.chars().count() <= 200);
    for event in NotificationEvent::ALL {
        let mut n = ReleaseNotification::new(event, &release, reason.clone(), explanation.clone(), at("2025-11-14T11:05:00Z"));
        n.approval = Some(ApprovalAsk { id: environment.clone(), step: max });
        check_subject(&n.subject(), &format!("[rollgate] {}: {service} {version} in {environment}", label(event)));
        if let Some(r) = &reason {
            assert!(n.summary.contains(r.as_str()), "the reason is lost from {:?}", n.summary);
        }
        assert_eq!(n.canary_weight + n.stable_weight, 100);
        let message = n.slack();
        for block in message["blocks"].as_array().into_iter().flatten() {
            match block["type"].as_str() {
                // Slack's limits: a header's text 150 characters, a section's 3000, a field's 2000.
                Some("header") => assert!(block["text"]["text"].as_str().is_some_and(|t| t.chars().count() <= 150), "{block}"),
                Some("section") if short => {
                    assert!(block["text"]["text"].as_str().is_none_or(|t| t.chars().count() <= 3000), "{block}");
                    for f in block["fields"].as_array().into_iter().flatten() {
                        assert!(f["text"].as_str().is_some_and(|t| t.chars().count() <= 2000), "{f}");
                    }
                }
                _ => {}
            }
        }
        assert_eq!(n.body()["slack"], message);
        let back: Result<ReleaseNotification, _> = serde_json::from_value(serde_json::to_value(&n).unwrap_or_default());
        assert!(back.is_ok_and(|b| b == n), "the notification does not read back");
    }
    let buttons = slack::approval_buttons(&service, &environment, max);
    let value = buttons["elements"][0]["value"].as_str().unwrap_or_default();
    let posted: Option<ButtonValue> = serde_json::from_str(value).ok();
    assert_eq!(posted, Some(ButtonValue { release_id: service, approval: environment, step: max }));
}
