//! Plain text for a terminal or a log: one block per finding, colour only when
//! the output is a terminal and `NO_COLOR` is unset or empty.

use std::fmt::Write as _;

use wheelwright_base::finding::{Finding, Severity};

use super::Summary;

/// Whether to colour: on a terminal, unless `NO_COLOR` is set to something
/// (<https://no-color.org>).
pub fn use_color(is_terminal: bool, no_color: Option<&str>) -> bool {
    is_terminal && no_color.is_none_or(str::is_empty)
}

fn paint(s: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// Drop control characters (a log line must not move the reader's cursor).
fn safe(s: &str) -> String {
    s.chars()
        .filter(|c| *c == '\t' || !c.is_control())
        .collect()
}

/// The findings as text, with a closing summary line.
pub fn render(findings: &[Finding], color: bool) -> String {
    let mut out = String::new();
    for f in findings {
        let (label, code) = match f.severity {
            Severity::Error => ("error", "1;31"),
            Severity::Warning => ("warning", "1;33"),
            Severity::Notice => ("notice", "1;36"),
        };
        let count = if f.count > 1 {
            format!(" (x{})", f.count)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{}{} {}{}",
            paint(&format!("{label}[{}]", safe(&f.id)), code, color),
            paint(":", "1", color),
            paint(&safe(&f.title), "1", color),
            count
        );
        if let Some(file) = &f.file {
            let at = match f.line {
                Some(line) => format!("{}:{line}", safe(file)),
                None => safe(file),
            };
            let _ = writeln!(out, "  --> {at}");
        }
        let _ = writeln!(out, "  {}", safe(&f.message));
        let _ = writeln!(out, "  {} {}", paint("fix:", "1;32", color), safe(&f.fix));
        for line in &f.evidence {
            let _ = writeln!(out, "  {} {}", paint("|", "2", color), safe(line));
        }
        out.push('\n');
    }
    let summary = Summary::of(findings);
    if findings.is_empty() {
        out.push_str("No known build problem found.\n");
    } else {
        let _ = writeln!(out, "{}", summary.describe());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn color_rules() {
        assert!(use_color(true, None));
        assert!(use_color(true, Some("")));
        assert!(!use_color(true, Some("1")));
        assert!(!use_color(false, None));
    }

    #[test]
    fn plain_and_coloured() {
        let mut f = Finding::new("oom-killed", Severity::Error, "Killed", "msg", "MAX_JOBS=4");
        f.evidence = vec!["g++: fatal error: Killed\u{1b}]0;pwned\u{7}".into()];
        f.count = 3;
        let plain = render(std::slice::from_ref(&f), false);
        assert!(!plain.contains('\u{1b}'), "{plain}");
        assert!(
            plain.starts_with("error[oom-killed]: Killed (x3)\n"),
            "{plain}"
        );
        assert!(plain.contains("  fix: MAX_JOBS=4"));
        assert!(plain.ends_with("1 error, 0 warnings, 0 notices\n"));
        let coloured = render(&[f], true);
        assert!(coloured.contains("\u{1b}[1;31m"));
        assert!(
            !coloured.contains("\u{1b}]0;"),
            "a log line must not set the title"
        );
        assert_eq!(render(&[], false), "No known build problem found.\n");
    }
}
