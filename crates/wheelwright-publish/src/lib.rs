//! wheelwright-publish: everything of wheelwright that needs the network.
//!
//! It implements [`wheelwright_core::net::Network`] (fetching a URL with
//! timeouts, proxies and the system's CA store) and publishes checked wheels:
//! a GitHub release (octocrab for the API, our own upload POST), a static
//! PEP 503 index with one root per variant, a wheelhouse, and a PyPI-compatible
//! index through the legacy upload API. `wheelwright-core` stays synchronous and
//! free of HTTP; this crate runs its own tokio runtime behind the trait.
