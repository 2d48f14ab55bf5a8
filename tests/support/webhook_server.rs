//! A small HTTP server on loopback that plays a team's traffic webhook: it verifies rollgate's
//! signature, remembers the weight, and can be told to be slow or to fail.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rollgate::adapters::routers::{SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookRequest, WebhookState, sign};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// Answer this many requests with HTTP 500 first.
    pub fail_first: usize,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Answer POSTs with this weight instead of the one asked for.
    pub answer_weight: Option<u32>,
    /// Fail (HTTP 500) every POST that asks for more than this weight; lower ones succeed.
    pub fail_above: Option<u32>,
    /// Answer every request with `302 Found` to this location.
    pub redirect_to: Option<String>,
    /// Answer every request with `200 OK` and this many bytes of JSON-looking body, without a
    /// content-length (the client learns the size only by reading).
    pub huge_answer: Option<usize>,
}

#[derive(Default)]
pub struct Seen {
    pub requests: usize,
    pub bad_signatures: usize,
    pub weight: u32,
    pub last: Option<WebhookRequest>,
}

pub struct WebhookServer {
    pub url: String,
    pub seen: Arc<Mutex<Seen>>,
}

impl WebhookServer {
    pub async fn start(key: &str, behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
        let url = format!("http://{}/rollgate/weights", listener.local_addr().map(|a| a.to_string()).unwrap_or_default());
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (key, state) = (key.to_string(), Arc::clone(&seen));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (key, state, behaviour) = (key.clone(), Arc::clone(&state), behaviour.clone());
                tokio::spawn(async move {
                    let Some((request_line, headers, body)) = read_request(&mut socket).await else { return };
                    if behaviour.redirect_to.is_some() || behaviour.huge_answer.is_some() {
                        state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).requests += 1;
                        write_unusual(&mut socket, &behaviour).await;
                        return;
                    }
                    let method = request_line.split(' ').next().unwrap_or_default().to_string();
                    let (status, answer) = respond(&key, &state, &behaviour, &method, &headers, &body).await;
                    write_json(&mut socket, status, &answer).await;
                });
            }
        });
        Self { url, seen }
    }

    pub fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

async fn respond(
    key: &str,
    state: &Mutex<Seen>,
    behaviour: &Behaviour,
    method: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (&'static str, String) {
    let header = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    let count = {
        let mut seen = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.requests += 1;
        seen.requests
    };
    tokio::time::sleep(behaviour.delay).await;
    let timestamp = header(TIMESTAMP_HEADER).and_then(|t| t.parse::<i64>().ok()).unwrap_or_default();
    let fresh = (chrono::Utc::now().timestamp() - timestamp).abs() < 300;
    let expected = sign(key.as_bytes(), timestamp, body);
    if !fresh || header(SIGNATURE_HEADER).as_deref() != Some(expected.as_str()) {
        state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).bad_signatures += 1;
        return ("401 Unauthorized", r#"{"error":"bad signature"}"#.into());
    }
    if count <= behaviour.fail_first {
        return ("500 Internal Server Error", r#"{"error":"try again"}"#.into());
    }
    let mut seen = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if method == "POST" {
        let Ok(request) = serde_json::from_slice::<WebhookRequest>(body) else {
            return ("400 Bad Request", r#"{"error":"bad body"}"#.into());
        };
        if behaviour.fail_above.is_some_and(|limit| request.canary_weight > limit) {
            return ("500 Internal Server Error", r#"{"error":"the mesh is unavailable"}"#.into());
        }
        seen.weight = behaviour.answer_weight.unwrap_or(request.canary_weight);
        seen.last = Some(request);
    }
    ("200 OK", serde_json::to_string(&WebhookState { canary_weight: seen.weight }).unwrap_or_default())
}

/// A redirect or an endless-looking answer, as `behaviour` asks.
async fn write_unusual(socket: &mut tokio::net::TcpStream, behaviour: &Behaviour) {
    if let Some(location) = &behaviour.redirect_to {
        let reply = format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        let _ = socket.write_all(reply.as_bytes()).await;
    } else if let Some(size) = behaviour.huge_answer {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{\"canary_weight\": 10, \"padding\": \"";
        if socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = vec![b'x'; 16 * 1024];
        let mut sent = head.len();
        // The client hangs up after its limit: the write fails and the server stops.
        while sent < size {
            if socket.write_all(&chunk).await.is_err() {
                return;
            }
            sent += chunk.len();
        }
        let _ = socket.write_all(b"\"}").await;
    }
    let _ = socket.shutdown().await;
}

/// Answers with `status` (e.g. `200 OK`) and a JSON body, then closes.
pub(crate) async fn write_json(socket: &mut tokio::net::TcpStream, status: &str, body: &str) {
    let reply =
        format!("HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
    let _ = socket.write_all(reply.as_bytes()).await;
    let _ = socket.shutdown().await;
}

/// Reads one request: `(method path, headers, body)`.
pub(crate) async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<(String, Vec<(String, String)>, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?.to_string();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    let length =
        headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-length")).and_then(|(_, v)| v.parse::<usize>().ok()).unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let mut parts = request_line.split(' ');
    let method_and_path = format!("{} {}", parts.next()?, parts.next().unwrap_or("/"));
    Some((method_and_path, headers, buffer[head_end..].to_vec()))
}
