//! Prebuilt wheel first: before compiling, look for a wheel that matches this
//! host, where flash-attn publishes them and in any configured wheelhouse.
//!
//! flash-attn's `setup.py` (2.8.3, `get_wheel_url`) names its release assets
//! `flash_attn-{ver}+cu{MAJOR}torch{X.Y}cxx11abi{TRUE|FALSE}-cp{XY}-cp{XY}-linux_{machine}.whl`
//! (torch's CUDA major, torch's `major.minor`, torch's C++11 ABI, the
//! interpreter's CPython tag) and downloads
//! `https://github.com/Dao-AILab/flash-attention/releases/download/v{ver}/{name}`
//! with no timeout at all. Here the name comes from the host's facts, the base
//! URL can be replaced (`WHEELWRIGHT_PREBUILT_URL`: a mirror, or a test
//! server), wheelhouse directories are looked in first (names compared
//! case-insensitively: pip lower-cases local labels), and the download goes
//! through the [`Fetch`] trait, bounded so that an offline runner or a bad
//! server gets a one-line note, never a hang or a full disk:
//! - [`CONNECT_TIMEOUT`] (5 s) to connect to each host (TCP, proxy tunnel,
//!   TLS handshake);
//! - [`ANSWER_TIMEOUT`] (10 s) from sending the request to the answer's
//!   status and headers, the connection and any redirects included (a server
//!   that accepts and stays silent);
//! - [`IDLE_TIMEOUT`] (30 s): the body must bring at least 16 KiB in every
//!   such window ([`crate::net::STALL_BYTES`]), so a server that sends
//!   nothing more, or trickles a byte every few seconds, is given up;
//! - [`MAX_WHEEL_BYTES`] (2 GiB): a larger body is refused from its
//!   `Content-Length`, or as soon as that many bytes have come;
//! - [`DOWNLOAD_TIMEOUT`] (600 s) for all of it: a 5xx or rate-limit answer
//!   or a dropped connection is tried again (5 attempts in all, with
//!   backoff) within it. A 404 is "no match".
//!
//! `build --prefer-prebuilt` (the Job's [`crate::spec::PrebuiltPolicy::Prefer`])
//! then checks the wheel (`wheel check` against the plan's archs) and uses it
//! instead of compiling; [`PrebuiltRecord`] is what its `report.json` keeps.
//!
//! A flash-attn release wheel's `METADATA` lacks the local label its file name
//! carries: pip installs it from the file, an index would refuse it. Usable
//! locally, with a warning ([`PREBUILT_METADATA_WARNING`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::net::{Fetch, FetchOptions, NetError};
use wheelwright_base::facts::Facts;
use wheelwright_plan::matrix::flash_attn_wheel_name;

/// Where flash-attn's release assets are downloaded from (`/v{ver}/{name}` follows).
pub const FLASH_ATTN_RELEASES: &str =
    "https://github.com/Dao-AILab/flash-attention/releases/download";

/// Connect timeout of the prebuilt download.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the server may take to answer the prebuilt lookup (status and
/// headers); the download itself may then take up to [`DOWNLOAD_TIMEOUT`].
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// The whole download of a prebuilt wheel (flash-attn's are ~250 MB).
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// A download that brings less than 16 KiB in this long is given up.
pub const IDLE_TIMEOUT: Duration = crate::net::IDLE_TIMEOUT;

/// The largest prebuilt wheel downloaded: 2 GiB. The wheels come from
/// flash-attn's GitHub releases (or a mirror of them), and GitHub holds no
/// release asset of 2 GiB or more, so no release wheel can be larger; the
/// largest today (every arch of one CUDA, torch and Python) are ~250 MB.
/// The body is written to disk as it comes, never held in memory.
pub const MAX_WHEEL_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Said whenever a release asset is used instead of a build.
pub const PREBUILT_METADATA_WARNING: &str = "a flash-attn release wheel's METADATA has no local version label (its file name has one): pip installs it from the file, but an index would refuse it; publish wheels built here instead";

/// The prebuilt wheel that would match this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrebuiltKey {
    /// flash-attn version (`2.8.3`).
    pub version: String,
    /// flash-attn's variant label (`cu12torch2.8cxx11abiTRUE`).
    pub variant: String,
    /// CPython `major.minor` (`3.12`).
    pub python: String,
    /// `x86_64`, `aarch64`.
    pub machine: String,
}

impl PrebuiltKey {
    /// The key of this host: its Python, torch (version, CUDA, ABI) and
    /// machine. `Err` says what is missing to name one.
    pub fn for_host(facts: &Facts, version: &str) -> Result<PrebuiltKey, String> {
        let python = facts.python.as_ref().ok_or("no Python was found")?;
        let mut parts = python.version.split('.');
        let py = match (parts.next(), parts.next()) {
            (Some(a), Some(b)) => format!("{a}.{b}"),
            _ => return Err(format!("Python version `{}` unreadable", python.version)),
        };
        if facts.torch.is_none() {
            return Err("torch is not installed".into());
        }
        let variant = wheelwright_plan::local_version(facts)
            .ok_or("torch is a CPU-only build or its C++ ABI is unknown")?;
        Ok(PrebuiltKey {
            version: version.to_string(),
            variant,
            python: py,
            machine: facts.host.arch.clone(),
        })
    }

