//! Crafted input for the hostile-input tests, made by the test itself: zip
//! archives written byte by byte (so they can hold what a zip library
//! refuses to write: duplicate names, a file and a directory of one name),
//! entries of any size streamed through deflate without holding them, ELF
//! shared objects with real section headers whose `.nv_fatbin` section
//! holds real container and entry headers (laid out as the ELF and fatbin
//! formats say; `wheel_check.rs` reads real nvcc-built ones), and wheels
//! made of them with a `RECORD`.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The bytes of one zip entry.
#[derive(Debug, Clone)]
pub enum Data {
    /// These bytes.
    Bytes(Vec<u8>),
    /// `head`, `unit` repeated `times` times, then `tail`: streamed, never
    /// held whole.
    Stream {
        head: Vec<u8>,
        unit: Vec<u8>,
        times: u64,
        tail: Vec<u8>,
    },
}

impl Data {
    fn for_each_chunk(&self, mut f: impl FnMut(&[u8])) {
        match self {
            Data::Bytes(b) => f(b),
            Data::Stream {
                head,
                unit,
                times,
                tail,
            } => {
                f(head);
                // Chunks of about 1 MiB made of whole units.
                let per = (1 << 20) / unit.len().max(1) + 1;
                let chunk = unit.repeat(per);
                let mut left = *times;
                while left > 0 {
                    let n = left.min(per as u64) as usize;
                    f(&chunk[..n * unit.len()]);
                    left -= n as u64;
                }
                f(tail);
            }
        }
    }
}

/// One entry of a crafted zip.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The name as stored (a trailing `/` for a directory).
    pub name: String,
    /// The content.
    pub data: Data,
    /// Deflated (else stored).
    pub deflate: bool,
    /// The Unix mode in the high half of the external attributes.
    pub mode: u32,
}

impl Entry {
    /// A regular file, deflated.
    pub fn file(name: &str, bytes: impl Into<Vec<u8>>) -> Entry {
        Entry {
            name: name.into(),
            data: Data::Bytes(bytes.into()),
            deflate: true,
            mode: 0o100644,
        }
    }

    /// A regular file of `head`, `unit` repeated `times` times, then
    /// `tail`, deflated.
    pub fn streamed(name: &str, head: &[u8], unit: &[u8], times: u64, tail: &[u8]) -> Entry {
        Entry {
            name: name.into(),
            data: Data::Stream {
                head: head.to_vec(),
                unit: unit.to_vec(),
                times,
                tail: tail.to_vec(),
            },
            deflate: true,
            mode: 0o100644,
        }
    }

    /// A directory entry (`name` ends with `/`).
    pub fn dir(name: &str) -> Entry {
        assert!(name.ends_with('/'));
        Entry {
            name: name.into(),
            data: Data::Bytes(Vec::new()),
            deflate: false,
            mode: 0o040755,
        }
    }

    /// The `RECORD` row of this entry: path, sha256, size; a streamed
    /// entry (hundreds of MiB, slow to hash in a debug build) gets a row
    /// without hash, which the check reports besides what a test is after.
    pub fn record_row(&self) -> String {
        if let Data::Stream { .. } = self.data {
            return format!("{},,\n", csv_field(&self.name));
        }
        let mut h = Sha256::new();
        let mut size = 0u64;
        self.data.for_each_chunk(|c| {
            h.update(c);
            size += c.len() as u64;
        });
        format!(
            "{},sha256={},{size}\n",
            csv_field(&self.name),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize())
        )
    }
}

fn csv_field(f: &str) -> String {
    if f.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_string()
    }
}

