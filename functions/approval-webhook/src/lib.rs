//! approval-webhook: Slack calls this (API Gateway HTTP API) when an approver clicks Approve or
//! Reject, or submits the form that asks a rejection's reason. It verifies the request came from
//! Slack, records the decision, resumes the waiting release, and updates the Slack message.
//! Every refusal is a 4xx with the reason (a form submission's refusal is the exception Slack
//! imposes: HTTP 200 with `response_action: errors`); only an unavailable backend is a 503, which
//! Slack shows as a failed click to try again.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use chrono::{DateTime, Utc};
use rollgate::adapters::slack::SlackApi;
use rollgate::boundary::http::{Refusal, json_response, request_body};
use rollgate::flow::approval::{Vote, check, resolve};
use rollgate::ports::{Directory, NoDirectory, ReleaseStore, SecretSource, TaskTokens, Workflow};
use rollgate::release::slack::{self, ButtonClick};
use serde_json::{Value, json};

pub const ACTOR: &str = "approval-webhook";
/// The Secrets Manager secret holding the Slack app's signing secret (set by the SAM template).
pub const SIGNING_SECRET_ENV: &str = "ROLLGATE_SLACK_SIGNING_SECRET_ARN";
/// Comma-separated URL prefixes a `response_url` may have (default: Slack's own hosts).
pub const RESPONSE_URL_PREFIXES_ENV: &str = "ROLLGATE_SLACK_RESPONSE_URL_PREFIXES";
const SLACK_RESPONSE_URL_PREFIXES: &str = "https://hooks.slack.com/,https://hooks.slack-gov.com/";

/// Posts replies to an interaction's `response_url`, only on Slack's hosts.
pub struct SlackReplies {
    client: Result<reqwest::Client, String>,
    allowed_prefixes: Vec<String>,
}

impl SlackReplies {
    pub fn new(allowed_prefixes: Vec<String>) -> Self {
        // Slack wants the click answered within 3 seconds; the reply must not hold it up.
        let client = rollgate::adapters::https::client(|builder| builder.timeout(std::time::Duration::from_millis(1500)));
        Self { client, allowed_prefixes }
    }

    pub fn from_env() -> Self {
        let prefixes = std::env::var(RESPONSE_URL_PREFIXES_ENV).unwrap_or_else(|_| SLACK_RESPONSE_URL_PREFIXES.to_string());
        Self::new(prefixes.split(',').map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect())
    }

    /// Best effort: the decision is already recorded, so a failed reply is logged, not returned.
    async fn post(&self, response_url: Option<&str>, message: &Value) {
        let Some(url) = response_url else { return };
        if !self.allowed_prefixes.iter().any(|p| url.starts_with(p.as_str())) {
            tracing::warn!(url, "response_url is not on an allowed Slack host; not replying there");
            return;
        }
        let client = match self.client.as_ref() {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!(error = %e, "no HTTPS client; not replying to Slack");
                return;
            }
        };
        match client.post(url).json(message).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::warn!(status = %r.status(), "Slack refused the reply"),
            Err(e) => tracing::warn!(error = %e, "posting the reply to Slack failed"),
        }
    }
}

pub struct Deps<'a> {
    pub store: &'a dyn ReleaseStore,
    /// The waiting approvals' task tokens (kept apart from the trail).
    pub tokens: &'a dyn TaskTokens,
    pub workflow: &'a dyn Workflow,
    pub secret: &'a dyn SecretSource,
    pub replies: &'a SlackReplies,
    /// Slack's Web API with the bot token, when configured: a Reject click then opens a form
    /// asking why, and the reason goes into the audit trail. Without it, Reject rejects at once.
    pub slack: Option<&'a SlackApi>,
}

impl Deps<'_> {
    /// Who is in a Slack user group: Slack itself, when its bot token is configured.
    fn directory(&self) -> &dyn Directory {
        match self.slack {
            Some(slack) => slack,
            None => &NoDirectory,
        }
    }
}

/// Verifies and reads the click; nothing is recorded for a request that fails here.
async fn authenticated_click(request: &ApiGatewayV2httpRequest, deps: &Deps<'_>, now: DateTime<Utc>) -> Result<ButtonClick, Refusal> {
    let body = request_body(request)?;
    let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
    let secret = deps.secret.get().await.map_err(|e| Refusal::unavailable(format!("cannot verify Slack requests: {e}")))?;
    slack::verify(secret.as_bytes(), header(slack::TIMESTAMP_HEADER), header(slack::SIGNATURE_HEADER), &body, now)
        .map_err(|e| Refusal::unauthenticated(e.to_string()))?;
    slack::parse_click(&body).map_err(|e| Refusal::bad_request(e.to_string()))
}