    /// The asset's file name.
    pub fn wheel_name(&self) -> String {
        flash_attn_wheel_name(&self.version, &self.variant, &self.python, &self.machine)
    }

    /// `{base}/v{version}/{name}`, as flash-attn's `setup.py` builds it.
    pub fn url(&self, base: &str) -> String {
        format!(
            "{}/v{}/{}",
            base.trim_end_matches('/'),
            self.version,
            self.wheel_name()
        )
    }
}

/// The release download base this process uses: `WHEELWRIGHT_PREBUILT_URL`
/// when set and not empty, else [`FLASH_ATTN_RELEASES`].
pub fn release_base_from_env() -> String {
    std::env::var(wheelwright_base::env_vars::WHEELWRIGHT_PREBUILT_URL)
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| FLASH_ATTN_RELEASES.to_string())
}

/// Where to look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrebuiltOptions {
    /// The release download base ([`FLASH_ATTN_RELEASES`] or `WHEELWRIGHT_PREBUILT_URL`).
    pub base_url: String,
    /// Directories of wheels to look in first.
    pub wheelhouses: Vec<PathBuf>,
    /// Timeouts and size cap of the download.
    pub fetch: FetchOptions,
}

impl Default for PrebuiltOptions {
    fn default() -> Self {
        PrebuiltOptions {
            base_url: FLASH_ATTN_RELEASES.to_string(),
            wheelhouses: Vec::new(),
            fetch: FetchOptions {
                connect_timeout: CONNECT_TIMEOUT,
                total_timeout: DOWNLOAD_TIMEOUT,
                answer_timeout: Some(ANSWER_TIMEOUT),
                max_bytes: Some(MAX_WHEEL_BYTES),
                idle_timeout: Some(IDLE_TIMEOUT),
            },
        }
    }
}

/// What the look-up found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Lookup {
    /// In a wheelhouse.
    Local {
        /// The wheel.
        path: PathBuf,
    },
    /// Downloaded from the release URL.
    Downloaded {
        /// Where it was saved.
        path: PathBuf,
        /// From where.
        url: String,
        /// Its sha256.
        sha256: String,
    },
    /// The server says there is no such asset.
    NoMatch {
        /// What was asked for.
        url: String,
    },
    /// The server could not be reached in time (offline, refused, slow).
    Unreachable {
        /// What was asked for.
        url: String,
        /// Why, in one line.
        message: String,
    },
}

impl Lookup {
    /// The wheel found, if any.
    pub fn wheel(&self) -> Option<&Path> {
        match self {
            Lookup::Local { path } | Lookup::Downloaded { path, .. } => Some(path),
            _ => None,
        }
    }

    /// One line for people.
    pub fn note(&self) -> String {
        match self {
            Lookup::Local { path } => format!("prebuilt wheel found: {}", path.display()),
            Lookup::Downloaded { url, .. } => format!("prebuilt wheel downloaded: {url}"),
            Lookup::NoMatch { url } => {
                format!("no prebuilt wheel for this host ({url} does not exist); compiling")
            }
            Lookup::Unreachable { url, message } => {
                format!("prebuilt wheel not checked: {url} unreachable ({message}); compiling")
            }
        }
    }
}

/// What `build --prefer-prebuilt` did about a prebuilt wheel, as
/// `report.json` keeps it (`prebuilt`): used instead of compiling, or why not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PrebuiltRecord {
    /// The wheel was used instead of compiling (the report's `wheel` is it).
    pub used: bool,
    /// The release URL looked up (and downloaded from, when found there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The wheel found in a wheelhouse (a download is named by `url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// sha256 of the wheel found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The one line said on the console and in `build.log`.
    pub note: String,
    /// `wheel check`'s findings on it: the warnings of a wheel used, the
    /// errors that refused one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<wheelwright_base::finding::Finding>,
}

impl PrebuiltRecord {
    /// Nothing was used: `note` says why.
    pub fn not_used(note: impl Into<String>) -> PrebuiltRecord {
        PrebuiltRecord {
            used: false,
            url: None,
            path: None,
            sha256: None,
            note: note.into(),
            findings: Vec::new(),
        }
    }
}

