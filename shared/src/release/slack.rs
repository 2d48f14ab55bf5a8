//! Slack's side of a Go/No-Go, as plain Rust: the Approve / Reject buttons, verifying that a
//! request really comes from Slack (signing secret, v0 signature), reading the button click, and
//! the replies. The webhook function does the I/O.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::hash::{constant_time_eq, hmac_sha256_hex};
use crate::release::approval::{ApprovalRef, Resolution};

pub const SIGNATURE_HEADER: &str = "x-slack-signature";
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// Slack's advice: refuse requests older than five minutes, so a captured one cannot be replayed.
pub const MAX_SKEW_SECS: u64 = 300;
pub const APPROVE_ACTION: &str = "rollgate_approve";
pub const REJECT_ACTION: &str = "rollgate_reject";
/// The modal that asks a rejecting approver why.
pub const REJECT_CALLBACK: &str = "rollgate_reject_reason";
const REASON_BLOCK: &str = "reason";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SlackError {
    #[error("the {0} header is missing; requests must come from Slack, signed with the app's signing secret")]
    MissingHeader(&'static str),
    #[error(
        "the request timestamp {timestamp} is {skew_secs}s away from now (at most {MAX_SKEW_SECS}s); replayed or delayed requests are refused"
    )]
    Stale { timestamp: String, skew_secs: u64 },
    #[error(
        "the {TIMESTAMP_HEADER} header's timestamp is not a number (Slack sends whole seconds since 1970); requests must come from Slack"
    )]
    BadTimestamp,
    #[error("the signature does not match; check that the function's signing secret is the Slack app's")]
    BadSignature,
    #[error("not a Slack interaction: {0}")]
    Malformed(String),
    #[error("action `{0}` is not one of rollgate's buttons ({APPROVE_ACTION}, {REJECT_ACTION})")]
    UnknownAction(String),
}

/// `v0=<hex>` over `"v0:<timestamp>:<body>"`, as Slack signs.
pub fn sign(signing_secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    format!("v0={}", hmac_sha256_hex(signing_secret, &[b"v0:", timestamp.as_bytes(), b":", body]))
}

/// Checks that `body` was signed by Slack with `signing_secret`, recently.
pub fn verify(
    signing_secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), SlackError> {
    let timestamp = timestamp.ok_or(SlackError::MissingHeader(TIMESTAMP_HEADER))?.trim();
    let signature = signature.ok_or(SlackError::MissingHeader(SIGNATURE_HEADER))?.trim();
    // Not echoed: it is whatever the sender put there, of any length.
    let seconds: i64 = timestamp.parse().map_err(|_| SlackError::BadTimestamp)?;
    // `abs_diff` cannot overflow, even for i64::MIN (a plain `-` then `abs` would).
    let skew_secs = now.timestamp().abs_diff(seconds);
    if skew_secs > MAX_SKEW_SECS {
        return Err(SlackError::Stale { timestamp: timestamp.to_string(), skew_secs });
    }
    if !constant_time_eq(&sign(signing_secret, timestamp, body), signature) {
        return Err(SlackError::BadSignature);
    }
    Ok(())
}

/// What a button carries: which release, and which approval at which step it was posted for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ButtonValue {
    pub release_id: String,
    pub approval: String,
    pub step: usize,
}

/// The Approve / Reject buttons of a pending approval (a Block Kit `actions` block).
pub fn approval_buttons(release_id: &str, approval: &str, step: usize) -> Value {
    let value = json!({"release_id": release_id, "approval": approval, "step": step}).to_string();
    json!({
        "type": "actions",
        "block_id": format!("rollgate-{approval}"),
        "elements": [
            {"type": "button", "action_id": APPROVE_ACTION, "style": "primary", "text": {"type": "plain_text", "text": "Approve"}, "value": value},
            {"type": "button", "action_id": REJECT_ACTION, "style": "danger", "text": {"type": "plain_text", "text": "Reject"}, "value": value,
             "confirm": {"title": {"type": "plain_text", "text": "Reject this release?"},
                         "text": {"type": "mrkdwn", "text": "The release rolls back to the stable version."},
                         "confirm": {"type": "plain_text", "text": "Reject and roll back"},
                         "deny": {"type": "plain_text", "text": "Cancel"}}}
        ]
    })
}

