use lambda_runtime::{LambdaEvent, service_fn};
use rollgate::adapters::routers::Routers;
use rollgate::flow::rollback::RestorePolicy;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rollgate::runtime::init_tracing();
    let config = rollgate::runtime::aws_config().await;
    let (store, routers, notifier) =
        (rollgate::runtime::dynamo_store(&config)?, Routers::from_config(&config), rollgate::runtime::sns_notifier(&config)?);
    let executions = rollgate::runtime::step_functions(&config);
    let handler = |event: LambdaEvent<serde_json::Value>| {
        rollback_notifier::invoke(event.payload, &store, &routers, &notifier, &executions, RestorePolicy::default())
    };
    lambda_runtime::run(service_fn(handler)).await
}
