//! Start-up wiring shared by every function's `main`: tracing once, the SDK config once.

use crate::adapters::dynamodb::{DynamoStore, TABLE_ENV};

/// JSON logs in Lambda (CloudWatch Logs Insights reads them), plain text elsewhere.
/// `RUST_LOG` sets the level (default `info`), for all targets or per target
/// (`info,rollgate=debug`); a value that does not parse falls back to `info`.
pub fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let builder = tracing_subscriber::fmt().with_target(false);
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let result = if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        builder.json().without_time().finish().with(filter).try_init()
    } else {
        builder.finish().with(filter).try_init()
    };
    // A second call (tests) finds a subscriber already set; that is fine.
    drop(result);
}

/// The log filter from `RUST_LOG`'s value: target directives (`tracing_subscriber`'s `Targets`,
/// not its `EnvFilter`, whose span and field filters would link a regex engine into every
/// function).
fn log_filter(rust_log: Option<&str>) -> tracing_subscriber::filter::Targets {
    let info = || tracing_subscriber::filter::Targets::new().with_default(tracing::level_filters::LevelFilter::INFO);
    rust_log.filter(|v| !v.trim().is_empty()).and_then(|v| v.trim().parse().ok()).unwrap_or_else(info)
}

/// The standard AWS configuration: region, credentials and `AWS_ENDPOINT_URL` from the
/// environment, never hard-coded. The SDK's HTTPS trusts the compiled-in Mozilla roots
/// (`adapters::sdk_http`): a function's cold start reads no certificate file.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(crate::adapters::sdk_http::sdk_http_client()).load().await
}

/// As [`aws_config`], with the SDK's own HTTPS client trusting the platform's roots
/// (`SSL_CERT_FILE`, the system store): what the CLI uses on people's machines, where a
/// company's TLS-inspecting proxy may sign AWS's certificates with its own root. Built with
/// the `platform-roots` feature only: the functions leave the SDK's own client out.
#[cfg(feature = "platform-roots")]
pub async fn aws_config_with_platform_roots() -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    // ring, as adapters::https: the SDK's default (aws-lc) would be a second crypto library.
    let client = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(client).load().await
}

/// The metric source: CloudWatch, through `config`.
pub fn cloudwatch_source(config: &aws_config::SdkConfig) -> crate::adapters::cloudwatch::CloudWatchSource {
    crate::adapters::cloudwatch::CloudWatchSource::new(aws_sdk_cloudwatch::Client::new(config))
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

#[cfg(test)]
mod tests {
    use tracing::Level;

    #[test]
    fn the_log_filter_reads_levels_per_target_and_falls_back_to_info() {
        let filter = super::log_filter(Some("warn,rollgate=debug"));
        assert!(filter.would_enable("rollgate::flow", &Level::DEBUG));
        assert!(!filter.would_enable("aws_smithy_runtime", &Level::INFO));
        for unset in [None, Some(""), Some("  "), Some("rollgate=loud")] {
            let filter = super::log_filter(unset);
            assert!(filter.would_enable("rollgate", &Level::INFO), "{unset:?}");
            assert!(!filter.would_enable("rollgate", &Level::DEBUG), "{unset:?}");
        }
    }
}
