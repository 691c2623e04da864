//! Longest compiles first, by construction: a `ninja` shim on the build's PATH
//! that reorders torch's generated `build.ninja` before the real ninja reads it.
//!
//! Released ninja (1.12 to 1.13.2) gives every compile of a torch extension the
//! same critical-path weight and breaks ties by manifest order; torch writes
//! the manifest in setuptools' sorted source order (`build_ext` sorts
//! `ext.sources`), and a seeded `.ninja_log` changes nothing
//! (`bench/ninja-log-order.md`). So the long split-KV kernels that sort last
//! in flash-attn started last and ended the build nearly alone: 1.16× the
//! bound on the H200 (`bench/results/h200-full-build`). Reordering the
//! sources in `setup.py` cannot help (setuptools sorts them again), and torch
//! writes `build.ninja` and runs `ninja` in one call, so the only place
//! between the two is the `ninja` that torch finds on PATH.
//!
//! [`install`] writes three files into a folder of the work dir: `ninja` (a
//! `/bin/sh` script that runs the build's interpreter on the shim), the shim
//! `ninja_order.py`, and `order.txt` (the units' source paths, longest first by
//! the cost model). The runner puts the folder first on PATH and names the
//! order file in [`env_vars::WHEELWRIGHT_NINJA_ORDER`]. The shim moves only the
//! compile statements of ranked sources among their own places, keeps their
//! commands (so ninja's command hashes and finished objects stay valid), leaves
//! the manifest alone when anything between them is not a `build` statement,
//! and always ends by `exec`-ing the real ninja with the same arguments.
//! `tests/ninja.rs` runs it with the real ninja.

use std::io::Write;
use std::path::{Path, PathBuf};

use wheelwright_base::env_vars;

/// The shim's source, run with the build's interpreter.
pub const SHIM_PY: &str = include_str!("ninja_order.py");
/// The folder, under the work dir, that holds the shim.
pub const SHIM_DIR_NAME: &str = ".wheelwright-ninja";

/// An installed shim: put [`NinjaOrder::bin_dir`] first on PATH and set
/// [`NinjaOrder::env`] on the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NinjaOrder {
    /// Holds `ninja`, `ninja_order.py` and `order.txt`.
    pub bin_dir: PathBuf,
    /// One source path per line, longest first.
    pub order_file: PathBuf,
    /// How many units it ranks.
    pub units: usize,
}

impl NinjaOrder {
    /// The variables the build needs besides PATH.
    pub fn env(&self) -> [(&'static str, String); 1] {
        [(
            env_vars::WHEELWRIGHT_NINJA_ORDER,
            self.order_file.display().to_string(),
        )]
    }
}

/// Write the shim for `python` and the ranking `sources_longest_first` (paths
/// relative to the source root, as the recipe lists them) into
/// `dir/.wheelwright-ninja/`, replacing what an earlier build left there.
pub fn install(
    dir: &Path,
    python: &Path,
    sources_longest_first: &[String],
) -> std::io::Result<NinjaOrder> {
    let bin_dir = dir.join(SHIM_DIR_NAME);
    std::fs::create_dir_all(&bin_dir)?;
    let script = bin_dir.join("ninja_order.py");
    let order_file = bin_dir.join("order.txt");
    let launcher = bin_dir.join("ninja");
    write_fresh(&script, SHIM_PY.as_bytes(), 0o644)?;
    let mut order = sources_longest_first.join("\n");
    order.push('\n');
    write_fresh(&order_file, order.as_bytes(), 0o644)?;
    // An absolute interpreter: a relative one would resolve against torch's
    // build dir, where the shim runs.
    let python = if python.is_absolute() || python.components().count() == 1 {
        python.to_path_buf()
    } else {
        std::env::current_dir()?.join(python)
    };
    let sh = format!(
        r#"#!/bin/sh
# wheelwright: start the longest compiles first (see ninja_order.py)
py={py}
if [ -x "$py" ] || command -v "$py" >/dev/null 2>&1; then exec "$py" {script} "$@"; fi
# No interpreter: run the real ninja unchanged.
here={here}
IFS=:
for d in $PATH; do
  [ "$d" = "$here" ] && continue
  [ -x "$d/ninja" ] && exec "$d/ninja" "$@"
done
echo "ninja: not found on PATH (behind wheelwright's ninja shim)" >&2
exit 127
"#,
        py = sh_quote(&python.display().to_string()),
        script = sh_quote(&script.display().to_string()),
        here = sh_quote(&bin_dir.display().to_string()),
    );
    write_fresh(&launcher, sh.as_bytes(), 0o755)?;
    Ok(NinjaOrder {
        bin_dir,
        order_file,
        units: sources_longest_first.len(),
    })
}

/// Remove `path` (a file or a symlink someone left) and create it anew.
fn write_fresh(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    f.write_all(bytes)
}

/// `'it'\''s'`: one shell word.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without the interpreter the launcher still runs the real ninja.
    #[test]
    fn the_launcher_falls_back_to_the_real_ninja() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        crate::test_support::write_executable(
            &real.join("ninja"),
            "#!/bin/sh\necho \"real ninja $*\"\n",
        );
        let o = install(dir.path(), Path::new("/nonexistent/python"), &[]).unwrap();
        let path = format!("{}:{}:/usr/bin:/bin", o.bin_dir.display(), real.display());
        let out = std::process::Command::new(o.bin_dir.join("ninja"))
            .args(["-v", "-j", "2"])
            .env("PATH", path)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "real ninja -v -j 2\n");
    }

    #[test]
    fn installs_a_launcher_that_runs_the_shim_with_the_interpreter() {
        let dir = tempfile::tempdir().unwrap();
        let units = vec!["csrc/b.cu".to_string(), "csrc/a.cu".to_string()];
        let o = install(dir.path(), Path::new("/opt/py's/bin/python"), &units).unwrap();
        assert_eq!(o.units, 2);
        let order = std::fs::read_to_string(&o.order_file).unwrap();
        assert_eq!(order, "csrc/b.cu\ncsrc/a.cu\n");
        let sh = std::fs::read_to_string(o.bin_dir.join("ninja")).unwrap();
        assert!(sh.contains("py='/opt/py'\\''s/bin/python'\n"), "{sh}");
        // Installing again replaces the files (a second build in the same dir).
        let o2 = install(dir.path(), Path::new("/usr/bin/python3"), &units[..1]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&o2.order_file).unwrap(),
            "csrc/b.cu\n"
        );
        assert_eq!(
            o.env()[0],
            (
                env_vars::WHEELWRIGHT_NINJA_ORDER,
                o.order_file.display().to_string()
            )
        );
    }
}
