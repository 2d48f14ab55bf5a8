//! The domain: plain Rust, no ports, no I/O, no clock (time comes in as an argument).

pub mod alarm;
pub mod bounds;
pub mod checklist;
pub mod control;
pub mod cost;
pub mod decision;
pub mod duration;
pub mod gate;
pub mod hash;
pub mod hook;
pub mod identity;
pub mod observation;
pub mod plan;
pub mod policy;
pub mod query;
pub mod recorded;
pub mod stats;
pub mod text;
pub mod timezone;
pub mod yaml;
