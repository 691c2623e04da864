//! What the checks need from one ELF shared object: its machine, `DT_NEEDED`
//! libraries, run paths, dynamic symbols, the symbol versions it needs
//! (`.gnu.version_r`) and where its `.nv_fatbin` section lies.
//!
//! Files are read through [`object::ReadCache`], so a 1 GB `libtorch_cuda.so`
//! costs the few pages its headers and dynamic tables fill, not its size.
//! The cache keeps every read, so the `.nv_fatbin` section, whose walk reads
//! as many headers as it holds entries, is read past it, through
//! [`read_fatbin`]'s one window.

use std::fs::File;
use std::path::Path;

use object::elf;
use object::read::elf::{Dyn, FileHeader, SectionHeader, Sym};
use object::{Endianness, FileKind, ReadCache, ReadRef};

use super::fatbin::{read_fatbin, DeviceCode, FatbinError};

/// One undefined dynamic symbol of an object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct UndefinedSymbol {
    /// The symbol name (mangled, as the dynamic linker sees it).
    pub name: String,
    /// The version it asks for (`GLIBC_2.14`), when versioned.
    pub version: Option<String>,
    /// A weak reference: the object loads without it.
    pub weak: bool,
}

/// The dynamic-linking facts of one ELF object.
#[derive(Debug, Clone, Default)]
pub(crate) struct ElfInfo {
    /// `e_machine` (62 for x86-64, 183 for aarch64).
    pub machine: u16,
    /// 64-bit ELF.
    pub is_64: bool,
    /// `DT_SONAME`, if any.
    pub soname: Option<String>,
    /// `DT_NEEDED`, in order.
    pub needed: Vec<String>,
    /// `DT_RPATH` entries (used only when there is no `DT_RUNPATH`).
    pub rpath: Vec<String>,
    /// `DT_RUNPATH` entries.
    pub runpath: Vec<String>,
    /// Names of the dynamic symbols this object defines.
    pub defined: Vec<String>,
    /// The dynamic symbols it needs from elsewhere.
    pub undefined: Vec<UndefinedSymbol>,
    /// `.gnu.version_r`: (library file, version name) pairs, e.g.
    /// (`libc.so.6`, `GLIBC_2.14`).
    pub version_needs: Vec<(String, String)>,
    /// The device code in its `.nv_fatbin`, each kind and arch once, in
    /// file order.
    pub device_code: Vec<DeviceCode>,
    /// The same, container by container (one per nvcc translation unit).
    pub fatbin_containers: Vec<Vec<DeviceCode>>,
    /// The `.nv_fatbin` entries of those kinds in all.
    pub fatbin_entries: usize,
}

/// Why a file could not be read as an ELF object.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ElfError {
    /// The file could not be opened.
    #[error("could not open {path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not an ELF object, or a malformed one.
    #[error("{path} is not a readable ELF object: {why}")]
    Malformed {
        /// The file.
        path: String,
        /// What was wrong.
        why: String,
    },
    /// Its `.nv_fatbin` section is malformed.
    #[error("{path}: {source}")]
    Fatbin {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: FatbinError,
    },
}

/// What to read besides the dynamic tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detail {
    /// Defined symbols and needed libraries only (a dependency).
    Dependency,
    /// Everything, device code included (an object of the wheel).
    Full,
}

/// Whether `head` (a file's first bytes) starts like an ELF object.
pub(crate) fn is_elf(head: &[u8]) -> bool {
    head.starts_with(b"\x7fELF")
}