/// A Slack message: its channel and timestamp.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    pub channel: String,
    pub ts: String,
}

/// A click on one of rollgate's buttons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ButtonClick {
    pub approved: bool,
    pub release_id: String,
    pub on: ApprovalRef,
    /// Who clicked: the Slack user id only. Names are not identities: a user can change theirs,
    /// and take a name another approver had.
    pub identities: Vec<String>,
    pub response_url: Option<String>,
    /// For opening a modal (valid for 3 seconds).
    pub trigger_id: Option<String>,
    /// The message the buttons are on.
    pub message: Option<MessageRef>,
    /// Why, for a rejection given through the reason modal.
    pub reason: Option<String>,
}

/// What the reason modal carries from the click to its submission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ModalMetadata {
    #[serde(flatten)]
    button: ButtonValue,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<MessageRef>,
}

/// The modal that asks a rejecting approver for the reason (`views.open`).
pub fn reject_modal(click: &ButtonClick) -> Value {
    let metadata = ModalMetadata {
        button: ButtonValue { release_id: click.release_id.clone(), approval: click.on.approval.clone(), step: click.on.step },
        message: click.message.clone(),
    };
    json!({
        "type": "modal",
        "callback_id": REJECT_CALLBACK,
        "private_metadata": serde_json::to_string(&metadata).unwrap_or_default(),
        "title": {"type": "plain_text", "text": "Reject the release"},
        "submit": {"type": "plain_text", "text": "Reject and roll back"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("Release `{}` rolls back to the stable version (`{}`).", click.release_id, click.on.approval)}},
            {"type": "input", "block_id": REASON_BLOCK, "label": {"type": "plain_text", "text": "Why? (kept in the audit trail)"},
             "element": {"type": "plain_text_input", "action_id": REASON_BLOCK, "multiline": true, "min_length": 3}}
        ]
    })
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    user: User,
    #[serde(default)]
    actions: Vec<ActionPayload>,
    #[serde(default)]
    response_url: Option<String>,
    #[serde(default)]
    trigger_id: Option<String>,
    #[serde(default)]
    container: Option<Container>,
    #[serde(default)]
    view: Option<View>,
}

#[derive(Deserialize)]
struct Container {
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    message_ts: Option<String>,
}

#[derive(Deserialize)]
struct View {
    #[serde(default)]
    callback_id: String,
    #[serde(default)]
    private_metadata: String,
    #[serde(default)]
    state: Value,
}

/// The clicking user: only the id is read (the payload's `username` and `name` are not
/// identities).
#[derive(Deserialize)]
struct User {
    id: String,
}

#[derive(Deserialize)]
struct ActionPayload {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
}

