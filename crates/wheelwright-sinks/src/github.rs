//! GitHub Actions: workflow-command annotations, log groups, the Markdown step
//! summary and step outputs, and a safe echo of untrusted log lines.
//!
//! What the runner does with our output, and so what this module guards:
//! - `::error file=F,line=L,title=T::MESSAGE` makes an annotation. Data is
//!   escaped `%`→`%25`, `\r`→`%0D`, `\n`→`%0A` (`%` first); properties also
//!   `:`→`%3A`, `,`→`%2C` ([`escape_data`], [`escape_property`]). Messages are
//!   cut at 4096 characters; a step shows at most 10 annotations of each level
//!   and a job 50, the rest silently dropped, so the most important go first
//!   and the rest are listed in the summary only.
//! - `GITHUB_STEP_SUMMARY` takes Markdown, at most 1 MiB per step.
//! - `GITHUB_OUTPUT` takes `name=value` lines, or `name<<DELIM` ... `DELIM` for
//!   multiline values, with a random delimiter the value does not contain.
//! - A line that starts with `::` (after leading whitespace) is a command, and
//!   so is a line holding the legacy `##[name props]data` anywhere. Build
//!   output is untrusted, so it is echoed between `::stop-commands::TOKEN` and
//!   `::TOKEN::` with a random token ([`SafeEcho`]), and tokens in it are
//!   masked ([`redact_secrets`]). The runner ends the stop at `TOKEN` in any
//!   letter case, in either command form.

use std::fmt::Write as _;

use wheelwright_base::finding::Finding;

use wheelwright_base::text::truncate_chars;

use super::Summary;

pub use wheelwright_base::env_files::{self, multiline_output};
pub use wheelwright_base::secrets::redact_secrets;
pub use wheelwright_base::text::random_token;

mod actions_env;
mod echo;

pub use actions_env::{write_findings_files, ActionsEnv, FindingsFileError, RunnerFileError};
pub use echo::{write_untrusted, SafeEcho};

/// Characters of an annotation message GitHub keeps.
pub const MAX_MESSAGE_CHARS: usize = 4096;
/// Bytes of step summary GitHub accepts per step.
pub const MAX_SUMMARY_BYTES: usize = 1024 * 1024;
/// Annotations GitHub shows per level (error, warning, notice) in one step.
pub const MAX_ANNOTATIONS_PER_LEVEL: usize = 10;
/// Annotations GitHub shows in one job.
pub const MAX_ANNOTATIONS_PER_JOB: usize = 50;
/// The legacy form of a workflow command, `##[name props]data`, which the
/// runner finds anywhere in a line of output.
pub const LEGACY_COMMAND_PREFIX: &str = "##[";

/// Escape a command's data (the message): `%`, `\r`, `\n`.
pub fn escape_data(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c => out.push(c),
        }
    }
    out
}

/// Escape a command's property value (file, title): data escaping plus `:`
/// and `,`.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// How to render for GitHub.
#[derive(Debug, Clone)]
pub struct GithubOptions {
    /// Annotations per level (GitHub's limit per step: 10).
    pub per_level: usize,
    /// Annotations in all (GitHub's limit per job: 50; lower it when earlier
    /// steps of the job annotate too).
    pub total: usize,
    /// `GITHUB_WORKSPACE`: file paths under it are made relative, as
    /// annotations expect.
    pub workspace: Option<String>,
}

impl Default for GithubOptions {
    fn default() -> Self {
        GithubOptions {
            per_level: MAX_ANNOTATIONS_PER_LEVEL,
            total: MAX_ANNOTATIONS_PER_JOB,
            workspace: None,
        }
    }
}

fn title_of(f: &Finding) -> String {
    if f.count > 1 {
        format!("{} [{}] (x{})", f.title, f.id, f.count)
    } else {
        format!("{} [{}]", f.title, f.id)
    }
}

fn relative<'a>(file: &'a str, workspace: Option<&str>) -> &'a str {
    workspace
        .map(|w| w.trim_end_matches('/'))
        .filter(|w| !w.is_empty())
        .and_then(|w| file.strip_prefix(w))
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(file)
}

