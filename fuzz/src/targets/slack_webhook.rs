//! The Slack webhook's pure parts: verifying a request's signature and reading the interaction.
//! The input is the request body; the first line is also tried as the timestamp header and the
//! second as the signature header.

use rollgate::release::approval::Resolution;
use rollgate::release::slack::{self, SlackError};
use rollgate_fuzz::at;
use serde_json::json;

const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";

/// One input: `body`, as libFuzzer (or the corpus replay) hands it over.
pub fn run(body: &[u8]) {
    let now = at("2025-11-23T09:00:00Z");
    let ts = now.timestamp().to_string();
    // Signed by Slack, now: accepted. The same signature over anything else: refused.
    let good = slack::sign(SECRET, &ts, body);
    assert_eq!(slack::verify(SECRET, Some(&ts), Some(&good), body, now), Ok(()));
    let longer = [body, b"&"].concat();
    assert_eq!(slack::verify(SECRET, Some(&ts), Some(&good), &longer, now), Err(SlackError::BadSignature));
    assert!(slack::verify(b"another secret", Some(&ts), Some(&good), body, now).is_err());
    // Headers made of the input: never accepted unless they are the signature itself.
    let mut lines = body.splitn(3, |b| *b == b'\n');
    let (first, second) = (lines.next().unwrap_or_default(), lines.next().unwrap_or_default());
    let (first, second) = (String::from_utf8_lossy(first), String::from_utf8_lossy(second));
    let verdict = slack::verify(SECRET, Some(&first), Some(&second), body, now);
    if verdict.is_ok() {
        assert_eq!(second.trim(), slack::sign(SECRET, first.trim(), body), "a forged signature was accepted");
    }
    // Whatever the body, reading it answers; a click reads back through the reason modal.
    let Ok(click) = slack::parse_click(body) else { return };
    let modal = slack::reject_modal(&click);
    let submission = json!({
        "type": "view_submission",
        "user": {"id": click.identities.first().cloned().unwrap_or_default()},
        "view": {"callback_id": slack::REJECT_CALLBACK, "private_metadata": modal["private_metadata"],
                 "state": {"values": {"reason": {"reason": {"value": "a reason"}}}}},
    });
    let form = serde_urlencoded::to_string([("payload", submission.to_string())]).unwrap_or_default();
    match slack::parse_click(form.as_bytes()) {
        Ok(back) => {
            assert_eq!((back.release_id.as_str(), &back.on), (click.release_id.as_str(), &click.on));
            assert_eq!(back.message, click.message);
            assert_eq!(back.reason.as_deref(), Some("a reason"));
        }
        Err(e) => panic!("the reason modal lost the click: {e}"),
    }
    let settled = slack::reply(&click, Ok(&Resolution::Pending { approvals: 1, quorum: 2 }));
    assert!(settled["text"].as_str().is_some_and(|t| !t.is_empty()));
}