/// Reads an interaction request body (`application/x-www-form-urlencoded`, the JSON under
/// `payload`): a click on our buttons, or the submitted reason modal.
pub fn parse_click(body: &[u8]) -> Result<ButtonClick, SlackError> {
    let form: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|e| SlackError::Malformed(format!("the body is not a form ({e})")))?;
    let payload = form
        .into_iter()
        .find_map(|(k, v)| (k == "payload").then_some(v))
        .ok_or_else(|| SlackError::Malformed("the form has no `payload` field".into()))?;
    let payload: Payload =
        serde_json::from_str(&payload).map_err(|e| SlackError::Malformed(format!("`payload` is not an interaction ({e})")))?;
    let identities = vec![payload.user.id];
    match payload.kind.as_str() {
        "block_actions" => {
            let action = payload.actions.first().ok_or_else(|| SlackError::Malformed("the interaction has no action".into()))?;
            let approved = match action.action_id.as_str() {
                APPROVE_ACTION => true,
                REJECT_ACTION => false,
                other => return Err(SlackError::UnknownAction(other.to_string())),
            };
            let value: ButtonValue =
                action.value.as_deref().ok_or_else(|| SlackError::Malformed("the button has no value".into())).and_then(|v| {
                    serde_json::from_str(v).map_err(|e| SlackError::Malformed(format!("the button's value is not rollgate's ({e})")))
                })?;
            let message = payload.container.and_then(|c| Some(MessageRef { channel: c.channel_id?, ts: c.message_ts? }));
            Ok(ButtonClick {
                approved,
                release_id: value.release_id,
                on: ApprovalRef { approval: value.approval, step: value.step },
                identities,
                response_url: payload.response_url,
                trigger_id: payload.trigger_id,
                message,
                reason: None,
            })
        }
        "view_submission" => {
            let view = payload.view.ok_or_else(|| SlackError::Malformed("the submission has no view".into()))?;
            if view.callback_id != REJECT_CALLBACK {
                return Err(SlackError::UnknownAction(view.callback_id));
            }
            let metadata: ModalMetadata = serde_json::from_str(&view.private_metadata)
                .map_err(|e| SlackError::Malformed(format!("the modal's metadata is not rollgate's ({e})")))?;
            let reason = view.state["values"][REASON_BLOCK][REASON_BLOCK]["value"].as_str().map(str::trim).unwrap_or_default();
            if reason.is_empty() {
                return Err(SlackError::Malformed("the rejection has no reason".into()));
            }
            Ok(ButtonClick {
                approved: false,
                release_id: metadata.button.release_id,
                on: ApprovalRef { approval: metadata.button.approval, step: metadata.button.step },
                identities,
                response_url: None,
                trigger_id: None,
                message: metadata.message,
                reason: Some(reason.to_string()),
            })
        }
        other => Err(SlackError::Malformed(format!(
            "interaction type `{other}` is not handled; only button clicks (block_actions) and the reason modal (view_submission) are"
        ))),
    }
}

