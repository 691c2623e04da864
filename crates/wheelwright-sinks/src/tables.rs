//! Tables for people: the host's [`Facts`] (`wheelwright detect`), a
//! [`Plan`] (`wheelwright plan`) and both with a verdict (`wheelwright
//! doctor`), as the CLI prints them and as another CI can put them in its
//! log. One `label      text` row per line; plain text, no colour.

use std::fmt::Write as _;

use wheelwright_base::facts::Facts;
use wheelwright_base::finding::Severity;
use wheelwright_base::units::{format_bytes, format_duration};
use wheelwright_job::prebuilt;
use wheelwright_plan::Plan;

/// One line per section, for people.
pub fn facts_table(f: &Facts) -> String {
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
    row(&mut out, "host", &host);

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
    row(&mut out, "gpus", &gpus);
    let driver = match &f.driver {
        Some(d) => format!(
            "{} (CUDA {})",
            d.version,
            d.cuda_driver_version.as_deref().unwrap_or("?")
        ),
        None => "none".to_string(),
    };
    row(&mut out, "driver", &driver);
    let cuda = match &f.cuda {
        Some(c) => format!(
            "{} at {}, gcc <= {}",
            c.version,
            c.home,
            c.max_gcc_major.map_or("?".to_string(), |m| m.to_string())
        ),
        None => "none".to_string(),
    };
    row(&mut out, "cuda", &cuda);
    let compilers = if f.compilers.is_empty() {
        "none".to_string()
    } else {
        f.compilers
            .iter()
            .map(|c| format!("{} {} ({})", c.name, c.version, c.path))
            .collect::<Vec<_>>()
            .join(", ")
    };
    row(&mut out, "compilers", &compilers);
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
    row(&mut out, "python", &python);
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
    row(&mut out, "torch", &torch);
    let ninja = match &f.ninja {
        Some(n) => format!(
            "{} at {} ({})",
            n.version.as_deref().unwrap_or("?"),
            n.path,
            if n.healthy { "ok" } else { "BROKEN" }
        ),
        None => "none".to_string(),
    };
    row(&mut out, "ninja", &ninja);
    for p in &f.problems {
        // A problem's message can span lines (a tool's output tail): indent them.
        let msg = p.message.replace('\n', "\n           ");
        row(&mut out, "problem", &format!("[{}] {msg}", p.probe));
    }
    out
}

/// The plan for people.
pub fn plan_table(p: &Plan) -> String {
    let mut out = String::new();
    let version = p
        .recipe_version
        .as_deref()
        .map(|v| format!(" {v}"))
        .unwrap_or_default();
    row(
        &mut out,
        "recipe",
        &format!("{}{version} ({}), {} units", p.recipe, p.source, p.units),
    );
    let archs = if p.archs.is_empty() {
        "none".into()
    } else {
        p.archs.join(";")
    };
    let per_compile = if p.recipe == "flash-attn-3" {
        // Its setup.py gives each kernel file only its own arch's gencode.
        format!(
            "{} gencode{} in all, each kernel compiles its own arch's",
            p.gencodes,
            if p.gencodes == 1 { "" } else { "s" }
        )
    } else {
        format!(
            "{} gencode{} per nvcc compile",
            p.gencodes,
            if p.gencodes == 1 { "" } else { "s" }
        )
    };
    row(&mut out, "archs", &format!("{archs} ({per_compile})"));
    row(
        &mut out,
        "resources",
        &format!(
            "{} CPUs; memory ceiling {} ({} minus a {} margin)",
            p.cpus,
            format_bytes(p.memory_ceiling_bytes),
            p.memory_basis,
            format_bytes(p.memory_margin_bytes)
        ),
    );
    // A package that does not read NVCC_THREADS gets nvcc's threads through
    // NVCC_APPEND_FLAGS.
    let threads = if p.env.contains_key("NVCC_APPEND_FLAGS") && !p.env.contains_key("NVCC_THREADS")
    {
        format!("nvcc --threads {} (NVCC_APPEND_FLAGS)", p.nvcc_threads)
    } else {
        format!("NVCC_THREADS={}", p.nvcc_threads)
    };
    row(
        &mut out,
        "plan",
        &format!(
            "MAX_JOBS={} {threads}: {}, peak {}",
            p.max_jobs,
            format_duration(p.predicted.wall_seconds),
            format_bytes(p.predicted.peak_memory_bytes)
        ),
    );
    if let Some(setup) = &p.setup_py {
        let how = match &setup.unknown {
            Some(_) => "a file scan (setup.py not run)".to_string(),
            None => format!(
                "its setup.py under torch {}: {} extension{}, {}",
                setup.torch.as_deref().unwrap_or("?"),
                setup.extensions.len(),
                if setup.extensions.len() == 1 { "" } else { "s" },
                setup.backend
            ),
        };
        row(&mut out, "units from", &how);
    }
    for (i, u) in p.unit_plan.iter().enumerate() {
        let what = if u.compiler == "nvcc" {
            format!(
                "nvcc, {} gencode{} ({}), --threads {}",
                u.gencodes,
                if u.gencodes == 1 { "" } else { "s" },
                u.targets.join(" "),
                u.threads
            )
        } else {
            "c++".to_string()
        };
        let ext = u
            .extension
            .as_deref()
            .map(|e| format!(" [{e}]"))
            .unwrap_or_default();
        row(
            &mut out,
            if i == 0 { "units" } else { "" },
            &format!(
                "{}{ext}: {what}; cost {}{}",
                u.path,
                u.cost,
                if u.memory == "measured_here" {
                    ", peak measured here"
                } else {
                    ""
                }
            ),
        );
    }
    if let Some(c) = &p.speed {
        row(
            &mut out,
            "speed",
            &format!(
                "times x{:.2}, from {} compiles in {}",
                c.factor, c.units, c.basis
            ),
        );
    }
    row(
        &mut out,
        "",
        &format!(
            "longest first (as `wheelwright build` orders ninja): {}, peak {}",
            format_duration(p.predicted_longest_first.wall_seconds),
            format_bytes(p.predicted_longest_first.peak_memory_bytes)
        ),
    );
    for (i, b) in p.baselines.iter().enumerate() {
        let over = if b.exceeds_memory {
            "  EXCEEDS MEMORY"
        } else {
            ""
        };
        row(
            &mut out,
            if i == 0 { "baselines" } else { "" },
            &format!(
                "{:<16} MAX_JOBS={} NVCC_THREADS={}: {}, peak {}{over}",
                b.name,
                b.max_jobs,
                b.nvcc_threads,
                format_duration(b.predicted.wall_seconds),
                format_bytes(b.predicted.peak_memory_bytes)
            ),
        );
    }
    for (i, (k, v)) in p.env.iter().enumerate() {
        row(
            &mut out,
            if i == 0 { "env" } else { "" },
            &format!("{k}={v}"),
        );
    }
    row(&mut out, "pip", &p.pip_args.join(" "));
    if p.findings.is_empty() {
        row(&mut out, "findings", "none");
    }
    for (i, f) in p.findings.iter().enumerate() {
        row(
            &mut out,
            if i == 0 { "findings" } else { "" },
            &format!("{} {}: {}", f.severity.as_str(), f.id, f.message),
        );
        row(&mut out, "", &format!("  fix: {}", f.fix));
    }
    for (i, a) in p.assumptions.iter().enumerate() {
        row(&mut out, if i == 0 { "assumed" } else { "" }, a);
    }
    out
}

