use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{LambdaEvent, service_fn};
use release_control::{Deps, handler};
use rollgate::adapters::routers::Routers;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rollgate::runtime::init_tracing();
    let config = rollgate::runtime::aws_config().await;
    let (store, tokens, notifier) =
        (rollgate::runtime::dynamo_store(&config)?, rollgate::runtime::task_tokens(&config)?, rollgate::runtime::sns_notifier(&config)?);
    let (workflow, router) = (rollgate::runtime::step_functions(&config), Routers::from_config(&config));
    let deps = Deps {
        store: &store,
        policies: &store,
        tokens: &tokens,
        workflow: &workflow,
        executions: &workflow,
        router: &router,
        notifier: &notifier,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<ApiGatewayV2httpRequest>| async {
        Ok::<_, std::convert::Infallible>(handler(event.payload, &deps).await)
    }))
    .await
}
