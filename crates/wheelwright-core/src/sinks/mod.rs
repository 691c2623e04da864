//! Sinks: render findings for GitHub Actions, JSON, JUnit, GitLab Code Quality and plain text.
