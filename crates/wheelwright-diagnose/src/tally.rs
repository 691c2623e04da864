//! Folding repeated hits into one bounded record per finding.
//!
//! Twenty killed compiles are one `oom-killed` finding with a count of twenty
//! and the first objects named; every list here has a fixed cap, so a
//! diagnoser's memory does not grow with the log.

use std::borrow::Cow;

use wheelwright_base::finding::Severity;
use wheelwright_base::text::truncate_chars;

use super::matchers::{Hit, Location};
use super::rules::RuleId;

/// Evidence lines kept per finding.
pub(crate) const MAX_EVIDENCE: usize = 5;
/// Characters kept of one evidence line (nvcc command lines run to kilobytes).
pub(crate) const MAX_EVIDENCE_CHARS: usize = 400;
/// Names (objects, architectures, symbols) kept per finding.
pub(crate) const MAX_NAMES: usize = 8;
/// Characters kept of one name or message taken from the log.
pub(crate) const MAX_TEXT_CHARS: usize = 300;

/// A short list of distinct names plus how many further occurrences were not
/// kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Names {
    pub items: Vec<String>,
    /// Occurrences of names not in `items` once it was full (repeats of one
    /// unkept name count each time: memory stays bounded).
    pub more: u32,
}

impl Names {
    /// Add `name`; false when it was already kept (a repeat).
    pub fn add(&mut self, name: &str) -> bool {
        let name = kept(name, MAX_TEXT_CHARS);
        if self.items.iter().any(|i| *i == *name) {
            return false;
        }
        if self.items.len() < MAX_NAMES {
            self.items.push(name.into_owned());
        } else {
            self.more = self.more.saturating_add(1);
        }
        true
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `a, b, c` or `a, b, c and 4 more`.
    pub fn join(&self) -> String {
        let mut s = self.items.join(", ");
        if self.more > 0 {
            s.push_str(&format!(" and {} more", self.more));
        }
        s
    }
}

/// What a rule remembers beyond the count and the evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Detail {
    Oom {
        tools: Names,
        objects: Names,
        /// Hits that were the kill itself (not a later summary of it).
        primary: u32,
    },
    GccTooNew {
        max_major: Option<u32>,
        compiler: Option<String>,
    },
    CudaMismatch {
        nvcc: Option<String>,
        torch: Option<String>,
    },
    CudaHomeMissing {
        hard: bool,
    },
    CudaTooOld {
        min: Option<String>,
    },
    Names(Names),
    Abi {
        symbols: Names,
        library: Option<String>,
    },
    DiskFull {
        path: Option<String>,
    },
    Compile {
        message: String,
    },
    Timeout {
        hard: bool,
    },
    Ninja {
        reason: Option<String>,
    },
    Download {
        /// The wheel the package's setup.py guessed.
        url: Option<String>,
        /// urllib's error (`[Errno -3] Temporary failure in name resolution`).
        error: Option<String>,
        /// The setup.py then went on to build from source.
        fell_back: bool,
    },
    None,
}

/// Everything known about one finding so far.
#[derive(Debug, Clone)]
pub(crate) struct Tally {
    pub rule: RuleId,
    pub severity: Severity,
    pub count: u32,
    /// Log line (1-based) where it was first seen; orders equal findings.
    pub first_seen: u64,
    pub evidence: Vec<String>,
    pub loc: Option<Location>,
    pub detail: Detail,
}

impl Tally {
    /// A new tally for `hit`, seen at `line_no`.
    pub fn new(rule: RuleId, line_no: u64) -> Tally {
        let detail = match rule {
            RuleId::OomKilled => Detail::Oom {
                tools: Names::default(),
                objects: Names::default(),
                primary: 0,
            },
            RuleId::GccTooNew => Detail::GccTooNew {
                max_major: None,
                compiler: None,
            },
            RuleId::CudaMismatch => Detail::CudaMismatch {
                nvcc: None,
                torch: None,
            },
            RuleId::CudaHomeMissing => Detail::CudaHomeMissing { hard: false },
            RuleId::CudaTooOld => Detail::CudaTooOld { min: None },
            RuleId::ArchUnsupported | RuleId::MissingSubmodule | RuleId::WheelUnsupported => {
                Detail::Names(Names::default())
            }
            RuleId::AbiMismatch => Detail::Abi {
                symbols: Names::default(),
                library: None,
            },
            RuleId::DiskFull => Detail::DiskFull { path: None },
            RuleId::CompileError => Detail::Compile {
                message: String::new(),
            },
            RuleId::Timeout => Detail::Timeout { hard: false },
            RuleId::NinjaMissing => Detail::Ninja { reason: None },
            RuleId::PrebuiltDownloadFailed => Detail::Download {
                url: None,
                error: None,
                fell_back: false,
            },
            RuleId::TorchMissing | RuleId::NoKernelImage | RuleId::LogTruncated => Detail::None,
        };
        Tally {
            rule,
            severity: rule.info().severity,
            count: 0,
            first_seen: line_no,
            evidence: Vec::new(),
            loc: None,
            detail,
        }
    }

