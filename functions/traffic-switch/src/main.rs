use lambda_runtime::{LambdaEvent, service_fn};
use rollgate::adapters::routers::Routers;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rollgate::runtime::init_tracing();
    let config = rollgate::runtime::aws_config().await;
    let (store, routers, notifier) =
        (rollgate::runtime::dynamo_store(&config)?, Routers::from_config(&config), rollgate::runtime::sns_notifier(&config)?);
    let hooks = rollgate::runtime::hook_runner(&config);
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        traffic_switch::handler(event.payload, &store, &routers, &hooks, &notifier)
    }))
    .await
}
