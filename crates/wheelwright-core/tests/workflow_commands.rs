//! Property tests (issue 16, "tests that search"): arbitrary build output —
//! bytes and lines holding `::`, `##[`, `%`, `\r`, NUL, invalid UTF-8, ANSI
//! escapes, bidi controls, tokens and real failure lines — run through the
//! diagnoser and every sink, and through the echo the build's console uses
//! in GitHub Actions ([`SafeEcho`]). Under a model of how the Actions runner
//! reads a step's output, nothing of the input ever runs as a workflow
//! command: the only commands are wheelwright's own (annotations, evidence
//! groups, and the `::stop-commands::` fence with its resume), and every
//! annotation decodes back to the finding it came from.
//!
//! The runner model (actions/runner's `ActionCommandManager`): output is cut
//! into lines at `\r\n`, `\r` and `\n`; a line is a command when, after its
//! leading whitespace, it starts with `::name props::data`, or when it holds
//! the legacy `##[name props]data` anywhere; `::stop-commands::T` stops every
//! command until one named `T` in any letter case, in either form.
//!
//! Each property runs [`CASES`] cases of at most 64 lines (a few KiB each);
//! the counts of cases and bytes are printed (`--nocapture`).

use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use proptest::test_runner::Config;

use wheelwright_core::diagnose::{DiagnoseContext, Diagnoser};
use wheelwright_core::sinks::github::{
    render_annotations, render_outputs, render_step_summary, GithubOptions, SafeEcho,
};
use wheelwright_core::sinks::{gitlab, json, junit, text};
use wheelwright_core::Finding;

#[path = "support/actions_runner.rs"]
mod actions_runner;

use actions_runner::run_as_runner;

/// Cases per property: at least 256, bounded so CI stays fast.
const CASES: u32 = 256;

/// Cases run and bytes of hostile input run through, over all properties
/// (printed after every [`CASES`] cases, for the record: `--nocapture`).
static HOSTILE_BYTES: AtomicU64 = AtomicU64::new(0);
static CASES_RUN: AtomicU64 = AtomicU64::new(0);

fn count_case() {
    let n = CASES_RUN.fetch_add(1, Ordering::Relaxed) + 1;
    if n.is_multiple_of(u64::from(CASES)) {
        eprintln!(
            "property cases run: {n}; hostile input bytes: {}",
            HOSTILE_BYTES.load(Ordering::Relaxed)
        );
    }
}

/// Pieces a hostile line is made of.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    let fixed: Vec<&'static [u8]> = vec![
        b"::",
        b"##[",
        b"]",
        b"%",
        b"%0A",
        b"%25",
        b"\r",
        b"\r\n",
        b"\n",
        b"\0",
        b"\xff\xfe",
        b"\xc3",
        b"\x1b[31m",
        b"\x1b]0;title\x07",
        "\u{202E}".as_bytes(),
        "\u{2066}".as_bytes(),
        b"  ",
        b"\t",
        b"::error::pwned",
        b"::warning file=x,line=1::pwned",
        b"::set-output name=wheel::evil.whl",
        b"::add-mask::x",
        b"::stop-commands::attacker",
        b"::attacker::",
        b"##[set-output name=x;]y",
        b"##[error]z",
        b"::group::g",
        b"::endgroup::",
        b"g++: fatal error: Killed signal terminated program cc1plus",
        b"FAILED: [code=137] build/x.o",
        b"csrc/a.cu(12): error: identifier \"x\" is undefined",
        b"x.cpp:3:1: error: expected ';'",
        b"fatal error: cute/tensor.hpp: No such file or directory",
        b"OSError: [Errno 28] No space left on device",
        b"ModuleNotFoundError: No module named 'torch'",
        b"#error -- unsupported GNU version! gcc versions later than 12 are not supported!",
        b"ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A",
        b"http://phish.example/login",
        b"www.evil.example",
        b"title=",
        b",line=",
        b"file=",
    ];
    prop_oneof![
        3 => proptest::sample::select(fixed).prop_map(<[u8]>::to_vec),
        2 => proptest::collection::vec(any::<u8>(), 0..24),
        1 => "[ -~]{0,24}".prop_map(String::into_bytes),
    ]
}

/// A line of hostile output (it may itself hold `\r` or `\n`).
fn hostile_line() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(fragment(), 0..8).prop_map(|f| f.concat())
}

