//! The error enums of the functions the state machine calls.

/// Declares a function's error enum. Each variant's name is the stable error name the state
/// machine routes on (Retry/Catch) and carries the message for people; `name()` and the
/// conversion into the Lambda runtime's `Diagnostic` come with it. The calling crate needs
/// `thiserror` and `lambda_runtime`.
///
/// ```ignore
/// rollgate::task_errors! {
///     pub enum GateError { InvalidRequest, ReleaseNotFound, Transient, StoreFailed }
/// }
/// ```
#[macro_export]
macro_rules! task_errors {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, thiserror::Error)]
        pub enum $name {
            $($(#[$vmeta])* #[error("{0}")] $variant(String)),+
        }

        impl $name {
            /// The stable error name Step Functions routes on.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => stringify!($variant)),+
                }
            }
        }

        impl From<$name> for lambda_runtime::Diagnostic {
            fn from(err: $name) -> Self {
                lambda_runtime::Diagnostic { error_type: err.name().into(), error_message: err.to_string() }
            }
        }
    };
}
