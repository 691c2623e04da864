//! The network, seen from the Job: [`Network`], a [`Fetch`] that also
//! publishes wheels, so that no library crate depends on an HTTP stack.
//!
//! `wheelwright-publish` implements [`Network`] (tokio + octocrab + reqwest,
//! proxies and corporate CAs honoured); a library user who needs no network
//! passes [`Offline`], which refuses every request with a clear error. The
//! fetch half and its types are wheelwright-base's ([`wheelwright_base::net`]),
//! so a stage below the Job (the matrix's lookup of published wheels) fetches
//! through the same trait without knowing of publishing.

use std::path::PathBuf;

pub use wheelwright_base::net::{
    is_http_url, Fetch, FetchOptions, Fetched, NetError, Offline, IDLE_TIMEOUT, STALL_BYTES,
};

use crate::publish::{PublishReport, PublishTargets};

/// What the Job needs from the network: [`Fetch`], and publishing.
/// Implementations block the calling thread (the library is synchronous);
/// `wheelwright-publish` runs its own runtime inside.
pub trait Network: Fetch {
    /// Publish `wheels` (local files, never modified) to every target of
    /// `targets`; each file's fate is in the report (a failed upload is a
    /// [`PublishStatus::Failed`](crate::publish::PublishStatus) entry, not an
    /// error). An error means nothing could be attempted (no network layer, a
    /// target that cannot be reached at all). The default refuses, as
    /// [`Offline`] does.
    fn publish(
        &self,
        wheels: &[PathBuf],
        targets: &PublishTargets,
    ) -> Result<PublishReport, NetError> {
        let _ = (wheels, targets);
        Err(NetError::Unavailable {
            what: "publishing wheels".to_string(),
        })
    }
}

impl Network for Offline {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_refuses_to_publish() {
        let e = Offline
            .publish(
                &[PathBuf::from("a-1.0-py3-none-any.whl")],
                &PublishTargets::default(),
            )
            .unwrap_err();
        assert!(e.to_string().contains("publishing wheels"), "{e}");
    }
}
