//! Resuming a waiting Step Functions task (`.waitForTaskToken`), and stopping an execution.

use async_trait::async_trait;
use aws_sdk_sfn::error::SdkError;

use crate::ports::{Executions, Workflow, WorkflowError};

pub struct StepFunctionsWorkflow {
    client: aws_sdk_sfn::Client,
}

impl StepFunctionsWorkflow {
    pub fn new(client: aws_sdk_sfn::Client) -> Self {
        Self { client }
    }
}

/// What the service said about a task token, whichever call was made.
struct TokenAnswer {
    timed_out: bool,
    gone: bool,
    throttled: bool,
}

/// SendTaskSuccess and SendTaskFailure answer with the same errors, in two types.
trait TokenError {
    fn answer(&self) -> TokenAnswer;
}

macro_rules! token_error {
    ($($error:ty),+) => {$(
        impl TokenError for $error {
            fn answer(&self) -> TokenAnswer {
                TokenAnswer {
                    timed_out: self.is_task_timed_out(),
                    gone: self.is_task_does_not_exist() || self.is_invalid_token(),
                    throttled: self.is_kms_throttling_exception(),
                }
            }
        }
    )+};
}

token_error!(
    aws_sdk_sfn::operation::send_task_success::SendTaskSuccessError,
    aws_sdk_sfn::operation::send_task_failure::SendTaskFailureError
);

/// SendTaskHeartbeat has the same errors but no KMS throttling.
impl TokenError for aws_sdk_sfn::operation::send_task_heartbeat::SendTaskHeartbeatError {
    fn answer(&self) -> TokenAnswer {
        TokenAnswer {
            timed_out: self.is_task_timed_out(),
            gone: self.is_task_does_not_exist() || self.is_invalid_token(),
            throttled: false,
        }
    }
}

/// A timed-out, finished or unknown task is gone; transport failures and throttling are worth a retry.
fn classify<E, R>(err: SdkError<E, R>) -> WorkflowError
where
    E: TokenError + aws_sdk_sfn::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + 'static,
{
    let answer = err.as_service_error().map(TokenError::answer);
    match answer {
        Some(TokenAnswer { timed_out: true, .. }) => WorkflowError::TaskGone("the task timed out".into()),
        Some(TokenAnswer { gone: true, .. }) => WorkflowError::TaskGone("the task was already resumed or its execution ended".into()),
        _ => {
            let transient = answer.is_some_and(|a| a.throttled) || matches!(err, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_));
            WorkflowError::Backend { transient, message: crate::adapters::aws_error::cause(&err) }
        }
    }
}

#[async_trait]
impl Workflow for StepFunctionsWorkflow {
    async fn resume(&self, task_token: &str, output: &serde_json::Value) -> Result<(), WorkflowError> {
        self.client.send_task_success().task_token(task_token).output(output.to_string()).send().await.map_err(classify)?;
        Ok(())
    }

    async fn fail(&self, task_token: &str, error: &str, cause: &str) -> Result<(), WorkflowError> {
        self.client.send_task_failure().task_token(task_token).error(error).cause(cause).send().await.map_err(classify)?;
        Ok(())
    }

    async fn heartbeat(&self, task_token: &str) -> Result<(), WorkflowError> {
        self.client.send_task_heartbeat().task_token(task_token).send().await.map_err(classify)?;
        Ok(())
    }
}

#[async_trait]
impl Executions for StepFunctionsWorkflow {
    async fn stop(&self, execution: &str, error: &str, cause: &str) -> Result<(), WorkflowError> {
        // StopExecution takes at most 256 characters of error and 32768 of cause.
        let stopped = self
            .client
            .stop_execution()
            .execution_arn(execution)
            .error(crate::domain::text::clip(error, 256))
            .cause(crate::domain::text::clip(cause, 32_768))
            .send()
            .await;
        match stopped {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_execution_does_not_exist()) => {
                Err(WorkflowError::TaskGone(format!("no execution {execution} exists")))
            }
            Err(e) => {
                let transient = crate::adapters::aws_error::throttled(&e)
                    || match &e {
                        SdkError::ServiceError(ctx) => ctx.raw().status().is_server_error(),
                        other => matches!(other, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)),
                    };
                Err(WorkflowError::Backend { transient, message: crate::adapters::aws_error::cause(&e) })
            }
        }
    }
}
