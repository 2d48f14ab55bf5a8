use approval_request::{Deps, handler};
use lambda_runtime::{LambdaEvent, service_fn};
use rollgate::adapters::slack::{SlackApi, SlackNotifier};
use rollgate::ports::Notifier;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rollgate::runtime::init_tracing();
    let config = rollgate::runtime::aws_config().await;
    let (store, tokens, notifier, slack) = (
        rollgate::runtime::dynamo_store(&config)?,
        rollgate::runtime::task_tokens(&config)?,
        rollgate::runtime::sns_notifier(&config)?,
        SlackApi::from_env(&config, std::time::Duration::from_secs(10)).map(SlackNotifier::new),
    );
    let deps = Deps { store: &store, tokens: &tokens, notifier: &notifier, slack: slack.as_ref().map(|s| s as &dyn Notifier) };
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| handler(event.payload, &deps))).await
}
