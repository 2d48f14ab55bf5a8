//! The AWS SDK's HTTP client in the functions: reqwest over rollgate's TLS (`adapters::https`).
//!
//! The SDK's own client trusts the platform's roots: every SDK client built at a cold start
//! reads the CA bundle (or walks the certificate directory) and parses its certificates again.
//! This one trusts the compiled-in Mozilla roots, shared with rollgate's other HTTPS calls, so
//! a cold start opens no certificate file. Like the SDK's client it follows no redirect and
//! uses no proxy; the SDK's connect and read timeouts apply.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;

/// The HTTP client to hand `aws_config`'s loader: every SDK client made from that configuration
/// (and the loader's own credential providers) sends through it.
pub fn sdk_http_client() -> SharedHttpClient {
    SharedHttpClient::new(ReqwestHttpClient::default())
}

/// The connect and read timeouts the SDK asks a connector for.
type Timeouts = (Option<Duration>, Option<Duration>);

/// One connector per pair of timeouts the SDK asks for (in practice one per process).
#[derive(Debug, Default)]
struct ReqwestHttpClient {
    connectors: Mutex<HashMap<Timeouts, SharedHttpConnector>>,
}

impl HttpClient for ReqwestHttpClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        let timeouts = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors.lock().unwrap_or_else(PoisonError::into_inner);
        connectors.entry(timeouts).or_insert_with(|| SharedHttpConnector::new(ReqwestConnector::new(timeouts))).clone()
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("reqwest", Some("0.12".into())))
    }
}

#[derive(Debug)]
struct ReqwestConnector {
    /// Or why no client could be built: every request then fails with it.
    client: Result<reqwest::Client, String>,
}

impl ReqwestConnector {
    fn new((connect_timeout, read_timeout): Timeouts) -> Self {
        let client = super::https::client(|builder| {
            let builder = builder.redirect(reqwest::redirect::Policy::none()).no_proxy();
            let builder = match connect_timeout {
                Some(timeout) => builder.connect_timeout(timeout),
                None => builder,
            };
            match read_timeout {
                Some(timeout) => builder.read_timeout(timeout),
                None => builder,
            }
        });
        Self { client }
    }
}

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        HttpConnectorFuture::new(async move {
            let client = client.map_err(|e| ConnectorError::other(e.into(), None))?;
            let response = client.execute(to_reqwest(request).await?).await.map_err(connector_error)?;
            let response = http::Response::from(response).map(SdkBody::from_body_1_x);
            HttpResponse::try_from(response).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// The SDK's request as reqwest's. SDK bodies are in memory for every service rollgate calls; a
/// streaming one is read whole first.
async fn to_reqwest(request: HttpRequest) -> Result<reqwest::Request, ConnectorError> {
    let (parts, body) = request.try_into_http1x().map_err(|e| ConnectorError::user(e.into()))?.into_parts();
    let body = match body.bytes() {
        Some(bytes) => bytes.to_vec(),
        None => ByteStream::new(body).collect().await.map_err(|e| ConnectorError::io(e.into()))?.to_vec(),
    };
    reqwest::Request::try_from(http::Request::from_parts(parts, body)).map_err(|e| ConnectorError::user(e.into()))
}

/// reqwest's failures as the SDK's retry classifier expects them: timeouts and broken
/// connections are transient, the rest is not retried.
fn connector_error(error: reqwest::Error) -> ConnectorError {
    if error.is_timeout() {
        ConnectorError::timeout(error.into())
    } else if error.is_connect() || error.is_request() || error.is_body() {
        ConnectorError::io(error.into())
    } else {
        ConnectorError::other(error.into(), None)
    }
}
