use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rollgate::runtime::init_tracing();
    let config = rollgate::runtime::aws_config().await;
    let (store, notifier) = (rollgate::runtime::dynamo_store(&config)?, rollgate::runtime::sns_notifier(&config)?);
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        checklist_validator::handler(event.payload, &store, &store, &notifier)
    }))
    .await
}
