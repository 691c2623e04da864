//! wheelwright-diagnose: streaming log diagnosis, rules over build log lines
//! that yield [`Finding`]s. It needs wheelwright-base alone: no planner, no
//! builder, so a CI step that only reads a saved log depends on this crate.
//!
//! A [`Diagnoser`] is fed one line at a time, live while a build runs or from a
//! saved log (plain or gzip, see [`open_log`]). Its memory is constant: each
//! rule folds its hits into one bounded record (a count, the first few
//! evidence lines, the first names), and a line longer than 64 KiB is cut.
//!
//! Speed comes from one Aho-Corasick scan per line for the literals each
//! matcher needs (`needles`): most lines of a build (compile commands,
//! warnings, progress) hold none and cost nothing more, and a line that holds
//! some is tried only against the matchers it holds a literal of, so a log
//! made of nothing but OOM reports stays within a few times the speed of an
//! ordinary one (`cargo bench --bench diagnose`).
//!
//! ```
//! use wheelwright_diagnose::{DiagnoseContext, Diagnoser};
//!
//! let mut d = Diagnoser::new(DiagnoseContext { suggested_max_jobs: Some(6), ..Default::default() });
//! d.push_line("g++: fatal error: Killed signal terminated program cc1plus");
//! let findings = d.findings();
//! assert_eq!(findings[0].id, "oom-killed");
//! assert!(findings[0].fix.contains("MAX_JOBS=6"));
//! ```

#![warn(missing_docs)]

#[cfg(test)]
use wheelwright_test_support as test_support;

mod clean;
mod fixes;
mod lit;
mod matchers;
mod needles;
pub(crate) mod rules;
mod tally;

use std::borrow::Cow;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::Path;

use wheelwright_base::facts::Facts;
use wheelwright_base::finding::{Finding, Severity};

pub use clean::{clean_line, strip_ansi};
pub use rules::{catalogue, RuleId, RuleInfo};

use fixes::Seen;
use matchers::{Context, Hit};
use tally::Tally;

/// What the caller knows that makes fixes concrete.
#[derive(Debug, Clone, Default)]
pub struct DiagnoseContext {
    /// The MAX_JOBS the planner would choose on this host; an `oom-killed`
    /// fix names it when it is fewer jobs than the log shows. `None`: the fix
    /// says to halve what the log shows.
    pub suggested_max_jobs: Option<u32>,
    /// The NVCC_THREADS the planner chose with that MAX_JOBS; the fix then
    /// names the pair (they share one memory budget). `None`: the fix
    /// suggests NVCC_THREADS=1.
    pub suggested_nvcc_threads: Option<u32>,
    /// The host's facts (installed compilers, CUDA, GPUs, torch), for fixes
    /// such as which installed gcc-N to switch to.
    pub facts: Option<Facts>,
    /// The package's force-build switch (`CAUSAL_CONV1D_FORCE_BUILD`,
    /// `TRUE`), as the plan's setup.py probe found it: a
    /// `prebuilt-download-failed` fix names it. `None`: the fix says how to
    /// find it.
    pub force_build_switch: Option<(String, String)>,
}

/// Bytes of one line kept; the rest of a longer line is ignored.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Distinct compile-error locations kept; further ones are only counted.
pub const MAX_COMPILE_ERRORS: usize = 10;
/// Bytes of the previous line kept to judge a bare `Killed`.
const PREV_LINE_BYTES: usize = 512;
/// Lines after a bare `Killed` in which a compile must appear.
const BARE_KILLED_WINDOW: u8 = 3;
/// Lines after ninja's `FAILED: <object>` during which a kill names it.
const FAILED_WINDOW: u64 = 40;

