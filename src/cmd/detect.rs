//! `wheelwright detect`: print the host's `Facts` as a table or JSON.
//!
//! Problems found by probes are part of the facts, so the exit status is 0
//! whenever detection ran; only bad arguments fail (exit 2).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use wheelwright_core::detect::{detect, DetectOptions};
use wheelwright_core::facts::Facts;
use wheelwright_core::units::format_bytes;

use crate::exit;

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Print the Facts as JSON (the contract other tools read).
    #[arg(long)]
    pub json: bool,
    /// Python interpreter to probe (default: WHEELWRIGHT_PYTHON, then
    /// $VIRTUAL_ENV/bin/python, then python3 on PATH).
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Read /proc, /sys/fs/cgroup and /usr/local/cuda under this directory
    /// (default: WHEELWRIGHT_ROOT, else /).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Skip the Python and torch probe.
    #[arg(long)]
    pub no_python: bool,
    /// Skip NVML and ask nvidia-smi for the GPUs (also WHEELWRIGHT_NVML=off).
    #[arg(long)]
    pub no_nvml: bool,
    /// Report the free space of this directory (default: the current one).
    #[arg(long, value_name = "DIR")]
    pub disk_path: Option<PathBuf>,
}

pub fn run(args: DetectArgs) -> anyhow::Result<ExitCode> {
    let mut opts = DetectOptions::from_process_env();
    if let Some(root) = args.root {
        opts.root = existing_dir(
            "--root",
            root,
            "give the directory that holds the proc/ and sys/ to read, or leave --root out",
        )?;
    }
    if let Some(disk) = args.disk_path {
        opts.disk_path = existing_dir(
            "--disk-path",
            disk,
            "give the directory the build will run in (it must exist)",
        )?;
    }
    opts.python = args.python.or(opts.python);
    opts.skip_python |= args.no_python;
    opts.nvml &= !args.no_nvml;

    let facts = detect(&opts);
    if args.json {
        super::print_json(&facts)?;
    } else {
        super::print_text(&render_table(&facts))?;
    }
    Ok(ExitCode::from(exit::OK))
}

/// `dir` as given for `flag`, or a usage error with `hint` when it is not a directory.
fn existing_dir(flag: &str, dir: PathBuf, hint: &str) -> anyhow::Result<PathBuf> {
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(exit::usage(
            format!("{flag} {} is not a directory", dir.display()),
            hint,
        ))
    }
}

/// One line per section, for people.
pub fn render_table(f: &Facts) -> String {
    let mut out = String::new();
    let h = &f.host;
    let mut host = format!(
        "{} {}, kernel {}; {} CPUs",
        h.os,
        h.arch,
        h.kernel.as_deref().unwrap_or("?"),
        h.logical_cpus
    );
    if let Some(p) = h.physical_cpus {
        let _ = write!(host, " ({p} cores)");
    }
    if let Some(q) = h.cpu_quota {
        let _ = write!(host, ", quota {q:.1}");
    }
    let _ = write!(
        host,
        "; memory {} total, {} available",
        format_bytes(h.memory_total_bytes),
        format_bytes(h.memory_available_bytes)
    );
    if let Some(l) = h.memory_limit_bytes {
        let _ = write!(host, ", limit {}", format_bytes(l));
    }
    match h.disk_free_bytes {
        Some(d) => {
            let _ = write!(host, "; disk {} free at {}", format_bytes(d), h.disk_path);
        }
        None => {
            let _ = write!(host, "; disk free unknown at {}", h.disk_path);
        }
    }
    line(&mut out, "host", &host);

    // Identical GPUs fold into one `8 x NAME` entry.
    let mut groups: Vec<(String, usize)> = Vec::new();
    for g in &f.gpus {
        let mem = g.memory_total_bytes.map(format_bytes).unwrap_or_default();
        let key = format!("{} (sm {}, {mem})", g.name, g.compute_capability);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => groups.push((key, 1)),
        }
    }
    let gpus = if groups.is_empty() {
        "none".to_string()
    } else {
        groups
            .iter()
            .map(|(k, n)| format!("{n} x {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    line(&mut out, "gpus", &gpus);
    let driver = match &f.driver {
        Some(d) => format!(
            "{} (CUDA {})",
            d.version,
            d.cuda_driver_version.as_deref().unwrap_or("?")
        ),
        None => "none".to_string(),
    };
    line(&mut out, "driver", &driver);
    let cuda = match &f.cuda {
        Some(c) => format!(
            "{} at {}, gcc <= {}",
            c.version,
            c.home,
            c.max_gcc_major.map_or("?".to_string(), |m| m.to_string())
        ),
        None => "none".to_string(),
    };
    line(&mut out, "cuda", &cuda);
    let compilers = if f.compilers.is_empty() {
        "none".to_string()
    } else {
        f.compilers
            .iter()
            .map(|c| format!("{} {} ({})", c.name, c.version, c.path))
            .collect::<Vec<_>>()
            .join(", ")
    };
    line(&mut out, "compilers", &compilers);
    let python = match &f.python {
        Some(p) => {
            let v = |x: &Option<String>| x.clone().unwrap_or_else(|| "-".to_string());
            format!(
                "{} at {}; pip {}, setuptools {}, wheel {}, packaging {}, psutil {}",
                p.version,
                p.path,
                v(&p.pip),
                v(&p.setuptools),
                v(&p.wheel),
                v(&p.packaging),
                v(&p.psutil)
            )
        }
        None => "none".to_string(),
    };
    line(&mut out, "python", &python);
    let torch = match &f.torch {
        Some(t) => format!(
            "{} (CUDA {}, cxx11 abi {}, cuda available: {})",
            t.version,
            t.cuda.as_deref().unwrap_or("none"),
            t.cxx11_abi.map_or("?".to_string(), |a| a.to_string()),
            if t.cuda_available { "yes" } else { "no" }
        ),
        None => "none".to_string(),
    };
    line(&mut out, "torch", &torch);
    let ninja = match &f.ninja {
        Some(n) => format!(
            "{} at {} ({})",
            n.version.as_deref().unwrap_or("?"),
            n.path,
            if n.healthy { "ok" } else { "BROKEN" }
        ),
        None => "none".to_string(),
    };
    line(&mut out, "ninja", &ninja);
    for p in &f.problems {
        // A problem's message can span lines (a tool's output tail): indent them.
        let msg = p.message.replace('\n', "\n           ");
        line(&mut out, "problem", &format!("[{}] {msg}", p.probe));
    }
    out
}

fn line(out: &mut String, label: &str, text: &str) {
    let _ = writeln!(out, "{label:<10} {text}");
}
