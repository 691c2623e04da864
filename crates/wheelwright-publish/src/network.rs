//! [`HttpNetwork`]: the [`Network`] a job uses when it may reach the network.
//! It owns a small tokio runtime and blocks the calling thread on it, as the
//! synchronous library expects.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use wheelwright_job::net::{Fetch, FetchOptions, Fetched, NetError, Network};
use wheelwright_job::publish::{GithubReleaseTarget, PublishReport, PublishTargets, PublishedFile};

use crate::github::{GithubConfig, GithubError, GithubRelease, ReleaseWheel};
use crate::wheel_file::WheelFile;

use crate::http::{DownloadLimits, HttpClient, HttpConfig, HttpError, Request};

/// The network, through [`HttpClient`] (proxies, CAs and retries from the
/// environment). The client and the runtime are made on first use, so a
/// command that never touches the network pays nothing, and a broken
/// `SSL_CERT_FILE` is reported by the request that needs it. Do not call its
/// methods from inside a tokio runtime: they block on their own.
#[derive(Debug)]
pub struct HttpNetwork {
    config: HttpConfig,
    client: OnceLock<Result<HttpClient, String>>,
    runtime: OnceLock<Result<tokio::runtime::Runtime, String>>,
}

impl HttpNetwork {
    /// The network as the environment configures it: `HTTPS_PROXY`,
    /// `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, `SSL_CERT_FILE`, `SSL_CERT_DIR`.
    pub fn from_env() -> Self {
        Self::from_config(HttpConfig::from_env())
    }

    /// The network with this configuration.
    pub fn from_config(config: HttpConfig) -> Self {
        HttpNetwork {
            config,
            client: OnceLock::new(),
            runtime: OnceLock::new(),
        }
    }

    /// The network through this (already made) client.
    pub fn with_client(client: HttpClient) -> Self {
        let config = client.config().clone();
        HttpNetwork {
            config,
            client: OnceLock::from(Ok(client)),
            runtime: OnceLock::new(),
        }
    }

    /// The client underneath, made now if not yet.
    pub fn client(&self) -> Result<&HttpClient, NetError> {
        self.client
            .get_or_init(|| HttpClient::new(self.config.clone()).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| NetError::Other(e.clone()))
    }

    /// Run `fut` to completion on this network's runtime (made now if not yet).
    pub fn block_on<F: std::future::Future>(&self, fut: F) -> Result<F::Output, NetError> {
        let runtime = self
            .runtime
            .get_or_init(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the network runtime: {e}"))
            })
            .as_ref()
            .map_err(|e| NetError::Other(e.clone()))?;
        Ok(runtime.block_on(fut))
    }
}

/// Synchronous GitHub release calls, for `publish()` and `plan --matrix
/// --skip-published`: the target's repository, API and token are read from
/// the process environment where the target leaves them out.
impl HttpNetwork {
    /// Run `op` on the release of `target`, made inside this network's
    /// runtime (octocrab needs one when it is built).
    fn run_github<T, F, Fut>(&self, target: &GithubReleaseTarget, op: F) -> Result<T, GithubError>
    where
        F: FnOnce(GithubRelease) -> Fut,
        Fut: std::future::Future<Output = Result<T, GithubError>>,
    {
        let config = GithubConfig::from_target(target, |k| std::env::var(k).ok())?;
        let client = self
            .client()
            .map_err(|e| GithubError::Config(e.to_string()))?;
        self.block_on(async move { op(GithubRelease::new(client, config)?).await })
            .map_err(|e| GithubError::Transport {
                what: "starting the network".into(),
                message: e.to_string(),
            })?
    }

    /// Upload `wheels` (and their `.metadata`) to `target`'s release: see
    /// [`GithubRelease::publish_wheels`].
    pub fn publish_to_github(
        &self,
        target: &GithubReleaseTarget,
        wheels: &[WheelFile],
        clobber: bool,
    ) -> Result<Vec<PublishedFile>, GithubError> {
        self.run_github(target, |gh| async move {
            gh.publish_wheels(&target.tag, wheels, clobber).await
        })
    }

    /// The wheels of `target`'s release (`--from-release`): see
    /// [`GithubRelease::release_wheels`].
    pub fn github_release_wheels(
        &self,
        target: &GithubReleaseTarget,
    ) -> Result<Vec<ReleaseWheel>, GithubError> {
        self.run_github(
            target,
            |gh| async move { gh.release_wheels(&target.tag).await },
        )
    }

    /// Is `file_name` already an asset of `target`'s release? See
    /// [`GithubRelease::wheel_published`].
    pub fn github_wheel_published(
        &self,
        target: &GithubReleaseTarget,
        file_name: &str,
    ) -> Result<bool, GithubError> {
        self.run_github(target, |gh| async move {
            gh.wheel_published(&target.tag, file_name).await
        })
    }
}

impl Fetch for HttpNetwork {
    fn fetch(&self, url: &str, dest: &Path, opts: &FetchOptions) -> Result<Fetched, NetError> {
        let client = self
            .client()?
            .with_timeouts(
                opts.connect_timeout,
                opts.total_timeout,
                opts.answer_timeout,
            )
            .map_err(net_error)?;
        let limits = DownloadLimits {
            max_bytes: opts.max_bytes,
            idle_timeout: opts.idle_timeout,
        };
        let req = Request::get(url);
        self.block_on(async { client.download(&req, dest, limits).await })?
            .map_err(net_error)
    }
}

impl Network for HttpNetwork {
    /// Publish through [`crate::publish()`] (wheelhouse, static index, and the
    /// other targets as that function serves them).
    fn publish(
        &self,
        wheels: &[PathBuf],
        targets: &PublishTargets,
    ) -> Result<PublishReport, NetError> {
        crate::publish(wheels, targets)
            .map_err(|e| NetError::Other(format!("{e}\nhint: {}", e.hint())))
    }
}

/// Our error as the library's.
pub fn net_error(e: HttpError) -> NetError {
    match e {
        HttpError::Status {
            url,
            status: 404 | 410,
            ..
        } => NetError::NotFound { url },
        HttpError::Status {
            url,
            status,
            message,
        } => NetError::Status {
            url,
            status,
            message,
        },
        HttpError::ConnectTimeout { url, seconds } | HttpError::Timeout { url, seconds } => {
            NetError::Timeout { url, seconds }
        }
        HttpError::Connect { url, message } | HttpError::Dropped { url, message } => {
            NetError::Connect { url, message }
        }
        HttpError::BadUrl { url, message } => NetError::BadUrl { url, message },
        HttpError::Io { path, source } => NetError::Io { path, source },
        e @ (HttpError::RateLimited { .. }
        | HttpError::Setup(_)
        | HttpError::Stalled { .. }
        | HttpError::TooLarge { .. }) => NetError::Other(e.to_string()),
    }
}
