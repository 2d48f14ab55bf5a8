//! The TLS of the HTTPS calls rollgate makes itself (Slack, webhook routers, HTTP step hooks).
//!
//! rustls on ring, the one crypto library in every binary (the SDK's calls go through the same
//! stack, `adapters::sdk_http`), and the Mozilla root store compiled in: a function's cold start
//! reads no certificate file or directory for these clients.

use std::sync::{Arc, OnceLock};

/// rustls on ring with the compiled-in Mozilla roots, built once per process and cloned
/// into each client (a clone shares the verifier and its roots). Fails only if the crypto
/// provider offers no protocol version (a broken build).
pub fn tls_config() -> Result<rustls::ClientConfig, String> {
    static CONFIG: OnceLock<Result<rustls::ClientConfig, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            Ok(rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("cannot set up TLS: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth())
        })
        .clone()
}

/// A reqwest client builder over rollgate's TLS configuration; callers add their timeouts and
/// guards.
pub fn client_builder() -> Result<reqwest::ClientBuilder, String> {
    Ok(reqwest::Client::builder().use_preconfigured_tls(tls_config()?))
}

/// A client from `configure` applied to [`client_builder`], or why none could be built.
pub fn client(configure: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder) -> Result<reqwest::Client, String> {
    configure(client_builder()?).build().map_err(|e| format!("cannot build the HTTPS client: {e}"))
}

#[cfg(test)]
mod tests {
    /// reqwest without a provider of its own panics when it finds no process-wide one; the
    /// configuration handed to it carries ring, so no process needs to install one.
    #[test]
    fn a_client_builds_without_a_process_wide_crypto_provider() {
        assert!(rustls::crypto::CryptoProvider::get_default().is_none());
        assert!(super::client(|b| b.https_only(true)).is_ok());
    }
}
