//! Tests of the GitHub sink, with hostile input: a log line must never act as a
//! workflow command, and no value may break out of its escaping.

use super::*;
use wheelwright_base::finding::Severity;

#[path = "../../../wheelwright-core/tests/support/actions_runner.rs"]
mod actions_runner;

/// What the runner would act on (the model of
/// `crates/wheelwright-core/tests/support/actions_runner.rs`), in order:
/// each command, and `stop` and `resume` for a stop and its resume.
pub(crate) fn runner_commands(output: &str) -> Vec<String> {
    actions_runner::run_as_runner(output).acted
}

#[test]
fn the_runner_model_reads_both_command_forms() {
    assert_eq!(runner_commands("  ::error::x"), ["  ::error::x"]);
    assert_eq!(
        runner_commands("make: ##[set-output name=x;]y"),
        ["make: ##[set-output name=x;]y"]
    );
    assert_eq!(
        runner_commands("::stop-commands::abc\n::error::x\nq ##[ABC] r\n::warning::w"),
        ["stop", "resume", "::warning::w"]
    );
    assert!(runner_commands("a :: b\n#[x]\nplain").is_empty());
}

const HOSTILE: &[&str] = &[
    "::add-mask::hunter2",
    "::set-output name=x::pwned",
    "::error::fake error",
    "::error file=a.cu,line=1::fake",
    "::stop-commands::attacker",
    "::endgroup::",
    "%0A::warning::encoded newline",
    "harmless\r::error::after a carriage return",
    "  ::error::indented",
    "\t::warning::after a tab",
    "ninja: ##[set-output name=wheel;]evil.whl",
    "##[add-mask]hunter2",
];

#[test]
fn escaping_follows_the_spec() {
    assert_eq!(escape_data("100%\r\n"), "100%25%0D%0A");
    assert_eq!(escape_data("%0A"), "%250A", "% is escaped first");
    assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    assert_eq!(escape_data("a:b,c"), "a:b,c", "data keeps : and ,");
}

#[test]
fn safe_echo_stops_every_hostile_line() {
    let mut echo = SafeEcho::new(Vec::new()).unwrap();
    for line in HOSTILE {
        echo.echo(line).unwrap();
    }
    let out = String::from_utf8(echo.finish().unwrap()).unwrap();
    assert_eq!(runner_commands(&out), vec!["stop", "resume"], "{out}");
    for line in HOSTILE {
        assert!(out.contains(line), "echoed verbatim: {line}");
    }
}

#[test]
fn safe_echo_switches_token_when_a_line_holds_it() {
    let mut echo = SafeEcho::new(Vec::new()).unwrap();
    let first = echo.token().to_string();
    assert_eq!(first.len(), 32);
    // The attacker somehow knows the token and tries to resume commands.
    echo.echo(&format!("::{first}::")).unwrap();
    echo.echo("::add-mask::after-fake-resume").unwrap();
    echo.echo(&format!("x ::{first}:: ::error::y")).unwrap();
    let second = echo.token().to_string();
    // The runner matches the token in any letter case, in either form.
    echo.echo(&format!("::{}::", second.to_uppercase()))
        .unwrap();
    echo.echo(&format!("see ##[{}] ::error::z", second.to_uppercase()))
        .unwrap();
    let third = echo.token().to_string();
    assert_ne!(second, third);
    assert_ne!(first, second);
    let out = String::from_utf8(echo.finish().unwrap()).unwrap();
    // Our own resume/stop pairs, then the final resume: no hostile command.
    assert_eq!(
        runner_commands(&out),
        vec!["stop", "resume", "stop", "resume", "stop", "resume"],
        "{out}"
    );
    // The line holding the old token is printed after the switch.
    let switch = out.find(&format!("::stop-commands::{second}")).unwrap();
    let hostile = out.find(&format!("\n::{first}::\n::add-mask")).unwrap();
    assert!(hostile > switch, "{out}");
}

