use lambda_runtime::{LambdaEvent, service_fn};
use rollgate::adapters::cloudwatch::CloudWatchSource;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rollgate::runtime::init_tracing();
    let config = rollgate::runtime::aws_config().await;
    let (store, metrics) = (rollgate::runtime::dynamo_store(&config)?, CloudWatchSource::new(aws_sdk_cloudwatch::Client::new(&config)));
    let hooks = rollgate::runtime::hook_runner(&config);
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        metric_gate::handler(event.payload, &store, &store, &metrics, &hooks)
    }))
    .await
}
