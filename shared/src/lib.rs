//! rollgate's domain and ports.
//!
//! The domain (plans, checklist rules, gate judgement, release decisions) is plain Rust with no
//! AWS types and no I/O; the outside world is reached through the traits in [`ports`], each with
//! an AWS adapter and an in-process one.

pub mod bounds;
pub mod checklist;
pub mod duration;
pub mod hash;
pub mod metric_query;
pub mod notify;
pub mod plan;

pub use duration::HumanDuration;
pub mod adapters;
pub mod admission;
pub mod approval;
pub mod decision;
pub mod gate;
pub mod gate_check;
pub mod ports;
pub mod release;
pub mod review;
pub mod rollback;
pub mod runtime;
pub mod simulate;
pub mod slack;
pub mod stats;
pub mod task_error;
pub mod traffic;
