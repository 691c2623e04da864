//! What the build does to the wheel pip made before anyone sees it: the
//! wheel that lands in the out dir, is verified, recorded (its sha256 in the
//! report), attested and published is this one, so publishing never changes
//! a byte.
//!
//! With any edit, the wheel is written by the deterministic rewrite of
//! [`wheelwright_wheel::retag`] (sorted entries, fixed timestamps and
//! permissions, `RECORD` of sha256 hashes), so building the same inputs twice
//! gives the same bytes and re-running a matrix cell does not trip publish's
//! "other bytes" (the torch pin is on by default; without any edit pip's
//! wheel is copied as it is). The edits:
//! - the torch pin: `Requires-Dist: torch==X.Y.*` for the torch the wheel
//!   was compiled against (a wheel of one torch minor fails to import with
//!   another: `undefined symbol`), so pip and uv refuse to pair them;
//! - the manylinux tag the wheel meets ([`wheelwright_wheel::check_wheel`]'s
//!   policy, torch's and CUDA's libraries external).
//!
//! With `--variants` (experimental), the finished wheel is checked and its
//! PEP 825 variant wheel written beside it (`variant_wheel`): a second
//! file, the first one untouched.

use std::path::{Path, PathBuf};

use wheelwright_wheel::retag::{rewrite_wheel, WheelEdits};
use wheelwright_wheel::variant::{make_variant_wheel, VariantWheel};
use wheelwright_wheel::{check_wheel, CheckOptions};

/// What the build does to the wheel before it is verified and recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WheelFinish {
    /// `X.Y` of the torch the wheel was built against: `Requires-Dist:
    /// torch==X.Y.*` is added (replacing an unpinned `torch` requirement).
    pub torch_pin: Option<String>,
    /// Retag the wheel to the manylinux policy it meets.
    pub manylinux: bool,
    /// Also write the PEP 825 variant wheel (experimental).
    pub variants: bool,
    /// The CUDA toolkit's version (`13.0`), the variant's
    /// `cuda_version_lower_bound`.
    pub cuda: Option<String>,
}

/// Why the wheel could not be finished (the build fails with this finding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishError {
    /// What went wrong.
    pub message: String,
    /// What to do.
    pub fix: String,
}

/// `X.Y` of a torch version (`2.8` of `2.8.0+cu128`); `None` when it has no
/// minor.
pub fn torch_minor(version: &str) -> Option<String> {
    let public = version.split('+').next().unwrap_or(version);
    let mut parts = public.split('.');
    let (major, minor) = (parts.next()?, parts.next()?);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // `2.9.0a0` style pre-releases: the minor's digits only.
    let minor: String = minor.chars().take_while(char::is_ascii_digit).collect();
    (digits(major) && digits(&minor)).then(|| format!("{major}.{minor}"))
}

/// The requirement the pin adds: `torch==2.8.*`.
pub fn torch_requirement(minor: &str) -> String {
    format!("torch=={minor}.*")
}

/// Write the finished wheel of `built` into `out_dir`; its path, and what
/// was done, for the log.
pub(crate) fn finish_wheel(
    built: &Path,
    finish: &WheelFinish,
    out_dir: &Path,
) -> Result<(PathBuf, Vec<String>), FinishError> {
    let mut edits = WheelEdits::default();
    let mut notes = Vec::new();
    if let Some(minor) = &finish.torch_pin {
        let req = torch_requirement(minor);
        notes.push(format!(
            "pinned the torch it was built against: Requires-Dist: {req}"
        ));
        edits.requires_dist.push(req);
    }
    if finish.manylinux {
        let checked = check_wheel(built, &CheckOptions::default()).map_err(|e| FinishError {
            message: format!("the wheel could not be checked for --manylinux: {e}"),
            fix: e.hint().to_string(),
        })?;
        match &checked.policy {
            Some(p) if p.platform_tag.starts_with("manylinux") => {
                let mut tags = vec![p.platform_tag.clone()];
                tags.extend(p.aliases.iter().cloned());
                notes.push(format!("retagged to {}", tags.join(".")));
                edits.platforms = Some(tags);
            }
            Some(p) => {
                return Err(FinishError {
                    message: format!(
                        "--manylinux: the wheel meets no manylinux policy ({})",
                        p.reasons.join("; ")
                    ),
                    fix: "build on an older distribution (glibc 2.28 for manylinux_2_28), or \
                          drop --manylinux to publish it with its linux tag"
                        .into(),
                })
            }
            None => {
                return Err(FinishError {
                    message: "--manylinux: the wheel has no binaries to tag for a platform".into(),
                    fix: "drop --manylinux for a wheel without compiled code".into(),
                })
            }
        }
    }
    if edits == WheelEdits::default() {
        // Nothing asked: pip's wheel as it is.
        let name = built.file_name().unwrap_or_default();
        let dest = out_dir.join(name);
        wheelwright_base::safe_write::copy_atomically(built, &dest).map_err(|e| FinishError {
            message: e.to_string(),
            fix: "Check that the --out dir is writable and has space.".into(),
        })?;
        return Ok((dest, notes));
    }
    let path = rewrite_wheel(built, &edits, out_dir).map_err(|e| FinishError {
        fix: e.hint().to_string(),
        message: format!("the wheel could not be written into the out dir: {e}"),
    })?;
    Ok((path, notes))
}

/// The variant wheel of the finished `wheel`, written into `out_dir`: the
/// device code `wheel check` reads in it and the toolkit's CUDA version
/// make its properties ([`wheelwright_wheel::variant::make_variant_wheel`]).
pub(crate) fn variant_wheel(
    wheel: &Path,
    finish: &WheelFinish,
    out_dir: &Path,
) -> Result<VariantWheel, FinishError> {
    let checked = check_wheel(wheel, &CheckOptions::default()).map_err(|e| FinishError {
        message: format!("the wheel could not be checked for --variants: {e}"),
        fix: e.hint().to_string(),
    })?;
    make_variant_wheel(wheel, &checked, finish.cuda.as_deref(), out_dir).map_err(|e| FinishError {
        message: format!("--variants: {e}"),
        fix: e.hint().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pin_names_torch_s_minor() {
        assert_eq!(torch_minor("2.8.0+cu128").as_deref(), Some("2.8"));
        assert_eq!(torch_minor("2.11.0").as_deref(), Some("2.11"));
        assert_eq!(torch_minor("2.10.0a0+git1234").as_deref(), Some("2.10"));
        assert_eq!(torch_minor("2"), None);
        assert_eq!(torch_minor("x.y"), None);
        assert_eq!(torch_requirement("2.8"), "torch==2.8.*");
    }
}
