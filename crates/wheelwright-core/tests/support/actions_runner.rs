//! A model of how the GitHub Actions runner reads a step's output
//! (actions/runner's `ActionCommandManager`), shared by the tests that prove
//! no build output runs as a workflow command
//! (`crates/wheelwright-core/tests/workflow_commands.rs` and, by `#[path]`,
//! the GitHub sink's unit tests and `tests/diagnose.rs`): output is cut into lines at `\r\n`, `\r` and `\n`; a
//! line is a command when, after its leading whitespace, it starts with
//! `::name props::data`, or when it holds the legacy `##[name props]data`
//! (each `##[` of the line is read, so the model finds at least what the
//! runner does); `::stop-commands::T` stops every command until one named
//! `T` in any letter case, in either form.
#![allow(dead_code)]

/// The command names (with their data) the runner reads in one line.
pub fn parsed_commands(line: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    if let Some(rest) = line.trim_start().strip_prefix("::") {
        if let Some((info, data)) = rest.split_once("::") {
            found.push((
                info.split(' ').next().unwrap_or("").to_string(),
                data.to_string(),
            ));
        }
    }
    let mut from = 0;
    while let Some(at) = line[from..].find("##[") {
        let start = from + at + 3;
        if let Some((info, data)) = line[start..].split_once(']') {
            found.push((
                info.split(' ').next().unwrap_or("").to_string(),
                data.to_string(),
            ));
        }
        from = start;
    }
    found.retain(|(name, _)| !name.is_empty());
    found
}

/// The runner's lines: cut at `\r\n`, `\r` and `\n`.
pub fn runner_lines(output: &str) -> Vec<&str> {
    output
        .split("\r\n")
        .flat_map(|l| l.split(['\r', '\n']))
        .collect()
}

/// What the runner would execute: every line that is a command while
/// commands are not stopped, with the stop and its resume kept apart.
#[derive(Debug, Default)]
pub struct Executed {
    /// All it acted on, in order: each command line, and `stop` and
    /// `resume` for the stops and resumes.
    pub acted: Vec<String>,
    /// The lines that run as commands (neither a stop nor a resume).
    pub commands: Vec<String>,
    /// The token of each `stop-commands`.
    pub stops: Vec<String>,
    /// How many times a stop was ended by its token.
    pub resumes: usize,
    /// A stop is still in force at the end.
    pub open_fence: bool,
}

/// `output` as the runner reads it.
pub fn run_as_runner(output: &str) -> Executed {
    let mut ex = Executed::default();
    let mut stopped: Option<String> = None;
    for line in runner_lines(output) {
        let parsed = parsed_commands(line);
        if let Some(token) = &stopped {
            if parsed
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case(token))
            {
                stopped = None;
                ex.resumes += 1;
                ex.acted.push("resume".to_string());
            }
        } else if let Some((_, token)) = parsed
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("stop-commands"))
        {
            ex.stops.push(token.clone());
            ex.acted.push("stop".to_string());
            stopped = Some(token.clone());
        } else if !parsed.is_empty() {
            ex.commands.push(line.to_string());
            ex.acted.push(line.to_string());
        }
    }
    ex.open_fence = stopped.is_some();
    ex
}
