use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rollgate::runtime::init_tracing();
    let config = rollgate::runtime::aws_config().await;
    let (store, metrics) = (rollgate::runtime::dynamo_store(&config)?, rollgate::runtime::cloudwatch_source(&config));
    let hooks = rollgate::runtime::hook_runner(&config);
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        metric_gate::handler(event.payload, &store, &store, &metrics, &hooks)
    }))
    .await
}