fn hostile_lines() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(hostile_line(), 0..64)
}

fn diagnose(lines: &[Vec<u8>]) -> Vec<Finding> {
    let mut input = Vec::new();
    for l in lines {
        input.extend_from_slice(l);
        input.push(b'\n');
    }
    HOSTILE_BYTES.fetch_add(input.len() as u64, Ordering::Relaxed);
    let mut d = Diagnoser::new(DiagnoseContext::default());
    d.feed(std::io::Cursor::new(input)).unwrap();
    d.findings()
}

/// Undo [`wheelwright_core::sinks::github::escape_property`].
fn unescape_property(s: &str) -> String {
    s.replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%25", "%")
}

/// Undo [`wheelwright_core::sinks::github::escape_data`].
fn unescape_data(s: &str) -> String {
    s.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%25", "%")
}

/// An annotation command decoded: (level, properties, message).
fn decode_annotation(line: &str) -> (String, Vec<(String, String)>, String) {
    let rest = line
        .strip_prefix("::")
        .expect("an annotation starts with ::");
    let (info, data) = rest.split_once("::").expect("::level props::data");
    let (level, props) = info.split_once(' ').unwrap_or((info, ""));
    let props = props
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').expect("key=value");
            (k.to_string(), unescape_property(v))
        })
        .collect();
    (level.to_string(), props, unescape_data(data))
}

