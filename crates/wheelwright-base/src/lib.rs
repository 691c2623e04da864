//! wheelwright-base: the vocabulary every wheelwright stage shares, and
//! nothing that runs a stage.
//!
//! The contract types that cross stages live here so that a stage that needs
//! one depends on this crate alone: [`Facts`] (what detection learns, what
//! planning and diagnosis read), [`Finding`] and [`Severity`] (what preflight
//! checks, log diagnosis and wheel checks report), and the CUDA
//! [`archs`] ([`archs::Arch`], [`archs::CudaVersion`]). Beside them the small
//! things several layers need and none owns: byte [`units`], [`digest`]s,
//! files written without following links ([`safe_write`]) and small
//! files read within bounds ([`safe_read`]), every
//! environment variable name ([`env_vars`]), the [`support`] table of torch,
//! CUDA and driver releases, token masking ([`redact`], [`secrets`],
//! [`masking_writer`]), the GitHub runner's file formats ([`env_files`]),
//! [`text`] helpers, and the network as a stage below the Job sees it
//! ([`net`]: a fetch, no HTTP stack).
//!
//! No wheelwright crate is below this one; it prints nothing and runs no
//! process.

#![warn(missing_docs)]

pub mod archs;
pub mod digest;
pub mod env_files;
pub mod env_vars;
pub mod facts;
pub mod finding;
pub mod masking_writer;
pub mod net;
pub mod redact;
pub mod safe_read;
pub mod safe_write;
pub mod secrets;
pub mod support;
pub mod text;
pub mod units;

pub use facts::Facts;
pub use finding::{Finding, Severity};
