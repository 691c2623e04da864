//! Which wheels are already published, for `plan --matrix --skip-published`:
//! the wheel file names in a listing.
//!
//! The source is a URL (fetched through the [`Fetch`] trait with a short
//! connect timeout), a directory (a wheelhouse: its `*.whl` files) or a file
//! (a saved listing). A listing can be GitHub's release JSON
//! (`/repos/O/R/releases/tags/T`: `assets[].name`), a PEP 503 simple index page
//! (`<a href=".../name.whl#sha256=...">`) or plain text: every token that ends
//! in `.whl` is read, its last path segment taken and `%2B` decoded to `+`,
//! and only valid wheel names are kept.
//!
//! A listing comes from elsewhere: it is read up to [`MAX_LISTING_BYTES`]
//! (a URL's body is refused from its Content-Length or as soon as it passes
//! the cap; a file must be a regular one, its type checked before a byte is
//! read). GitHub's release JSON for flash-attn's ~80 assets is ~300 KB.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wheelwright_base::net::{is_http_url, Fetch, FetchOptions, NetError};
use wheelwright_base::safe_read::{read_small_file, SmallFileError};
use wheelwright_wheel::file::WheelName;

/// The largest listing read (a release JSON, an index page, a saved list).
pub const MAX_LISTING_BYTES: u64 = 32 << 20;

/// Why the published wheels could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum PublishedError {
    /// Fetching the listing failed.
    #[error("cannot fetch the list of published wheels: {0}")]
    Fetch(#[from] NetError),
    /// Reading the file or directory failed.
    #[error("cannot read {path}: {source}")]
    Read {
        /// What was read.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The listing file is not a regular file of at most [`MAX_LISTING_BYTES`] of text.
    #[error("cannot read the listing {path}: {source}")]
    Listing {
        /// What was read.
        path: PathBuf,
        /// The error.
        #[source]
        source: SmallFileError,
    },
    /// No temp dir to fetch the listing into.
    #[error("cannot make a temp dir for the listing: {0}")]
    Scratch(#[source] std::io::Error),
}

impl PublishedError {
    /// What the user should do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            PublishedError::Fetch(_) => "check the URL (a release's JSON: https://api.github.com/repos/OWNER/REPO/releases/tags/TAG, or an index page) and the network (HTTPS_PROXY, SSL_CERT_FILE); or save the listing to a file and pass that",
            PublishedError::Read { .. } => "pass a release JSON or index page saved to a file, a wheelhouse directory, or a URL",
            PublishedError::Listing { .. } => "pass a release JSON or index page (a regular text file of at most 32 MiB), a wheelhouse directory, or a URL",
            PublishedError::Scratch(_) => "set TMPDIR to a writable directory",
        }
    }
}

