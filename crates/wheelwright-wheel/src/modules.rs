//! The modules a wheel installs, to import them where it was installed
//! (`wheel verify --import`): its top-level packages and modules, then its
//! extension modules (`pkg/_C.cpython-312-x86_64-linux-gnu.so` →
//! `pkg._C`, `flash_attn_2_cuda.cpython-312-…so` → `flash_attn_2_cuda`).
//!
//! Only the zip's names are read (the wheel is untrusted: nothing of it runs
//! here); a name is kept only when each of its parts is a Python identifier,
//! so `.dist-info`, `.data` and auditwheel's `pkg.libs/` are left out, and a
//! plain `lib*.so` is a library, not a module. At most
//! [`MAX_MODULES`] are listed.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;

use pep440_rs::Version;

use super::WheelCheckError;

/// The most modules listed for one wheel.
pub const MAX_MODULES: usize = 64;

/// A Python identifier (ASCII; a wheel's module names are).
fn identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The module an archive entry is, if it is one: top-level packages
/// (`X/__init__.py`), top-level modules (`X.py`) and extension modules at
/// any depth (`a/b/X[.cpython-…|.abi3].so`).
fn module_of(entry: &str) -> Option<(bool, String)> {
    let parts: Vec<&str> = entry.split('/').collect();
    let (dirs, file) = parts.split_at(parts.len() - 1);
    let file = file[0];
    if !dirs.iter().all(|d| identifier(d)) {
        return None;
    }
    match (dirs, file) {
        ([pkg], "__init__.py") => Some((false, pkg.to_string())),
        ([], f) => {
            if let Some(m) = f.strip_suffix(".py").filter(|m| identifier(m)) {
                return Some((false, m.to_string()));
            }
            extension(f).map(|m| (true, m.to_string()))
        }
        (dirs, f) => extension(f).map(|m| (true, format!("{}.{m}", dirs.join(".")))),
    }
}

/// `X` of `X.so`, `X.abi3.so`, `X.cpython-312-x86_64-linux-gnu.so`; a
/// plain `libX.so` is a library (loaded by ctypes or the linker), not a module.
fn extension(file: &str) -> Option<&str> {
    let stem = file.strip_suffix(".so")?;
    let name = match stem.split_once('.') {
        Some((name, tag)) if tag == "abi3" || tag.starts_with("cpython-") => name,
        Some(_) => return None,
        None if stem.starts_with("lib") => return None,
        None => stem,
    };
    identifier(name).then_some(name)
}

/// The modules the wheel at `path` installs: packages and plain modules
/// first, then extension modules, each once, in archive order.
pub fn importable_modules(path: &Path) -> Result<Vec<String>, WheelCheckError> {
    let unreadable = |source: std::io::Error| WheelCheckError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    if !std::fs::metadata(path).map_err(unreadable)?.is_file() {
        return Err(unreadable(std::io::Error::other("not a regular file")));
    }
    let zip = zip::ZipArchive::new(File::open(path).map_err(unreadable)?).map_err(|e| {
        WheelCheckError::NotAZip {
            path: path.to_path_buf(),
            why: e.to_string(),
        }
    })?;
    let mut seen = BTreeSet::new();
    let (mut plain, mut ext) = (Vec::new(), Vec::new());
    for (is_ext, m) in zip.file_names().filter_map(module_of) {
        if seen.insert(m.clone()) {
            if is_ext {
                ext.push(m)
            } else {
                plain.push(m)
            }
        }
    }
    plain.extend(ext);
    plain.truncate(MAX_MODULES);
    Ok(plain)
}

/// Whether two versions are the same under PEP 440 (`2.8.3+cu13torch2.9cxx11abiTRUE`
/// equals `2.8.3+cu13torch2.9cxx11abitrue`); texts that do not parse compare as text.
pub fn same_version(a: &str, b: &str) -> bool {
    match (a.trim().parse::<Version>(), b.trim().parse::<Version>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a.trim() == b.trim(),
    }
}

/// A dotted module name (`pkg._C`): what `--module` accepts.
pub fn valid_module_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 256 && name.split('.').all(identifier)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_name_their_modules() {
        let m = |e: &str| module_of(e);
        assert_eq!(
            m("flash_attn/__init__.py"),
            Some((false, "flash_attn".into()))
        );
        assert_eq!(
            m("flash_attn_2_cuda.cpython-312-x86_64-linux-gnu.so"),
            Some((true, "flash_attn_2_cuda".into()))
        );
        assert_eq!(m("pkg/sub/_C.abi3.so"), Some((true, "pkg.sub._C".into())));
        assert_eq!(m("six.py"), Some((false, "six".into())));
        assert_eq!(m("flash_attn/bert_padding.py"), None);
        assert_eq!(m("flash_attn-2.8.3.dist-info/METADATA"), None);
        assert_eq!(m("pkg.libs/libgomp-a34b3233.so.1"), None);
        assert_eq!(m("libfoo.so"), None);
        assert_eq!(m("pkg/libk.so"), None);
        assert_eq!(m("x.data/scripts/run.py"), None);
        assert_eq!(m("weird.name.so"), None);
    }

    #[test]
    fn versions_compare_as_pep_440_says() {
        assert!(same_version(
            "2.8.3+cu13torch2.9cxx11abiTRUE",
            "2.8.3+cu13torch2.9cxx11abitrue"
        ));
        assert!(!same_version("2.8.3", "2.8.3+cu13"));
        assert!(valid_module_name("pkg._C"));
        assert!(!valid_module_name("pkg;os"));
        assert!(!valid_module_name("pkg..x"));
    }
}
