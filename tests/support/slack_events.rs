//! Slack button clicks as API Gateway (HTTP API) events, built from the sample in
//! events/approval-webhook/ and signed the way Slack signs.

use serde_json::{Value, json};

use crate::{read_json, repo};

fn sample() -> Value {
    read_json(&repo().join("events/approval-webhook/approve-click.json"))
}

/// The sample click's form body, by Slack user `user` pressing `action` on a button carrying
/// `button`, answered at `response_url`.
pub fn click(user: &str, action: &str, button: &str, response_url: &str) -> String {
    let form: Vec<(String, String)> = serde_urlencoded::from_str(sample()["body"].as_str().unwrap_or_default()).unwrap_or_default();
    let mut payload: Value = form.first().and_then(|(_, p)| serde_json::from_str(p).ok()).unwrap_or_default();
    payload["user"] = json!({"id": user, "username": user.to_lowercase(), "name": user.to_lowercase()});
    payload["actions"][0]["action_id"] = json!(action);
    payload["actions"][0]["value"] = json!(button);
    payload["response_url"] = json!(response_url);
    serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap_or_default()
}

/// The sample event carrying `body`, signed with `secret` at `at` (Unix seconds).
pub fn signed(body: &str, secret: &str, at: i64) -> Value {
    let mut event = sample();
    event["body"] = json!(body);
    event["headers"][rollgate::release::slack::TIMESTAMP_HEADER] = json!(at.to_string());
    event["headers"][rollgate::release::slack::SIGNATURE_HEADER] =
        json!(rollgate::release::slack::sign(secret.as_bytes(), &at.to_string(), body.as_bytes()));
    event
}

/// The value of the Approve button in a Slack message (`{text, blocks}`).
pub fn approve_button(message: &Value) -> Option<String> {
    let blocks = message["blocks"].as_array()?;
    let actions = blocks.iter().find(|b| b["type"] == "actions")?;
    actions["elements"].as_array()?.iter().find(|e| e["action_id"] == rollgate::release::slack::APPROVE_ACTION)?["value"]
        .as_str()
        .map(String::from)
}
