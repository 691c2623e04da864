//! The device code in a shared object's `.nv_fatbin` section: which SASS
//! (cubin) and PTX architectures it carries, without a CUDA toolkit.
//!
//! The section holds one or more containers, each a 16-byte header
//! (`u32` magic `0xBA55ED50`, `u16` version, `u16` header size, `u64` size of
//! the entries that follow) and its entries. Each entry starts with its own
//! header: `u16` kind (1 PTX, 2 ELF/SASS), `u16` version, `u32` header size,
//! `u64` payload size, then at byte 28 the `u32` SM number (`90` for sm_90)
//! and at byte 40 a `u64` of flags. The next entry starts after the header
//! and the payload; the next container after the entries, 8-byte aligned.
//!
//! The `a` (arch-specific) and `f` (family) variants are flag bits, found by
//! building the same kernel with nvcc 13.x for `sm_100`, `sm_100a` and
//! `sm_100f` (and `compute_90a`, `compute_100f` PTX): bit 20 (`0x10_0000`)
//! marks `a`, bit 21 (`0x20_0000`) marks `f`; the SM number is the same.
//! (cuobjdump 13.x lists an `sm_100f` cubin as `sm_100`, an `sm_100a` one as
//! `sm_100a`, and PTX with both suffixes.)

use std::io::{Read, Seek, SeekFrom};

use serde::{Deserialize, Serialize};

use wheelwright_base::archs::Arch;

/// The magic number of a fatbin container.
pub(crate) const FATBIN_MAGIC: u32 = 0xBA55_ED50;
/// The flag bit of an arch-specific (`sm_90a`) entry.
const FLAG_ARCH_SPECIFIC: u64 = 0x10_0000;
/// The flag bit of a family-specific (`sm_100f`) entry.
const FLAG_FAMILY_SPECIFIC: u64 = 0x20_0000;
/// The fatbin container header's size.
const CONTAINER_HEADER: u64 = 16;
/// The bytes of an entry header we read (kind … flags).
const ENTRY_HEADER_READ: u64 = 48;
/// The bytes of the section held at a time.
pub(crate) const WINDOW: usize = 64 * 1024;

/// What an entry of a fatbin holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CodeKind {
    /// Machine code (a cubin) that runs as is on its architecture.
    Sass,
    /// PTX, compiled by the driver at load time for newer GPUs.
    Ptx,
}

/// One entry of a fatbin: device code for one architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct DeviceCode {
    /// SASS or PTX.
    pub kind: CodeKind,
    /// The architecture, with its `a`/`f` variant.
    pub arch: Arch,
}

impl DeviceCode {
    /// `sm_90a` for SASS, `compute_90` for PTX: nvcc's spelling.
    pub(crate) fn name(&self) -> String {
        match self.kind {
            CodeKind::Sass => self.arch.sm(),
            CodeKind::Ptx => format!("compute_{}", self.arch.compact()),
        }
    }
}

/// A `.nv_fatbin` section we could not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FatbinError {
    /// The bytes at an offset are not a container header.
    #[error("no fatbin container at offset {offset} of .nv_fatbin (magic {magic:#010x})")]
    BadMagic {
        /// Offset in the section.
        offset: u64,
        /// The value found instead of `0xBA55ED50`.
        magic: u32,
    },
    /// A size field points past the section or cannot hold a header.
    #[error("fatbin entry at offset {offset} of .nv_fatbin is truncated or malformed")]
    Truncated {
        /// Offset in the section.
        offset: u64,
    },
}

/// What a `.nv_fatbin` section holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Fatbin {
    /// Each kind and arch once, in the order first found.
    pub codes: Vec<DeviceCode>,
    /// Entries of those kinds in all (an arch repeats: one container per
    /// translation unit or device-link step).
    pub entries: usize,
    /// Each container's kinds and archs (once each), in file order: one
    /// container per nvcc translation unit.
    pub containers: Vec<Vec<DeviceCode>>,
}

