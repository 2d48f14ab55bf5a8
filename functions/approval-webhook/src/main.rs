use approval_webhook::{Deps, SIGNING_SECRET_ENV, SlackReplies, handler};
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{LambdaEvent, service_fn};
use rollgate::adapters::secrets::SecretsManagerSecret;
use rollgate::adapters::slack::SlackApi;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rollgate::runtime::init_tracing();
    let config = rollgate::runtime::aws_config().await;
    let secret = SecretsManagerSecret::from_env(&config, SIGNING_SECRET_ENV)
        .ok_or_else(|| format!("{SIGNING_SECRET_ENV} is not set; set it to the secret holding the Slack app's signing secret"))?;
    let (store, tokens) = (rollgate::runtime::dynamo_store(&config)?, rollgate::runtime::task_tokens(&config)?);
    let (workflow, replies) = (rollgate::runtime::step_functions(&config), SlackReplies::from_env());
    // Slack wants every interaction answered within 3 seconds.
    let slack = SlackApi::from_env(&config, std::time::Duration::from_millis(1500));
    let deps = Deps { store: &store, tokens: &tokens, workflow: &workflow, secret: &secret, replies: &replies, slack: slack.as_ref() };
    lambda_runtime::run(service_fn(|event: LambdaEvent<ApiGatewayV2httpRequest>| async {
        Ok::<_, std::convert::Infallible>(handler(event.payload, &deps).await)
    }))
    .await
}