/// A streaming rule engine over build log lines.
#[derive(Debug)]
pub struct Diagnoser {
    ctx: DiagnoseContext,
    lines: u64,
    bytes: u64,
    /// One record per rule (indexed by priority), compile errors apart.
    tallies: Vec<Option<Tally>>,
    compile: Vec<Tally>,
    compile_overflow: u32,
    seen: Seen,
    /// The last `FAILED:` object, the line number and the cleaned line.
    last_failed: Option<(String, u64, String)>,
    prev_line: Vec<u8>,
    pending_killed: Option<(u64, u8)>,
    pending_mismatch: Option<PendingMismatch>,
    /// ninja prints the failed command on the line after `FAILED:`: that
    /// line is read whatever its keywords, for the command's `--threads`.
    failed_command_next: bool,
    /// Why the saved log could not be read to its end, and at which line.
    cut_short: Option<(u64, u64, String)>,
    /// The prebuilt wheel URL a setup.py said it guessed, last seen.
    wheel_url: Option<String>,
}

#[derive(Debug, Clone)]
struct PendingMismatch {
    nvcc: Option<String>,
    line_no: u64,
    evidence: String,
}

impl Diagnoser {
    /// A diagnoser whose fixes use `ctx` (the host, the planned settings).
    pub fn new(ctx: DiagnoseContext) -> Diagnoser {
        Diagnoser {
            ctx,
            lines: 0,
            bytes: 0,
            tallies: vec![None; RuleId::ALL.len()],
            compile: Vec::new(),
            compile_overflow: 0,
            seen: Seen::default(),
            last_failed: None,
            prev_line: Vec::with_capacity(PREV_LINE_BYTES),
            pending_killed: None,
            pending_mismatch: None,
            failed_command_next: false,
            cut_short: None,
            wheel_url: None,
        }
    }

    /// Replace the context the fixes are written with. Fixes are rendered by
    /// [`Diagnoser::findings`], so a caller can scan first and learn the host
    /// only when there is something to fix.
    pub fn set_context(&mut self, ctx: DiagnoseContext) {
        self.ctx = ctx;
    }

    /// Feed one line (without its newline; a string holding several lines is
    /// split).
    pub fn push_line(&mut self, line: &str) {
        for part in line.split('\n') {
            self.push_bytes(part.as_bytes());
        }
    }

    /// Feed one line as raw bytes (invalid UTF-8 is replaced). A trailing
    /// `\n` / `\r\n` is ignored.
    pub fn push_bytes(&mut self, raw: &[u8]) {
        self.lines += 1;
        self.bytes += raw.len() as u64 + 1;
        let mut line = raw;
        while let [rest @ .., b'\n' | b'\r'] = line {
            line = rest;
        }
        let mask = needles::mask(line);
        if self.pending_killed.is_some()
            || self.pending_mismatch.is_some()
            || self.failed_command_next
            || mask & needles::READ != 0
        {
            match std::str::from_utf8(line) {
                Ok(text) => self.process(text, mask),
                Err(_) => self.process(&String::from_utf8_lossy(line), mask),
            }
        }
        self.prev_line.clear();
        self.prev_line
            .extend_from_slice(&line[..line.len().min(PREV_LINE_BYTES)]);
    }