/// Write `entries` as a zip archive at `path`, in order, names as given
/// (duplicates kept).
pub fn write_zip(path: &Path, entries: &[Entry]) {
    let mut out = BufWriter::new(File::create(path).unwrap());
    let mut central = Vec::new();
    for e in entries {
        let offset = out.stream_position().unwrap();
        let method: u16 = if e.deflate { 8 } else { 0 };
        local_header(&mut out, &e.name, method, 0, 0, 0);
        let data_start = out.stream_position().unwrap();
        let mut crc = crc32fast::Hasher::new();
        let mut size = 0u64;
        if e.deflate {
            deflate(&e.data, &mut out, &mut crc, &mut size);
        } else {
            e.data.for_each_chunk(|c| {
                crc.update(c);
                size += c.len() as u64;
                out.write_all(c).unwrap();
            });
        }
        let end = out.stream_position().unwrap();
        let (crc, csize) = (crc.finalize(), end - data_start);
        assert!(
            size < u32::MAX as u64 && csize < u32::MAX as u64,
            "no zip64 here"
        );
        out.seek(SeekFrom::Start(offset)).unwrap();
        local_header(&mut out, &e.name, method, crc, csize as u32, size as u32);
        out.seek(SeekFrom::Start(end)).unwrap();

        let c = &mut central;
        c.extend(0x0201_4b50u32.to_le_bytes());
        c.extend((0x0300u16 | 20).to_le_bytes()); // made by Unix, 2.0
        c.extend(20u16.to_le_bytes());
        c.extend(0u16.to_le_bytes()); // flags
        c.extend(method.to_le_bytes());
        c.extend(0u16.to_le_bytes()); // time
        c.extend(0x21u16.to_le_bytes()); // 1980-01-01
        c.extend(crc.to_le_bytes());
        c.extend((csize as u32).to_le_bytes());
        c.extend((size as u32).to_le_bytes());
        c.extend((e.name.len() as u16).to_le_bytes());
        c.extend([0u8; 8]); // extra, comment, disk, internal attributes
        c.extend((e.mode << 16).to_le_bytes());
        c.extend((offset as u32).to_le_bytes());
        c.extend(e.name.as_bytes());
    }
    let cd_offset = out.stream_position().unwrap();
    out.write_all(&central).unwrap();
    let mut eocd = Vec::new();
    eocd.extend(0x0605_4b50u32.to_le_bytes());
    eocd.extend([0u8; 4]);
    eocd.extend((entries.len() as u16).to_le_bytes());
    eocd.extend((entries.len() as u16).to_le_bytes());
    eocd.extend((central.len() as u32).to_le_bytes());
    eocd.extend((cd_offset as u32).to_le_bytes());
    eocd.extend(0u16.to_le_bytes());
    out.write_all(&eocd).unwrap();
    out.flush().unwrap();
}

/// Deflate `data` into `out`. Each piece (the head, then a chunk of whole
/// units) is compressed on its own and ends with a full flush, so no piece
/// refers back into another and the compressed chunk can be repeated as it
/// is: a stream of gigabytes costs one chunk's compression.
fn deflate(data: &Data, out: &mut impl Write, crc: &mut crc32fast::Hasher, size: &mut u64) {
    fn piece(bytes: &[u8]) -> Vec<u8> {
        let mut c = flate2::Compress::new(flate2::Compression::best(), false);
        let mut buf = Vec::with_capacity(bytes.len() / 2 + 1024);
        let mut input = bytes;
        loop {
            let before = c.total_in();
            c.compress_vec(input, &mut buf, flate2::FlushCompress::Full)
                .unwrap();
            input = &input[(c.total_in() - before) as usize..];
            if input.is_empty() && buf.len() < buf.capacity() {
                return buf;
            }
            buf.reserve(buf.capacity().max(1024));
        }
    }
    let (head, unit, times, tail) = match data {
        Data::Bytes(b) => (b.as_slice(), &[][..], 0, &[][..]),
        Data::Stream {
            head,
            unit,
            times,
            tail,
        } => (head.as_slice(), unit.as_slice(), *times, tail.as_slice()),
    };
    crc.update(head);
    *size += head.len() as u64;
    out.write_all(&piece(head)).unwrap();
    if times > 0 {
        let per = ((1 << 20) / unit.len().max(1) + 1) as u64;
        let chunk = unit.repeat(per as usize);
        let (full, rest) = (times / per, times % per);
        let compressed = piece(&chunk);
        let mut chunk_crc = crc32fast::Hasher::new();
        chunk_crc.update(&chunk);
        for _ in 0..full {
            out.write_all(&compressed).unwrap();
            crc.combine(&chunk_crc);
        }
        let tail = &chunk[..(rest as usize) * unit.len()];
        crc.update(tail);
        out.write_all(&piece(tail)).unwrap();
        *size += times * unit.len() as u64;
    }
    crc.update(tail);
    *size += tail.len() as u64;
    out.write_all(&piece(tail)).unwrap();
    // The final block: fixed Huffman, empty (BFINAL=1, BTYPE=01, end of block).
    out.write_all(&[0x03, 0x00]).unwrap();
}