/// Every entry of the `.nv_fatbin` section that starts at `start` and is
/// `size` bytes long in `file`.
///
/// Only the headers are read, so a 400 MB section costs a few reads; zero
/// padding is skipped a window at a time. Entries of other kinds than PTX
/// and SASS are skipped.
pub(crate) fn read_fatbin<R: Read + Seek>(
    file: R,
    start: u64,
    size: u64,
) -> Result<Fatbin, FatbinError> {
    let mut section = Window::new(file, start, size);
    let mut out = Fatbin::default();
    let mut offset = 0u64;
    while offset + CONTAINER_HEADER <= size {
        let header = section
            .bytes(offset, CONTAINER_HEADER)
            .ok_or(FatbinError::Truncated { offset })?;
        let magic = u32_at(header, 0);
        if magic != FATBIN_MAGIC {
            // Containers are 8-byte aligned; zero padding may sit between them.
            if header[..8].iter().all(|&b| b == 0) {
                offset = section
                    .next_nonzero_word(offset)
                    .ok_or(FatbinError::Truncated { offset })?;
                continue;
            }
            return Err(FatbinError::BadMagic { offset, magic });
        }
        let header_size = u64::from(u16_at(header, 6));
        let entries_size = u64_at(header, 8);
        let entries_start = offset
            .checked_add(header_size)
            .filter(|&s| header_size >= CONTAINER_HEADER && s <= size)
            .ok_or(FatbinError::Truncated { offset })?;
        let end = entries_start
            .checked_add(entries_size)
            .filter(|&e| e <= size)
            .ok_or(FatbinError::Truncated { offset })?;
        let mut entry = entries_start;
        let mut codes = Vec::new();
        while entry < end {
            let h = section
                .bytes(entry, ENTRY_HEADER_READ)
                .ok_or(FatbinError::Truncated { offset: entry })?;
            let kind = u16_at(h, 0);
            let entry_header = u64::from(u32_at(h, 4));
            let payload = u64_at(h, 8);
            let sm = u32_at(h, 28);
            let flags = u64_at(h, 40);
            let next = entry
                .checked_add(entry_header)
                .and_then(|e| e.checked_add(payload))
                .filter(|&n| entry_header >= ENTRY_HEADER_READ && n <= end)
                .ok_or(FatbinError::Truncated { offset: entry })?;
            let kind = match kind {
                1 => Some(CodeKind::Ptx),
                2 => Some(CodeKind::Sass),
                _ => None,
            };
            if let Some(kind) = kind {
                let code = DeviceCode {
                    kind,
                    arch: arch_of(sm, flags).ok_or(FatbinError::Truncated { offset: entry })?,
                };
                out.entries += 1;
                if !out.codes.contains(&code) {
                    out.codes.push(code);
                }
                if !codes.contains(&code) {
                    codes.push(code);
                }
            }
            entry = next;
        }
        out.containers.push(codes);
        offset = end.div_ceil(8) * 8;
    }
    Ok(out)
}

/// A section read through one buffer of [`WINDOW`] bytes.
struct Window<R> {
    file: R,
    /// The section's offset in the file.
    start: u64,
    /// The section's size.
    size: u64,
    buf: Vec<u8>,
    /// The section offset of `buf[0]`.
    at: u64,
}

impl<R: Read + Seek> Window<R> {
    fn new(file: R, start: u64, size: u64) -> Self {
        Window {
            file,
            start,
            size,
            buf: Vec::with_capacity(WINDOW),
            at: 0,
        }
    }

    /// `n` (at most [`WINDOW`]) bytes at section offset `offset`; `None`
    /// past the section's or the file's end.
    fn bytes(&mut self, offset: u64, n: u64) -> Option<&[u8]> {
        let end = offset.checked_add(n).filter(|&e| e <= self.size)?;
        if offset < self.at || end > self.at + self.buf.len() as u64 {
            let len = (self.size - offset).min(WINDOW as u64) as usize;
            if (len as u64) < n {
                return None;
            }
            self.buf.clear();
            self.buf.resize(len, 0);
            self.file
                .seek(SeekFrom::Start(self.start.checked_add(offset)?))
                .ok()?;
            self.file.read_exact(&mut self.buf).ok()?;
            self.at = offset;
        }
        let from = (offset - self.at) as usize;
        Some(&self.buf[from..from + n as usize])
    }

    /// The first 8-byte word after `offset` (8-aligned, a zero word) that
    /// is not zero, or the section's size: the end of a run of zero padding.
    fn next_nonzero_word(&mut self, offset: u64) -> Option<u64> {
        let mut at = offset;
        while at < self.size {
            let n = (self.size - at).min(WINDOW as u64);
            let bytes = self.bytes(at, n)?;
            match bytes.iter().position(|&b| b != 0) {
                Some(i) => return Some(at + i as u64 / 8 * 8),
                None => at += n,
            }
        }
        Some(self.size)
    }
}

