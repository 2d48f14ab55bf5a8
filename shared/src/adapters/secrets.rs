//! Secrets in AWS Secrets Manager: one secret read on first use and kept for the container's life
//! (`SecretsManagerSecret`), or secrets named at run time (a plan's `secret_arn`) kept for a
//! short while (`CachedSecrets`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_secretsmanager::error::SdkError;

use crate::adapters::aws_error::cause;
use tokio::sync::OnceCell;

use crate::ports::{SecretError, SecretSource};

/// Reads the string value of one secret (an ARN or a name); transient when Secrets Manager had
/// an internal error or could not be reached.
async fn fetch(client: &aws_sdk_secretsmanager::Client, secret_id: &str) -> Result<String, SecretError> {
    let fail = |transient: bool, message: String| SecretError { name: secret_id.to_string(), transient, message };
    let out = client.get_secret_value().secret_id(secret_id).send().await.map_err(|e| {
        let transient = e.as_service_error().is_some_and(|s| s.is_internal_service_error())
            || matches!(e, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_));
        fail(transient, cause(&e))
    })?;
    out.secret_string()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| fail(false, "it has no string value; store it as plain text".into()))
}

pub struct SecretsManagerSecret {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    value: OnceCell<String>,
}

impl SecretsManagerSecret {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        Self { client, secret_id: secret_id.into(), value: OnceCell::new() }
    }

    /// The secret named by the environment variable `env` (an ARN or a name); `None` when unset.
    pub fn from_env(config: &aws_config::SdkConfig, env: &str) -> Option<Self> {
        let id = std::env::var(env).ok().filter(|v| !v.trim().is_empty())?;
        Some(Self::new(aws_sdk_secretsmanager::Client::new(config), id))
    }
}

#[async_trait]
impl SecretSource for SecretsManagerSecret {
    async fn get(&self) -> Result<String, SecretError> {
        self.value.get_or_try_init(|| fetch(&self.client, &self.secret_id)).await.cloned()
    }
}

/// A secret given as it is (local runs and tests).
pub struct FixedSecret(pub String);

#[async_trait]
impl SecretSource for FixedSecret {
    async fn get(&self) -> Result<String, SecretError> {
        Ok(self.0.clone())
    }
}

/// Secrets looked up by id (an ARN or a name) at run time, e.g. the key a plan's webhook router
/// names.
#[async_trait]
pub trait SecretLookup: Send + Sync {
    async fn secret(&self, id: &str) -> Result<String, SecretError>;
}

/// How long `CachedSecrets` keeps a value by default: a rotated key is picked up within this.
pub const SECRET_CACHE_TTL: Duration = Duration::from_secs(5 * 60);

/// Secrets Manager secrets by id, each value kept for `ttl` (failures are not kept), so that a
/// warm container does not call GetSecretValue on every request and still sees a rotation soon.
pub struct CachedSecrets {
    client: aws_sdk_secretsmanager::Client,
    ttl: Duration,
    values: Mutex<HashMap<String, (Instant, String)>>,
}

impl CachedSecrets {
    pub fn new(client: aws_sdk_secretsmanager::Client, ttl: Duration) -> Self {
        Self { client, ttl, values: Mutex::new(HashMap::new()) }
    }

    fn cached(&self, id: &str) -> Option<String> {
        let values = self.values.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        values.get(id).filter(|(read, _)| read.elapsed() < self.ttl).map(|(_, value)| value.clone())
    }
}

#[async_trait]
impl SecretLookup for CachedSecrets {
    async fn secret(&self, id: &str) -> Result<String, SecretError> {
        if let Some(value) = self.cached(id) {
            return Ok(value);
        }
        // Not held across the call: two concurrent misses both read, and both store the same value.
        let value = fetch(&self.client, id).await?;
        let mut values = self.values.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        values.retain(|_, (read, _)| read.elapsed() < self.ttl);
        values.insert(id.to_string(), (Instant::now(), value.clone()));
        Ok(value)
    }
}

/// Secrets given as they are, by id (local runs and tests); an unknown id is not found.
#[derive(Default)]
pub struct FixedSecrets(pub HashMap<String, String>);

#[async_trait]
impl SecretLookup for FixedSecrets {
    async fn secret(&self, id: &str) -> Result<String, SecretError> {
        self.0.get(id).cloned().ok_or_else(|| SecretError { name: id.to_string(), transient: false, message: "no such secret here".into() })
    }
}
