//! `Finding`: one thing worth telling the user, with the fix.
//!
//! Shared by preflight checks (`plan`) and log diagnosis (`diagnose`), so a
//! sink renders both the same way. Rule ids are a contract.

use serde::{Deserialize, Serialize};

/// How bad a finding is; orders from most to least severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Fails the build or the plan.
    Error,
    /// Worth fixing; does not fail anything by itself.
    Warning,
    /// For information.
    Notice,
}

impl Severity {
    /// `error`, `warning` or `notice`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
        }
    }
}

/// One diagnosed problem or preflight result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Finding {
    /// Stable rule id, e.g. `oom-killed`, `gcc-too-new`.
    pub id: String,
    /// How bad it is.
    pub severity: Severity,
    /// One line, for a title or an annotation.
    pub title: String,
    /// What was seen, in sentences.
    pub message: String,
    /// What to do about it, concretely.
    pub fix: String,
    /// Source file the log names, when it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Line in [`Finding::file`].
    pub line: Option<u32>,
    /// The log lines that triggered the finding (a few, not all).
    #[serde(default)]
    pub evidence: Vec<String>,
    /// How many times it was seen (repeats fold into one finding).
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

impl Finding {
    /// A finding seen once, without location or evidence.
    pub fn new(
        id: impl Into<String>,
        severity: Severity,
        title: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            id: id.into(),
            severity,
            title: title.into(),
            message: message.into(),
            fix: fix.into(),
            file: None,
            line: None,
            evidence: Vec::new(),
            count: 1,
        }
    }

    /// The finding is an error (it refuses a plan, fails a diagnosis).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}