    /// A failed prebuilt download was followed by the setup.py building from
    /// source: the download cost time, not the build (a notice).
    pub fn fell_back_to_source(&mut self) {
        if let Detail::Download { fell_back, .. } = &mut self.detail {
            *fell_back = true;
            self.severity = Severity::Notice;
        }
    }

    /// Keep `line` as evidence if there is room (already cleaned by the caller).
    pub fn add_evidence(&mut self, line: &str) {
        if self.evidence.len() >= MAX_EVIDENCE {
            return;
        }
        // Compared as kept: a repeated long line is one piece of evidence.
        let line = kept(line, MAX_EVIDENCE_CHARS);
        if !self.evidence.iter().any(|e| *e == *line) {
            self.evidence.push(line.into_owned());
        }
    }

    /// Fold `hit` in. Returns whether it counted (a secondary OOM summary after
    /// a primary kill does not).
    pub fn record(&mut self, hit: Hit, failed_object: Option<&str>) -> bool {
        let mut counts = true;
        match (hit, &mut self.detail) {
            (
                Hit::Oom {
                    tool,
                    object,
                    primary,
                },
                Detail::Oom {
                    tools,
                    objects,
                    primary: n,
                },
            ) => {
                // One object killed is one kill, however many lines report it
                // (ninja's `FAILED: [code=137] x.o` and then a bare `Killed`).
                let repeat = object
                    .as_deref()
                    .or(failed_object)
                    .is_some_and(|o| !objects.add(o));
                if primary && !repeat {
                    *n += 1;
                } else if self.count > 0 {
                    // pip's `exit status 137` after the kills is the same event.
                    counts = false;
                }
                if let Some(t) = tool {
                    tools.add(&t);
                }
            }
            (
                Hit::BareKilled,
                Detail::Oom {
                    objects, primary, ..
                },
            ) => {
                let repeat = failed_object.is_some_and(|o| !objects.add(o));
                if repeat {
                    counts = false;
                } else {
                    *primary += 1;
                }
            }
            (
                Hit::GccTooNew {
                    max_major,
                    compiler,
                },
                Detail::GccTooNew {
                    max_major: m,
                    compiler: c,
                },
            ) => {
                keep_first(m, max_major);
                keep_first(c, compiler.map(|s| truncate_chars(&s, MAX_TEXT_CHARS)));
            }
            (Hit::CudaMismatch { nvcc, torch }, Detail::CudaMismatch { nvcc: n, torch: t }) => {
                keep_first(n, nvcc.map(|s| truncate_chars(&s, 32)));
                keep_first(t, torch.map(|s| truncate_chars(&s, 32)));
            }
            (Hit::CudaHomeMissing { hard }, Detail::CudaHomeMissing { hard: h }) => {
                *h |= hard;
                if *h {
                    self.severity = Severity::Error;
                } else if self.count == 0 {
                    self.severity = Severity::Warning;
                }
            }
            (Hit::CudaTooOld { min }, Detail::CudaTooOld { min: m }) => {
                keep_first(m, min.map(|s| truncate_chars(&s, 32)));
            }
            (Hit::ArchUnsupported { arch }, Detail::Names(names)) => {
                names.add(&arch);
            }
            (Hit::MissingSubmodule { header, loc }, Detail::Names(names)) => {
                add_some(names, header);
                keep_first(&mut self.loc, loc);
            }
            (Hit::WheelUnsupported { wheel }, Detail::Names(names)) => {
                add_some(names, wheel);
            }
            (
                Hit::AbiMismatch { symbol, library },
                Detail::Abi {
                    symbols,
                    library: l,
                },
            ) => {
                symbols.add(&symbol);
                keep_first(l, library.map(|s| truncate_chars(&s, MAX_TEXT_CHARS)));
            }
            (Hit::DiskFull { path }, Detail::DiskFull { path: p }) => {
                keep_first(p, path.map(|s| truncate_chars(&s, MAX_TEXT_CHARS)));
            }
            (Hit::CompileError { loc, message }, Detail::Compile { message: m })
                if self.loc.is_none() =>
            {
                self.loc = Some(Location {
                    file: truncate_chars(&loc.file, MAX_TEXT_CHARS),
                    line: loc.line,
                });
                *m = truncate_chars(&message, MAX_TEXT_CHARS);
            }
            (Hit::Timeout { hard }, Detail::Timeout { hard: h }) => {
                *h |= hard;
                self.severity = if *h {
                    Severity::Error
                } else {
                    Severity::Warning
                };
            }
            (Hit::NinjaMissing { reason }, Detail::Ninja { reason: r }) => {
                keep_first(r, reason.map(|s| truncate_chars(&s, MAX_TEXT_CHARS)));
            }
            (
                Hit::DownloadFailed { error, url },
                Detail::Download {
                    url: u, error: e, ..
                },
            ) => {
                keep_first(u, url.map(|s| truncate_chars(&s, MAX_TEXT_CHARS)));
                keep_first(e, error.map(|s| truncate_chars(&s, MAX_TEXT_CHARS)));
            }
            _ => {}
        }
        if counts {
            self.count = self.count.saturating_add(1);
        }
        counts
    }
}

