//! JUnit XML: one test case per finding, a `<failure>` for each error, so any
//! CI system that reads test reports (Jenkins, GitLab, Buildkite) shows them.
//! With no finding, one passing case says the log was diagnosed.
//!
//! Everything from the log is XML-escaped, and characters XML 1.0 forbids
//! (most control characters) are dropped, so the report always parses. A `:`
//! that starts a line and the `[` of `##[` are written as character
//! references, so no line of the report is a workflow command when it is
//! printed in GitHub Actions.

use std::fmt::Write as _;

use wheelwright_base::finding::{Finding, Severity};

use super::Summary;

/// Is `c` allowed in an XML 1.0 document?
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Escape text content.
pub fn xml_text(s: &str) -> String {
    escape(s, false)
}

/// Escape an attribute value (double-quoted); line breaks and tabs are kept
/// as character references so parsers do not normalise them away.
pub fn xml_attr(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, attr: bool) -> String {
    let mut out = String::with_capacity(s.len());
    // Whether only blanks precede `c` on its line; how many `#` come just before it.
    let mut line_start = true;
    let mut hashes = 0;
    for c in s.chars().filter(|c| xml_char(*c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            '\'' if attr => out.push_str("&apos;"),
            '\n' if attr => out.push_str("&#10;"),
            '\r' if attr => out.push_str("&#13;"),
            '\t' if attr => out.push_str("&#9;"),
            // `::name::` at a line's start or `##[name]` anywhere would be a
            // workflow command where the report is printed in GitHub Actions.
            ':' if line_start => out.push_str("&#58;"),
            '[' if hashes >= 2 => out.push_str("&#91;"),
            c => out.push(c),
        }
        line_start = matches!(c, '\n' | '\r') || (line_start && matches!(c, ' ' | '\t'));
        hashes = if c == '#' { hashes + 1 } else { 0 };
    }
    out
}

/// The JUnit report; `suite` names the test suite (e.g. the log's name).
pub fn render(findings: &[Finding], suite: &str) -> String {
    let s = Summary::of(findings);
    let tests = findings.len().max(1);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"wheelwright diagnose\" tests=\"{tests}\" failures=\"{}\" errors=\"0\">",
        s.errors
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{}\" errors=\"0\" skipped=\"0\">",
        xml_attr(suite),
        s.errors
    );
    if findings.is_empty() {
        out.push_str(
            "    <testcase classname=\"wheelwright.diagnose\" name=\"no known build problem\"/>\n",
        );
    }
    for f in findings {
        let mut attrs = format!(
            "classname=\"wheelwright.diagnose.{}\" name=\"{}\"",
            xml_attr(&f.id),
            xml_attr(&match (&f.file, f.line) {
                (Some(file), Some(line)) => format!("{} at {file}:{line}", f.title),
                (Some(file), None) => format!("{} at {file}", f.title),
                _ => f.title.clone(),
            })
        );
        if let Some(file) = &f.file {
            let _ = write!(attrs, " file=\"{}\"", xml_attr(file));
        }
        if let Some(line) = f.line {
            let _ = write!(attrs, " line=\"{line}\"");
        }
        let _ = writeln!(out, "    <testcase {attrs}>");
        let mut body = format!("{}\n\nFix: {}", f.message, f.fix);
        if f.count > 1 {
            let _ = write!(body, "\n\nSeen {} times.", f.count);
        }
        if !f.evidence.is_empty() {
            body.push_str("\n\nEvidence:\n");
            body.push_str(&f.evidence.join("\n"));
        }
        match f.severity {
            Severity::Error => {
                let _ = writeln!(
                    out,
                    "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                    xml_attr(&f.id),
                    xml_attr(&f.message),
                    xml_text(&body)
                );
            }
            Severity::Warning | Severity::Notice => {
                let _ = writeln!(
                    out,
                    "      <system-out>{}: {}</system-out>",
                    f.severity.as_str(),
                    xml_text(&body)
                );
            }
        }
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_hostile_text() {
        let mut f = Finding::new(
            "compile-error",
            Severity::Error,
            "Compile error",
            "expected '>' before \"<\" & ]]> token\u{1b}[31m\u{0}",
            "fix",
        );
        f.file = Some("a\"b<c>.cu".into());
        f.line = Some(3);
        f.evidence = vec!["</failure></testcase><testcase name=\"x\">".into()];
        let xml = render(&[f], "build.log");
        assert!(!xml.contains('\u{1b}') && !xml.contains('\u{0}'));
        assert!(xml.contains("file=\"a&quot;b&lt;c&gt;.cu\""), "{xml}");
        assert!(xml.contains("&lt;/failure&gt;&lt;/testcase&gt;"), "{xml}");
        assert!(xml.contains("]]&gt;"), "{xml}");
        assert_eq!(xml.matches("<testcase ").count(), 1);
        assert_eq!(xml.matches("<failure ").count(), 1);
    }

    #[test]
    fn holds_no_workflow_command() {
        let mut f = Finding::new(
            "compile-error",
            Severity::Error,
            "Compile error",
            "##[set-output name=x;]pwned",
            "fix",
        );
        f.file = Some("a##[b].cu".into());
        f.evidence = vec![
            "::add-mask::y".into(),
            " \t::error::z".into(),
            "a::b".into(),
        ];
        let xml = render(&[f], "build.log");
        assert!(!xml.contains("##["), "{xml}");
        assert!(
            crate::github::tests::runner_commands(&xml).is_empty(),
            "{xml}"
        );
        assert!(
            xml.contains("\n&#58;:add-mask::y\n \t&#58;:error::z\na::b<"),
            "{xml}"
        );
    }

    #[test]
    fn warnings_pass_and_empty_has_one_case() {
        let w = Finding::new(
            "ninja-missing",
            Severity::Warning,
            "ninja",
            "slow",
            "pip install ninja",
        );
        let xml = render(&[w], "x");
        assert!(xml.contains("failures=\"0\""));
        assert!(!xml.contains("<failure"));
        assert!(xml.contains("<system-out>warning: slow"));
        let empty = render(&[], "x");
        assert!(empty.contains("tests=\"1\" failures=\"0\""));
        assert!(empty.contains("no known build problem"));
    }
}
