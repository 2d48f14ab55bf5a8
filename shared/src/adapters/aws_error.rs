//! AWS failures as people read them: the service's error code and message (read by type with
//! `ProvideErrorMetadata`), or why no answer came. Never the SDK's internal dump (`{:?}`,
//! `DisplayErrorContext` chains). Every adapter and the CLI word SDK errors here.

use std::error::Error;
use std::fmt::Debug;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// The service's code and message, or why no answer came: one line, no SDK internals.
pub fn cause<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + Error + 'static,
    R: Debug + 'static,
{
    match err {
        SdkError::ServiceError(_) => match (err.code(), err.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_string(),
            (None, Some(message)) => message.to_string(),
            (None, None) => "the service refused the request without saying why".to_string(),
        },
        SdkError::TimeoutError(_) => "no answer in time".to_string(),
        SdkError::DispatchFailure(_) => format!("the request could not be sent ({})", innermost(err)),
        SdkError::ResponseError(_) => format!("the answer could not be read ({})", innermost(err)),
        SdkError::ConstructionFailure(_) => format!("the request could not be built ({})", innermost(err)),
        _ => innermost(err),
    }
}

/// Whether the service answered "slow down": its error code is one the SDK itself classifies as
/// throttling. For services whose operation errors have no typed throttling variant
/// (CloudWatch's GetMetricData answers `Throttling` as a plain 400).
pub fn throttled<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(ctx) => {
            ctx.err().code().is_some_and(|code| aws_runtime::retries::classifiers::THROTTLING_ERRORS.contains(&code))
        }
        _ => false,
    }
}

/// The last error of the chain: the OS error or the provider's complaint, not the SDK's wrappers.
fn innermost(err: &(dyn Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
