//! Throughput and memory of the diagnoser on a large build log.
//!
//! Two shapes of log, each generated into a temp file (default 1 GiB each;
//! `cargo bench --bench diagnose -- 4096`, or `WHEELWRIGHT_BENCH_MIB=4096`,
//! for 4096 MiB; `WHEELWRIGHT_BENCH_SHAPE=ordinary` or `oom` for one of them):
//!
//! `oom`, a log dense with out-of-memory lines (issue 16: such logs ran 16
//! times slower than ordinary ones): every line of the captured OOM logs that
//! reports a kill, ninja's `FAILED:` and the command it prints after it
//! (`tests/fixtures/logs/**/oom*.log`), over and over, with the object names
//! varied so the finding keeps meeting new ones. Its time is printed as a
//! ratio to the ordinary log's (the goal: within 3x), in CPU time (the least
//! of five passes, taken in turn with the ordinary log's), which other
//! processes on a shared machine stretch less than the wall clock.
//!
//! `ordinary`, a synthetic build log from real log lines: every log under
//! `tests/fixtures/logs` (failures included, so the rules fire), and flash-attn
//! compile commands taken from the captured build in
//! `tests/fixtures/logs/device/oom_cgroup_flash_attn.log` with the object name
//! varied. Each log is streamed through one `Diagnoser` on one thread via a
//! `BufReader`, five times (the first pass also warms the page cache), and prints
//! MB/s, lines/s, the peak resident memory (`VmHWM`, reset before each pass
//! where the kernel allows) and `VmRSS` sampled every 10% of the input, so a
//! flat memory profile is visible. A plain line-splitting pass over the same
//! file gives the I/O floor.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use wheelwright_core::diagnose::{DiagnoseContext, Diagnoser};

const MIB: u64 = 1024 * 1024;

/// A field of /proc/self/status in KiB (`VmHWM`, `VmRSS`).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time this process has run, in seconds (`/proc/self/schedstat`, in
/// nanoseconds): unlike the wall clock, not stretched by other processes
/// on a shared machine.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(f64::NAN, |ns| ns as f64 / 1e9)
}

/// Reset VmHWM to the current RSS (Linux: `5` into clear_refs).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn fixture_logs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            fixture_logs(&p, out);
        } else if p.extension().is_some_and(|e| e == "log") {
            out.push(p);
        }
    }
}

/// Write at least `target` bytes of log to `path`; returns (bytes, lines,
/// failure logs inserted).
fn generate(path: &Path, target: u64) -> (u64, u64, u64) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logs");
    let mut logs = Vec::new();
    fixture_logs(&root, &mut logs);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let healthy: Vec<String> = logs
        .iter()
        .filter(|p| p.to_string_lossy().contains("healthy"))
        .flat_map(|p| read(p).lines().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let failures: Vec<String> = logs
        .iter()
        .filter(|p| !p.to_string_lossy().contains("healthy"))
        .map(|p| read(p))
        .collect();
    let nvcc = read(&root.join("device/oom_cgroup_flash_attn.log"))
        .lines()
        .find(|l| l.trim_start().starts_with("[1/73]"))
        .expect("the captured flash-attn build has its first compile command")
        .to_string();
    let stems = [
        "flash_bwd_hdim128_fp16_causal_sm80",
        "flash_fwd_hdim64_bf16_sm80",
        "flash_fwd_split_hdim256_fp16_causal_sm80",
        "flash_bwd_hdim32_bf16_sm80",
        "flash_fwd_hdim192_fp16_sm80",
    ];

    let mut w = BufWriter::with_capacity(1 << 20, File::create(path).expect("temp file"));
    let (mut bytes, mut lines, mut inserted) = (0u64, 0u64, 0u64);
    let mut block = 0u64;
    while bytes < target {
        // One block: 73 compile commands with the healthy build's lines
        // between them, about 200 KiB, like one flash-attn build's output.
        for i in 0..73u64 {
            let stem = stems[((block + i) % stems.len() as u64) as usize];
            let line = nvcc
                .replace("[1/73]", &format!("[{}/73]", i + 1))
                .replace("flash_bwd_hdim128_fp16_causal_sm80", stem);
            writeln!(w, "{line}").unwrap();
            bytes += line.len() as u64 + 1;
            lines += 1;
            for h in healthy
                .iter()
                .skip((i as usize * 3) % healthy.len().max(1))
                .take(3)
            {
                writeln!(w, "{h}").unwrap();
                bytes += h.len() as u64 + 1;
                lines += 1;
            }
        }
        // Every 64th block, one real failure log.
        if block.is_multiple_of(64) && !failures.is_empty() {
            let f = &failures[(inserted as usize) % failures.len()];
            w.write_all(f.as_bytes()).unwrap();
            bytes += f.len() as u64;
            lines += f.lines().count() as u64;
            inserted += 1;
        }
        block += 1;
    }
    w.flush().unwrap();
    (bytes, lines, inserted)
}

