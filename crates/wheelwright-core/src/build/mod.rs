//! The build runner: runs the package's build with a Plan, watches memory, retries after OOM kills.