    /// Read `reader` to its end, line by line. Only the first
    /// [`MAX_LINE_BYTES`] of a longer line are read, so memory stays bounded
    /// whatever the input (a multi-gigabyte line without a newline included).
    pub fn feed<R: BufRead>(&mut self, mut reader: R) -> io::Result<()> {
        let mut partial: Vec<u8> = Vec::new();
        loop {
            let buf = match reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // What was read of the last line is diagnosed too.
                    if !partial.is_empty() {
                        self.push_bytes(&partial);
                    }
                    return Err(e);
                }
            };
            if buf.is_empty() {
                if !partial.is_empty() {
                    self.push_bytes(&partial);
                }
                return Ok(());
            }
            let len = buf.len();
            let mut start = 0;
            while let Some(pos) = memchr::memchr(b'\n', &buf[start..]) {
                let end = start + pos;
                if partial.is_empty() {
                    self.push_bytes(&buf[start..end.min(start + MAX_LINE_BYTES)]);
                } else {
                    let room = MAX_LINE_BYTES.saturating_sub(partial.len());
                    partial.extend_from_slice(&buf[start..end.min(start + room)]);
                    self.push_bytes(&partial);
                    partial.clear();
                }
                start = end + 1;
            }
            let room = MAX_LINE_BYTES.saturating_sub(partial.len());
            let rest = &buf[start..];
            partial.extend_from_slice(&rest[..rest.len().min(room)]);
            reader.consume(len);
        }
    }

    /// Read a saved log to its end, or as far as it can be read: a gzip cut
    /// short (the log of a killed job, a partial download) or followed by
    /// bytes that are not gzip (which `gzip -dc` also ignores) is diagnosed up
    /// to where decoding stopped, and a `log-truncated` warning says where and
    /// why. Errors that say nothing about the log's content (a failing disk,
    /// a directory) are returned, and so is a log of which not one line could
    /// be read.
    pub fn feed_saved_log<R: BufRead>(&mut self, reader: R) -> io::Result<()> {
        let lines_before = self.lines;
        let Err(e) = self.feed(reader) else {
            return Ok(());
        };
        let about_content = matches!(
            e.kind(),
            io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput
        );
        if !about_content || self.lines == lines_before {
            return Err(e);
        }
        self.cut_short = Some((self.lines, self.bytes, e.to_string()));
        Ok(())
    }

    /// Whether the log could not be read to its end (see
    /// [`Diagnoser::feed_saved_log`]).
    pub fn cut_short(&self) -> bool {
        self.cut_short.is_some()
    }

    /// Lines seen so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Bytes seen so far (counting one newline per line).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether any finding exists so far; cheaper than asking
    /// [`Diagnoser::findings`], which renders them all.
    pub fn has_findings(&self) -> bool {
        self.cut_short.is_some()
            || self.pending_mismatch.is_some()
            || !self.compile.is_empty()
            || self.tallies.iter().any(Option::is_some)
    }

    /// Whether an error finding exists so far.
    pub fn has_errors(&self) -> bool {
        self.pending_mismatch.is_some()
            || !self.compile.is_empty()
            || self
                .tallies
                .iter()
                .flatten()
                .any(|t| t.severity == Severity::Error)
    }

    /// The findings so far, most important first: errors before warnings
    /// before notices, then by rule priority (root causes first), then by
    /// where they were first seen.
    pub fn findings(&self) -> Vec<Finding> {
        let mut tallies: Vec<Tally> = self.tallies.iter().flatten().cloned().collect();
        if let Some(p) = &self.pending_mismatch {
            // The log ended after the first line of torch's two-line message.
            let hit = Hit::CudaMismatch {
                nvcc: p.nvcc.clone(),
                torch: None,
            };
            match tallies.iter_mut().find(|t| t.rule == RuleId::CudaMismatch) {
                Some(t) => {
                    t.record(hit, None);
                }
                None => {
                    let mut t = Tally::new(RuleId::CudaMismatch, p.line_no);
                    t.record(hit, None);
                    t.add_evidence(&p.evidence);
                    tallies.push(t);
                }
            }
        }
        tallies.extend(self.compile.iter().cloned());
        let mut ordered: Vec<(usize, u64, Finding)> = tallies
            .iter()
            .map(|t| {
                (
                    t.rule.priority(),
                    t.first_seen,
                    fixes::render(t, self.seen, &self.ctx),
                )
            })
            .collect();
        ordered.sort_by_key(|(priority, first, f)| (f.severity, *priority, *first));
        let mut findings: Vec<Finding> = ordered.into_iter().map(|(_, _, f)| f).collect();
        if self.compile_overflow > 0 {
            if let Some(f) = findings
                .iter_mut()
                .find(|f| f.id == RuleId::CompileError.as_str())
            {
                f.message.push_str(&format!(
                    " (and {} more compile errors at other locations, not listed)",
                    self.compile_overflow
                ));
            }
        }
        if let Some((lines, bytes, why)) = &self.cut_short {
            let f = truncated_finding(*lines, *bytes, why);
            let at = findings.partition_point(|g| g.severity <= f.severity);
            findings.insert(at, f);
        }
        findings
    }

    /// `raw_mask`: [`needles::mask`] of `raw`.
    fn process(&mut self, raw: &str, raw_mask: needles::Mask) {
        self.failed_command_next = false;
        // The scan says which matchers to try and whether a token shape may
        // need masking; the matchers read the masked line. A line that
        // cleaning changed (escape sequences, control characters) is scanned
        // again as cleaned.
        let printable = clean::printable(raw);
        let mask = match &printable {
            Cow::Borrowed(_) => raw_mask,
            Cow::Owned(p) => needles::mask(p.as_bytes()),
        };
        let text = clean::masked(&printable, mask & needles::TOKEN_SHAPE != 0);
        if let Some(p) = self.pending_mismatch.take() {
            let torch = matchers::cuda_mismatch_continuation(&text);
            let continued = torch.is_some();
            let hit = Hit::CudaMismatch {
                nvcc: p.nvcc,
                torch,
            };
            self.record(hit, &p.evidence, p.line_no);
            if continued {
                self.add_evidence(RuleId::CudaMismatch, &text);
                return;
            }
        }
        if let Some((line_no, left)) = self.pending_killed.take() {
            if matchers::is_compile_context(&text) {
                self.record(Hit::BareKilled, "Killed", line_no);
            } else if left > 1 {
                self.pending_killed = Some((line_no, left - 1));
            }
        }
        let context = if mask & needles::CONTEXT != 0 {
            matchers::context(&text)
        } else {
            None
        };
        match context {
            Some(Context::Failed { object }) => {
                // The line's buffer is reused: every line of a log dense
                // with OOM reports may be a `FAILED:` one.
                let (o, at, line) = self.last_failed.get_or_insert_default();
                *o = object;
                *at = self.lines;
                line.clear();
                line.push_str(&text);
                self.failed_command_next = true;
            }
            Some(Context::Jobs(n)) => self.seen.jobs = Some(n),
            Some(Context::Isolation) => self.seen.isolation = true,
            None => {}
        }
        if mask & (needles::NVCC_THREADS | needles::THREADS_FLAG) != 0 {
            if let Some(n) = matchers::nvcc_threads_masked(&text, mask) {
                self.seen.nvcc_threads = Some(n);
            }
        }
        if mask & needles::PREBUILT != 0 {
            if let Some(url) = matchers::wheel_url(&text) {
                self.wheel_url = Some(url);
            } else if self.wheel_url.is_some() && matchers::builds_from_source(&text) {
                // The download failed (quietly, for flash-attn) and the
                // setup.py compiles after all: a notice.
                let slot = RuleId::PrebuiltDownloadFailed.priority();
                if self.tallies[slot].is_none() {
                    let url = self.wheel_url.clone();
                    self.record(Hit::DownloadFailed { error: None, url }, &text, self.lines);
                }
                if let Some(t) = self.tallies[slot].as_mut() {
                    t.fell_back_to_source();
                }
            }
        }
        match matchers::classify_masked(&text, mask) {
            Some(Hit::DownloadFailed { error, .. }) => {
                // A prebuilt wheel when the setup.py named one before (or the
                // error names a wheel); another download timing out is the
                // `timeout` rule's, anything else unknown.
                let error = error.unwrap_or_default();
                if self.wheel_url.is_some() || error.contains(".whl") {
                    let url = self.wheel_url.clone();
                    let error = Some(error);
                    self.record(Hit::DownloadFailed { error, url }, &text, self.lines);
                } else if error.contains("timed out") {
                    self.record(Hit::Timeout { hard: false }, &text, self.lines);
                }
            }
            Some(Hit::CudaMismatchStart { nvcc }) => {
                self.pending_mismatch = Some(PendingMismatch {
                    nvcc,
                    line_no: self.lines,
                    evidence: text.into_owned(),
                });
            }
            Some(Hit::BareKilled) => {
                if matchers::is_compile_context_bytes(&self.prev_line) {
                    self.record(Hit::BareKilled, &text, self.lines);
                } else {
                    self.pending_killed = Some((self.lines, BARE_KILLED_WINDOW));
                }
            }
            Some(hit) => self.record(hit, &text, self.lines),
            None => {}
        }
    }

    fn record(&mut self, hit: Hit, evidence: &str, line_no: u64) {
        let rule = tally::rule_of(&hit);
        let is_oom = rule == RuleId::OomKilled;
        // Only a kill reads ninja's last `FAILED:` line.
        let failed = self
            .last_failed
            .as_ref()
            .filter(|(_, at, _)| is_oom && self.lines.saturating_sub(*at) <= FAILED_WINDOW)
            .map(|(object, _, line)| (object.as_str(), line.as_str()));
        if rule == RuleId::CompileError {
            let Hit::CompileError { loc, .. } = &hit else {
                return;
            };
            let existing = self.compile.iter().position(|t| {
                t.loc
                    .as_ref()
                    .is_some_and(|l| l.file == loc.file && l.line == loc.line)
            });
            let index = match existing {
                Some(i) => i,
                None if self.compile.len() < MAX_COMPILE_ERRORS => {
                    self.compile.push(Tally::new(rule, line_no));
                    self.compile.len() - 1
                }
                None => {
                    self.compile_overflow = self.compile_overflow.saturating_add(1);
                    return;
                }
            };
            let t = &mut self.compile[index];
            t.record(hit, None);
            t.add_evidence(evidence);
            return;
        }
        let slot = &mut self.tallies[rule.priority()];
        let t = slot.get_or_insert_with(|| Tally::new(rule, line_no));
        let object = failed.filter(|_| is_oom).map(|(o, _)| o);
        if t.record(hit, object) {
            if let Some((_, failed_line)) = failed.filter(|_| is_oom) {
                t.add_evidence(failed_line);
            }
            t.add_evidence(evidence);
        }
    }

    fn add_evidence(&mut self, rule: RuleId, line: &str) {
        if let Some(t) = self.tallies[rule.priority()].as_mut() {
            t.add_evidence(line);
        }
    }
}