pub async fn handler(request: ApiGatewayV2httpRequest, deps: &Deps<'_>) -> ApiGatewayV2httpResponse {
    let now = Utc::now();
    let click = match authenticated_click(&request, deps, now).await {
        Ok(click) => click,
        Err(refusal) => {
            tracing::warn!(status = refusal.status, error = %refusal, "refused a webhook request");
            return refusal.response();
        }
    };
    let vote = Vote {
        release_id: click.release_id.clone(),
        identities: click.identities.clone(),
        approved: click.approved,
        comment: Some(click.reason.clone().unwrap_or_else(|| "via Slack".to_string())),
        on: Some(click.on.clone()),
    };
    if let (false, None, Some(slack), Some(trigger)) = (click.approved, &click.reason, deps.slack, &click.trigger_id) {
        return ask_for_the_reason(&click, &vote, slack, trigger, deps, now).await;
    }
    let submitted = click.reason.is_some();
    match resolve(deps.store, deps.tokens, deps.workflow, ACTOR, deps.directory(), &vote, now).await {
        Ok(resolution) => {
            tracing::info!(release = %click.release_id, result = %resolution.describe(), "recorded a Slack decision");
            let reply = slack::reply(&click, Ok(&resolution));
            match (submitted, deps.slack, &click.message) {
                // The modal has no response_url: the original message is updated through the API.
                (true, Some(slack), Some(message)) => {
                    if let Err(e) = slack.call("chat.update", &slack::message_update(message, &reply)).await {
                        tracing::warn!(error = %e, "updating the Slack message failed");
                    }
                }
                _ => deps.replies.post(click.response_url.as_deref(), &reply).await,
            }
            if submitted {
                // Closes the modal.
                return json_response(200, &json!({"response_action": "clear"}));
            }
            json_response(200, &json!({"release_id": click.release_id, "result": resolution.describe()}))
        }
        Err(err) if submitted => {
            let refusal = Refusal::from(err);
            tracing::warn!(release = %click.release_id, status = refusal.status, error = %refusal, "refused a Slack rejection's form");
            refused_in_the_modal(&refusal)
        }
        Err(err) => refuse_click(&click, Refusal::from(err), deps).await,
    }
}

/// Refuses a click: the clicker is told why in Slack, the answer is the error's status.
async fn refuse_click(click: &ButtonClick, refusal: Refusal, deps: &Deps<'_>) -> ApiGatewayV2httpResponse {
    tracing::warn!(release = %click.release_id, status = refusal.status, error = %refusal, "refused a Slack decision");
    deps.replies.post(click.response_url.as_deref(), &slack::reply(click, Err(refusal.reason.clone()))).await;
    json_response(refusal.status, &json!({"release_id": click.release_id, "error": refusal.reason}))
}

/// A Reject click: refuse at once if the clicker may not decide, else open the reason form.
async fn ask_for_the_reason(
    click: &ButtonClick,
    vote: &Vote,
    slack: &SlackApi,
    trigger: &str,
    deps: &Deps<'_>,
    now: chrono::DateTime<Utc>,
) -> ApiGatewayV2httpResponse {
    if let Err(err) = check(deps.store, deps.directory(), vote, now).await {
        return refuse_click(click, Refusal::from(err), deps).await;
    }
    match slack.call("views.open", &json!({"trigger_id": trigger, "view": slack::reject_modal(click)})).await {
        Ok(_) => json_response(200, &json!({"release_id": click.release_id, "result": "asked for the reason"})),
        Err(e) => {
            let refusal = Refusal::unavailable(format!("{e}; reject with `rollgate reject {} --comment ...`", click.release_id));
            refuse_click(click, refusal, deps).await
        }
    }
}

/// Slack shows a modal's errors only from an HTTP 200 with `response_action: errors`; any other
/// status is a generic failure to the person, so a refused submission answers that way.
fn refused_in_the_modal(refusal: &Refusal) -> ApiGatewayV2httpResponse {
    json_response(200, &json!({"response_action": "errors", "errors": {"reason": format!("Not recorded ({}): {refusal}", refusal.status)}}))
}
