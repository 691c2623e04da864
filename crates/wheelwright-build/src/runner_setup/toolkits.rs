//! The CUDA toolkits installed side by side (`/usr/local/cuda-12.8`,
//! `/usr/local/cuda-13.0`, ...), and the one to build a given torch with.
//!
//! A runner often carries several toolkits; `detect` reports only the one a
//! build would use now (CUDA_HOME, nvcc on PATH, `/usr/local/cuda`). Here every
//! `<root>/usr/local/cuda-*` with an executable `bin/nvcc` counts, plus the
//! detected one. The version comes from `version.json` (`cuda.version`), else
//! `version.txt`, else the directory name; no nvcc is run, so listing stays
//! fast. The newest GCC each accepts comes from its `crt/host_config.h`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use wheelwright_base::archs::CudaVersion;
use wheelwright_base::facts::Facts;
use wheelwright_detect::cuda::{parse_max_gcc_major, parse_version_json, parse_version_txt};
use wheelwright_detect::{is_executable, DetectOptions};

/// One installed CUDA toolkit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Toolkit {
    /// Its home (`/usr/local/cuda-12.8`), the value for `CUDA_HOME`.
    pub home: PathBuf,
    /// `major.minor`.
    pub version: String,
    /// The newest GCC major its `crt/host_config.h` accepts.
    pub max_gcc_major: Option<u32>,
}

impl Toolkit {
    /// The version, parsed.
    pub fn cuda(&self) -> Option<CudaVersion> {
        CudaVersion::parse(&self.version)
    }
}

/// The toolkit at `home`, when it has an executable `bin/nvcc` and a version
/// can be read (`version.json`, `version.txt`, or a `cuda-X.Y` directory name).
pub fn toolkit_at(home: &Path) -> Option<Toolkit> {
    if !is_executable(&home.join("bin/nvcc")) {
        return None;
    }
    let read = |name: &str| std::fs::read_to_string(home.join(name)).ok();
    let version = read("version.json")
        .and_then(|t| parse_version_json(&t))
        .or_else(|| read("version.txt").and_then(|t| parse_version_txt(&t)))
        .or_else(|| {
            let name = home.file_name()?.to_str()?;
            let v = CudaVersion::parse(name.strip_prefix("cuda-")?)?;
            Some(v.to_string())
        })?;
    let max_gcc_major =
        wheelwright_detect::cuda::host_config(home).and_then(|(_, t)| parse_max_gcc_major(&t));
    Some(Toolkit {
        home: home.to_path_buf(),
        version,
        max_gcc_major,
    })
}

/// Every toolkit under `<root>/usr/local/cuda-*`, plus the one `facts`
/// detected, oldest first; one entry per real directory (symlinks such as
/// `/usr/local/cuda` → `cuda-12.8` are not listed twice).
pub fn installed_toolkits(opts: &DetectOptions, facts: &Facts) -> Vec<Toolkit> {
    let mut homes: Vec<PathBuf> = std::fs::read_dir(opts.rooted("/usr/local"))
        .map(|dir| {
            dir.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("cuda-"))
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(c) = &facts.cuda {
        homes.push(PathBuf::from(&c.home));
    }
    let mut seen = Vec::new();
    let mut out: Vec<Toolkit> = Vec::new();
    for home in homes {
        let real = home.canonicalize().unwrap_or_else(|_| home.clone());
        if seen.contains(&real) {
            continue;
        }
        seen.push(real);
        if let Some(t) = toolkit_at(&home) {
            out.push(t);
        }
    }
    out.sort_by(|a, b| a.cuda().cmp(&b.cuda()).then(a.home.cmp(&b.home)));
    out
}

/// The toolkit to build a torch of CUDA `want` with: the same major (torch
/// refuses another), preferring the exact version, then the oldest newer
/// minor, then the newest older one. `None` when no toolkit has that major.
pub fn choose_toolkit(toolkits: &[Toolkit], want: CudaVersion) -> Option<&Toolkit> {
    let same: Vec<&Toolkit> = toolkits
        .iter()
        .filter(|t| t.cuda().is_some_and(|c| c.major == want.major))
        .collect();
    let by = |t: &&Toolkit| t.cuda().unwrap_or(CudaVersion::new(0, 0));
    same.iter()
        .copied()
        .filter(|t| by(t) >= want)
        .min_by_key(by)
        .or_else(|| same.iter().copied().max_by_key(by))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::write_executable;

    fn fake_toolkit(root: &Path, name: &str, version_json: Option<&str>) -> PathBuf {
        let home = root.join("usr/local").join(name);
        write_executable(&home.join("bin/nvcc"), "#!/bin/sh\nexit 0\n");
        if let Some(v) = version_json {
            std::fs::write(
                home.join("version.json"),
                format!(r#"{{"cuda": {{"name": "CUDA SDK", "version": "{v}"}}}}"#),
            )
            .unwrap();
        }
        home
    }

    #[test]
    fn lists_side_by_side_toolkits_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fake_toolkit(root, "cuda-12.8", Some("12.8.1"));
        fake_toolkit(root, "cuda-13.0", None);
        fake_toolkit(root, "cuda-12.4", Some("12.4.131"));
        // A directory without nvcc is no toolkit.
        std::fs::create_dir_all(root.join("usr/local/cuda-11.8/lib64")).unwrap();
        std::os::unix::fs::symlink(
            root.join("usr/local/cuda-12.8"),
            root.join("usr/local/cuda"),
        )
        .unwrap();
        let opts = wheelwright_detect::DetectOptions::isolated(root, std::ffi::OsStr::new(""));
        let facts = crate::test_support::empty_facts();
        let found = installed_toolkits(&opts, &facts);
        let versions: Vec<&str> = found.iter().map(|t| t.version.as_str()).collect();
        assert_eq!(versions, ["12.4", "12.8", "13.0"]);

        let v = |s: &str| CudaVersion::parse(s).unwrap();
        assert_eq!(choose_toolkit(&found, v("12.8")).unwrap().version, "12.8");
        assert_eq!(choose_toolkit(&found, v("12.6")).unwrap().version, "12.8");
        assert_eq!(choose_toolkit(&found, v("12.9")).unwrap().version, "12.8");
        assert_eq!(choose_toolkit(&found, v("13.0")).unwrap().version, "13.0");
        assert_eq!(choose_toolkit(&found, v("11.8")), None);
    }
}
