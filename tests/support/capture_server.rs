//! A loopback HTTP server that answers 200 to everything and keeps what was posted (Slack's
//! `response_url`, for one).

use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

pub struct CaptureServer {
    /// `http://127.0.0.1:<port>`
    pub url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl CaptureServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
        let url = format!("http://{}", listener.local_addr().map(|a| a.to_string()).unwrap_or_default());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&bodies);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let Some((_, _, body)) = crate::webhook_server::read_request(&mut socket).await else { return };
                    seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(serde_json::from_slice(&body).unwrap_or_default());
                    let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { url, bodies }
    }

    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}
