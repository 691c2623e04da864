//! Times `detect` on this host: without the Python probe (target: under
//! 100 ms) and with it, over N runs each (`cargo bench --bench detect -- 20`).
//! Prints median, min and max in milliseconds.

use std::time::{Duration, Instant};

use wheelwright_core::detect::{detect, DetectOptions};

fn time_runs(opts: &DetectOptions, runs: usize) -> Vec<Duration> {
    // One untimed run warms the page cache and the dynamic loader.
    let _ = detect(opts);
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            let facts = detect(opts);
            let elapsed = start.elapsed();
            std::hint::black_box(facts);
            elapsed
        })
        .collect()
}

fn report(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = times[times.len() / 2];
    println!(
        "{label:<28} runs {:>3}  median {:>8.2} ms  min {:>8.2} ms  max {:>8.2} ms",
        times.len(),
        ms(median),
        ms(times[0]),
        ms(times[times.len() - 1])
    );
}

fn main() {
    // `cargo bench` passes `--bench`; the first number given is the run count.
    let runs = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(20)
        .max(1);
    let base = DetectOptions::from_process_env();

    let mut without = base.clone();
    without.skip_python = true;
    report("detect (no python probe)", time_runs(&without, runs));

    let mut with = base;
    with.skip_python = false;
    let facts = detect(&with);
    report("detect (with python probe)", time_runs(&with, runs));
    println!(
        "host: {} CPUs, {} GPUs, CUDA {}, python {}, torch {}, {} problems",
        facts.host.logical_cpus,
        facts.gpus.len(),
        facts.cuda.as_ref().map_or("none", |c| c.version.as_str()),
        facts.python.as_ref().map_or("none", |p| p.version.as_str()),
        facts.torch.as_ref().map_or("none", |t| t.version.as_str()),
        facts.problems.len()
    );
}
