//! Start-up wiring shared by every function's `main`: tracing once, the SDK config once.

use crate::adapters::dynamodb::{DynamoStore, TABLE_ENV};

/// JSON logs in Lambda (CloudWatch Logs Insights reads them), plain text elsewhere.
/// `RUST_LOG` sets the level (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let result =
        if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() { builder.json().without_time().try_init() } else { builder.try_init() };
    // A second call (tests) finds a subscriber already set; that is fine.
    drop(result);
}

/// The standard AWS configuration: region, credentials and `AWS_ENDPOINT_URL` from the
/// environment, never hard-coded. The SDK's HTTPS trusts the compiled-in Mozilla roots
/// (`adapters::sdk_http`): a function's cold start reads no certificate file.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(crate::adapters::sdk_http::sdk_http_client()).load().await
}

/// As [`aws_config`], with the SDK's own HTTPS client trusting the platform's roots
/// (`SSL_CERT_FILE`, the system store): what the CLI uses on people's machines, where a
/// company's TLS-inspecting proxy may sign AWS's certificates with its own root.
pub async fn aws_config_with_platform_roots() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}

#[derive(Debug, thiserror::Error)]
#[error("{TABLE_ENV} is not set; set it to the rollgate table's name (the SAM template does this for deployed functions)")]
pub struct MissingTable;

/// The release store on the table named by `ROLLGATE_TABLE`.
pub fn dynamo_store(config: &aws_config::SdkConfig) -> Result<DynamoStore, MissingTable> {
    let table = std::env::var(TABLE_ENV).ok().filter(|t| !t.trim().is_empty()).ok_or(MissingTable)?;
    Ok(DynamoStore::new(aws_sdk_dynamodb::Client::new(config), table))
}

#[derive(Debug, thiserror::Error)]
#[error(
    "{} is not set; set it to the notification topic's ARN (the SAM template does this for deployed functions)",
    crate::adapters::sns::TOPIC_ENV
)]
pub struct MissingTopic;

/// The notifier on the topic named by `ROLLGATE_TOPIC_ARN`.
pub fn sns_notifier(config: &aws_config::SdkConfig) -> Result<crate::adapters::sns::SnsNotifier, MissingTopic> {
    let topic = std::env::var(crate::adapters::sns::TOPIC_ENV).ok().filter(|t| !t.trim().is_empty()).ok_or(MissingTopic)?;
    Ok(crate::adapters::sns::SnsNotifier::new(aws_sdk_sns::Client::new(config), topic))
}

#[derive(Debug, thiserror::Error)]
#[error(
    "{} is not set; set it to the task token table's name (the SAM template does this for the approval functions)",
    crate::adapters::task_tokens::TOKEN_TABLE_ENV
)]
pub struct MissingTokenTable;

/// The approvals' task tokens, on the table named by `ROLLGATE_TOKEN_TABLE`.
pub fn task_tokens(config: &aws_config::SdkConfig) -> Result<crate::adapters::task_tokens::DynamoTaskTokens, MissingTokenTable> {
    let table =
        std::env::var(crate::adapters::task_tokens::TOKEN_TABLE_ENV).ok().filter(|t| !t.trim().is_empty()).ok_or(MissingTokenTable)?;
    Ok(crate::adapters::task_tokens::DynamoTaskTokens::new(aws_sdk_dynamodb::Client::new(config), table))
}

/// Step Functions: resuming the approvals' waiting tasks, stopping executions.
pub fn step_functions(config: &aws_config::SdkConfig) -> crate::adapters::sfn::StepFunctionsWorkflow {
    crate::adapters::sfn::StepFunctionsWorkflow::new(aws_sdk_sfn::Client::new(config))
}

/// Step hooks: Lambda functions invoked and HTTPS endpoints called with signed requests.
pub fn hook_runner(config: &aws_config::SdkConfig) -> crate::adapters::hooks::AwsHooks {
    crate::adapters::hooks::AwsHooks::from_config(config)
}
