use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rollgate::runtime::init_tracing();
    let store = rollgate::runtime::dynamo_store(&rollgate::runtime::aws_config().await)?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| checklist_validator::handler(event.payload, &store))).await
}