#[test]
fn safe_echo_masks_tokens_and_resumes_on_drop() {
    let mut buf = Vec::new();
    {
        let mut echo = SafeEcho::new(&mut buf).unwrap();
        echo.echo("push with ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A")
            .unwrap();
    }
    let out = String::from_utf8(buf).unwrap();
    assert!(out.contains("ghp_***"), "{out}");
    assert!(!out.contains("aB3dE5fG7hJ9"), "{out}");
    assert_eq!(runner_commands(&out), vec!["stop", "resume"]);
}

fn finding(id: &str, severity: Severity) -> Finding {
    Finding::new(id, severity, "Title", "message", "fix")
}

#[test]
fn annotation_escapes_untrusted_properties() {
    let mut f = finding("compile-error", Severity::Error);
    f.file = Some("/ws/csrc/a.cu\r\n::add-mask::x,line=99,title=pwned:".into());
    f.line = Some(7);
    f.message = "bad %0A thing\n::error::second line".into();
    let line = annotation(&f, Some("/ws"));
    assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
    assert!(line.starts_with("::error file=csrc/a.cu%0D%0A%3A%3Aadd-mask%3A%3Ax%2Cline=99%2Ctitle=pwned%3A,line=7,title="), "{line}");
    assert!(
        line.contains("bad %250A thing%0A::error::second line"),
        "{line}"
    );
    assert_eq!(runner_commands(&line).len(), 1);
}

#[test]
fn annotation_message_is_cut_at_4096() {
    let mut f = finding("compile-error", Severity::Error);
    f.message = "é".repeat(10_000);
    let line = annotation(&f, None);
    let data = line.split_once("::").unwrap().1.split_once("::").unwrap().1;
    assert!(
        data.chars().count() <= MAX_MESSAGE_CHARS,
        "{}",
        data.chars().count()
    );
}

#[test]
fn annotations_respect_limits_and_order() {
    let mut findings: Vec<Finding> = (0..25)
        .map(|i| finding(&format!("e{i}"), Severity::Error))
        .collect();
    findings.extend((0..3).map(|i| finding(&format!("w{i}"), Severity::Warning)));
    let a = render_annotations(&findings, &GithubOptions::default());
    assert_eq!(a.annotated, 13);
    assert_eq!(a.omitted, 15);
    let commands = runner_commands(&a.text);
    let errors: Vec<&String> = commands
        .iter()
        .filter(|c| c.starts_with("::error "))
        .collect();
    assert_eq!(errors.len(), 10);
    assert!(
        errors[0].contains("[e0]") && errors[9].contains("[e9]"),
        "most important first"
    );
    assert_eq!(
        commands
            .iter()
            .filter(|c| c.starts_with("::warning "))
            .count(),
        3
    );
    assert!(a.text.contains("15 more findings are not annotated"));

    let small = GithubOptions {
        total: 4,
        ..GithubOptions::default()
    };
    assert_eq!(render_annotations(&findings, &small).annotated, 4);
}

#[test]
fn annotations_echo_evidence_with_commands_stopped() {
    let mut f = finding("oom-killed", Severity::Error);
    f.evidence = HOSTILE.iter().map(|s| s.to_string()).collect();
    let a = render_annotations(&[f], &GithubOptions::default());
    let commands = runner_commands(&a.text);
    assert_eq!(commands.len(), 5, "{commands:?}");
    assert!(commands[0].starts_with("::error "));
    assert!(commands[1].starts_with("::group::"));
    assert_eq!(&commands[2..4], ["stop", "resume"]);
    assert_eq!(commands[4], "::endgroup::");
}

