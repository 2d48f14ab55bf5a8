//! AWS failures as people read them: the service's error code and message (read by type with
//! `ProvideErrorMetadata`), or why no answer came, and what to check. Never the SDK's internal
//! dump (`{:?}`, `DisplayErrorContext` chains).

use std::error::Error;
use std::fmt::Debug;

use aws_sdk_sfn::error::{ProvideErrorMetadata, SdkError};
pub use rollgate::adapters::aws_error::cause;
use rollgate::ports::StoreError;

use super::CliError;

/// What every AWS call depends on.
pub const AWS_SETUP: &str =
    "AWS credentials (AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), the region (AWS_REGION) and AWS_ENDPOINT_URL";

/// What a call depends on beyond credentials, region and endpoint.
#[derive(Clone, Copy, Debug)]
pub enum Needs<'a> {
    /// The table, from `--table` or ROLLGATE_TABLE.
    Table(&'a str),
    /// The state machine, from `--state-machine` or ROLLGATE_STATE_MACHINE_ARN.
    StateMachine(&'a str),
}

impl Needs<'_> {
    fn name(self) -> String {
        match self {
            Needs::Table(table) => format!("the table `{table}` (--table or ROLLGATE_TABLE)"),
            Needs::StateMachine(arn) => format!("the state machine `{arn}` (--state-machine or ROLLGATE_STATE_MACHINE_ARN)"),
        }
    }

    /// `check <credentials, region, endpoint> and <the resource>`.
    pub fn advice(self) -> String {
        format!("check {AWS_SETUP}, and {}", self.name())
    }
}

/// `"{call} failed: {cause}; check ..."`, with `specific` advice instead of the general one when
/// the error's type says what is wrong.
pub fn failure<E, R>(call: &str, err: &SdkError<E, R>, needs: Needs<'_>, specific: Option<String>) -> CliError
where
    E: ProvideErrorMetadata + Error + 'static,
    R: Debug + 'static,
{
    CliError::Usage(format!("{call} failed: {}; {}", cause(err), specific.unwrap_or_else(|| needs.advice())))
}

/// Who is calling, as AWS knows it (STS `GetCallerIdentity`): the identity rollgate records for a
/// person's decision or command, never a name typed on the command line.
pub async fn caller(config: &aws_config::SdkConfig) -> Result<String, CliError> {
    let answer = aws_sdk_sts::Client::new(config).get_caller_identity().send().await.map_err(|e| {
        CliError::Usage(format!("finding out who you are (STS GetCallerIdentity) failed: {}; check {AWS_SETUP}", cause(&e)))
    })?;
    answer
        .arn()
        .map(str::to_string)
        .ok_or_else(|| CliError::Usage(format!("STS GetCallerIdentity answered without an ARN; check {AWS_SETUP}")))
}

/// A release store failure: the store's own words, and for a failing backend what to check.
pub fn store_failure(what: &str, err: StoreError, table: &str) -> CliError {
    match err {
        StoreError::Backend { .. } => CliError::Usage(format!("{what} failed: {err}; {}", Needs::Table(table).advice())),
        other => CliError::Usage(format!("{what} failed: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_sfn::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_sfn::operation::start_execution::StartExecutionError;
    use aws_sdk_sfn::types::error::StateMachineDoesNotExist;

    use super::*;

    fn service(e: StartExecutionError) -> SdkError<StartExecutionError, ()> {
        SdkError::service_error(e, ())
    }

    #[test]
    fn a_service_error_is_its_code_and_message() {
        let message = "State Machine Does Not Exist: 'arn:aws:states:eu-west-1:1:stateMachine:nope'";
        let meta = ErrorMetadata::builder().code("StateMachineDoesNotExist").message(message).build();
        let modeled =
            service(StartExecutionError::StateMachineDoesNotExist(StateMachineDoesNotExist::builder().message(message).meta(meta).build()));
        assert_eq!(cause(&modeled), format!("StateMachineDoesNotExist: {message}"));
        let unmodeled = service(StartExecutionError::generic(
            ErrorMetadata::builder()
                .code("UnrecognizedClientException")
                .message("The security token included in the request is invalid.")
                .build(),
        ));
        assert_eq!(cause(&unmodeled), "UnrecognizedClientException: The security token included in the request is invalid.");
        assert_eq!(
            cause(&service(StartExecutionError::generic(ErrorMetadata::builder().build()))),
            "the service refused the request without saying why"
        );
    }

    #[test]
    fn a_request_that_never_got_an_answer_says_why_in_one_line() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused (os error 111)");
        let err: SdkError<StartExecutionError, ()> = SdkError::dispatch_failure(ConnectorError::io(Box::new(refused)));
        assert_eq!(cause(&err), "the request could not be sent (Connection refused (os error 111))");
        let failure = failure("StartExecution", &err, Needs::StateMachine("arn:sm"), None).to_string();
        for needed in ["AWS_REGION", "AWS_ENDPOINT_URL", "credentials", "ROLLGATE_STATE_MACHINE_ARN", "`arn:sm`"] {
            assert!(failure.contains(needed), "{failure}");
        }
        assert!(!failure.contains("DispatchFailure") && !failure.contains("ConnectorError"), "{failure}");
    }

    #[test]
    fn store_failures_name_the_table_only_when_the_backend_failed() {
        let backend = StoreError::Backend { operation: "GetItem", transient: false, source: "ResourceNotFoundException: no table".into() };
        let text = store_failure("reading the release", backend, "rollgate").to_string();
        assert!(
            text.starts_with("reading the release failed: GetItem failed: ResourceNotFoundException: no table; check AWS credentials"),
            "{text}"
        );
        assert!(text.contains("ROLLGATE_TABLE") && text.contains("`rollgate`"), "{text}");
        let corrupt = store_failure("reading the release", StoreError::Corrupt { key: "REL#r1".into(), reason: "no body".into() }, "t");
        assert_eq!(corrupt.to_string(), "reading the release failed: stored item REL#r1 cannot be read: no body");
    }
}