/// `s` as kept: cut to `max` characters ([`truncate_chars`]); borrowed when
/// it is short enough already (a string of at most `max` bytes is), so a
/// repeat is compared without a copy.
fn kept(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(truncate_chars(s, max))
    }
}

/// Set `slot` to `value` unless it already holds one (the first seen wins).
fn keep_first<T>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value;
    }
}

fn add_some(names: &mut Names, name: Option<String>) {
    if let Some(n) = name {
        names.add(&n);
    }
}

/// The rule a hit belongs to.
pub(crate) fn rule_of(hit: &Hit) -> RuleId {
    match hit {
        Hit::Oom { .. } | Hit::BareKilled => RuleId::OomKilled,
        Hit::GccTooNew { .. } => RuleId::GccTooNew,
        Hit::CudaMismatch { .. } | Hit::CudaMismatchStart { .. } => RuleId::CudaMismatch,
        Hit::CudaHomeMissing { .. } => RuleId::CudaHomeMissing,
        Hit::CudaTooOld { .. } => RuleId::CudaTooOld,
        Hit::ArchUnsupported { .. } => RuleId::ArchUnsupported,
        Hit::MissingSubmodule { .. } => RuleId::MissingSubmodule,
        Hit::TorchMissing => RuleId::TorchMissing,
        Hit::DiskFull { .. } => RuleId::DiskFull,
        Hit::CompileError { .. } => RuleId::CompileError,
        Hit::AbiMismatch { .. } => RuleId::AbiMismatch,
        Hit::NoKernelImage => RuleId::NoKernelImage,
        Hit::WheelUnsupported { .. } => RuleId::WheelUnsupported,
        Hit::Timeout { .. } => RuleId::Timeout,
        Hit::NinjaMissing { .. } => RuleId::NinjaMissing,
        Hit::DownloadFailed { .. } => RuleId::PrebuiltDownloadFailed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_and_distinct() {
        let mut n = Names::default();
        for i in 0..20 {
            n.add(&format!("obj{}.o", i % 12));
        }
        assert_eq!(n.items.len(), MAX_NAMES);
        assert!(n.items.contains(&"obj0.o".to_string()));
        assert!(n.join().ends_with("more"), "{}", n.join());
    }

    #[test]
    fn evidence_is_bounded() {
        let mut t = Tally::new(RuleId::OomKilled, 1);
        for i in 0..50 {
            t.add_evidence(&format!("line {i} {}", "x".repeat(1000)));
        }
        assert_eq!(t.evidence.len(), MAX_EVIDENCE);
        assert!(t
            .evidence
            .iter()
            .all(|e| e.chars().count() <= MAX_EVIDENCE_CHARS + 1));

        // A long line seen again is not kept twice.
        let mut t = Tally::new(RuleId::CompileError, 1);
        let long = format!("a.cu(1): error: {}", "x".repeat(1000));
        t.add_evidence(&long);
        t.add_evidence(&long);
        assert_eq!(t.evidence.len(), 1);
    }

    #[test]
    fn secondary_oom_after_a_kill_does_not_count() {
        let mut t = Tally::new(RuleId::OomKilled, 1);
        let kill = Hit::Oom {
            tool: Some("cc1plus".into()),
            object: None,
            primary: true,
        };
        let summary = Hit::Oom {
            tool: None,
            object: None,
            primary: false,
        };
        assert!(t.record(kill, Some("a.o")));
        assert!(!t.record(summary, None));
        assert_eq!(t.count, 1);
    }
}
