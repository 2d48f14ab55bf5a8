//! release-control: the operators' control endpoint (API Gateway HTTP API, every route with
//! `AWS_IAM` authorization). `POST /releases/{release}/{action}` with `{"reason": "…"}` (and
//! `"for": "2h"` for a pause), where the action is approve, reject, pause, resume, skip,
//! promote, abort or retry. Who asked is the IAM principal API Gateway authenticated from the
//! request's SigV4 signature (`requestContext.authorizer.iam.userArn`), never a name in the
//! body; the approvals' quorum is counted here, from the trail, and the waiting execution is
//! resumed here with the task token only this side reads. Every refusal is a 4xx with the
//! reason; only an unavailable backend is a 503 (try again).

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use chrono::{DateTime, Utc};
use rollgate::HumanDuration;
use rollgate::boundary::http::{Refusal, json_response, request_body};
use rollgate::domain::control::{Control, OperatorCommand, UnknownCommand};
use rollgate::flow::approval::{self, Vote};
use rollgate::flow::control as controls;
use rollgate::flow::rollback::RestorePolicy;
use rollgate::ports::{Executions, NoDirectory, Notifier, PolicyStore, ReleaseStore, TaskTokens, TrafficRouter, Workflow};
use rollgate::release::ReleaseStatus;
use serde::Deserialize;
use serde_json::{Value, json};

/// The longest reason or comment kept in the trail, in characters.
pub const MAX_REASON_CHARS: usize = 1000;

pub struct Deps<'a> {
    pub store: &'a dyn ReleaseStore,
    pub policies: &'a dyn PolicyStore,
    /// The waiting approvals' task tokens (kept apart from the trail).
    pub tokens: &'a dyn TaskTokens,
    pub workflow: &'a dyn Workflow,
    pub executions: &'a dyn Executions,
    pub router: &'a dyn TrafficRouter,
    pub notifier: &'a dyn Notifier,
}

/// The request's body: why, and how long a pause lasts.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlBody {
    #[serde(default)]
    pub reason: Option<String>,
    /// A pause's length (`30m`, `2h`; default 4h, at most 7d).
    #[serde(default, rename = "for")]
    pub lasting: Option<String>,
}

/// The IAM principal API Gateway authenticated. Without one the route is not behind `AWS_IAM`
/// authorization, and nothing is done: an identity is never taken from the request itself.
pub fn caller(request: &ApiGatewayV2httpRequest) -> Result<String, Refusal> {
    request
        .request_context
        .authorizer
        .as_ref()
        .and_then(|a| a.iam.as_ref())
        .and_then(|iam| iam.user_arn.clone())
        .filter(|arn| arn.starts_with("arn:"))
        .ok_or_else(|| {
            Refusal::forbidden(
                "the request carries no IAM identity; the control endpoint's routes must use AWS_IAM authorization (the template's ControlApi), and requests must be SigV4-signed (`rollgate` does this)",
            )
        })
}

fn path_parameter<'r>(request: &'r ApiGatewayV2httpRequest, name: &str) -> Option<&'r str> {
    request.path_parameters.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