/// The lines of the captured OOM logs that report a kill, ninja's `FAILED:`
/// and the command after it.
fn oom_lines(root: &Path) -> Vec<String> {
    let mut logs = Vec::new();
    fixture_logs(root, &mut logs);
    let marks = [
        "Killed",
        "signal 9",
        "code=137",
        "status 137",
        "code: -9",
        "code 137",
        "FAILED:",
    ];
    let mut lines = Vec::new();
    for p in logs.iter().filter(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("oom"))
    }) {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        let mut after_failed = false;
        for l in text.lines() {
            if after_failed || marks.iter().any(|m| l.contains(m)) {
                lines.push(l.to_string());
            }
            after_failed = l.contains("FAILED:");
        }
    }
    assert!(!lines.is_empty(), "the captured OOM logs have kill lines");
    lines
}

/// Write at least `target` bytes of OOM-dense log to `path`; returns (bytes,
/// lines).
fn generate_oom(path: &Path, target: u64) -> (u64, u64) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logs");
    let lines = oom_lines(&root);
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path).expect("temp file"));
    let (mut bytes, mut count, mut round) = (0u64, 0u64, 0u64);
    while bytes < target {
        for l in &lines {
            // New object names each round (`x.o` -> `x_r123.o`), also at
            // the end of a line (ninja's `FAILED: [code=137] x.o`), so the
            // finding keeps meeting objects it has not seen.
            let mut line = l
                .replace(".o ", &format!("_r{round}.o "))
                .replace(".cuda.o", &format!("_r{round}.cuda.o"));
            if let Some(stem) = line.strip_suffix(".o") {
                line = format!("{stem}_r{round}.o");
            }
            writeln!(w, "{line}").unwrap();
            bytes += line.len() as u64 + 1;
            count += 1;
        }
        round += 1;
    }
    w.flush().unwrap();
    (bytes, count)
}

/// Counts bytes read and samples VmRSS every tenth of `total`.
struct Sampling<R> {
    inner: R,
    read: u64,
    total: u64,
    next: u64,
    samples: Vec<u64>,
}

impl<R: Read> Read for Sampling<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read >= self.next {
            self.samples.push(status_kib("VmRSS:"));
            self.next += self.total / 10;
        }
        Ok(n)
    }
}

fn diagnose_pass(path: &Path, total: u64) -> (f64, f64, u64, Vec<u64>, usize, u64) {
    let peak_reset = reset_peak();
    let sampling = Sampling {
        inner: File::open(path).unwrap(),
        read: 0,
        total,
        next: total / 10,
        samples: Vec::new(),
    };
    let start = Instant::now();
    let cpu = cpu_seconds();
    let mut d = Diagnoser::new(DiagnoseContext::default());
    let mut reader = BufReader::with_capacity(256 * 1024, sampling);
    d.feed(&mut reader).unwrap();
    let findings = d.findings();
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let samples = std::mem::take(&mut reader.get_mut().samples);
    let peak = if peak_reset { status_kib("VmHWM:") } else { 0 };
    std::hint::black_box(&findings);
    let errors_count: u64 = findings.iter().map(|f| u64::from(f.count)).sum();
    (secs, cpu, peak, samples, findings.len(), errors_count)
}

