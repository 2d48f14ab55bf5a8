//! rollgate: release gates as serverless functions.
//!
//! The layers, lowest first; a module only uses modules of its own layer or below (a test,
//! `tests/layers.rs`, reads the `use` lines and keeps it so):
//!
//! - [`domain`]: plans, checklist rules, bounds, statistics, gate judgement, decisions. Pure: no
//!   ports, no I/O, no clock.
//! - [`release`]: the release record, the audit trail's events (one constructor; the caller
//!   names the actor), route state, notification and Slack message formats.
//! - [`ports`]: the traits through which the flow reaches the world.
//! - [`flow`]: each step of a release as one function over the ports; the Lambda handlers and
//!   the simulator both call these.
//! - [`adapters`]: the ports on AWS (DynamoDB, CloudWatch, routers, SNS, Step Functions, Secrets
//!   Manager, Slack) and in memory.
//! - [`review`]: the weekly policy review, reading the trail.
//! - [`simulate`]: the state machine's definition run in-process on a virtual clock.
//! - [`boundary`] and [`runtime`]: turning Lambda events into flow inputs and flow errors into the
//!   names the state machine routes on (or the HTTP statuses an endpoint answers); start-up wiring.

pub mod domain;
pub mod release;

pub mod ports;

pub mod adapters;
pub mod flow;

pub mod review;

pub mod simulate;

pub mod boundary;
pub mod runtime;

pub use domain::duration::HumanDuration;
