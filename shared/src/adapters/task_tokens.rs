//! Task tokens of waiting approvals on a DynamoDB table of their own: only the approval
//! functions may read or write it (the template grants nothing else), and the audit trail never
//! holds a token. Items expire by TTL a day after their approval does.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification};
use chrono::{DateTime, Utc};

use crate::adapters::dynamodb::{await_active_with_ttl, classify, n, s};
use crate::ports::{StoreError, TaskTokens, TokenKey};

/// Environment variable naming the token table (set by the SAM template on the approval
/// functions only).
pub const TOKEN_TABLE_ENV: &str = "ROLLGATE_TOKEN_TABLE";

/// How long a token is kept after its approval expired: long enough for a late decision to be
/// told "expired" by Step Functions rather than "no token", short enough to leave nothing behind.
const KEPT_AFTER_EXPIRY_SECS: i64 = 86_400;

#[derive(Clone, Debug)]
pub struct DynamoTaskTokens {
    client: Client,
    table: String,
}

impl DynamoTaskTokens {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// Creates the table (on demand, one string key `pk`, TTL on `ttl`) and waits until it is
    /// active. Deployments get it from infra/template.yaml; this serves tests and local stacks.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let built = (|| {
            Ok::<_, aws_sdk_dynamodb::error::BuildError>((
                AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build()?,
                KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build()?,
                TimeToLiveSpecification::builder().attribute_name("ttl").enabled(true).build()?,
            ))
        })();
        let (attribute, key, ttl) =
            built.map_err(|e| StoreError::Backend { operation: "CreateTable", transient: false, source: Box::new(e) })?;
        self.client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(attribute)
            .key_schema(key)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(|e| classify("CreateTable", e, |_| false))?;
        await_active_with_ttl(&self.client, &self.table, ttl).await
    }
}

fn token_key(key: TokenKey<'_>) -> String {
    format!("TOKEN#{}#{}#{}", key.release_id, key.approval, key.step)
}

#[async_trait]
impl TaskTokens for DynamoTaskTokens {
    async fn keep_token(&self, key: TokenKey<'_>, token: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        let ttl = expires_at.timestamp().saturating_add(KEPT_AFTER_EXPIRY_SECS);
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(token_key(key)))
            .item("token", s(token))
            .item("ttl", n(ttl))
            .send()
            .await
            .map_err(|e| classify("PutItem", e, |e| e.is_provisioned_throughput_exceeded_exception() || e.is_request_limit_exceeded()))?;
        Ok(())
    }

    async fn token(&self, key: TokenKey<'_>) -> Result<Option<String>, StoreError> {
        let out =
            self.client.get_item().table_name(&self.table).key("pk", s(token_key(key))).consistent_read(true).send().await.map_err(
                |e| classify("GetItem", e, |e| e.is_provisioned_throughput_exceeded_exception() || e.is_request_limit_exceeded()),
            )?;
        Ok(out.item.and_then(|item| item.get("token").and_then(|v| v.as_s().ok()).cloned()))
    }
}
