//! Each step of a release as one function over the ports. The Lambda handlers call these with
//! the AWS adapters; the simulator calls the very same functions with in-memory adapters and a
//! virtual clock.

pub mod admit;
pub mod alarm;
pub mod approval;
pub mod control;
pub mod gate_check;
pub mod hooks;
pub mod notify;
pub mod rollback;
pub mod sweep;
pub mod tasks;
pub mod traffic;
pub mod trail;

#[cfg(test)]
pub(crate) mod testing;