fn local_header(out: &mut impl Write, name: &str, method: u16, crc: u32, csize: u32, size: u32) {
    let mut h = Vec::new();
    h.extend(0x0403_4b50u32.to_le_bytes());
    h.extend(20u16.to_le_bytes());
    h.extend(0u16.to_le_bytes());
    h.extend(method.to_le_bytes());
    h.extend(0u16.to_le_bytes());
    h.extend(0x21u16.to_le_bytes());
    h.extend(crc.to_le_bytes());
    h.extend(csize.to_le_bytes());
    h.extend(size.to_le_bytes());
    h.extend((name.len() as u16).to_le_bytes());
    h.extend(0u16.to_le_bytes());
    h.extend(name.as_bytes());
    out.write_all(&h).unwrap();
}

/// A wheel `dir/file_name` of distribution `dist` version `version`:
/// `files`, then `METADATA`, `WHEEL` (tag `tag`) and a `RECORD` that lists
/// every entry with its real hash (a later entry of a duplicated name
/// overrides the row of the earlier one, as a tool that writes RECORD from
/// a name→hash map does). `metadata`/`wheel`/`record` replace the generated
/// file when given.
pub struct WheelParts<'a> {
    pub dist: &'a str,
    pub version: &'a str,
    pub tag: &'a str,
    pub files: Vec<Entry>,
    pub metadata: Option<Entry>,
    pub wheel: Option<Entry>,
    pub record: Option<Entry>,
}

impl<'a> WheelParts<'a> {
    pub fn new(dist: &'a str, version: &'a str, tag: &'a str) -> Self {
        WheelParts {
            dist,
            version,
            tag,
            files: Vec::new(),
            metadata: None,
            wheel: None,
            record: None,
        }
    }

    /// The dist-info directory's name.
    pub fn dist_info(&self) -> String {
        format!("{}-{}.dist-info", self.dist, self.version)
    }

    /// Write the wheel as `dir/file_name`.
    pub fn write(self, dir: &Path, file_name: &str) -> PathBuf {
        let info = self.dist_info();
        let metadata = self.metadata.unwrap_or_else(|| {
            Entry::file(
                &format!("{info}/METADATA"),
                format!(
                    "Metadata-Version: 2.1\nName: {}\nVersion: {}\n",
                    self.dist, self.version
                ),
            )
        });
        let wheel = self.wheel.unwrap_or_else(|| {
            Entry::file(
                &format!("{info}/WHEEL"),
                format!(
                    "Wheel-Version: 1.0\nGenerator: wheelwright-test\nRoot-Is-Purelib: false\nTag: {}\n",
                    self.tag
                ),
            )
        });
        let mut entries = self.files;
        entries.push(metadata);
        entries.push(wheel);
        let record = self.record.unwrap_or_else(|| {
            let mut rows = std::collections::BTreeMap::new();
            for e in entries.iter().filter(|e| !e.name.ends_with('/')) {
                rows.insert(e.name.clone(), e.record_row());
            }
            let mut text: String = rows.into_values().collect();
            text.push_str(&format!("{info}/RECORD,,\n"));
            Entry::file(&format!("{info}/RECORD"), text)
        });
        entries.push(record);
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(file_name);
        write_zip(&path, &entries);
        path
    }
}

/// A `.nv_fatbin` container as nvcc writes one: the 16-byte header, then
/// one entry per `(kind, sm)` (kind 1 PTX, 2 SASS) with a 64-byte entry
/// header and a 64-byte payload.
pub fn fatbin_container(entries: &[(u16, u32)]) -> Vec<u8> {
    let mut body = Vec::new();
    for &(kind, sm) in entries {
        let mut h = vec![0u8; 64];
        h[0..2].copy_from_slice(&kind.to_le_bytes());
        h[2..4].copy_from_slice(&0x0101u16.to_le_bytes());
        h[4..8].copy_from_slice(&64u32.to_le_bytes());
        h[8..16].copy_from_slice(&64u64.to_le_bytes());
        h[28..32].copy_from_slice(&sm.to_le_bytes());
        h[40..48].copy_from_slice(&0x11u64.to_le_bytes());
        body.extend(h);
        body.extend([0xABu8; 64]);
    }
    let mut c = Vec::new();
    c.extend(0xBA55_ED50u32.to_le_bytes());
    c.extend(1u16.to_le_bytes());
    c.extend(16u16.to_le_bytes());
    c.extend((body.len() as u64).to_le_bytes());
    c.extend(body);
    c
}