fn split_pass(path: &Path) -> (f64, u64) {
    let start = Instant::now();
    let mut reader = BufReader::with_capacity(256 * 1024, File::open(path).unwrap());
    let mut lines = 0u64;
    loop {
        let buf = reader.fill_buf().unwrap();
        if buf.is_empty() {
            break;
        }
        lines += memchr_count(buf);
        let n = buf.len();
        reader.consume(n);
    }
    (start.elapsed().as_secs_f64(), lines)
}

fn memchr_count(buf: &[u8]) -> u64 {
    buf.iter().filter(|b| **b == b'\n').count() as u64
}

/// Passes over each log; the least CPU time of them is the one compared.
const PASSES: usize = 5;

/// One generated log to measure.
struct Shape {
    label: &'static str,
    path: PathBuf,
    bytes: u64,
    lines: u64,
}

/// The I/O floor, then [`PASSES`] diagnose passes over each log in turn
/// (ordinary, OOM-dense, ordinary, ...), so that a change in the load of a
/// shared machine falls on both shapes alike; returns the least CPU seconds
/// of a pass of each.
fn measure(shapes: &[Shape]) -> Vec<f64> {
    for s in shapes {
        let (secs, counted) = split_pass(&s.path);
        println!(
            "[{}] line split only (I/O floor): {:.2} s, {:.0} MB/s, {} lines",
            s.label,
            secs,
            s.bytes as f64 / 1e6 / secs,
            counted
        );
    }
    let mut best = vec![f64::INFINITY; shapes.len()];
    for pass in 1..=PASSES {
        for (s, best) in shapes.iter().zip(&mut best) {
            let (secs, cpu, peak, samples, findings, hits) = diagnose_pass(&s.path, s.bytes);
            *best = best.min(cpu);
            println!(
                "[{}] diagnose pass {pass}: {:.2} s ({:.2} s CPU), {:.0} MB/s, {:.1} M lines/s, {} findings ({} hits folded); peak RSS (VmHWM) {} KiB; VmRSS every 10%: {:?} KiB",
                s.label,
                secs,
                cpu,
                s.bytes as f64 / 1e6 / secs,
                s.lines as f64 / 1e6 / secs,
                findings,
                hits,
                peak,
                samples
            );
        }
    }
    best
}

fn main() {
    let mib = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<u64>().ok())
        .or_else(|| {
            std::env::var("WHEELWRIGHT_BENCH_MIB")
                .ok()
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(1024);
    let shape = std::env::var("WHEELWRIGHT_BENCH_SHAPE").unwrap_or_else(|_| "both".into());
    let dir = tempfile::tempdir().expect("temp dir");
    let mut shapes = Vec::new();
    if shape != "oom" {
        let path = dir.path().join("synthetic-build.log");
        let t = Instant::now();
        let (bytes, lines, inserted) = generate(&path, mib * MIB);
        println!(
            "[ordinary] generated {:.0} MiB, {} lines ({} real failure logs inserted) in {:.1} s; VmHWM after generating: {} MiB",
            bytes as f64 / MIB as f64,
            lines,
            inserted,
            t.elapsed().as_secs_f64(),
            status_kib("VmHWM:") / 1024
        );
        shapes.push(Shape {
            label: "ordinary",
            path,
            bytes,
            lines,
        });
    }
    if shape != "ordinary" {
        let path = dir.path().join("oom-dense.log");
        let t = Instant::now();
        let (bytes, lines) = generate_oom(&path, mib * MIB);
        println!(
            "[oom] generated {:.0} MiB, {} lines, all from the captured OOM logs' kill lines, in {:.1} s",
            bytes as f64 / MIB as f64,
            lines,
            t.elapsed().as_secs_f64(),
        );
        shapes.push(Shape {
            label: "oom",
            path,
            bytes,
            lines,
        });
    }
    let best = measure(&shapes);
    if let [ordinary, oom] = shapes.as_slice() {
        // Per byte, so the two sizes need not match exactly.
        let ratio = (best[1] / oom.bytes as f64) / (best[0] / ordinary.bytes as f64);
        println!(
            "oom-dense / ordinary, CPU seconds per byte (least of {PASSES} passes each, interleaved): {ratio:.2}x (goal: at most 3x)"
        );
    }
}