/// One annotation command line for `f` (without a newline).
pub fn annotation(f: &Finding, workspace: Option<&str>) -> String {
    let mut props = Vec::new();
    if let Some(file) = &f.file {
        props.push(format!(
            "file={}",
            escape_property(relative(file, workspace))
        ));
        if let Some(line) = f.line {
            props.push(format!("line={line}"));
        }
    }
    props.push(format!("title={}", escape_property(&title_of(f))));
    let message = truncate_chars(
        &format!("{}\n\nFix: {}", f.message, f.fix),
        MAX_MESSAGE_CHARS - 1,
    );
    format!(
        "::{} {}::{}",
        f.severity.as_str(),
        props.join(","),
        escape_data(&message)
    )
}

/// The annotations and evidence groups for a step's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotations {
    /// What to print to the step's log.
    pub text: String,
    /// Findings that got an annotation.
    pub annotated: usize,
    /// Findings left out by GitHub's limits (listed in the summary only).
    pub omitted: usize,
}

/// Annotations for the most important findings within GitHub's limits, each
/// followed by a log group with its evidence (echoed with commands stopped).
pub fn render_annotations(findings: &[Finding], opts: &GithubOptions) -> Annotations {
    let mut per_level = [0usize; 3];
    let mut annotated = 0;
    let mut text = String::new();
    for f in findings {
        let level = f.severity as usize;
        if per_level[level] >= opts.per_level || annotated >= opts.total {
            continue;
        }
        per_level[level] += 1;
        annotated += 1;
        text.push_str(&annotation(f, opts.workspace.as_deref()));
        text.push('\n');
        if !f.evidence.is_empty() {
            let _ = writeln!(
                text,
                "::group::{}",
                escape_data(&format!(
                    "Evidence for {} ({} lines)",
                    f.id,
                    f.evidence.len()
                ))
            );
            let mut echo = SafeEcho::new(Vec::new()).expect("writing to memory");
            for line in &f.evidence {
                let _ = echo.echo(line);
            }
            let bytes = echo.finish().unwrap_or_default();
            text.push_str(&String::from_utf8_lossy(&bytes));
            text.push_str("::endgroup::\n");
        }
    }
    let omitted = findings.len() - annotated;
    if omitted > 0 {
        let _ = writeln!(
            text,
            "wheelwright: {omitted} more findings are not annotated (GitHub shows at most {} per level in a step); the step summary lists them.",
            opts.per_level
        );
    }
    Annotations {
        text,
        annotated,
        omitted,
    }
}

/// Escape untrusted text for one Markdown table cell: HTML special characters
/// become entities, Markdown punctuation is backslash-escaped, line breaks
/// become `<br>`, so no text can close the cell, the table, or open a tag.
/// A word that GitHub would turn into a link (`http://…`, `www.…`, an
/// address with `@`) goes in a code span, which is never a link.
pub fn markdown_cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut first = true;
    for line in s.split(['\n', '\r']) {
        if line.is_empty() && !first {
            continue;
        }
        if !first {
            out.push_str("<br>");
        }
        first = false;
        let mut words = line.split(' ').peekable();
        while let Some(word) = words.next() {
            if would_autolink(word) {
                out.push_str(&code_span(word));
            } else {
                escape_cell_text(word, &mut out);
            }
            if words.peek().is_some() {
                out.push(' ');
            }
        }
    }
    out
}

/// Whether GitHub's Markdown could make a link of (part of) `word`: a URL
/// scheme, a `www.` domain, an email address.
fn would_autolink(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    lower.contains("://")
        || lower.contains("www.")
        || lower.contains('@')
        || lower.contains("mailto:")
}

/// `word` as a code span (rendered as text, never a link or markup) in a
/// table cell: the backtick fence is longer than any run inside, and `|`
/// is escaped as GitHub's tables require even in code.
pub(crate) fn code_span(word: &str) -> String {
    let word: String = word.chars().filter(|c| !c.is_control()).collect();
    let longest = word.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if word.starts_with('`') || word.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{}{pad}{fence}", word.replace('|', "\\|"))
}

