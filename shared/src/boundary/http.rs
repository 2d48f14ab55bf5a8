//! The HTTP side of the boundary: the operators' control endpoint and Slack's webhook answer API
//! Gateway (HTTP API) requests in JSON, and refuse with an HTTP status and the reason in words.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use serde_json::{Value, json};

use crate::flow::approval::ApprovalError;
use crate::flow::control::ControlError;

/// The request's body as sent: API Gateway hands a body it does not take for text over
/// base64-encoded. An encoding that does not decode is the caller's mistake (400).
pub fn request_body(request: &ApiGatewayV2httpRequest) -> Result<Vec<u8>, Refusal> {
    let body = request.body.as_deref().unwrap_or_default();
    if !request.is_base64_encoded {
        return Ok(body.as_bytes().to_vec());
    }
    base64::engine::general_purpose::STANDARD.decode(body).map_err(|e| Refusal::bad_request(format!("the body is not valid base64 ({e})")))
}

/// A refused request: its HTTP status, and why, in plain words for whoever sent it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Refusal {
    pub status: u16,
    pub reason: String,
}

impl Refusal {
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        Self { status, reason: reason.into() }
    }

    /// 400: the request itself is wrong; the reason says what to fix.
    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(400, reason)
    }

    /// 401: the request cannot be shown to come from whom it must.
    pub fn unauthenticated(reason: impl Into<String>) -> Self {
        Self::new(401, reason)
    }

    /// 403: whoever asked may not.
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::new(403, reason)
    }

    /// 404: no such route or release.
    pub fn not_found(reason: impl Into<String>) -> Self {
        Self::new(404, reason)
    }

    /// 503: a backend did not answer; nothing was lost, try again.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self::new(503, reason)
    }

    /// The answer: `{"error": reason}` with the refusal's status.
    pub fn response(&self) -> ApiGatewayV2httpResponse {
        json_response(self.status, &json!({"error": self.reason}))
    }
}

impl From<ApprovalError> for Refusal {
    fn from(err: ApprovalError) -> Self {
        Self::new(err.http_status(), err.to_string())
    }
}

impl From<ControlError> for Refusal {
    fn from(err: ControlError) -> Self {
        Self::new(err.http_status(), err.to_string())
    }
}

/// An API Gateway answer with `status` and `body` as JSON.
pub fn json_response(status: u16, body: &Value) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(status);
    response.headers = headers;
    response.body = Some(Body::Text(body.to_string()));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::rollback::RollbackError;
    use crate::ports::{StoreError, WorkflowError};

    #[test]
    fn a_body_is_read_as_sent_or_decoded_from_base64_and_bad_base64_is_a_400() {
        let request = |body: &str, encoded: bool| {
            let mut request = ApiGatewayV2httpRequest::default();
            request.body = Some(body.into());
            request.is_base64_encoded = encoded;
            request
        };
        assert_eq!(request_body(&request("a=1", false)).ok(), Some(b"a=1".to_vec()));
        assert_eq!(request_body(&request("YT0x", true)).ok(), Some(b"a=1".to_vec()));
        assert_eq!(request_body(&ApiGatewayV2httpRequest::default()).ok(), Some(Vec::new()));
        let refused = request_body(&request("a=1", true)).err().unwrap_or_else(|| panic!("bad base64 read"));
        assert_eq!(refused.status, 400);
        assert!(refused.reason.starts_with("the body is not valid base64"), "{}", refused.reason);
    }

    #[test]
    fn a_refusal_answers_its_status_with_its_reason_as_json() {
        let answer = Refusal::forbidden("not an approver").response();
        assert_eq!(answer.status_code, 403);
        assert_eq!(answer.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()), Some("application/json"));
        let body = match &answer.body {
            Some(Body::Text(text)) => serde_json::from_str::<Value>(text).unwrap_or_default(),
            other => panic!("not a text body: {other:?}"),
        };
        assert_eq!(body, json!({"error": "not an approver"}));
    }

    #[test]
    fn flow_errors_keep_their_status_and_message() {
        let gone = ApprovalError::Workflow(WorkflowError::TaskGone("no token".into()));
        let message = gone.to_string();
        assert_eq!(Refusal::from(gone), Refusal::new(410, message));
        let cases = [
            (ControlError::ReleaseNotFound("r1".into()), 404),
            (ControlError::Rollback(RollbackError::ReleaseNotFound("r1".into())), 404),
            (ControlError::NotApplicable("not paused".into()), 409),
            (ControlError::Changed, 409),
            (ControlError::Forbidden { service: "s".into(), environment: "e".into(), control: "skip" }, 403),
            (ControlError::Store(StoreError::Corrupt { key: "r1".into(), reason: "not JSON".into() }), 503),
        ];
        for (err, status) in cases {
            let message = err.to_string();
            assert_eq!(Refusal::from(err), Refusal::new(status, message));
        }
    }
}
