//! Every environment variable wheelwright reads or sets, in one place.
//!
//! Reading: our own overrides (`WHEELWRIGHT_*`) and the toolchain's variables
//! that detection follows. Setting: the variables a package's build honours.

/// Root to read `/proc` and `/sys` under instead of `/` (tests, containers).
pub const WHEELWRIGHT_ROOT: &str = "WHEELWRIGHT_ROOT";
/// Python interpreter to probe and build with.
pub const WHEELWRIGHT_PYTHON: &str = "WHEELWRIGHT_PYTHON";
/// `off` (or `0`, `false`, `no`): skip NVML and ask `nvidia-smi` for the GPUs.
pub const WHEELWRIGHT_NVML: &str = "WHEELWRIGHT_NVML";
/// Timeout of each external probe, in seconds.
pub const WHEELWRIGHT_PROBE_TIMEOUT: &str = "WHEELWRIGHT_PROBE_TIMEOUT";
/// Seconds a torch extension's setup.py probe may take (default 180: one
/// torch import per run of setup.py, up to seven runs).
pub const WHEELWRIGHT_SETUP_PROBE_TIMEOUT: &str = "WHEELWRIGHT_SETUP_PROBE_TIMEOUT";
/// Base URL of prebuilt flash-attn wheels (`/v{ver}/{name}` follows); default
/// flash-attn's GitHub release downloads. A mirror, or a test server.
pub const WHEELWRIGHT_PREBUILT_URL: &str = "WHEELWRIGHT_PREBUILT_URL";
/// Set on every build with a value unique to it, so that the build's
/// descendants can be found (and killed) later by their environment.
pub const WHEELWRIGHT_BUILD_ID: &str = "WHEELWRIGHT_BUILD_ID";
/// Set on the build: the file that ranks the sources longest first, read by
/// wheelwright's `ninja` shim (`builder::ninja_order`).
pub const WHEELWRIGHT_NINJA_ORDER: &str = "WHEELWRIGHT_NINJA_ORDER";
/// Seconds the thrash watchdog waits with memory pressure high at the
/// ceiling before it stops an attempt (default 30); `off` or `0`: no watchdog
/// (`builder::oom::thrash`).
pub const WHEELWRIGHT_THRASH_SECONDS: &str = "WHEELWRIGHT_THRASH_SECONDS";

/// The CUDA toolkit, as torch's `cpp_extension` looks it up (first wins).
pub const CUDA_HOME: &str = "CUDA_HOME";
/// Windows-style CUDA toolkit location, read after CUDA_HOME.
pub const CUDA_PATH: &str = "CUDA_PATH";
/// Active virtual environment.
pub const VIRTUAL_ENV: &str = "VIRTUAL_ENV";
/// The executable search path.
pub const PATH: &str = "PATH";
/// The C compiler. torch's `cpp_extension` also hands it to nvcc as its host
/// compiler: when `CC` is set and the flags hold no `-ccbin` yet, it adds
/// `-ccbin $CC` to every nvcc command (`_ccbin = os.getenv("CC")`).
pub const CC: &str = "CC";
/// The C++ compiler: torch's host `.cpp` compiles and the link.
pub const CXX: &str = "CXX";
/// The host compiler of nvcc runs that pass no `-ccbin` (with `CC` unset, or
/// outside torch's `cpp_extension`): nvcc itself reads it, torch does not.
/// (Per build scripts and issues citing the "NVCC Environment Variables"
/// section of NVIDIA's nvcc guide; the CUDA release that added it is not
/// confirmed here.)
pub const NVCC_CCBIN: &str = "NVCC_CCBIN";

