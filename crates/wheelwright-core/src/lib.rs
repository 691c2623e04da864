//! wheelwright-core: detect a build host, plan a CUDA extension build from
//! measured costs, run it while watching memory, and diagnose what went wrong.
//!
//! The stages exchange plain serde types (`Facts`, `Plan`, `Finding`,
//! `BuildReport`), so each can run on its own and any CI system can read them.
//! The library never prints and keeps no global state.

pub mod builder;
pub mod detect;
pub mod diagnose;
pub mod env_vars;
pub mod facts;
pub mod finding;
pub mod job;
pub mod net;
pub mod plan;
pub mod prebuilt;
pub mod process;
pub mod publish;
pub mod runner_setup;
pub mod safe_write;
pub mod setup;
pub mod sinks;
pub mod support;
#[cfg(test)]
mod test_support;
pub mod units;
pub mod wheel_check;
pub mod workdir;

pub use facts::Facts;
pub use finding::{Finding, Severity};
