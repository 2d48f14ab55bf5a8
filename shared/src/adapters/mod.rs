//! Adapters of the ports: AWS ones and in-process ones for the simulator and unit tests.

pub mod aws_error;
pub mod cloudwatch;
pub mod dynamodb;
pub mod hooks;
pub mod https;
pub mod memory;
pub mod routers;
pub mod sdk_http;
pub mod secrets;
pub mod sfn;
pub mod slack;
pub mod sns;
pub mod task_tokens;
