//! A loopback HTTP server that answers every request with a fixed JSON body and keeps what was
//! posted: it plays Slack (`chat.postMessage`, `usergroups.users.list`, an interaction's
//! `response_url`).

use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;

#[derive(Clone, Debug)]
pub struct Captured {
    /// `POST /api/chat.postMessage`
    pub request_line: String,
    pub authorization: Option<String>,
    /// Every header, as sent (names as written).
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
    /// The body as sent (a form-encoded one is not JSON).
    pub raw: String,
}

pub struct CaptureServer {
    /// `http://127.0.0.1:<port>`
    pub url: String,
    seen: Arc<Mutex<Vec<Captured>>>,
}

impl CaptureServer {
    /// Answers `{"ok": true}`, as Slack does.
    pub async fn start() -> Self {
        Self::answering(r#"{"ok":true}"#).await
    }

    pub async fn answering(answer: &'static str) -> Self {
        Self::answering_with("200 OK", answer).await
    }

    /// Answers every request with `status` (`500 Internal Server Error`) and `answer`.
    pub async fn answering_with(status: &'static str, answer: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
        let url = format!("http://{}", listener.local_addr().map(|a| a.to_string()).unwrap_or_default());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let record = Arc::clone(&record);
                tokio::spawn(async move {
                    let Some((request_line, headers, body)) = crate::webhook_server::read_request(&mut socket).await else { return };
                    let authorization = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("authorization")).map(|(_, v)| v.clone());
                    let raw = String::from_utf8_lossy(&body).into_owned();
                    let body = serde_json::from_slice(&body).unwrap_or_default();
                    record.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(Captured {
                        request_line,
                        authorization,
                        headers,
                        body,
                        raw,
                    });
                    crate::webhook_server::write_json(&mut socket, status, answer).await;
                });
            }
        });
        Self { url, seen }
    }

    pub fn requests(&self) -> Vec<Captured> {
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The bodies of what was posted.
    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.requests().into_iter().map(|c| c.body).collect()
    }
}