/// A real x86-64 ELF shared object (`ET_DYN`, with section headers: the
/// null section, `.nv_fatbin`, `.shstrtab`) whose `.nv_fatbin` section
/// holds `fatbin` and then `padding` zero bytes, as a streamed entry
/// `name`: the padding is never held in memory (a test process that held
/// it would count in the measured child's peak RSS, see `measure`).
pub fn padded_elf_entry(name: &str, fatbin: &[u8], padding: u64) -> Entry {
    assert!(padding.is_multiple_of(4096));
    let (head, tail) = elf_parts(fatbin, padding);
    Entry::streamed(name, &head, &[0u8; 4096], padding / 4096, &tail)
}

/// The same ELF object without padding, whole.
pub fn elf_with_fatbin(fatbin: &[u8]) -> Vec<u8> {
    let (mut head, tail) = elf_parts(fatbin, 0);
    head.extend(tail);
    head
}

/// The bytes of the ELF object before the padding (file header and
/// `fatbin`) and after it (`.shstrtab` and the section headers).
fn elf_parts(fatbin: &[u8], padding: u64) -> (Vec<u8>, Vec<u8>) {
    const EHDR: u64 = 64;
    const SHDR: u64 = 64;
    let shstrtab = b"\0.nv_fatbin\0.shstrtab\0";
    let section_size = fatbin.len() as u64 + padding;
    let shstrtab_offset = EHDR + section_size;
    let shoff = (shstrtab_offset + shstrtab.len() as u64).next_multiple_of(8);

    let mut head = Vec::new();
    head.extend(b"\x7fELF");
    head.extend([2, 1, 1, 0]); // 64-bit, little-endian, version 1, System V
    head.extend([0u8; 8]);
    head.extend(3u16.to_le_bytes()); // ET_DYN
    head.extend(62u16.to_le_bytes()); // EM_X86_64
    head.extend(1u32.to_le_bytes());
    head.extend(0u64.to_le_bytes()); // e_entry
    head.extend(0u64.to_le_bytes()); // e_phoff
    head.extend(shoff.to_le_bytes());
    head.extend(0u32.to_le_bytes()); // e_flags
    head.extend((EHDR as u16).to_le_bytes());
    head.extend(56u16.to_le_bytes()); // e_phentsize
    head.extend(0u16.to_le_bytes()); // e_phnum
    head.extend((SHDR as u16).to_le_bytes());
    head.extend(3u16.to_le_bytes()); // e_shnum
    head.extend(2u16.to_le_bytes()); // e_shstrndx
    assert_eq!(head.len() as u64, EHDR);
    head.extend(fatbin);

    let mut tail = shstrtab.to_vec();
    tail.resize((shoff - shstrtab_offset) as usize, 0);
    let mut section = |name: u32, kind: u32, flags: u64, offset: u64, size: u64, align: u64| {
        tail.extend(name.to_le_bytes());
        tail.extend(kind.to_le_bytes());
        tail.extend(flags.to_le_bytes());
        tail.extend(0u64.to_le_bytes()); // sh_addr
        tail.extend(offset.to_le_bytes());
        tail.extend(size.to_le_bytes());
        tail.extend(0u32.to_le_bytes()); // sh_link
        tail.extend(0u32.to_le_bytes()); // sh_info
        tail.extend(align.to_le_bytes());
        tail.extend(0u64.to_le_bytes()); // sh_entsize
    };
    section(0, 0, 0, 0, 0, 0);
    section(1, 1, 2, EHDR, section_size, 8); // PROGBITS, ALLOC
    section(12, 3, 0, shstrtab_offset, shstrtab.len() as u64, 1); // STRTAB
    (head, tail)
}