/// Read the ELF object at `path`.
pub(crate) fn read_elf(path: &Path, detail: Detail) -> Result<ElfInfo, ElfError> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|source| ElfError::Open {
        path: shown.clone(),
        source,
    })?;
    let cache = ReadCache::new(file);
    let malformed = |why: String| ElfError::Malformed {
        path: shown.clone(),
        why,
    };
    let (mut info, fatbin) = match FileKind::parse(&cache).map_err(|e| malformed(e.to_string()))? {
        FileKind::Elf64 => read_any::<elf::FileHeader64<Endianness>, _>(&cache, detail),
        FileKind::Elf32 => read_any::<elf::FileHeader32<Endianness>, _>(&cache, detail),
        other => return Err(malformed(format!("it is {other:?}, not ELF"))),
    }
    .map_err(|e| malformed(e.to_string()))?;
    if let Some((start, size)) = fatbin {
        let fatbin =
            read_fatbin(cache.into_inner(), start, size).map_err(|source| ElfError::Fatbin {
                path: shown.clone(),
                source,
            })?;
        info.device_code = fatbin.codes;
        info.fatbin_entries = fatbin.entries;
        info.fatbin_containers = fatbin.containers;
    }
    Ok(info)
}

/// The object's facts, and where its `.nv_fatbin` lies (offset and size)
/// when `detail` is [`Detail::Full`].
fn read_any<'data, Elf: FileHeader<Endian = Endianness>, R: ReadRef<'data>>(
    data: R,
    detail: Detail,
) -> Result<(ElfInfo, Option<(u64, u64)>), object::Error> {
    let header = Elf::parse(data)?;
    let endian = header.endian()?;
    let sections = header.sections(endian, data)?;
    let mut info = ElfInfo {
        machine: header.e_machine(endian).0,
        is_64: header.is_type_64(),
        ..ElfInfo::default()
    };

    if let Some((dyns, link)) = sections.dynamic(endian, data)? {
        let strings = sections.strings(endian, data, link)?;
        for d in dyns {
            let tag = d.tag(endian);
            let text = || -> Result<String, object::Error> {
                Ok(String::from_utf8_lossy(d.string(endian, strings)?).into_owned())
            };
            match tag {
                elf::DT_NEEDED => info.needed.push(text()?),
                elf::DT_SONAME => info.soname = Some(text()?),
                elf::DT_RPATH => info.rpath.extend(split_paths(&text()?)),
                elf::DT_RUNPATH => info.runpath.extend(split_paths(&text()?)),
                _ => {}
            }
        }
    }

    let symbols = sections.symbols(endian, data, elf::SHT_DYNSYM)?;
    let versions = if detail == Detail::Full {
        sections.versions(endian, data)?
    } else {
        None
    };
    for (index, sym) in symbols.enumerate() {
        let name = symbols.symbol_name(endian, sym)?;
        if name.is_empty() || sym.st_type() == elf::STT_SECTION {
            continue;
        }
        let name = String::from_utf8_lossy(name).into_owned();
        if sym.st_shndx(endian) == elf::SHN_UNDEF {
            if detail == Detail::Full {
                let version = versions.as_ref().and_then(|v| {
                    let vi = v.version_index(endian, index);
                    v.version(vi.index())
                        .ok()
                        .flatten()
                        .map(|ver| String::from_utf8_lossy(ver.name()).into_owned())
                });
                info.undefined.push(UndefinedSymbol {
                    name,
                    version,
                    weak: sym.st_bind() == elf::STB_WEAK,
                });
            }
        } else if sym.st_bind() != elf::STB_LOCAL {
            info.defined.push(name);
        }
    }

    if detail == Detail::Full {
        if let Some((mut needs, link)) = sections.gnu_verneed(endian, data)? {
            let strings = sections.strings(endian, data, link)?;
            while let Some((need, mut auxes)) = needs.next()? {
                let file = String::from_utf8_lossy(need.file(endian, strings)?).into_owned();
                while let Some(aux) = auxes.next()? {
                    let name = String::from_utf8_lossy(aux.name(endian, strings)?).into_owned();
                    info.version_needs.push((file.clone(), name));
                }
            }
        }
    }
    let fatbin = sections
        .section_by_name(endian, b".nv_fatbin")
        .filter(|(_, section)| detail == Detail::Full && section.sh_type(endian) != elf::SHT_NOBITS)
        .map(|(_, section)| {
            (
                section.sh_offset(endian).into(),
                section.sh_size(endian).into(),
            )
        });
    Ok((info, fatbin))
}

fn split_paths(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(':')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
}
