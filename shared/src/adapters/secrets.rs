//! Secrets in AWS Secrets Manager, read on first use and kept for the container's life.

use async_trait::async_trait;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, SdkError};
use tokio::sync::OnceCell;

use crate::ports::{SecretError, SecretSource};

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
        let fail = |transient: bool, message: String| SecretError { name: self.secret_id.clone(), transient, message };
        self.value
            .get_or_try_init(|| async {
                let out = self.client.get_secret_value().secret_id(&self.secret_id).send().await.map_err(|e| {
                    let transient = e.as_service_error().is_some_and(|s| s.is_internal_service_error())
                        || matches!(e, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_));
                    fail(transient, DisplayErrorContext(e).to_string())
                })?;
                out.secret_string()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| fail(false, "it has no string value; store it as plain text".into()))
            })
            .await
            .cloned()
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
