use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rollgate::runtime::init_tracing();
    let config = rollgate::runtime::aws_config().await;
    let (store, publisher) = (rollgate::runtime::dynamo_store(&config)?, rollgate::runtime::sns_notifier(&config)?);
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        // Each embedded metric format line on stdout, whole: CloudWatch Logs extracts the metrics.
        policy_review::handler(event.payload, &store, &store, &publisher, &|line| println!("{line}"))
    }))
    .await
}
