//! Detect a host and plan a flash-attn build on it, printing
//! `{"facts": ..., "plan": ...}` as JSON: the first two stages of the
//! pipeline through `wheelwright-core` alone.
//!
//! The host is this one, or one given on the command line (a fake root for
//! `/proc`, `/sys` and `/usr/local/cuda`, and a PATH of fake tools, as the
//! tests use):
//!
//! ```text
//! cargo run --example detect_plan -- [--root DIR] [--path PATHLIST] [--cuda-home DIR]
//!     [--python FILE] [--flash-attn-version 2.8.3] [--archs 80;90]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use wheelwright_core::detect::{self, DetectOptions};
use wheelwright_core::plan::{self, PlanRequest, Recipe};

fn main() -> ExitCode {
    let mut opts = DetectOptions::from_process_env();
    opts.nvml = false;
    let mut version = String::from("2.8.3");
    let mut request = PlanRequest::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            eprintln!("error: {flag} needs a value");
            return ExitCode::from(2);
        };
        match flag.as_str() {
            "--root" => opts.root = PathBuf::from(value),
            "--path" => opts.path = value.into(),
            "--cuda-home" => {
                opts.env.insert("CUDA_HOME".into(), value);
            }
            "--python" => opts.python = Some(PathBuf::from(value)),
            "--flash-attn-version" => version = value,
            "--archs" => request.archs = Some(vec![value]),
            _ => {
                eprintln!("error: unknown flag {flag}\nhint: see the doc comment of examples/detect_plan.rs");
                return ExitCode::from(2);
            }
        }
    }
    let facts = detect::detect(&opts);
    let plan = match plan::plan(&Recipe::flash_attn(version), &facts, &request) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("error: {e}\nhint: {}", e.hint());
            return ExitCode::from(2);
        }
    };
    let json = serde_json::json!({ "facts": facts, "plan": plan });
    match serde_json::to_string_pretty(&json) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(3)
        }
    }
}