/// The `log-truncated` warning: what was read, why reading stopped.
fn truncated_finding(lines: u64, bytes: u64, why: &str) -> Finding {
    let rule = RuleId::LogTruncated;
    let mut f = Finding::new(
        rule.as_str(),
        rule.info().severity,
        rule.info().title,
        format!(
            "Reading stopped after line {lines} ({}): {why}. The log is cut short (a job \
             killed while writing it, a partial download) or has bytes that are not part \
             of it appended; the other findings cover only what was read.",
            wheelwright_base::units::format_bytes(bytes)
        ),
        "Diagnose the complete log if one exists (`gzip -t LOG` checks a .gz); \
         otherwise the cause may be in the part that is missing.",
    );
    f.evidence = vec![format!("{why} (after line {lines})")];
    f
}

/// Diagnose everything `reader` holds.
pub fn diagnose_reader<R: BufRead>(reader: R, ctx: DiagnoseContext) -> io::Result<Vec<Finding>> {
    let mut d = Diagnoser::new(ctx);
    d.feed(reader)?;
    Ok(d.findings())
}

/// Open a saved log for [`Diagnoser::feed`]; gzip (by its magic bytes, so any
/// file name) is decompressed on the fly.
pub fn open_log(path: &Path) -> io::Result<Box<dyn BufRead>> {
    let file = std::fs::File::open(path)?;
    decompress_if_gzip(file)
}

/// Wrap any reader (a file, stdin) so that gzip input is decompressed; other
/// input passes through unchanged.
pub fn decompress_if_gzip<R: Read + 'static>(mut reader: R) -> io::Result<Box<dyn BufRead>> {
    const BUF: usize = 256 * 1024;
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match reader.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let stream = Cursor::new(magic[..got].to_vec()).chain(reader);
    if got == 2 && magic == [0x1f, 0x8b] {
        let gz = flate2::read::MultiGzDecoder::new(stream);
        Ok(Box::new(BufReader::with_capacity(BUF, gz)))
    } else {
        Ok(Box::new(BufReader::with_capacity(BUF, stream)))
    }
}

#[cfg(test)]
mod tests;
