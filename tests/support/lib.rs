//! Support for tests against an AWS-compatible endpoint.
//!
//! The endpoint comes from the standard `AWS_ENDPOINT_URL` (LocalStack's convention); `make test`
//! starts the emulator and sets it. Nothing here knows which emulator answers.

use std::path::{Path, PathBuf};

use rollgate::adapters::dynamodb::DynamoStore;
use rollgate::adapters::task_tokens::DynamoTaskTokens;

/// The SDK configuration for the test endpoint; fails loudly when there is none, so that an
/// integration test can never pass by not running.
pub async fn aws() -> aws_config::SdkConfig {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| !v.is_empty()),
        "AWS_ENDPOINT_URL is not set. Run the tests with `make test` (it installs and starts the emulator), \
         or point AWS_ENDPOINT_URL at LocalStack (http://localhost:4566)."
    );
    rollgate::runtime::aws_config().await
}

/// A uniquely named table (and its task token table), created for one test and deleted when
/// dropped (even on panic).
pub struct TestTable {
    pub store: DynamoStore,
    pub tokens: DynamoTaskTokens,
    tokens_table: String,
    config: aws_config::SdkConfig,
}

impl TestTable {
    pub async fn create() -> Self {
        let config = aws().await;
        let name = format!("rollgate-test-{}", uuid::Uuid::new_v4().simple());
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), &name);
        if let Err(e) = store.create_table().await {
            panic!("cannot create table {}: {e}", store.table());
        }
        let tokens_table = format!("{name}-tokens");
        let tokens = DynamoTaskTokens::new(aws_sdk_dynamodb::Client::new(&config), &tokens_table);
        if let Err(e) = tokens.create_table().await {
            panic!("cannot create table {tokens_table}: {e}");
        }
        Self { store, tokens, tokens_table, config }
    }
}

impl Drop for TestTable {
    fn drop(&mut self) {
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&self.config), self.store.table());
        // Drop cannot await; a short-lived runtime on its own thread deletes the table.
        let deleted = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread().enable_all().build().map(|rt| rt.block_on(store.delete_table()))
        })
        .join();
        if !matches!(deleted, Ok(Ok(Ok(())))) {
            eprintln!("warning: test table {} was not deleted", self.store.table());
        }
        let tokens = DynamoStore::new(aws_sdk_dynamodb::Client::new(&self.config), &self.tokens_table);
        let deleted = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread().enable_all().build().map(|rt| rt.block_on(tokens.delete_table()))
        })
        .join();
        if !matches!(deleted, Ok(Ok(Ok(())))) {
            eprintln!("warning: test table {} was not deleted", self.tokens_table);
        }
    }
}

/// The repository root, for events/ and examples/.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

pub mod capture_server;
pub mod contract;
pub mod faults;
pub mod fixtures;
pub mod local_release;
pub mod local_stack;
pub mod releases;
pub mod slack_events;
pub mod webhook_server;