fn check_annotations(findings: &[Finding], annotations: &str) -> Result<(), TestCaseError> {
    let ex = run_as_runner(annotations);
    prop_assert!(!ex.open_fence, "a fence was left open:\n{annotations}");
    prop_assert_eq!(ex.resumes, ex.stops.len());
    let mut decoded = Vec::new();
    for c in &ex.commands {
        if c.starts_with("::group::Evidence for ") || c == "::endgroup::" {
            continue;
        }
        let ours = ["::error ", "::warning ", "::notice "]
            .iter()
            .any(|p| c.starts_with(p));
        prop_assert!(
            ours,
            "a command from the input ran: {:?}\n{}",
            c,
            annotations
        );
        decoded.push(decode_annotation(c));
    }
    // Every annotation is, in order, the finding it came from.
    prop_assert!(decoded.len() <= findings.len());
    for ((level, props, message), f) in decoded.iter().zip(findings) {
        prop_assert_eq!(level.as_str(), f.severity.as_str());
        let get = |k: &str| {
            props
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        prop_assert_eq!(get("file"), f.file.clone());
        prop_assert_eq!(
            get("line"),
            f.file.as_ref().and(f.line).map(|l| l.to_string())
        );
        let title = get("title").unwrap_or_default();
        prop_assert!(
            title.starts_with(&format!("{} [{}]", f.title, f.id)),
            "{}",
            title
        );
        let full = format!("{}\n\nFix: {}", f.message, f.fix);
        if message.ends_with('…') && message.chars().count() == 4096 {
            let kept = message.trim_end_matches('…');
            prop_assert!(full.starts_with(kept));
        } else {
            prop_assert_eq!(message, &full);
        }
    }
    Ok(())
}

/// Text every sink renders from `findings`: none of it may run a command
/// (the text format is fenced by the binary on a runner; the rest escape).
fn check_sinks(findings: &[Finding]) -> Result<(), TestCaseError> {
    for (name, out) in [
        ("json", json::render(findings)),
        ("junit", junit::render(findings, "build.log")),
        ("gitlab", gitlab::render(findings, "build.log")),
    ] {
        let ex = run_as_runner(&out);
        prop_assert!(
            ex.commands.is_empty() && ex.stops.is_empty(),
            "{} output runs {:?}",
            name,
            ex.commands
        );
    }
    // Text goes out fenced, as the binary prints it on a runner.
    let mut echo = SafeEcho::new(Vec::new()).unwrap();
    for line in text::render(findings, false).lines() {
        echo.echo(line).unwrap();
    }
    let fenced = String::from_utf8(echo.finish().unwrap()).unwrap();
    let ex = run_as_runner(&fenced);
    prop_assert!(
        ex.commands.is_empty() && !ex.open_fence,
        "text runs {:?}",
        ex.commands
    );
    // The summary and the outputs are files, never read for commands; still,
    // no bidi control reaches them.
    let summary = render_step_summary(findings, 0);
    let outputs = render_outputs(findings);
    for s in [&summary, &outputs] {
        let bidi = s
            .chars()
            .any(|c| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'));
        prop_assert!(!bidi, "a bidi control reached {}", s);
    }
    Ok(())
}

/// The runner model itself finds what it must: both command forms, a
/// legacy command after other text or after a first `##[` that is none,
/// a stop and the resume by its token in any letter case; plain text and
/// near misses are no command.
#[test]
fn the_runner_model_reads_both_forms_and_honours_a_stop() {
    let ex = run_as_runner("  ::error::x\r\nmake: ##[set-output name=x;]y\rq ##[ ##[add-mask]z");
    assert_eq!(
        ex.commands,
        [
            "  ::error::x",
            "make: ##[set-output name=x;]y",
            "q ##[ ##[add-mask]z"
        ]
    );
    let ex = run_as_runner("::stop-commands::abc\n::error::x\nq ##[ABC] r\n::warning::w");
    assert_eq!(ex.commands, ["::warning::w"]);
    assert_eq!(ex.stops, ["abc"]);
    assert_eq!((ex.resumes, ex.open_fence), (1, false));
    let ex = run_as_runner("::stop-commands::t\n::error::x");
    assert!(ex.commands.is_empty() && ex.open_fence);
    let ex = run_as_runner("a :: b\n#[x]\nplain\n:: x::y");
    assert!(ex.commands.is_empty(), "{:?}", ex.commands);
}

proptest! {
    #![proptest_config(Config { cases: CASES, failure_persistence: None, ..Config::default() })]

    /// Hostile logs through `diagnose`'s GitHub output: only our commands,
    /// and each annotation decodes to its finding.
    #[test]
    fn diagnose_on_a_runner_runs_only_its_own_commands(lines in hostile_lines()) {
        count_case();
        let findings = diagnose(&lines);
        let annotations = render_annotations(&findings, &GithubOptions::default());
        check_annotations(&findings, &annotations.text)?;
        check_sinks(&findings)?;
    }

    /// Hostile lines through the build console's echo on a runner: nothing
    /// but the fence (and its rotations) runs, and it is closed at the end.
    #[test]
    fn build_console_echo_runs_no_command(lines in hostile_lines()) {
        count_case();
        let mut echo = SafeEcho::new(Vec::new()).unwrap();
        for l in &lines {
            HOSTILE_BYTES.fetch_add(l.len() as u64 + 1, Ordering::Relaxed);
            // The console gets lines split at `\n` and decoded lossily.
            for part in String::from_utf8_lossy(l).split('\n') {
                echo.echo(part).unwrap();
            }
        }
        let out = String::from_utf8(echo.finish().unwrap()).unwrap();
        let ex = run_as_runner(&out);
        prop_assert!(ex.commands.is_empty(), "ran: {:?}", ex.commands);
        prop_assert!(!ex.open_fence);
        prop_assert!(!ex.stops.is_empty());
        prop_assert_eq!(ex.resumes, ex.stops.len());
        // A token that starts a word is masked (one glued to a word before
        // it, `xghp_…`, is by design not taken for one).
        for (at, _) in out.match_indices("ghp_aB3dE5fG7hJ9") {
            let before = out[..at].chars().last();
            prop_assert!(
                before.is_some_and(|c| c.is_alphanumeric() || c == '_'),
                "a token was echoed: {}",
                out
            );
        }
    }

    /// The same lines as the echo sees them when the runner model's own line
    /// splitting has already happened upstream (a `\r` inside a line): the
    /// echo alone never lets a line start a command.
    #[test]
    fn lines_with_carriage_returns_stay_inside_the_fence(
        lines in proptest::collection::vec("[ :#\\[\\]a-z\r%]{0,40}", 0..64)
    ) {
        count_case();
        let mut echo = SafeEcho::new(Vec::new()).unwrap();
        for l in &lines {
            HOSTILE_BYTES.fetch_add(l.len() as u64 + 1, Ordering::Relaxed);
            echo.echo(l).unwrap();
        }
        let out = String::from_utf8(echo.finish().unwrap()).unwrap();
        let ex = run_as_runner(&out);
        prop_assert!(ex.commands.is_empty() && !ex.open_fence, "{:?}", ex.commands);
    }
}
