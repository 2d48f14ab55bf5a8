//! Slack's Web API with the app's bot token: posting an approval with its buttons
//! (`chat.postMessage`), asking for a rejection's reason (`views.open`), showing the outcome on
//! the original message (`chat.update`), and who is in a user group (`usergroups.users.list`).

use async_trait::async_trait;
use serde_json::Value;

use crate::ports::{Notifier, NotifyError, SecretSource};
use crate::release::notification::ReleaseNotification;

/// The Secrets Manager secret holding the Slack app's bot token (set by the SAM template).
pub const BOT_TOKEN_ENV: &str = "ROLLGATE_SLACK_BOT_TOKEN_ARN";
/// Slack's Web API base URL (default `https://slack.com/api`).
pub const API_URL_ENV: &str = "ROLLGATE_SLACK_API_URL";
const SLACK_API: &str = "https://slack.com/api";

#[derive(Debug, thiserror::Error)]
#[error("Slack {method} failed{}: {message}", if *.transient { " (transient; retry)" } else { "" })]
pub struct SlackApiError {
    pub method: String,
    pub transient: bool,
    pub message: String,
}

pub struct SlackApi {
    client: Result<reqwest::Client, String>,
    api: String,
    token: Box<dyn SecretSource>,
}

impl SlackApi {
    pub fn new(token: Box<dyn SecretSource>, api: impl Into<String>, timeout: std::time::Duration) -> Self {
        let client = super::https::client(|builder| builder.timeout(timeout));
        Self { client, api: api.into().trim_end_matches('/').to_string(), token }
    }

    /// With the bot token named by [`BOT_TOKEN_ENV`]; `None` when Slack is not configured.
    pub fn from_env(config: &aws_config::SdkConfig, timeout: std::time::Duration) -> Option<Self> {
        let token = super::secrets::SecretsManagerSecret::from_env(config, BOT_TOKEN_ENV)?;
        Some(Self::new(Box::new(token), std::env::var(API_URL_ENV).unwrap_or_else(|_| SLACK_API.into()), timeout))
    }

    /// Calls a Web API method with a JSON body; Slack's `ok: false` answers are errors.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, SlackApiError> {
        self.send(method, |request| request.json(body)).await
    }

    /// Calls a Web API method with form-encoded arguments (what Slack's read methods take).
    pub async fn call_form(&self, method: &str, arguments: &[(&str, &str)]) -> Result<Value, SlackApiError> {
        self.send(method, |request| request.form(arguments)).await
    }

    async fn send(
        &self,
        method: &str,
        body: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<Value, SlackApiError> {
        let fail = |transient: bool, message: String| SlackApiError { method: method.to_string(), transient, message };
        let client = self.client.as_ref().map_err(|e| fail(false, e.clone()))?;
        let token = self.token.get().await.map_err(|e| fail(e.transient, e.to_string()))?;
        let response = body(client.post(format!("{}/{method}", self.api)).bearer_auth(token))
            .send()
            .await
            .map_err(|e| fail(e.is_timeout() || e.is_connect(), format!("Slack is unreachable: {e}")))?;
        let status = response.status();
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(fail(true, format!("Slack answered {status}")));
        }
        // Slack answers 200 with `ok: false` and an error code for refusals.
        let answer: Value = response.json().await.map_err(|e| fail(false, format!("Slack's answer is not JSON: {e}")))?;
        if answer["ok"] != true {
            let error = answer["error"].as_str().unwrap_or("unknown_error");
            return Err(fail(error == "ratelimited", format!("refused: {error}")));
        }
        Ok(answer)
    }
}

/// Slack user groups, read when a vote needs one (`usergroups.users.list`, scope
/// `usergroups:read`).
#[async_trait]
impl crate::ports::Directory for SlackApi {
    async fn is_member(&self, group: &str, user: &str) -> Result<bool, crate::ports::DirectoryError> {
        let fail = |transient: bool, message: String| crate::ports::DirectoryError { group: group.to_string(), transient, message };
        // A read method: Slack takes its arguments form-encoded, not as JSON.
        let answer =
            self.call_form("usergroups.users.list", &[("usergroup", group)]).await.map_err(|e| fail(e.transient, e.to_string()))?;
        let members = answer["users"].as_array().ok_or_else(|| fail(false, "Slack's answer lists no users".into()))?;
        Ok(members.iter().any(|m| m.as_str() == Some(user)))
    }
}

/// Release notifications posted to Slack.
pub struct SlackNotifier {
    api: SlackApi,
}

impl SlackNotifier {
    pub fn new(api: SlackApi) -> Self {
        Self { api }
    }
}

#[async_trait]
impl Notifier for SlackNotifier {
    fn channel(&self) -> &'static str {
        "slack"
    }

    async fn publish(&self, notification: &ReleaseNotification) -> Result<(), NotifyError> {
        let fail = |transient: bool, message: String| NotifyError { event: notification.event_name().into(), transient, message };
        let message = notification.slack();
        if message.get("channel").is_none() {
            return Err(fail(false, "no Slack channel: set notifications.slack_channel (or the approval's channel) in the plan".into()));
        }
        self.api.call("chat.postMessage", &message).await.map_err(|e| fail(e.transient, e.to_string()))?;
        Ok(())
    }
}
