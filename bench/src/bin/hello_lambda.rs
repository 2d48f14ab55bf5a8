//! The floor of `make bench`: a Lambda function that answers its event, and nothing else.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async { Ok::<Value, Error>(event.payload) })).await
}
