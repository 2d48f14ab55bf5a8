//! The local stack router's fault injector (scripts/lambda_router.py, `/_faults`): rules set and
//! cleared over HTTP, and how many times each fired.

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The router of the local stack (`ROUTER_PORT`, default 5056).
pub struct FaultInjector {
    address: String,
}

impl Default for FaultInjector {
    fn default() -> Self {
        Self::new()
    }
}

impl FaultInjector {
    pub fn new() -> Self {
        Self { address: format!("127.0.0.1:{}", router_port()) }
    }

    /// Sets `rules`; returns their ids.
    pub async fn add(&self, rules: &[Value]) -> Vec<u64> {
        let answer = self.call("POST", "/_faults", Some(&json!({ "rules": rules }))).await;
        answer["rules"].as_array().map(|r| r.iter().filter_map(|r| r["id"].as_u64()).collect()).unwrap_or_default()
    }

    /// Every rule, with `fired` (how many times) and `hits` (what it hit).
    pub async fn rules(&self) -> Vec<Value> {
        self.call("GET", "/_faults", None).await["rules"].as_array().cloned().unwrap_or_default()
    }

    /// How many times each of `ids` fired, in order.
    pub async fn fired(&self, ids: &[u64]) -> Vec<u64> {
        let rules = self.rules().await;
        ids.iter().map(|id| rules.iter().find(|r| r["id"].as_u64() == Some(*id)).and_then(|r| r["fired"].as_u64()).unwrap_or(0)).collect()
    }

    pub async fn clear(&self, ids: &[u64]) {
        for id in ids {
            self.call("DELETE", &format!("/_faults/{id}"), None).await;
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let body = body.map(Value::to_string).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            self.address,
            body.len()
        );
        let mut socket = TcpStream::connect(&self.address)
            .await
            .unwrap_or_else(|e| panic!("the local stack's router at {} does not answer: {e}", self.address));
        socket.write_all(request.as_bytes()).await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let mut answer = Vec::new();
        socket.read_to_end(&mut answer).await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let text = String::from_utf8_lossy(&answer);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        assert!(head.starts_with("HTTP/1.1 200"), "{method} {path}: {head}\n{body}");
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {body}"))
    }
}

/// The router's port, where the Lambda API of the local stack (and its fault injector) answers.
pub fn router_port() -> String {
    std::env::var("ROUTER_PORT").unwrap_or_else(|_| "5056".into())
}
