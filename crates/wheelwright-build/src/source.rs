//! What to build, and where its tree lives so the build dir persists.
//!
//! A spec is a source tree (built in place), an sdist (extracted once into the
//! work dir), or a PyPI requirement (`flash-attn==2.8.3`: its sdist is
//! downloaded with `pip download --no-binary :all:` into the work dir, then
//! treated as an sdist). pip ≥ 21.3 builds a local directory in place, so
//! setuptools' and ninja's `build/` dir stays in the tree between attempts and
//! between runs, and a retry after an OOM kill recompiles only what is missing.
//! (Given a requirement or an sdist, pip would build in a temporary copy and
//! lose every object on each attempt.)

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use wheelwright_base::digest::sha256_file;
use wheelwright_process as process;
use wheelwright_process::tail_lines;

/// File in an extracted tree that records which sdist (sha256) it came from.
const EXTRACTED_MARKER: &str = ".wheelwright-sdist";

/// What the user asked to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A PyPI requirement, `flash-attn==2.8.3`.
    Requirement(String),
    /// A source distribution archive (`.tar.gz`).
    Sdist(PathBuf),
    /// A directory with `setup.py` or `pyproject.toml`.
    Tree(PathBuf),
}

/// Why the source could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("`{0}` does not exist")]
    /// The path does not exist.
    Missing(PathBuf),
    #[error("`{0}` is a zip sdist; only .tar.gz sdists are extracted (unpack it and pass the directory)")]
    /// A `.zip` sdist (only `.tar.gz` ones are extracted).
    Zip(PathBuf),
    #[error("`{0}` is neither a directory with setup.py or pyproject.toml nor a .tar.gz sdist")]
    /// A path that is neither a source tree nor an sdist.
    NotASource(PathBuf),
    #[error("`{0}` is not an sdist with one top-level directory")]
    /// An sdist without exactly one top-level directory.
    BadSdist(PathBuf),
    #[error("{what}: {source}")]
    /// Reading or extracting failed.
    Io {
        /// What was being done.
        what: String,
        #[source]
        /// Why it failed.
        source: std::io::Error,
    },
    #[error("downloading the sdist of `{spec}` failed: {message}")]
    /// `pip download` of the requirement failed.
    Download {
        /// The requirement.
        spec: String,
        /// pip's words (the tail of its output).
        message: String,
    },
    #[error("the download was cancelled")]
    /// The download was cancelled.
    Cancelled,
    #[error("the spec is empty")]
    /// The spec is empty.
    Empty,
    /// Not an existing path, and not a valid PEP 508 requirement.
    #[error("`{spec}` is not a valid requirement (PEP 508) nor an existing path: {reason}")]
    InvalidRequirement {
        /// The spec as given.
        spec: String,
        /// What the PEP 508 parser said, on one line.
        reason: String,
    },
    /// A URL without the package's name, which pip cannot take as a requirement.
    #[error("`{0}` is a URL without a package name")]
    BareUrl(String),
}

/// The forms of spec a build accepts, for hints.
pub const SPEC_FORMS: &str = "a requirement (`flash-attn==2.8.3`, `flash-attn>=2.8,<3`, `flash-attn @ https://host/flash_attn-2.8.3.tar.gz`), a .tar.gz sdist, or a directory with setup.py or pyproject.toml";

impl SourceError {
    /// What the user should do about it: the accepted forms of a spec, and
    /// for a bare URL the `name @ URL` form it should take.
    pub fn hint(&self) -> String {
        match self {
            SourceError::BareUrl(url) => {
                let name = url_package_name(url).unwrap_or_else(|| "NAME".into());
                format!("name the package: `{name} @ {url}`; a spec is {SPEC_FORMS}")
            }
            SourceError::Zip(_) => "unpack the zip and pass the directory".into(),
            SourceError::Download { .. } | SourceError::Cancelled | SourceError::Io { .. } => {
                "check that pip reaches its index and the work dir is writable".into()
            }
            _ => format!("pass {SPEC_FORMS}"),
        }
    }
}

/// Whether `spec` is a valid PEP 508 requirement; the parser's message
/// (flattened to one line) if not.
pub fn validate_requirement(spec: &str) -> Result<(), String> {
    use std::str::FromStr;
    pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(spec)
        .map(|_| ())
        .map_err(|e| {
            // The parser draws a caret under the spec on a second line.
            e.to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string()
        })
}