fn body(request: &ApiGatewayV2httpRequest) -> Result<ControlBody, Refusal> {
    let bytes = request_body(request)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(ControlBody::default());
    }
    let shape =
        |why: String| Refusal::bad_request(format!("the body must be a JSON object like {{\"reason\": \"…\", \"for\": \"2h\"}}; {why}"));
    // An object only: serde would also read a struct from an array of its fields.
    match serde_json::from_slice::<Value>(&bytes).map_err(|e| shape(e.to_string()))? {
        object @ Value::Object(_) => serde_json::from_value(object).map_err(|e| shape(e.to_string())),
        other => Err(shape(format!("got {}", kind(&other)))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The reason, trimmed; required for everything but an approval.
fn reason(body: &ControlBody, command: OperatorCommand) -> Result<Option<String>, Refusal> {
    let reason = body.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    if let Some(r) = reason
        && r.chars().count() > MAX_REASON_CHARS
    {
        return Err(Refusal::bad_request(format!(
            "the reason is {} characters long; keep it to {MAX_REASON_CHARS} (link to a ticket for more)",
            r.chars().count()
        )));
    }
    if reason.is_none() && command != OperatorCommand::Approve {
        return Err(Refusal::bad_request(format!("say why: `{command}` needs a reason (`--reason` in rollgate), which the trail records")));
    }
    Ok(reason.map(String::from))
}

/// Handles one request; the answer is JSON: the outcome, or `{"error": …}` with a 4xx/503.
pub async fn handler(request: ApiGatewayV2httpRequest, deps: &Deps<'_>) -> ApiGatewayV2httpResponse {
    match handle(&request, deps, Utc::now).await {
        Ok(outcome) => json_response(200, &outcome),
        Err(refusal) => {
            tracing::warn!(status = refusal.status, error = %refusal, "refused a control request");
            refusal.response()
        }
    }
}

pub async fn handle(request: &ApiGatewayV2httpRequest, deps: &Deps<'_>, clock: impl Fn() -> DateTime<Utc>) -> Result<Value, Refusal> {
    let by = caller(request)?;
    let (Some(id), Some(name)) = (path_parameter(request, "release"), path_parameter(request, "action")) else {
        return Err(Refusal::not_found("use POST /releases/{release}/{action}"));
    };
    let command: OperatorCommand = name.parse().map_err(|e: UnknownCommand| Refusal::not_found(e.to_string()))?;
    let body = body(request)?;
    if body.lasting.is_some() && command != OperatorCommand::Control(Control::Pause) {
        return Err(Refusal::bad_request(format!("`for` is a pause's length; `{command}` takes none")));
    }
    let reason = reason(&body, command)?;
    let text = reason.clone().unwrap_or_default();
    let outcome = |status: &str, message: String| json!({"release_id": id, "action": command.as_str(), "by": by, "reason": reason, "status": status, "message": message});
    match command {
        OperatorCommand::Approve | OperatorCommand::Reject => {
            let identities = rollgate::release::approval::iam_identities(&by);
            let vote = Vote {
                release_id: id.to_string(),
                identities,
                approved: command == OperatorCommand::Approve,
                comment: reason.clone(),
                on: None,
            };
            let resolution = approval::resolve(deps.store, deps.tokens, deps.workflow, &by, &NoDirectory, &vote, clock()).await?;
            // `resolve` counts a vote only on a release awaiting its approval, which is its status
            // when the vote is answered: the execution it resumes (or fails) moves it on after.
            Ok(outcome(ReleaseStatus::AwaitingApproval.as_str(), resolution.describe()))
        }
        OperatorCommand::Control(Control::Retry) => {
            let done = controls::retry(deps.store, deps.router, deps.notifier, id, &by, &text, RestorePolicy::default(), &clock).await?;
            let message = format!("{}: {}", done.release.status.as_str(), done.release.closed_reason.as_deref().unwrap_or(""));
            Ok(outcome(done.release.status.as_str(), message))
        }
        OperatorCommand::Control(control) => {
            let lasting = body
                .lasting
                .as_deref()
                .map(|l| l.parse::<HumanDuration>().map_err(|e| Refusal::bad_request(format!("`for`: {e}"))))
                .transpose()?;
            let recorded = controls::request(deps.store, deps.policies, id, control, &by, &text, lasting, clock()).await?;
            Ok(outcome(recorded.release.status.as_str(), recorded.meaning))
        }
        OperatorCommand::Abort => {
            let aborted = controls::abort(deps.store, deps.router, deps.notifier, deps.executions, id, &by, &text, &clock).await?;
            let rollback = &aborted.rollback;
            let mut message = if rollback.record.is_some() {
                format!("rolled back: aborted by {by}: {text}")
            } else {
                format!("had already ended: {}", rollback.release.status.as_str())
            };
            if !rollback.notified && rollback.record.is_some() {
                message.push_str(" (notification not sent; see `rollgate history`)");
            }
            if let Some(note) = &aborted.execution_not_stopped {
                message.push_str(&format!(" ({note})"));
            }
            Ok(outcome(rollback.release.status.as_str(), message))
        }
    }
}

#[cfg(test)]
mod tests;