/// The prebuilt flash-attn wheel that would match this host: its name and
/// release URL (looked up by `build --prefer-prebuilt`), or why none can be named.
fn prebuilt_line(facts: &Facts, plan: &Plan, base: &str) -> Option<String> {
    if plan.recipe != "flash-attn" {
        return None;
    }
    let version = plan
        .recipe_version
        .as_deref()
        .unwrap_or(wheelwright_plan::recipe::DEFAULT_FLASH_ATTN_VERSION);
    Some(match prebuilt::PrebuiltKey::for_host(facts, version) {
        Ok(key) => format!(
            "prebuilt   {} would match this host: {}",
            key.wheel_name(),
            key.url(base)
        ),
        Err(why) => format!("prebuilt   none can match this host: {why}"),
    })
}

/// `wheelwright doctor`'s report: the host's table, the plan's, the prebuilt
/// flash-attn wheel that would match (its release URL under `prebuilt_base`,
/// e.g. [`prebuilt::FLASH_ATTN_RELEASES`]) and a verdict.
pub fn doctor_text(facts: &Facts, plan: &Plan, prebuilt_base: &str) -> String {
    // The table ends with the probes' problems.
    let mut out = String::from("== this host\n");
    out.push_str(&facts_table(facts));
    let _ = writeln!(out, "\n== the plan wheelwright would use");
    out.push_str(&plan_table(plan));
    if let Some(line) = prebuilt_line(facts, plan, prebuilt_base) {
        let _ = writeln!(out, "{line}");
    }
    let errors = plan
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = plan
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    let _ = writeln!(out, "\n== verdict");
    if errors == 0 {
        let _ = writeln!(
            out,
            "ready to build ({warnings} warning{}): `wheelwright build` uses this plan",
            if warnings == 1 { "" } else { "s" }
        );
    } else {
        let _ = writeln!(
            out,
            "not ready: {errors} error{} above; apply the fixes, then run `wheelwright doctor` again",
            if errors == 1 { "" } else { "s" }
        );
    }
    out
}

/// One `label      text` row.
fn row(out: &mut String, label: &str, text: &str) {
    let _ = writeln!(out, "{label:<10} {text}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use wheelwright_base::facts::Problem;
    use wheelwright_plan as plan;
    use wheelwright_plan::{PlanRequest, Recipe};

    /// Each problem of the probes is listed once, in the host's table.
    #[test]
    fn problems_are_listed_once() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/hosts/h100-cuda13.0/wheelwright-detect.json"
        );
        let mut facts: Facts =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        facts.problems.push(Problem {
            probe: "gpu".into(),
            message: "nvidia-smi hung".into(),
        });
        let plan = plan::plan(
            &Recipe::flash_attn("2.8.3"),
            &facts,
            &PlanRequest::default(),
        )
        .unwrap();
        let text = doctor_text(&facts, &plan, prebuilt::FLASH_ATTN_RELEASES);
        assert_eq!(text.matches("nvidia-smi hung").count(), 1, "{text}");
        assert!(text.contains("problem    [gpu] nvidia-smi hung"), "{text}");
        // doctor names the prebuilt wheel that would match (the H100 box: torch 2.9 cu130, Python 3.12).
        let torch = facts.torch.as_ref().unwrap();
        let key = prebuilt::PrebuiltKey::for_host(&facts, "2.8.3").unwrap();
        assert!(key.variant.starts_with(&format!(
            "cu{}",
            torch.cuda.as_deref().unwrap().split('.').next().unwrap()
        )));
        assert!(
            text.contains(&format!("prebuilt   {} would match this host: https://github.com/Dao-AILab/flash-attention/releases/download/v2.8.3/", key.wheel_name())),
            "{text}"
        );
    }
}
