//! Streaming log diagnosis: rules over build log lines that yield `Finding`s.
