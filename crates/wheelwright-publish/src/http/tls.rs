//! What the client trusts: the system's CA certificates (the bundle and
//! directories OpenSSL would read) plus `SSL_CERT_FILE`/`SSL_CERT_DIR`, both
//! together (a corporate CA added, not the system's replaced), checked by
//! rustls with the ring provider, which [`install_ring`] makes the process's
//! default (reqwest is built without a provider of its own: its default,
//! aws-lc, needs a newer glibc than the release binary targets).

use std::path::{Path, PathBuf};

use rustls::pki_types::CertificateDer;

/// Where the trusted CA certificates come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaSources {
    /// A PEM bundle added to the system's store (`SSL_CERT_FILE`).
    pub cert_file: Option<PathBuf>,
    /// Directories of PEM files added to the system's store (`SSL_CERT_DIR`).
    pub cert_dirs: Vec<PathBuf>,
}

/// Make ring the process's rustls provider, once (a provider already
/// installed is kept).
pub(crate) fn install_ring() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The bundle files of the common distributions (what OpenSSL's probe looks for).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The trusted roots: the system's certificates plus the configured extra
/// sources. An extra source that cannot be read is an error (a corporate CA
/// silently missing would give a confusing certificate failure later).
pub(crate) fn root_certificates(extra: &CaSources) -> Result<Vec<reqwest::Certificate>, String> {
    let mut certs: Vec<CertificateDer<'static>> = Vec::new();
    // rustls-native-certs reads SSL_CERT_FILE itself and then skips the
    // system store; we want both, so the system store is loaded from the
    // probed paths whenever an extra source is configured.
    if extra.cert_file.is_some() || !extra.cert_dirs.is_empty() {
        for bundle in SYSTEM_BUNDLES.iter().map(Path::new).filter(|p| p.exists()) {
            certs.extend(rustls_native_certs::load_certs_from_paths(Some(bundle), None).certs);
        }
        for dir in openssl_probe::candidate_cert_dirs() {
            certs.extend(rustls_native_certs::load_certs_from_paths(None, Some(dir)).certs);
        }
    } else {
        certs.extend(rustls_native_certs::load_native_certs().certs);
    }
    if let Some(file) = &extra.cert_file {
        let loaded = rustls_native_certs::load_certs_from_paths(Some(file), None);
        if let Some(e) = loaded.errors.first() {
            return Err(format!("cannot read CA file {}: {e}", file.display()));
        }
        if loaded.certs.is_empty() {
            return Err(format!(
                "CA file {} holds no PEM certificate",
                file.display()
            ));
        }
        certs.extend(loaded.certs);
    }
    for dir in &extra.cert_dirs {
        let loaded = rustls_native_certs::load_certs_from_paths(None, Some(dir));
        if let Some(e) = loaded.errors.first() {
            return Err(format!("cannot read CA directory {}: {e}", dir.display()));
        }
        certs.extend(loaded.certs);
    }
    // A certificate rustls cannot parse is left out, as a root store would.
    let roots: Vec<reqwest::Certificate> = certs
        .iter()
        .filter(|c| webpki_parsable(c))
        .filter_map(|c| reqwest::Certificate::from_der(c.as_ref()).ok())
        .collect();
    if roots.is_empty() {
        return Err("no CA certificates found (system store empty, no SSL_CERT_FILE)".into());
    }
    Ok(roots)
}

/// Would a rustls root store take this certificate?
fn webpki_parsable(cert: &CertificateDer<'_>) -> bool {
    let mut store = rustls::RootCertStore::empty();
    store.add(cert.clone()).is_ok()
}