/// `scheme://` or a VCS `git+…` form.
fn is_url(spec: &str) -> bool {
    let Some((scheme, rest)) = spec.split_once("://") else {
        return false;
    };
    !rest.is_empty()
        && !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// The distribution name in a URL's file name (`flash_attn-2.8.3.tar.gz` →
/// `flash-attn`), for the hint.
fn url_package_name(url: &str) -> Option<String> {
    let file = url.split(['?', '#']).next()?.rsplit('/').next()?;
    let archive = [".tar.gz", ".tgz", ".zip", ".whl"]
        .iter()
        .any(|ext| file.ends_with(ext));
    let (name, _) = file.split_once('-').filter(|_| archive)?;
    wheelwright_wheel::file::project_name(name).map(|p| p.to_string())
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SourceError {
    let what = what.into();
    move |source| SourceError::Io { what, source }
}

impl SourceSpec {
    /// Read a spec: an existing directory or `.tar.gz` file is a tree or an
    /// sdist; something that looks like a path but is missing is an error; a
    /// valid PEP 508 requirement (`flash-attn==2.8.3`, `flash-attn @ URL`)
    /// is a requirement. Anything else (`flash-attn==`, `flash attn`, shell
    /// such as `;$(...)` or backticks, a URL without a name) is refused here,
    /// before anything is written; [`SourceError::hint`] shows the accepted
    /// forms.
    pub fn parse(spec: &str) -> Result<SourceSpec, SourceError> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(SourceError::Empty);
        }
        let path = Path::new(spec);
        if path.is_dir() {
            if path.join("setup.py").is_file() || path.join("pyproject.toml").is_file() {
                return Ok(SourceSpec::Tree(path.to_path_buf()));
            }
            return Err(SourceError::NotASource(path.to_path_buf()));
        }
        if path.is_file() {
            if spec.ends_with(".zip") {
                return Err(SourceError::Zip(path.to_path_buf()));
            }
            if spec.ends_with(".tar.gz") || spec.ends_with(".tgz") {
                return Ok(SourceSpec::Sdist(path.to_path_buf()));
            }
            return Err(SourceError::NotASource(path.to_path_buf()));
        }
        let requirement = validate_requirement(spec);
        if requirement.is_ok() {
            return Ok(SourceSpec::Requirement(spec.to_string()));
        }
        if is_url(spec) {
            return Err(SourceError::BareUrl(spec.to_string()));
        }
        // A relative path (`src/flash-attention`) has a slash and no shell
        // or requirement punctuation around it.
        let plain_with_slash =
            spec.contains('/') && !spec.contains([';', '$', '`', '&', '|', '<', '>', ' ', '=']);
        let looks_like_path = plain_with_slash
            || spec.starts_with('.')
            || spec.starts_with('/')
            || spec.starts_with('~')
            || spec.ends_with(".tar.gz")
            || spec.ends_with(".tgz")
            || spec.ends_with(".zip");
        if looks_like_path {
            return Err(SourceError::Missing(path.to_path_buf()));
        }
        Err(SourceError::InvalidRequirement {
            spec: spec.to_string(),
            reason: requirement.err().unwrap_or_default(),
        })
    }

    /// Whether the spec names flash-attn (`flash-attn`, `flash_attn`, a
    /// `flash-attention` checkout, any case), or is a tree whose setup.py is flash-attn's.
    pub fn names_flash_attn(&self) -> bool {
        let text = match self {
            SourceSpec::Requirement(r) => r.clone(),
            SourceSpec::Sdist(p) | SourceSpec::Tree(p) => {
                let name = fs::canonicalize(p).unwrap_or_else(|_| p.clone());
                name.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            }
        };
        let t = text.to_ascii_lowercase();
        if ["flash-attn", "flash_attn", "flash-attention"]
            .iter()
            .any(|n| t.contains(n))
        {
            return true;
        }
        // A checkout under another name: flash-attn's setup.py says so.
        match self {
            SourceSpec::Tree(p) => fs::read_to_string(p.join("setup.py"))
                .is_ok_and(|s| s.contains("PACKAGE_NAME = \"flash_attn\"")),
            _ => false,
        }
    }

    /// A local path spec (pip needs no index for it).
    pub fn is_local(&self) -> bool {
        !matches!(self, SourceSpec::Requirement(_))
    }
}

/// The default recipe for a spec: `flash-attn-3` for a tree whose `setup.py`
/// builds `flash_attn_3` (flash-attention's `hopper/`), `flash-attn` if it
/// names flash-attn, else `torch-ext`.
pub fn default_recipe(spec: &SourceSpec) -> &'static str {
    if let SourceSpec::Tree(p) = spec {
        if fs::read_to_string(p.join("setup.py"))
            .is_ok_and(|s| s.contains("PACKAGE_NAME = \"flash_attn_3\""))
        {
            return "flash-attn-3";
        }
    }
    if spec.names_flash_attn() {
        "flash-attn"
    } else {
        "torch-ext"
    }
}