fn escape_cell_text(line: &str, out: &mut String) {
    {
        for c in line.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '!' | '#' | '@' => {
                    out.push('\\');
                    out.push(c);
                }
                c if c.is_control() => {}
                c => out.push(c),
            }
        }
    }
}

/// A fenced code block holding `lines` verbatim: the fence is longer than any
/// run of backticks inside, so the content cannot end the block.
pub(crate) fn code_block(lines: &[String]) -> String {
    let longest = lines
        .iter()
        .flat_map(|l| l.split(|c| c != '`'))
        .map(str::len)
        .max()
        .unwrap_or(0);
    let fence = "`".repeat((longest + 1).max(3));
    let mut s = format!("{fence}text\n");
    for l in lines {
        let l: String = l
            .chars()
            .filter(|c| *c == '\t' || !c.is_control())
            .collect();
        s.push_str(&l);
        s.push('\n');
    }
    s.push_str(&fence);
    s.push('\n');
    s
}

/// The Markdown step summary: a table of all findings with their fixes (most
/// important first), then the evidence of each, within GitHub's 1 MiB.
/// `omitted` is how many findings got no annotation.
pub fn render_step_summary(findings: &[Finding], omitted: usize) -> String {
    let budget = MAX_SUMMARY_BYTES - 4096;
    let summary = Summary::of(findings);
    let mut out = format!("### wheelwright diagnose: {}\n\n", summary.describe());
    if findings.is_empty() {
        out.push_str("No known build problem found in the log.\n");
        return out;
    }
    if omitted > 0 {
        let _ = writeln!(
            out,
            "{omitted} findings have no annotation (GitHub shows at most {MAX_ANNOTATIONS_PER_LEVEL} per level in a step); all are listed here.\n"
        );
    }
    out.push_str("| Severity | Rule | Where | Problem | Fix |\n| --- | --- | --- | --- | --- |\n");
    let mut details = String::new();
    let mut left_out = 0;
    for f in findings {
        let place = match (&f.file, f.line) {
            (Some(file), Some(line)) => format!("{file}:{line}"),
            (Some(file), None) => file.clone(),
            _ => String::new(),
        };
        let rule = if f.count > 1 {
            format!("{} (x{})", f.id, f.count)
        } else {
            f.id.clone()
        };
        let row = format!(
            "| {} | {} | {} | {} | {} |\n",
            f.severity.as_str(),
            markdown_cell(&rule),
            markdown_cell(&place),
            markdown_cell(&format!("{}: {}", f.title, f.message)),
            markdown_cell(&f.fix)
        );
        let detail = if f.evidence.is_empty() {
            String::new()
        } else {
            format!(
                "<details><summary>Evidence: {}</summary>\n\n{}\n</details>\n\n",
                markdown_cell(&f.id),
                code_block(&f.evidence)
            )
        };
        if out.len() + details.len() + row.len() + detail.len() > budget {
            left_out += 1;
            continue;
        }
        out.push_str(&row);
        details.push_str(&detail);
    }
    out.push('\n');
    out.push_str(&details);
    if left_out > 0 {
        let _ = writeln!(
            out,
            "{left_out} more findings are left out to keep this summary under 1 MiB."
        );
    }
    out
}

/// Step outputs for `GITHUB_OUTPUT`: `findings`, `errors`, `warnings`,
/// `notices`, `first-error` (a rule id or empty) and `findings-json` (a
/// multiline value with a random delimiter).
pub fn render_outputs(findings: &[Finding]) -> String {
    let s = Summary::of(findings);
    let first_error = findings
        .iter()
        .find(|f| f.is_error())
        .map(|f| f.id.as_str())
        .unwrap_or("");
    let mut out = format!(
        "findings={}\nerrors={}\nwarnings={}\nnotices={}\nfirst-error={}\n",
        s.findings,
        s.errors,
        s.warnings,
        s.notices,
        first_error.replace(['\r', '\n'], "")
    );
    let json = serde_json::to_string_pretty(findings).unwrap_or_else(|_| "[]".to_string());
    out.push_str(&multiline_output("findings-json", &json));
    out
}

#[cfg(test)]
pub(crate) mod tests;