/// The wheel file names in `text` (see the module docs for the forms).
pub fn wheel_names_in(text: &str) -> BTreeSet<String> {
    let allowed =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-' | '%' | '/');
    let mut out = BTreeSet::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(at) = rest.find(".whl") {
        let end = offset + at + ".whl".len();
        let start = text[..end - ".whl".len()]
            .char_indices()
            .rev()
            .find(|(_, c)| !allowed(*c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let token = &text[start..end];
        let name = token.rsplit('/').next().unwrap_or(token);
        let name = name.replace("%2B", "+").replace("%2b", "+");
        if WheelName::parse(&name).is_ok() {
            out.insert(name);
        }
        offset = end;
        rest = &text[end..];
    }
    out
}

/// The wheels published at `source`: a URL (fetched with `net` into a temp
/// dir, removed after), a directory or a listing file.
pub fn published_wheels(source: &str, net: &dyn Fetch) -> Result<BTreeSet<String>, PublishedError> {
    if is_http_url(source) {
        let scratch = tempfile::Builder::new()
            .prefix("wheelwright-published-")
            .tempdir()
            .map_err(PublishedError::Scratch)?;
        let dest = scratch.path().join("published-listing");
        let opts = FetchOptions {
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(60),
            answer_timeout: None,
            max_bytes: Some(MAX_LISTING_BYTES),
            ..FetchOptions::default()
        };
        let fetched = net.fetch(source, &dest, &opts)?;
        return read_listing(&fetched.path);
    }
    let path = Path::new(source);
    let read_err = |source| PublishedError::Read {
        path: path.to_path_buf(),
        source,
    };
    if path.is_dir() {
        let mut names = BTreeSet::new();
        for entry in std::fs::read_dir(path).map_err(read_err)? {
            let entry = entry.map_err(read_err)?;
            if let Some(name) = entry.file_name().to_str() {
                if WheelName::parse(name).is_ok() {
                    names.insert(name.to_string());
                }
            }
        }
        return Ok(names);
    }
    read_listing(path)
}

/// The wheel names in the listing file at `path`, read within bounds.
fn read_listing(path: &Path) -> Result<BTreeSet<String>, PublishedError> {
    let text =
        read_small_file(path, MAX_LISTING_BYTES).map_err(|source| PublishedError::Listing {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(wheel_names_in(&text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wheelwright_base::net::{Fetched, Offline};

    const W: &str = "flash_attn-2.8.3+cu12torch2.8cxx11abiTRUE-cp312-cp312-linux_x86_64.whl";

    #[test]
    fn reads_release_json_simple_index_and_plain_lists() {
        let release = format!(
            r#"{{"tag_name": "v2.8.3", "assets": [{{"name": "{W}", "browser_download_url": "https://github.com/Dao-AILab/flash-attention/releases/download/v2.8.3/{}"}}]}}"#,
            W.replace('+', "%2B")
        );
        assert_eq!(wheel_names_in(&release), BTreeSet::from([W.to_string()]));
        let simple = format!(
            "<html><body><a href=\"../../files/{}#sha256=ab\">{W}</a>\n<a href=\"x.tar.gz\">x</a></body></html>",
            W.replace('+', "%2b")
        );
        assert_eq!(wheel_names_in(&simple), BTreeSet::from([W.to_string()]));
        assert_eq!(
            wheel_names_in(&format!("{W}\nnot-a-wheel.whl\n.whl\n")),
            BTreeSet::from([W.to_string()])
        );
    }

    /// A network that serves files of a directory, as a release download would.
    struct Files(PathBuf);
    impl Fetch for Files {
        fn fetch(&self, url: &str, dest: &Path, _: &FetchOptions) -> Result<Fetched, NetError> {
            let name = url.rsplit('/').next().unwrap_or_default();
            let from = self.0.join(name);
            std::fs::copy(&from, dest).map_err(|_| NetError::NotFound { url: url.into() })?;
            Ok(Fetched {
                path: dest.to_path_buf(),
                size: 0,
                sha256: String::new(),
            })
        }
    }

    #[test]
    fn urls_go_through_the_network_directories_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let served = dir.path().join("served");
        std::fs::create_dir_all(&served).unwrap();
        std::fs::write(
            served.join("v2.8.3.json"),
            format!(r#"{{"assets": [{{"name": "{W}"}}]}}"#),
        )
        .unwrap();
        let got = published_wheels(
            "https://api.github.invalid/releases/v2.8.3.json",
            &Files(served.clone()),
        )
        .unwrap();
        assert_eq!(got, BTreeSet::from([W.to_string()]));
        assert!(matches!(
            published_wheels("https://api.github.invalid/missing.json", &Files(served)),
            Err(PublishedError::Fetch(NetError::NotFound { .. }))
        ));
        assert!(matches!(
            published_wheels("https://h/x.json", &Offline),
            Err(PublishedError::Fetch(NetError::Unavailable { .. }))
        ));
        let house = dir.path().join("house");
        std::fs::create_dir_all(&house).unwrap();
        std::fs::write(house.join(W), b"").unwrap();
        std::fs::write(house.join("README"), b"").unwrap();
        assert_eq!(
            published_wheels(house.to_str().unwrap(), &Offline).unwrap(),
            BTreeSet::from([W.to_string()])
        );
        assert!(matches!(
            published_wheels("/nonexistent/listing", &Offline),
            Err(PublishedError::Listing {
                source: SmallFileError::Io(_),
                ..
            })
        ));
    }

    /// A network that records the options it was asked with and answers
    /// as a server whose body passes the cap would.
    struct Capped(std::sync::Mutex<Option<u64>>);
    impl Fetch for Capped {
        fn fetch(&self, url: &str, _: &Path, opts: &FetchOptions) -> Result<Fetched, NetError> {
            *self.0.lock().unwrap() = opts.max_bytes;
            Err(NetError::Other(format!(
                "{url}: the answer is larger than allowed"
            )))
        }
    }

    /// A listing is read within bounds: a URL is fetched with the cap, a
    /// FIFO is refused by its type (not waited on), a file larger than the
    /// cap by its size (a sparse 64 MiB file: nothing is read).
    #[test]
    fn listings_are_read_within_bounds() {
        let net = Capped(std::sync::Mutex::new(None));
        assert!(published_wheels("https://h/big.json", &net).is_err());
        assert_eq!(*net.0.lock().unwrap(), Some(MAX_LISTING_BYTES));

        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("listing.fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let err = published_wheels(fifo.to_str().unwrap(), &Offline).unwrap_err();
        assert!(
            matches!(
                &err,
                PublishedError::Listing {
                    source: SmallFileError::NotRegular { .. },
                    ..
                }
            ),
            "{err}"
        );
        let big = dir.path().join("big.json");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(64 << 20)
            .unwrap();
        let err = published_wheels(big.to_str().unwrap(), &Offline).unwrap_err();
        assert!(
            matches!(
                &err,
                PublishedError::Listing {
                    source: SmallFileError::TooLarge { .. },
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("larger than 32"), "{err}");
    }
}
