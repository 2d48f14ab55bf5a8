//! `rollgate approve | reject | pause | resume | skip | promote | abort | retry`: each is one
//! request to the control endpoint (the template's `ControlUrl` output: API Gateway with
//! `AWS_IAM` authorization), signed with SigV4 from the user's standard AWS credentials. The
//! endpoint's function records who asked as the IAM principal API Gateway authenticated, counts
//! the approvals' quorum and resumes the release; the CLI needs no access to the tables.

use std::process::ExitCode;
use std::time::SystemTime;

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use rollgate::domain::control::{Control, OperatorCommand};
use serde_json::{Value, json};

use super::output::outln;
use super::{CliError, print_json};

/// Where the endpoint is: `--control-url` or ROLLGATE_CONTROL_URL.
pub const CONTROL_URL_ENV: &str = "ROLLGATE_CONTROL_URL";

/// What to do when no endpoint is given.
pub fn no_control_url() -> String {
    format!(
        "no control endpoint: give --control-url or set {CONTROL_URL_ENV} to the stack's ControlUrl output (`aws cloudformation describe-stacks --stack-name <stack> --query \"Stacks[0].Outputs\"`)"
    )
}

/// One operator request: `command` on `release_id`, with the body's reason (and a pause's length).
pub struct ControlRequest<'a> {
    pub control_url: &'a str,
    pub release_id: &'a str,
    pub command: OperatorCommand,
    pub reason: Option<&'a str>,
    pub lasting: Option<&'a str>,
    pub json: bool,
}

pub fn send(request: ControlRequest<'_>) -> Result<ExitCode, CliError> {
    super::release::runtime()?.block_on(async {
        let config = rollgate::runtime::aws_config_with_platform_roots().await;
        let answer = call(&config, &request).await?;
        if request.json {
            print_json(&answer);
        } else {
            let (id, message, by) =
                (request.release_id, answer["message"].as_str().unwrap_or_default(), answer["by"].as_str().unwrap_or_default());
            match (request.command, request.reason) {
                (OperatorCommand::Approve | OperatorCommand::Reject, _) => outln!("{message}"),
                (OperatorCommand::Abort | OperatorCommand::Control(Control::Retry), _) | (_, None) => outln!("release {id} {message}"),
                (_, Some(reason)) => outln!("release {id} {message} (by {by}: {reason})"),
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The URL of `command` on `release_id` under the endpoint's base URL.
pub fn action_url(control_url: &str, release_id: &str, command: OperatorCommand) -> Result<String, CliError> {
    let base = control_url.trim_end_matches('/');
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        return Err(CliError::Usage(format!(
            "the control URL `{control_url}` is not an http(s) URL; give the stack's ControlUrl output (--control-url or {CONTROL_URL_ENV})"
        )));
    }
    Ok(format!("{base}/releases/{}/{command}", path_segment(release_id)))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { char::from(b).to_string() } else { format!("%{b:02X}") })
        .collect()
}

async fn call(config: &aws_config::SdkConfig, request: &ControlRequest<'_>) -> Result<Value, CliError> {
    let url = action_url(request.control_url, request.release_id, request.command)?;
    let mut body = serde_json::Map::new();
    if let Some(reason) = request.reason {
        body.insert("reason".into(), json!(reason));
    }
    if let Some(lasting) = request.lasting {
        body.insert("for".into(), json!(lasting));
    }
    let body = Value::Object(body).to_string();
    let headers = signed_headers(config, &url, &body).await?;
    let client = rollgate::adapters::https::client(|b| b.timeout(std::time::Duration::from_secs(30)))
        .map_err(|e| CliError::Usage(format!("cannot set up HTTPS: {e}")))?;
    let mut call = client.post(&url).header("content-type", "application/json").body(body);
    for (name, value) in headers {
        call = call.header(name, value);
    }
    let answer = call.send().await.map_err(|e| {
        CliError::Usage(format!(
            "the control endpoint {url} did not answer ({e}); check the URL (the stack's ControlUrl output) and your network"
        ))
    })?;
    let status = answer.status();
    let text = answer.text().await.unwrap_or_default();
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(value);
    }
    Err(CliError::Usage(refusal(status.as_u16(), &value, &text, request)))
}

/// What a refusal means for whoever ran the command: the function's reason, or API Gateway's.
fn refusal(status: u16, value: &Value, text: &str, request: &ControlRequest<'_>) -> String {
    if let Some(error) = value["error"].as_str() {
        return match status {
            503 => format!("{error} (nothing was lost; run the command again)"),
            _ => error.to_string(),
        };
    }
    // API Gateway's own answers carry `message`.
    let message = value["message"].as_str().unwrap_or(text).trim();
    match status {
        403 => format!(
            "the control endpoint refused your AWS identity ({message}); your credentials must allow execute-api:Invoke on it (the stack's OperatorPolicy), and be current (`aws sts get-caller-identity`)"
        ),
        404 => format!(
            "the control endpoint has no such route ({message}); check the URL is the stack's ControlUrl output, not `{}`",
            request.control_url
        ),
        _ => format!("the control endpoint failed (HTTP {status}: {message}); try again, or look at the release-control function's logs"),
    }
}

/// The SigV4 headers (authorization, date, session token) for a POST of `body` to `url`, for
/// API Gateway (`execute-api`) in the configured region.
async fn signed_headers(config: &aws_config::SdkConfig, url: &str, body: &str) -> Result<Vec<(String, String)>, CliError> {
    let no_credentials = |why: String| {
        CliError::Usage(format!(
            "no AWS credentials to sign the request with ({why}); sign in as you do for the AWS CLI (a profile, SSO or environment variables)"
        ))
    };
    let provider = config.credentials_provider().ok_or_else(|| no_credentials("none is configured".into()))?;
    let credentials = provider.provide_credentials().await.map_err(|e| no_credentials(e.to_string()))?;
    let region = config.region().ok_or_else(|| CliError::Usage("no AWS region is set; set AWS_REGION to the stack's region".into()))?;
    let identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region.as_ref())
        .name("execute-api")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| CliError::Usage(format!("cannot sign the request: {e}")))?
        .into();
    let headers = [("content-type", "application/json")];
    let signable = SignableRequest::new("POST", url, headers.into_iter(), SignableBody::Bytes(body.as_bytes()))
        .map_err(|e| CliError::Usage(format!("cannot sign a request to {url}: {e}")))?;
    let (instructions, _) =
        sign(signable, &params).map_err(|e| CliError::Usage(format!("cannot sign a request to {url}: {e}")))?.into_parts();
    Ok(instructions.headers().map(|(name, value)| (name.to_string(), value.to_string())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_id_is_one_path_segment_and_the_url_must_be_http() {
        assert_eq!(
            action_url("https://abc.execute-api.eu-west-1.amazonaws.com/", "rel 1/../x", OperatorCommand::Control(Control::Pause))
                .ok()
                .as_deref(),
            Some("https://abc.execute-api.eu-west-1.amazonaws.com/releases/rel%201%2F..%2Fx/pause")
        );
        assert!(
            action_url("abc.execute-api", "r", OperatorCommand::Control(Control::Pause))
                .is_err_and(|e| e.to_string().contains(CONTROL_URL_ENV))
        );
    }
}