/// Extract `sdist` into `<work_dir>/src/<top-level dir>` once; later calls
/// with the same archive (same sha256) return the existing tree untouched, so
/// its `build/` dir is reused. A different archive replaces the tree.
pub fn extract_sdist(sdist: &Path, work_dir: &Path) -> Result<PathBuf, SourceError> {
    let sha = sha256_file(sdist).map_err(io_err(format!("cannot read {}", sdist.display())))?;
    let src = work_dir.join("src");
    fs::create_dir_all(&src).map_err(io_err(format!("cannot create {}", src.display())))?;
    let top = top_level_dir(sdist)?;
    let tree = src.join(&top);
    if let Ok(recorded) = fs::read_to_string(tree.join(EXTRACTED_MARKER)) {
        if recorded.trim() == sha {
            return Ok(tree);
        }
    }
    let tmp = tempfile::Builder::new()
        .prefix(".extract-")
        .tempdir_in(&src)
        .map_err(io_err(format!(
            "cannot create a temp dir in {}",
            src.display()
        )))?;
    let file = fs::File::open(sdist).map_err(io_err(format!("cannot open {}", sdist.display())))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    archive.set_preserve_mtime(true);
    archive
        .unpack(tmp.path())
        .map_err(io_err(format!("cannot extract {}", sdist.display())))?;
    let extracted = tmp.path().join(&top);
    fs::write(extracted.join(EXTRACTED_MARKER), format!("{sha}\n"))
        .map_err(io_err("cannot mark the extracted tree"))?;
    if tree.exists() {
        fs::remove_dir_all(&tree).map_err(io_err(format!("cannot replace {}", tree.display())))?;
    }
    fs::rename(&extracted, &tree).map_err(io_err(format!(
        "cannot move the tree to {}",
        tree.display()
    )))?;
    Ok(tree)
}

/// The one top-level directory of a `.tar.gz`, read from the first entries.
fn top_level_dir(sdist: &Path) -> Result<String, SourceError> {
    let file = fs::File::open(sdist).map_err(io_err(format!("cannot open {}", sdist.display())))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let entries = archive
        .entries()
        .map_err(io_err(format!("cannot read {}", sdist.display())))?;
    let mut top: Option<String> = None;
    for entry in entries {
        let entry = entry.map_err(io_err(format!("cannot read {}", sdist.display())))?;
        let path = entry
            .path()
            .map_err(io_err(format!("cannot read {}", sdist.display())))?
            .into_owned();
        let first = path
            .components()
            .find_map(|c| match c {
                std::path::Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
                _ => None,
            })
            .ok_or_else(|| SourceError::BadSdist(sdist.to_path_buf()))?;
        match &top {
            None => top = Some(first),
            Some(t) if *t == first => {}
            Some(_) => return Err(SourceError::BadSdist(sdist.to_path_buf())),
        }
    }
    top.ok_or_else(|| SourceError::BadSdist(sdist.to_path_buf()))
}

/// Download the sdist of `requirement` into `<work_dir>/download` with the
/// build interpreter's pip (the user's pip configuration and index apply), and
/// return its path. pip reuses a file already there. Under `supervisor`,
/// pip's tree dies with this process.
pub fn download_sdist(
    python: &Path,
    requirement: &str,
    work_dir: &Path,
    env: &BTreeMap<String, String>,
    timeout: Duration,
    cancel: &AtomicBool,
    supervisor: Option<&wheelwright_process::supervisor::Supervisor>,
) -> Result<PathBuf, SourceError> {
    let dest = work_dir.join("download");
    fs::create_dir_all(&dest).map_err(io_err(format!("cannot create {}", dest.display())))?;
    let mut cmd = Command::new(python);
    cmd.args([
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--no-build-isolation",
        "--disable-pip-version-check",
        "-d",
    ])
    .arg(&dest)
    .arg(requirement)
    .envs(env)
    .env(wheelwright_base::env_vars::PIP_NO_INPUT, "1");
    let fail = |message: String| SourceError::Download {
        spec: requirement.to_string(),
        message,
    };
    let out =
        process::run_supervised(&mut cmd, timeout, cancel, supervisor).map_err(|e| match e {
            process::ProcessError::Cancelled { .. } => SourceError::Cancelled,
            e => fail(e.to_string()),
        })?;
    if !out.success() {
        return Err(fail(format!(
            "`{}` ended with {}:\n{}",
            out.command,
            out.status_text(),
            out.combined_tail(15)
        )));
    }
    let saved = sdist_from_pip_output(&out.stdout).filter(|p| p.is_file());
    if let Some(zip) = saved
        .as_ref()
        .filter(|p| p.to_string_lossy().ends_with(".zip"))
    {
        return Err(SourceError::Zip(zip.clone()));
    }
    saved.ok_or_else(|| {
        fail(format!(
            "pip did not say where it saved the sdist:\n{}",
            tail_lines(&out.stdout, 10)
        ))
    })
}