#[test]
fn markdown_cells_cannot_escape() {
    let cell =
        markdown_cell("a | b <script>alert(1)</script>\n| x | [link](javascript:x) `code` @team");
    assert!(!cell.contains('\n'));
    assert!(!cell.contains("<script>"));
    assert!(!cell.contains("](") || cell.contains("\\]("), "{cell}");
    // Every pipe is escaped.
    let unescaped = cell
        .match_indices('|')
        .filter(|(i, _)| !cell[..*i].ends_with('\\'))
        .count();
    assert_eq!(unescaped, 0, "{cell}");
    assert!(cell.contains("<br>"));
}

/// Regression (issue 16, defect 7): log text such as
/// `http://phish.example/login` or `www.evil.example` became a link in the
/// step summary.
#[test]
fn log_text_in_the_summary_is_never_a_link() {
    let mut f = finding("compile-error", Severity::Error);
    f.message =
        "see http://phish.example/login or WWW.evil.example, mail root@evil.example;".into();
    f.file = Some("https://evil.example/a.cu".into());
    f.fix = "visit www.evil.example now".into();
    let s = render_step_summary(&[f], 0);
    let row = s.lines().find(|l| l.starts_with("| error |")).unwrap();
    for linkish in [
        "`http://phish.example/login`",
        "`WWW.evil.example,`",
        "`root@evil.example;`",
        "`https://evil.example/a.cu`",
        "`www.evil.example`",
    ] {
        assert!(row.contains(linkish), "{linkish} not in a code span: {row}");
    }
    // Outside code spans no URL, `www.` or `@` is left.
    let outside: String = row.split('`').step_by(2).collect();
    for bare in ["://", "www.", "WWW.", "@"] {
        assert!(!outside.contains(bare), "{bare} outside a code span: {row}");
    }
    // Backticks and pipes inside cannot end the span or the cell.
    assert_eq!(markdown_cell("x|`y`://z"), "``x\\|`y`://z``");
}

#[test]
fn step_summary_is_a_table_within_the_size_limit() {
    let mut f = finding("oom-killed", Severity::Error);
    f.count = 3;
    f.evidence = vec![
        "```".into(),
        "</details><img src=x onerror=alert(1)>".into(),
    ];
    let s = render_step_summary(&[f.clone()], 0);
    assert!(s.starts_with("### wheelwright diagnose: 1 error, 0 warnings, 0 notices\n"));
    assert!(s.contains("| error | oom-killed (x3) |"), "{s}");
    // The evidence sits in a fence longer than any backtick run inside it.
    assert!(s.contains("````text\n```\n</details><img"), "{s}");

    let mut big = finding("compile-error", Severity::Error);
    big.message = "m".repeat(3000);
    big.evidence = vec!["e".repeat(400); 5];
    let many = vec![big; 2000];
    let s = render_step_summary(&many, 1990);
    assert!(s.len() <= MAX_SUMMARY_BYTES, "{}", s.len());
    assert!(s.contains("more findings are left out"));
    assert!(s.contains("1990 findings have no annotation"));

    assert!(render_step_summary(&[], 0).contains("No known build problem"));
}

#[test]
fn outputs_use_a_delimiter_absent_from_the_value() {
    let mut f = finding("oom-killed", Severity::Error);
    f.message = "ghadelimiter_ in a message".into();
    let out = render_outputs(&[finding("ninja-missing", Severity::Warning), f]);
    assert!(
        out.contains("findings=2\nerrors=1\nwarnings=1\nnotices=0\nfirst-error=oom-killed\n"),
        "{out}"
    );
    let start = out.find("findings-json<<").unwrap();
    let delim = out[start + "findings-json<<".len()..]
        .lines()
        .next()
        .unwrap();
    assert!(delim.starts_with("ghadelimiter_") && delim.len() > 20);
    let body = &out[start..];
    assert_eq!(
        body.matches(delim).count(),
        2,
        "delimiter only opens and closes"
    );
    assert!(out.ends_with(&format!("\n{delim}\n")));

    let none = render_outputs(&[]);
    assert!(none.contains("findings=0\n") && none.contains("first-error=\n"));
}
