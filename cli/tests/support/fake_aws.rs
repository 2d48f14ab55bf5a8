//! A loopback stand-in for DynamoDB and Step Functions (AWS JSON protocol): a handler answers
//! each request from its operation (the part of `X-Amz-Target` after the dot, e.g. `Query`) and
//! its JSON body (STS GetCallerIdentity is answered by the stand-in itself), so that the CLI's AWS commands run through the real binary and the real SDK
//! without an emulator.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;

/// An answer: HTTP status and JSON body.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn ok(body: serde_json::Value) -> Self {
        Self { status: 200, body: body.to_string() }
    }

    /// A service error as the AWS JSON protocol sends it.
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Self { status, body: serde_json::json!({"__type": code, "message": message}).to_string() }
    }
}

/// STS GetCallerIdentity's answer: the caller is the IAM user `tester`.
const CALLER: &str = "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult>\
<Arn>arn:aws:iam::123456789012:user/tester</Arn><UserId>AIDAFAKE</UserId><Account>123456789012</Account></GetCallerIdentityResult>\
<ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></GetCallerIdentityResponse>";

type Handler = dyn Fn(&str, &serde_json::Value) -> Answer + Send + Sync;

pub struct FakeAws {
    pub url: String,
}

impl FakeAws {
    /// Answers every request with `handler(operation, request body)`.
    pub fn start(handler: impl Fn(&str, &serde_json::Value) -> Answer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        let url = format!("http://{}", listener.local_addr().map(|a| a.to_string()).unwrap_or_default());
        let handler: Arc<Handler> = Arc::new(handler);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let handler = Arc::clone(&handler);
                std::thread::spawn(move || serve(stream, handler.as_ref()));
            }
        });
        Self { url }
    }

    /// `rollgate <args>` against this endpoint, with static credentials and nothing read from
    /// the machine's AWS configuration.
    pub fn rollgate(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rollgate"));
        command.args(args);
        for (key, value) in aws_env(&self.url) {
            command.env(key, value);
        }
        command.env_remove("AWS_PROFILE").env_remove("AWS_SESSION_TOKEN").env_remove("ROLLGATE_TOPIC_ARN");
        command
    }
}

/// The environment of a CLI run against `endpoint`.
pub fn aws_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_REGION", "eu-west-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_CONFIG_FILE", "/nonexistent/rollgate-test-config".into()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/rollgate-test-credentials".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("AWS_MAX_ATTEMPTS", "1".into()),
    ]
}

fn serve(stream: TcpStream, handler: &Handler) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut stream = stream;
    loop {
        let mut target = String::new();
        let mut length = 0usize;
        let mut line = String::new();
        // Request line, then headers up to the blank line.
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "x-amz-target" => target = value.trim().to_string(),
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        // Who the caller is (STS, AWS query protocol): the identity every endpoint knows.
        let (answer, content_type) = if target.is_empty() && body.starts_with(b"Action=GetCallerIdentity") {
            (Answer { status: 200, body: CALLER.to_string() }, "text/xml")
        } else {
            let operation = target.rsplit('.').next().unwrap_or_default();
            (handler(operation, &serde_json::from_slice(&body).unwrap_or_default()), "application/x-amz-json-1.0")
        };
        let reason = if answer.status == 200 { "OK" } else { "Bad Request" };
        let response = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nx-amzn-RequestId: fake\r\n\r\n{}",
            answer.status,
            answer.body.len(),
            answer.body
        );
        if stream.write_all(response.as_bytes()).and_then(|()| stream.flush()).is_err() {
            return;
        }
    }
}