/// The sdist path in `pip download` output: `Saved ./x.tar.gz` or
/// `File was already downloaded /abs/x.tar.gz`.
pub fn sdist_from_pip_output(stdout: &str) -> Option<PathBuf> {
    stdout.lines().rev().find_map(|l| {
        let l = l.trim();
        l.strip_prefix("Saved ")
            .or_else(|| l.strip_prefix("File was already downloaded "))
            .map(|p| PathBuf::from(p.trim()))
            .filter(|p| {
                let s = p.to_string_lossy();
                s.ends_with(".tar.gz") || s.ends_with(".tgz") || s.ends_with(".zip")
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make_sdist(path: &Path, top: &str, body: &str) {
        let file = fs::File::create(path).unwrap();
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (name, text) in [("setup.py", body), ("pkg/__init__.py", "")] {
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(1_700_000_000);
            h.set_cksum();
            tar.append_data(&mut h, format!("{top}/{name}"), text.as_bytes())
                .unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
    }

    #[test]
    fn classifies_specs() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("flash-attention");
        fs::create_dir_all(&tree).unwrap();
        fs::write(tree.join("setup.py"), "").unwrap();
        let sdist = dir.path().join("pkg-1.0.tar.gz");
        make_sdist(&sdist, "pkg-1.0", "");
        let t = SourceSpec::parse(tree.to_str().unwrap()).unwrap();
        assert_eq!(t, SourceSpec::Tree(tree.clone()));
        assert!(t.names_flash_attn() && t.is_local());
        assert_eq!(
            SourceSpec::parse(sdist.to_str().unwrap()).unwrap(),
            SourceSpec::Sdist(sdist.clone())
        );
        let r = SourceSpec::parse("flash-attn==2.8.3").unwrap();
        assert_eq!(default_recipe(&r), "flash-attn");
        assert_eq!(
            default_recipe(&SourceSpec::parse("Flash_Attn").unwrap()),
            "flash-attn"
        );
        assert_eq!(
            default_recipe(&SourceSpec::parse("causal-conv1d").unwrap()),
            "torch-ext"
        );
        // flash-attention's hopper/ (its real setup.py) is flash-attn 3.
        let hopper = dir.path().join("flash-attention").join("hopper");
        fs::create_dir_all(&hopper).unwrap();
        fs::write(
            hopper.join("setup.py"),
            include_str!("../../wheelwright-plan/src/fixtures/flash-attn-3/setup.py"),
        )
        .unwrap();
        assert_eq!(default_recipe(&SourceSpec::Tree(hopper)), "flash-attn-3");
        assert!(matches!(
            SourceSpec::parse("./nowhere/x.tar.gz"),
            Err(SourceError::Missing(_))
        ));
        assert!(matches!(
            SourceSpec::parse(dir.path().to_str().unwrap()),
            Err(SourceError::NotASource(_))
        ));
        assert!(matches!(SourceSpec::parse("  "), Err(SourceError::Empty)));
        // A direct reference is a requirement, slashes and all.
        let url = "flash-attn @ https://example.org/dl/flash_attn-2.8.3.tar.gz";
        assert_eq!(
            SourceSpec::parse(url).unwrap(),
            SourceSpec::Requirement(url.into())
        );
        assert!(matches!(
            SourceSpec::parse("./x@y/z.tar.gz"),
            Err(SourceError::Missing(_))
        ));
    }

    /// Regression (issue 16, defect 4): these were taken as requirements,
    /// handed to pip, and failed as a job (exit 1) after writing records.
    #[test]
    fn invalid_specs_are_refused_with_the_accepted_forms() {
        for bad in [
            "flash-attn==",
            "flash attn",
            "flash-attn;$(touch /tmp/pwned)",
            "flash-attn`id`",
            "flash-attn==2.8.3; rm -rf /",
            "flash-attn==2.8.3 && echo x",
            "-r requirements.txt",
            "--index-url=http://evil",
            "flash-attn[",
            "flash-attn>>2",
        ] {
            let e = SourceSpec::parse(bad).expect_err(bad);
            assert!(
                matches!(e, SourceError::InvalidRequirement { .. }),
                "{bad}: {e:?}"
            );
            assert!(e.to_string().contains("PEP 508"), "{e}");
            assert!(!e.to_string().contains('\n'), "one line: {e}");
            assert!(e.hint().contains("flash-attn==2.8.3"), "{}", e.hint());
        }
        for good in [
            "flash-attn",
            "flash-attn==2.8.3",
            "flash_attn>=2.8,<3",
            "flash-attn[extra]==2.8.3",
            "flash-attn==2.8.3; python_version >= '3.9'",
            "flash-attn @ https://example.org/flash_attn-2.8.3.tar.gz",
            "flash-attn @ git+https://github.com/Dao-AILab/flash-attention@v2.8.3",
        ] {
            assert_eq!(
                SourceSpec::parse(good).unwrap(),
                SourceSpec::Requirement(good.into()),
                "{good}"
            );
        }
        let e = SourceSpec::parse("https://example.org/dl/flash_attn-2.8.3.tar.gz").unwrap_err();
        assert!(matches!(e, SourceError::BareUrl(_)), "{e:?}");
        assert!(
            e.hint()
                .contains("`flash-attn @ https://example.org/dl/flash_attn-2.8.3.tar.gz`"),
            "{}",
            e.hint()
        );
        let e = SourceSpec::parse("git+https://github.com/x/y").unwrap_err();
        assert!(
            e.hint().contains("`NAME @ git+https://github.com/x/y`"),
            "{}",
            e.hint()
        );
    }

    #[test]
    fn extracts_once_and_keeps_the_build_dir() {
        let dir = tempfile::tempdir().unwrap();
        let sdist = dir.path().join("pkg-1.0.tar.gz");
        make_sdist(&sdist, "pkg-1.0", "print('v1')\n");
        let work = dir.path().join("work");
        let tree = extract_sdist(&sdist, &work).unwrap();
        assert_eq!(tree, work.join("src/pkg-1.0"));
        assert_eq!(
            fs::read_to_string(tree.join("setup.py")).unwrap(),
            "print('v1')\n"
        );
        let mtime = fs::metadata(tree.join("setup.py"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(
            mtime
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            1_700_000_000
        );
        // A build leaves objects; extracting again keeps them.
        fs::create_dir_all(tree.join("build")).unwrap();
        fs::write(tree.join("build/a.o"), "obj").unwrap();
        assert_eq!(extract_sdist(&sdist, &work).unwrap(), tree);
        assert!(tree.join("build/a.o").exists());
        // A different archive of the same name replaces the tree.
        make_sdist(&sdist, "pkg-1.0", "print('v2')\n");
        let tree2 = extract_sdist(&sdist, &work).unwrap();
        assert_eq!(
            fs::read_to_string(tree2.join("setup.py")).unwrap(),
            "print('v2')\n"
        );
        assert!(!tree2.join("build/a.o").exists());
        // No temp dirs left behind.
        let left: Vec<_> = fs::read_dir(work.join("src")).unwrap().collect();
        assert_eq!(left.len(), 1);
    }

    /// The real flash-attn 2.8.3 sdist, trimmed to its first entries and
    /// its setup.py (tests/fixtures/sdist, see its README): its top dir, and
    /// the extracted tree names flash-attn by its setup.py.
    #[test]
    fn extracts_the_real_flash_attn_sdist_top_dir() {
        let sdist = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/sdist/flash_attn-2.8.3-trimmed.tar.gz"
        ));
        assert_eq!(top_level_dir(sdist).unwrap(), "flash_attn-2.8.3");
        let work = tempfile::tempdir().unwrap();
        let tree = extract_sdist(sdist, work.path()).unwrap();
        let renamed = work.path().join("checkout");
        fs::rename(&tree, &renamed).unwrap();
        assert!(SourceSpec::Tree(renamed).names_flash_attn());
    }

    #[test]
    fn finds_the_sdist_in_pip_download_output() {
        assert_eq!(
            sdist_from_pip_output("Collecting flash-attn==2.8.3\n  Downloading flash_attn-2.8.3.tar.gz (8.4 MB)\nSaved ./w/download/flash_attn-2.8.3.tar.gz\nSuccessfully downloaded flash-attn\n"),
            Some(PathBuf::from("./w/download/flash_attn-2.8.3.tar.gz"))
        );
        assert_eq!(
            sdist_from_pip_output("File was already downloaded /w/download/six-1.16.0.tar.gz\n"),
            Some(PathBuf::from("/w/download/six-1.16.0.tar.gz"))
        );
        assert_eq!(sdist_from_pip_output("nothing\n"), None);
    }
}