/// Set on the build unless the caller set it (to 315532800, 1980-01-01, the
/// zip format's first date): build backends (`wheel`/setuptools' bdist_wheel,
/// hatchling, ...) stamp the wheel's entries with it, so the same sources give
/// the same wheel bytes (reproducible-builds.org).
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// sccache's local cache directory (set from `--sccache-dir`).
pub const SCCACHE_DIR: &str = "SCCACHE_DIR";
/// Paths sccache strips from what it hashes (`:`-separated); set by
/// `--sccache` to the work dir and the build Python's site dirs unless given.
pub const SCCACHE_BASEDIRS: &str = "SCCACHE_BASEDIRS";
/// The nvcc torch writes into `build.ninja` (`sccache /path/to/nvcc`).
pub const PYTORCH_NVCC: &str = "PYTORCH_NVCC";
/// `1`: torch leaves nvcc's `--generate-dependencies-with-compile` out,
/// which sccache cannot cache.
pub const TORCH_EXTENSION_SKIP_NVCC_GEN_DEPENDENCIES: &str =
    "TORCH_EXTENSION_SKIP_NVCC_GEN_DEPENDENCIES";

/// Parallel compile jobs for torch's ninja build.
pub const MAX_JOBS: &str = "MAX_JOBS";
/// `nvcc --threads` in flash-attn's build.
pub const NVCC_THREADS: &str = "NVCC_THREADS";
/// Flags nvcc itself appends to every command line (after the command's
/// own, so its `--threads` wins): how a plan's threads reach the nvcc of a
/// package whose setup.py does not read NVCC_THREADS.
pub const NVCC_APPEND_FLAGS: &str = "NVCC_APPEND_FLAGS";
/// flash-attn's target architectures, `80;90`.
pub const FLASH_ATTN_CUDA_ARCHS: &str = "FLASH_ATTN_CUDA_ARCHS";
/// torch's target architectures for any `CUDAExtension`, `8.0;9.0+PTX`.
pub const TORCH_CUDA_ARCH_LIST: &str = "TORCH_CUDA_ARCH_LIST";
/// Build from source instead of downloading a prebuilt wheel.
pub const FLASH_ATTENTION_FORCE_BUILD: &str = "FLASH_ATTENTION_FORCE_BUILD";
/// flash-attn: build for the C++11 ABI (`TRUE`/`FALSE`), set from torch's.
pub const FLASH_ATTENTION_FORCE_CXX11_ABI: &str = "FLASH_ATTENTION_FORCE_CXX11_ABI";
/// flash-attn: skip the CUDA build (never set by wheelwright; read to warn).
pub const FLASH_ATTENTION_SKIP_CUDA_BUILD: &str = "FLASH_ATTENTION_SKIP_CUDA_BUILD";
/// Local version label of the built wheel.
pub const FLASH_ATTN_LOCAL_VERSION: &str = "FLASH_ATTN_LOCAL_VERSION";
/// Set to `1` on the build so Python's output reaches the log as it happens.
pub const PYTHONUNBUFFERED: &str = "PYTHONUNBUFFERED";
/// Set to `1` on every pip run so pip never waits for input.
pub const PIP_NO_INPUT: &str = "PIP_NO_INPUT";
/// Passed through to the wheel check with the `CUDA*` variables.
pub const LD_LIBRARY_PATH: &str = "LD_LIBRARY_PATH";
/// Set to `C` on probed tools so their output is parsed in one language.
pub const LC_ALL: &str = "LC_ALL";
/// A non-empty value turns colour off in text output (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";

/// Set by GitHub Actions.
pub const GITHUB_ACTIONS: &str = "GITHUB_ACTIONS";
/// GitHub Actions: the step summary file (Markdown).
pub const GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";
/// GitHub Actions: the step outputs file.
pub const GITHUB_OUTPUT: &str = "GITHUB_OUTPUT";
/// GitHub Actions: the file of variables for later steps.
pub const GITHUB_ENV: &str = "GITHUB_ENV";
/// Directories a step adds to the PATH of later steps, one per line.
pub const GITHUB_PATH: &str = "GITHUB_PATH";
/// The checkout; annotation paths are made relative to it.
pub const GITHUB_WORKSPACE: &str = "GITHUB_WORKSPACE";

/// The user name for a PyPI-compatible upload (`wheelwright publish
/// --index-url`), as twine reads it.
pub const TWINE_USERNAME: &str = "TWINE_USERNAME";
/// The password or API token for a PyPI-compatible upload, as twine reads it.
pub const TWINE_PASSWORD: &str = "TWINE_PASSWORD";