/// The architecture of an entry: SM number `90` and its variant flags.
fn arch_of(sm: u32, flags: u64) -> Option<Arch> {
    if !(10..=999).contains(&sm) {
        return None;
    }
    let suffix = if flags & FLAG_ARCH_SPECIFIC != 0 {
        Some('a')
    } else if flags & FLAG_FAMILY_SPECIFIC != 0 {
        Some('f')
    } else {
        None
    };
    Some(Arch {
        major: sm / 10,
        minor: sm % 10,
        suffix,
    })
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    /// A container as nvcc writes one: header, then entries of `(kind, sm,
    /// flags, payload)` with 64-byte entry headers.
    fn container(entries: &[(u16, u32, u64, usize)]) -> Vec<u8> {
        let mut body = Vec::new();
        for &(kind, sm, flags, payload) in entries {
            let mut h = vec![0u8; 64];
            h[0..2].copy_from_slice(&kind.to_le_bytes());
            h[2..4].copy_from_slice(&0x0101u16.to_le_bytes());
            h[4..8].copy_from_slice(&64u32.to_le_bytes());
            h[8..16].copy_from_slice(&(payload as u64).to_le_bytes());
            h[28..32].copy_from_slice(&sm.to_le_bytes());
            h[40..48].copy_from_slice(&flags.to_le_bytes());
            body.extend(h);
            body.extend(vec![0xAB; payload]);
        }
        let mut c = Vec::new();
        c.extend(FATBIN_MAGIC.to_le_bytes());
        c.extend(1u16.to_le_bytes());
        c.extend(16u16.to_le_bytes());
        c.extend((body.len() as u64).to_le_bytes());
        c.extend(body);
        c
    }

    #[test]
    fn reads_kinds_archs_and_variants_across_containers() {
        let mut data = container(&[(2, 80, 0x11, 100), (2, 90, 0x10_0011, 8)]);
        data.extend([0u8; 4]); // padding to the next 8-byte boundary
        data.extend(container(&[(1, 90, 0x8011, 20), (2, 100, 0x0120_0011, 16)]));
        data.extend([0u8; 4]);
        data.extend(container(&[(2, 80, 0x11, 4)]));
        let fatbin = read_fatbin(Cursor::new(&data), 0, data.len() as u64).unwrap();
        let got: Vec<String> = fatbin.codes.iter().map(DeviceCode::name).collect();
        assert_eq!(got, ["sm_80", "sm_90a", "compute_90", "sm_100f"]);
        assert_eq!(fatbin.entries, 5);
        let containers: Vec<Vec<String>> = fatbin
            .containers
            .iter()
            .map(|c| c.iter().map(DeviceCode::name).collect())
            .collect();
        assert_eq!(
            containers,
            [
                vec!["sm_80", "sm_90a"],
                vec!["compute_90", "sm_100f"],
                vec!["sm_80"]
            ]
        );
    }

    #[test]
    fn a_size_past_the_section_is_an_error_not_a_panic() {
        let data = container(&[(2, 80, 0x11, 100)]);
        let short = &data[..data.len() - 10];
        assert!(matches!(
            read_fatbin(Cursor::new(short), 0, short.len() as u64),
            Err(FatbinError::Truncated { .. })
        ));
        let mut bad = data.clone();
        bad[0] = 0x51;
        assert!(matches!(
            read_fatbin(Cursor::new(&bad), 0, bad.len() as u64),
            Err(FatbinError::BadMagic { .. })
        ));
        // An entry header size of 0 would loop forever if trusted.
        let mut zero = data.clone();
        zero[16 + 4..16 + 8].copy_from_slice(&0u32.to_le_bytes());
        assert!(read_fatbin(Cursor::new(&zero), 0, zero.len() as u64).is_err());
    }

    #[test]
    fn zero_padding_is_skipped_a_window_at_a_time() {
        // Padding of every alignment around the window's edges, and at the end.
        for pad in [8, WINDOW - 8, WINDOW, WINDOW + 8, 3 * WINDOW + 16] {
            let mut data = container(&[(2, 80, 0x11, 12)]);
            data.resize(data.len().div_ceil(8) * 8 + pad, 0);
            data.extend(container(&[(2, 90, 0x11, 8)]));
            data.extend(vec![0u8; pad]);
            let fatbin = read_fatbin(Cursor::new(&data), 0, data.len() as u64).unwrap();
            let got: Vec<String> = fatbin.codes.iter().map(DeviceCode::name).collect();
            assert_eq!(got, ["sm_80", "sm_90"], "padding {pad}");
        }
        // A section that says it is longer than the file is truncated.
        let data = container(&[(2, 80, 0x11, 12)]);
        let long = data.len() as u64 + 2 * WINDOW as u64;
        assert!(read_fatbin(Cursor::new(&data), 0, long).is_err());
    }
}
