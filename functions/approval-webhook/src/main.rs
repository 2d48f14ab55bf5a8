use approval_webhook::{Deps, SecretsManagerSecret, SlackReplies, handler};
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{LambdaEvent, service_fn};
use rollgate::adapters::sfn::StepFunctionsWorkflow;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rollgate::runtime::init_tracing();
    let config = rollgate::runtime::aws_config().await;
    let (store, secret) = (rollgate::runtime::dynamo_store(&config)?, SecretsManagerSecret::from_env(&config)?);
    let (workflow, replies) = (StepFunctionsWorkflow::new(aws_sdk_sfn::Client::new(&config)), SlackReplies::from_env());
    let deps = Deps { store: &store, workflow: &workflow, secret: &secret, replies: &replies };
    lambda_runtime::run(service_fn(|event: LambdaEvent<ApiGatewayV2httpRequest>| async {
        Ok::<_, std::convert::Infallible>(handler(event.payload, &deps).await)
    }))
    .await
}