/// The wheel named `name` in `dir`, compared case-insensitively.
pub fn in_wheelhouse(dir: &Path, name: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .find(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .map(|e| e.path())
}

/// Look in the wheelhouses, then download into `dest_dir` through `net`.
pub fn find_prebuilt(
    key: &PrebuiltKey,
    opts: &PrebuiltOptions,
    net: &dyn Fetch,
    dest_dir: &Path,
) -> Lookup {
    let name = key.wheel_name();
    if let Some(path) = opts
        .wheelhouses
        .iter()
        .find_map(|d| in_wheelhouse(d, &name))
    {
        return Lookup::Local { path };
    }
    let url = key.url(&opts.base_url);
    let dest = dest_dir.join(&name);
    if let Err(e) = std::fs::create_dir_all(dest_dir) {
        return Lookup::Unreachable {
            url,
            message: format!("cannot create {}: {e}", dest_dir.display()),
        };
    }
    match net.fetch(&url, &dest, &opts.fetch) {
        Ok(f) => Lookup::Downloaded {
            path: f.path,
            url,
            sha256: f.sha256,
        },
        Err(NetError::NotFound { .. })
        | Err(NetError::Status {
            status: 404 | 410, ..
        }) => Lookup::NoMatch { url },
        Err(e) => {
            let message = e.to_string();
            let first = message.lines().next().unwrap_or_default();
            // The note names the URL once.
            let message = first
                .strip_prefix(&format!("{url}: "))
                .unwrap_or(first)
                .to_string();
            Lookup::Unreachable { url, message }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{Fetched, Offline};
    use wheelwright_base::facts::{Python, Torch};

    fn host() -> Facts {
        let mut f = crate::test_support::empty_facts();
        f.python = Some(Python {
            path: "/v/bin/python".into(),
            version: "3.12.3".into(),
            pip: None,
            setuptools: None,
            wheel: None,
            packaging: None,
            psutil: None,
        });
        f.torch = Some(Torch {
            version: "2.8.0+cu128".into(),
            cuda: Some("12.8".into()),
            cxx11_abi: Some(true),
            cuda_available: true,
        });
        f
    }

    #[test]
    fn names_the_asset_as_flash_attns_setup_py_does() {
        let k = PrebuiltKey::for_host(&host(), "2.8.3").unwrap();
        assert_eq!(
            k.wheel_name(),
            "flash_attn-2.8.3+cu12torch2.8cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"
        );
        assert_eq!(
            k.url(FLASH_ATTN_RELEASES),
            "https://github.com/Dao-AILab/flash-attention/releases/download/v2.8.3/flash_attn-2.8.3+cu12torch2.8cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"
        );
        let mut cpu = host();
        cpu.torch.as_mut().unwrap().cuda = None;
        assert!(PrebuiltKey::for_host(&cpu, "2.8.3").is_err());
        let mut none = host();
        none.torch = None;
        assert_eq!(
            PrebuiltKey::for_host(&none, "2.8.3").unwrap_err(),
            "torch is not installed"
        );
    }

    /// Serves a directory as the release download would; other failures as asked.
    struct Served(PathBuf);
    impl Fetch for Served {
        fn fetch(&self, url: &str, dest: &Path, _: &FetchOptions) -> Result<Fetched, NetError> {
            let name = url.rsplit('/').next().unwrap_or_default();
            let from = self.0.join(name);
            let size =
                std::fs::copy(&from, dest).map_err(|_| NetError::NotFound { url: url.into() })?;
            Ok(Fetched {
                path: dest.to_path_buf(),
                size,
                sha256: "ab".into(),
            })
        }
    }

    #[test]
    fn wheelhouse_first_then_the_release_url() {
        let dir = tempfile::tempdir().unwrap();
        let k = PrebuiltKey::for_host(&host(), "2.8.3").unwrap();
        let served = dir.path().join("served");
        std::fs::create_dir_all(&served).unwrap();
        let mut opts = PrebuiltOptions {
            base_url: "http://127.0.0.1:9/dl".into(),
            ..Default::default()
        };
        let dest = dir.path().join("dl");
        assert!(matches!(
            find_prebuilt(&k, &opts, &Served(served.clone()), &dest),
            Lookup::NoMatch { .. }
        ));
        std::fs::write(served.join(k.wheel_name()), b"wheel").unwrap();
        let got = find_prebuilt(&k, &opts, &Served(served), &dest);
        assert_eq!(got.wheel(), Some(dest.join(k.wheel_name()).as_path()));
        assert_eq!(
            got.note(),
            format!(
                "prebuilt wheel downloaded: http://127.0.0.1:9/dl/v2.8.3/{}",
                k.wheel_name()
            )
        );
        let offline = find_prebuilt(&k, &opts, &Offline, &dest);
        assert!(matches!(offline, Lookup::Unreachable { .. }), "{offline:?}");
        assert!(offline.note().ends_with("; compiling") && !offline.note().contains('\n'));
        // A wheelhouse copy wins, whatever the case of its label.
        let house = dir.path().join("house");
        std::fs::create_dir_all(&house).unwrap();
        std::fs::write(house.join(k.wheel_name().to_lowercase()), b"").unwrap();
        opts.wheelhouses = vec![house.clone()];
        assert_eq!(
            find_prebuilt(&k, &opts, &Offline, &dest),
            Lookup::Local {
                path: house.join(k.wheel_name().to_lowercase())
            }
        );
    }
}