/// The network layer (`wheelwright-publish`): proxies, as curl reads them
/// (upper case first, then lower case; `HTTP_PROXY` ignored under CGI, where
/// `REQUEST_METHOD` is set and a request header could set it).
pub const HTTP_PROXY: &str = "HTTP_PROXY";
/// Proxy for `https://` URLs.
pub const HTTPS_PROXY: &str = "HTTPS_PROXY";
/// Proxy for any scheme without a specific one.
pub const ALL_PROXY: &str = "ALL_PROXY";
/// Hosts, domains and CIDR blocks reached without the proxy.
pub const NO_PROXY: &str = "NO_PROXY";
/// Set by CGI servers; its presence turns `HTTP_PROXY` off.
pub const REQUEST_METHOD: &str = "REQUEST_METHOD";
/// A PEM bundle of CA certificates trusted besides the system's store.
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";
/// Directories of PEM CA certificates trusted besides the system's store.
pub const SSL_CERT_DIR: &str = "SSL_CERT_DIR";
/// The token publishing to GitHub uses (unless `--token-env` names another).
pub const GITHUB_TOKEN: &str = "GITHUB_TOKEN";
/// `owner/name` of the repository whose release is published to.
pub const GITHUB_REPOSITORY: &str = "GITHUB_REPOSITORY";
/// The REST API base (`https://api.github.com`, or `https://HOST/api/v3` on
/// GitHub Enterprise Server).
pub const GITHUB_API_URL: &str = "GITHUB_API_URL";

/// Names of further variables whose values are masked in every output, a
/// comma or space separated list (as `--mask-env NAME` adds one each); see
/// [`crate::secrets`].
pub const WHEELWRIGHT_MASK_ENV: &str = "WHEELWRIGHT_MASK_ENV";
/// Secret-bearing variables whose whole value is masked wherever it appears
/// ([`crate::secrets`]): GitHub's tokens (the CLI's `GH_TOKEN`, the
/// runner's own two), PyPI and index upload tokens, and the credentials of a
/// shared compiler cache. `TWINE_USERNAME` and `UV_PUBLISH_USERNAME` are not
/// here: a user name is not a secret (for tokens it is `__token__`).
pub const SECRET_VARS: &[&str] = &[
    GITHUB_TOKEN,
    "GH_TOKEN",
    "GH_ENTERPRISE_TOKEN",
    "GITHUB_ENTERPRISE_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    TWINE_PASSWORD,
    "UV_PUBLISH_TOKEN",
    "UV_PUBLISH_PASSWORD",
    "PYPI_TOKEN",
    "PYPI_API_TOKEN",
    "PIP_PASSWORD",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "SCCACHE_WEBDAV_PASSWORD",
    "SCCACHE_WEBDAV_TOKEN",
    "SCCACHE_AZURE_CONNECTION_STRING",
];
/// Variables holding URLs (one or several, space separated) whose
/// `user:password@` (or a lone `token@`) is a secret: package indexes as pip
/// and uv read them, proxies, a Redis compiler cache.
pub const CREDENTIAL_URL_VARS: &[&str] = &[
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "UV_FIND_LINKS",
    "UV_PUBLISH_URL",
    "TWINE_REPOSITORY_URL",
    HTTP_PROXY,
    HTTPS_PROXY,
    ALL_PROXY,
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "SCCACHE_REDIS",
];

/// Set (to any value) by CI systems; tests whose real tools are missing
/// fail instead of skipping when it is set.
pub const CI: &str = "CI";
/// Tests: the `nvcc` that builds the real device code `wheel check` reads
/// (PyPI's `nvidia-cuda-nvcc`); `cuobjdump` is looked up beside it. Without
/// it, `nvcc` on `PATH`.
pub const WHEELWRIGHT_TEST_NVCC: &str = "WHEELWRIGHT_TEST_NVCC";

/// Whether `name` is a plain environment variable name: letters, digits and
/// `_`, not starting with a digit.
pub fn is_plain_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_names() {
        for ok in ["GITHUB_TOKEN", "_x", "a1"] {
            assert!(super::is_plain_name(ok), "{ok}");
        }
        for bad in ["", "1A", "A-B", "A B", "Ä"] {
            assert!(!super::is_plain_name(bad), "{bad}");
        }
    }
}