/// The message posted to the interaction's `response_url`: a settled approval replaces the
/// buttons for everyone; a vote short of the quorum, or a refusal, is shown only to the clicker.
pub fn reply(click: &ButtonClick, outcome: Result<&Resolution, String>) -> Value {
    match outcome {
        Ok(resolution @ (Resolution::Approved { .. } | Resolution::Rejected { .. })) => {
            let icon = if matches!(resolution, Resolution::Approved { .. }) { ":white_check_mark:" } else { ":no_entry:" };
            let text = format!("{icon} `{}` on release `{}`: {}", click.on.approval, click.release_id, resolution.describe());
            json!({"replace_original": true, "text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]})
        }
        Ok(pending) => {
            json!({"response_type": "ephemeral", "replace_original": false, "text": format!("Your approval is {}.", pending.describe())})
        }
        Err(reason) => {
            json!({"response_type": "ephemeral", "replace_original": false, "text": format!(":warning: Not recorded: {reason}")})
        }
    }
}

/// `chat.update` of the original message with a settled reply (the modal path has no
/// `response_url`).
pub fn message_update(message: &MessageRef, reply: &Value) -> Value {
    json!({"channel": message.channel, "ts": message.ts, "text": reply["text"], "blocks": reply["blocks"]})
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_531_420_618, 0).single().unwrap_or_default()
    }

    #[test]
    fn slack_documented_example_verifies() {
        // The example from Slack's "Verifying requests from Slack" page.
        let secret = b"8f742231b10e8888abcd99yyyzzz85a5";
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(sign(secret, "1531420618", body), signature);
        assert_eq!(verify(secret, Some("1531420618"), Some(signature), body, now()), Ok(()));
    }

    #[test]
    fn forged_stale_and_unsigned_requests_are_refused() {
        let secret = b"secret";
        let body = b"payload=%7B%7D";
        let ts = now().timestamp().to_string();
        let good = sign(secret, &ts, body);
        assert_eq!(verify(b"other", Some(&ts), Some(&good), body, now()), Err(SlackError::BadSignature));
        assert_eq!(verify(secret, Some(&ts), Some(&good), b"payload=%7B%22x%22%7D", now()), Err(SlackError::BadSignature));
        let old = (now().timestamp() - 301).to_string();
        assert!(matches!(
            verify(secret, Some(&old), Some(&sign(secret, &old, body)), body, now()),
            Err(SlackError::Stale { skew_secs: 301, .. })
        ));
        assert_eq!(verify(secret, None, Some(&good), body, now()), Err(SlackError::MissingHeader(TIMESTAMP_HEADER)));
        assert_eq!(verify(secret, Some(&ts), None, body, now()), Err(SlackError::MissingHeader(SIGNATURE_HEADER)));
        assert!(matches!(verify(secret, Some("soon"), Some(&good), body, now()), Err(SlackError::BadTimestamp)));
    }

    #[test]
    fn a_timestamp_that_is_not_a_number_says_so() {
        let secret = b"secret";
        let body = b"payload=%7B%7D";
        for bad in ["soon", "", "1531420618.5", "0x5B47A0CA", "１５３１４２０６１８", "99999999999999999999"] {
            let err = verify(secret, Some(bad), Some(&sign(secret, bad, body)), body, now());
            assert_eq!(err, Err(SlackError::BadTimestamp), "{bad:?}");
        }
        let text = SlackError::BadTimestamp.to_string();
        assert!(text.contains("timestamp is not a number") && !text.contains("9223372036854775807"), "{text}");
    }

    #[test]
    fn extreme_timestamps_are_stale_without_overflow() {
        let secret = b"secret";
        let body = b"payload=%7B%7D";
        for (ts, skew) in [
            (i64::MIN, now().timestamp().abs_diff(i64::MIN)),
            (i64::MAX, now().timestamp().abs_diff(i64::MAX)),
            (0, 1_531_420_618),
            (-1, 1_531_420_619),
        ] {
            let ts = ts.to_string();
            let err = verify(secret, Some(&ts), Some(&sign(secret, &ts, body)), body, now());
            assert_eq!(err, Err(SlackError::Stale { timestamp: ts.clone(), skew_secs: skew }), "{ts}");
        }
        // i64::MIN is 1.5e9 s before now minus 9.2e18 s: more than i64 holds, still exact.
        assert!(now().timestamp().abs_diff(i64::MIN) > i64::MAX.unsigned_abs());
        let edge = (now().timestamp() + 300).to_string();
        assert_eq!(verify(secret, Some(&edge), Some(&sign(secret, &edge, body)), body, now()), Ok(()), "300 s ahead is allowed");
    }

    fn form(payload: &Value) -> Vec<u8> {
        serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap_or_default().into_bytes()
    }

    fn click_payload(action_id: &str, value: &str) -> Value {
        json!({
            "type": "block_actions",
            "user": {"id": "U0CAROL", "username": "carol", "name": "carol", "team_id": "T1"},
            "actions": [{"type": "button", "action_id": action_id, "block_id": "rollgate-go", "value": value, "action_ts": "1"}],
            "response_url": "https://hooks.slack.com/actions/T1/1/abc",
            "trigger_id": "trigger-1",
            "container": {"type": "message", "channel_id": "C0DEPLOYS", "message_ts": "1763900000.000100"}
        })
    }

    #[test]
    fn a_click_on_the_posted_buttons_reads_back() {
        let buttons = approval_buttons("r1", "go-no-go", 2);
        let value = buttons["elements"][0]["value"].as_str().unwrap_or_default().to_string();
        let click = parse_click(&form(&click_payload(APPROVE_ACTION, &value))).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            click,
            ButtonClick {
                approved: true,
                release_id: "r1".into(),
                on: ApprovalRef { approval: "go-no-go".into(), step: 2 },
                // The id only: `carol` is the user's name, which they could change.
                identities: vec!["U0CAROL".into()],
                response_url: Some("https://hooks.slack.com/actions/T1/1/abc".into()),
                trigger_id: Some("trigger-1".into()),
                message: Some(MessageRef { channel: "C0DEPLOYS".into(), ts: "1763900000.000100".into() }),
                reason: None,
            }
        );
        let reject = parse_click(&form(&click_payload(REJECT_ACTION, &value))).unwrap_or_else(|e| panic!("{e}"));
        assert!(!reject.approved);
    }

    #[test]
    fn other_interactions_are_refused_with_the_reason() {
        assert!(matches!(parse_click(b"text=hello"), Err(SlackError::Malformed(m)) if m.contains("no `payload`")));
        assert!(matches!(parse_click(b"payload=not-json"), Err(SlackError::Malformed(_))));
        assert_eq!(parse_click(&form(&click_payload("other", "{}"))), Err(SlackError::UnknownAction("other".into())));
        assert!(matches!(parse_click(&form(&click_payload(APPROVE_ACTION, "42"))), Err(SlackError::Malformed(m)) if m.contains("value")));
        let shortcut = json!({"type": "shortcut", "user": {"id": "U1"}});
        assert!(matches!(parse_click(&form(&shortcut)), Err(SlackError::Malformed(m)) if m.contains("shortcut")));
    }

    #[test]
    fn the_reason_modal_carries_the_click_to_its_submission() {
        let value = approval_buttons("r1", "go-no-go", 2)["elements"][1]["value"].as_str().unwrap_or_default().to_string();
        let click = parse_click(&form(&click_payload(REJECT_ACTION, &value))).unwrap_or_else(|e| panic!("{e}"));
        let modal = reject_modal(&click);
        assert_eq!(modal["callback_id"], REJECT_CALLBACK);
        let submission = json!({
            "type": "view_submission",
            "user": {"id": "U0CAROL", "username": "carol"},
            "view": {"callback_id": REJECT_CALLBACK, "private_metadata": modal["private_metadata"],
                     "state": {"values": {"reason": {"reason": {"type": "plain_text_input", "value": "  error budget spent  "}}}}}
        });
        let submitted = parse_click(&form(&submission)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(submitted, ButtonClick { reason: Some("error budget spent".into()), response_url: None, trigger_id: None, ..click });
        let mut empty = submission.clone();
        empty["view"]["state"]["values"]["reason"]["reason"]["value"] = json!(" ");
        assert!(matches!(parse_click(&form(&empty)), Err(SlackError::Malformed(m)) if m.contains("no reason")));
        let mut other = submission;
        other["view"]["callback_id"] = json!("someone_elses_modal");
        assert_eq!(parse_click(&form(&other)), Err(SlackError::UnknownAction("someone_elses_modal".into())));
    }

    #[test]
    fn replies_replace_the_buttons_only_once_settled() {
        let click = ButtonClick {
            approved: true,
            release_id: "r1".into(),
            on: ApprovalRef { approval: "go".into(), step: 0 },
            identities: vec!["U1".into()],
            response_url: None,
            trigger_id: None,
            message: None,
            reason: None,
        };
        let pending = reply(&click, Ok(&Resolution::Pending { approvals: 1, quorum: 2 }));
        assert_eq!(pending["response_type"], "ephemeral");
        assert_eq!(pending["text"], "Your approval is recorded; 1 of 2 approvals so far.");
        let done = reply(&click, Ok(&Resolution::Approved { approvers: vec!["u1".into(), "u2".into()] }));
        assert_eq!(done["replace_original"], true);
        assert!(done["text"].as_str().unwrap_or_default().contains("approved by u1, u2"));
        let refused = reply(&click, Err("approval `go` expired".into()));
        assert_eq!(refused["text"], ":warning: Not recorded: approval `go` expired");
    }
}
