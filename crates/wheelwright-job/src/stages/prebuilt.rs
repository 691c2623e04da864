//! The Job's prebuilt-wheel stage (`prebuilt: prefer`, `build
//! --prefer-prebuilt`): before the source is fetched and compiled, look for
//! a wheel that matches this host ([`crate::prebuilt`]: a wheelhouse, then
//! flash-attn's release download), check it (`wheel check` for local use:
//! RECORD, tags, the plan's archs, symbols against the build interpreter's
//! torch), install and import it in a fresh venv when the spec verifies, and
//! use it instead of compiling.
//!
//! Every way of not using one (another recipe, a source tree, no exact
//! version, no match, offline, a slow server, a failed check) is one line,
//! kept in the report's `prebuilt`, and the build compiles as usual.

use std::path::PathBuf;

use wheelwright_base::finding::Severity;
use wheelwright_build as builder;
use wheelwright_build::{BuildEvent, SourceSpec, VerifyResult};
use wheelwright_wheel::torch::TorchEnv;
use wheelwright_wheel::{check_wheel, CheckOptions, ExpectedAbi, Purpose};

use crate::prebuilt::{
    find_prebuilt, Lookup, PrebuiltKey, PrebuiltOptions, PrebuiltRecord, PREBUILT_METADATA_WARNING,
};
use crate::report::{BuildReport, ReportHead};

use crate::context::{JobContext, JobEvent};
use crate::error::JobError;
use crate::settings::{self, BuildSettings};
use crate::spec::JobSpec;

use super::{Interpreter, Source};

/// A prebuilt wheel that passed its checks: use it.
pub(crate) struct Found {
    wheel: PathBuf,
    record: PrebuiltRecord,
    settings: BuildSettings,
    verify: VerifyResult,
    /// The download's scratch dir, removed once the wheel is copied out.
    _scratch: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Found")
            .field("wheel", &self.wheel)
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

/// What the stage decided.
#[derive(Debug)]
pub(crate) enum Stage {
    /// Use this wheel instead of compiling.
    Use(Box<Found>),
    /// Compile; the record says why no prebuilt wheel was used (`None`: none
    /// was looked for, the spec does not prefer one).
    Compile(Option<PrebuiltRecord>),
}

/// Say `note` and decide to compile.
fn compile(record: PrebuiltRecord, on_event: &mut dyn FnMut(JobEvent<'_>)) -> Stage {
    on_event(JobEvent::Build(BuildEvent::Note(&record.note)));
    Stage::Compile(Some(record))
}

/// Look for, check and verify a prebuilt wheel for `spec` on this host.
/// `source` is the parsed spec (`None` for a URL), `python` the build interpreter.
pub(crate) fn look(
    spec: &JobSpec,
    source: &Source,
    python: &Interpreter,
    ctx: &JobContext<'_>,
    on_event: &mut dyn FnMut(JobEvent<'_>),
) -> Stage {
    let recipe = source.recipe;
    let dopts = &python.detect;
    let python = python.python.as_path();
    let source = source.parsed.as_ref();
    let skip = |why: String| {
        PrebuiltRecord::not_used(format!("prebuilt wheel not looked for: {why}; compiling"))
    };
    if recipe != "flash-attn" {
        let why = format!("only flash-attn publishes prebuilt wheels (recipe {recipe})");
        return compile(skip(why), on_event);
    }
    if let Some(SourceSpec::Tree(t)) = source {
        let why = format!(
            "{} is a source tree, which may differ from any release",
            t.display()
        );
        return compile(skip(why), on_event);
    }
    let Some(version) = settings::version_in(&spec.source) else {
        let why = format!(
            "`{}` names no exact version (e.g. flash-attn==2.8.3)",
            spec.source
        );
        return compile(skip(why), on_event);
    };
    // A requirement or URL plans without its sdist (flash-attn's file list is built in).
    let plan_source = source
        .cloned()
        .unwrap_or_else(|| SourceSpec::Requirement(spec.source.clone()));
    let settings = match settings::resolve(spec, recipe, &plan_source, dopts) {
        Ok(s) => s,
        Err(e) => return compile(skip(format!("cannot plan ({e})")), on_event),
    };
    let key = match PrebuiltKey::for_host(&settings.host, version) {
        Ok(k) => k,
        Err(why) => {
            let note = format!("no prebuilt wheel can match this host: {why}; compiling");
            return compile(PrebuiltRecord::not_used(note), on_event);
        }
    };
    let mut opts = PrebuiltOptions {
        wheelhouses: spec.prebuilt_wheelhouses.clone(),
        ..PrebuiltOptions::default()
    };
    if let Some(url) = &spec.prebuilt_url {
        opts.base_url = url.clone();
    }
    let url = key.url(&opts.base_url);
    let mut looking = format!("looking for a prebuilt wheel: {url}");
    if !opts.wheelhouses.is_empty() {
        looking.push_str(" (wheelhouses first)");
    }
    on_event(JobEvent::Build(BuildEvent::Note(&looking)));

    // A fresh dir per lookup: a download never meets a file of an earlier run.
    let parent = spec.work_dir.join("prebuilt");
    let scratch = std::fs::create_dir_all(&parent).and_then(|()| {
        tempfile::Builder::new()
            .prefix("download-")
            .tempdir_in(&parent)
    });
    let scratch = match scratch {
        Ok(s) => s,
        Err(e) => {
            let note = format!("prebuilt wheel not looked for: cannot create a download dir in {} ({e}); compiling", parent.display());
            return compile(PrebuiltRecord::not_used(note), on_event);
        }
    };
    let lookup = find_prebuilt(&key, &opts, ctx.network, scratch.path());
    let mut record = PrebuiltRecord::not_used(lookup.note());
    let (wheel, scratch) = match lookup {
        Lookup::NoMatch { url } | Lookup::Unreachable { url, .. } => {
            record.url = Some(url);
            return compile(record, on_event);
        }
        Lookup::Local { path } => {
            record.sha256 = wheelwright_base::digest::sha256_file(&path).ok();
            record.path = Some(path.clone());
            (path, None)
        }
        Lookup::Downloaded { path, url, sha256 } => {
            record.url = Some(url);
            record.sha256 = Some(sha256);
            (path, Some(scratch))
        }
    };
    let shown = record
        .url
        .clone()
        .unwrap_or_else(|| wheel.display().to_string());

    let required = crate::check::plan_archs(&settings.plan, "the plan's archs").ok();
    let opts = CheckOptions {
        purpose: Purpose::Local,
        required_archs: required,
        // A wheel built elsewhere: its archs, not the plan's per-unit lists.
        extensions: Vec::new(),
        torch: TorchEnv::probe(python).ok(),
        exclude: Vec::new(),
        // The wheel must have the ABI of the torch it is installed with.
        cxx11_abi: settings.facts.cxx11_abi.map(|abi| ExpectedAbi {
            cxx11_abi: abi,
            source: "this host's torch".into(),
        }),
    };
    let check = match check_wheel(&wheel, &opts) {
        Ok(c) => c,
        Err(e) => {
            record.note = format!("prebuilt wheel {shown} is not a usable wheel ({e}); compiling");
            return compile(record, on_event);
        }
    };
    if !check.passed {
        let why: Vec<String> = check.errors().map(|f| f.message.clone()).collect();
        record.note = format!(
            "prebuilt wheel {shown} fails wheel check ({}); compiling",
            why.join("; ")
        );
        record.findings = check.errors().cloned().collect();
        return compile(record, on_event);
    }
    record.findings = check
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .cloned()
        .collect();

    let verify = if spec.verify {
        on_event(JobEvent::Build(BuildEvent::Note(
            "verifying the prebuilt wheel: install into a fresh venv that sees the build's torch, import",
        )));
        let mut req = super::request(spec, recipe, plan_source, python);
        req.env = settings.env.clone();
        req.supervisor = ctx.supervisor.clone();
        let v = builder::verify_for(&req, &wheel, ctx.cancel);
        if !v.passed() {
            record.note = format!(
                "prebuilt wheel {shown} failed its verification ({}); compiling",
                v.error
                    .as_deref()
                    .unwrap_or("unknown error")
                    .lines()
                    .next()
                    .unwrap_or_default()
            );
            return compile(record, on_event);
        }
        v
    } else {
        VerifyResult::skipped("--no-verify")
    };

    record.used = true;
    record.note = format!(
        "prebuilt wheel used instead of compiling: {shown} (sha256 {})",
        record.sha256.as_deref().unwrap_or("unknown")
    );
    on_event(JobEvent::Build(BuildEvent::Note(&record.note)));
    if record
        .findings
        .iter()
        .any(|f| f.id == "metadata-version-without-local-label")
    {
        let warning = format!("warning: {PREBUILT_METADATA_WARNING}");
        on_event(JobEvent::Build(BuildEvent::Note(&warning)));
    }
    Stage::Use(Box::new(Found {
        wheel,
        record,
        settings,
        verify,
        _scratch: scratch,
    }))
}

/// Write the records of a job that used `found`: the wheel in the out dir,
/// `build.log`, `report.json` (outcome `ok`, no attempts, `prebuilt.used`).
pub(crate) fn record(
    found: Found,
    spec: &JobSpec,
    source: &Source,
    python: &Interpreter,
    on_event: &mut dyn FnMut(JobEvent<'_>),
) -> Result<BuildReport, JobError> {
    let given =
        (source.parsed.clone()).unwrap_or_else(|| SourceSpec::Requirement(spec.source.clone()));
    let mut req = super::request(spec, source.recipe, given, &python.python);
    req.env = found.settings.env;
    req.log_notes = vec![found.record.note.clone()];
    let head = ReportHead {
        facts: Some(found.settings.facts),
        plan: Some(found.settings.plan),
        prebuilt: Some(found.record),
        ..super::head(spec, source.recipe)
    };
    let findings = head.prebuilt.as_ref().map_or(&[][..], |p| &p.findings);
    let record = builder::record_existing_wheel(
        &req,
        &found.wheel,
        found.verify,
        findings,
        &mut |r, path| head.write(r, path),
        &mut |e| on_event(JobEvent::Build(e)),
    )
    .map_err(JobError::Records)?;
    Ok(BuildReport::assemble(&head, &record))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::net::Offline;
    use wheelwright_detect::DetectOptions;

    /// The stage's decision and the notes it said, with no network.
    fn decide(
        spec: &JobSpec,
        recipe: &'static str,
        source: Option<&SourceSpec>,
    ) -> (Stage, Vec<String>) {
        let cancel = AtomicBool::new(false);
        let ctx = JobContext {
            detect: DetectOptions::from_process_env(),
            network: &Offline,
            cancel: &cancel,
            supervisor: None,
        };
        let mut notes = Vec::new();
        let source = Source {
            spec: spec.source.clone(),
            parsed: source.cloned(),
            recipe,
        };
        let python = Interpreter {
            python: "/nonexistent/python".into(),
            detect: ctx.detect.clone(),
        };
        let stage = look(spec, &source, &python, &ctx, &mut |e| {
            if let JobEvent::Build(BuildEvent::Note(n)) = e {
                notes.push(n.to_string());
            }
        });
        (stage, notes)
    }

    #[test]
    fn what_no_release_can_match_compiles_without_a_lookup() {
        let cases = [
            (
                JobSpec::new("./my-ext"),
                "torch-ext",
                Some(SourceSpec::Tree("./my-ext".into())),
                "prebuilt wheel not looked for: only flash-attn publishes prebuilt wheels (recipe torch-ext); compiling",
            ),
            (
                JobSpec::new("./flash-attention"),
                "flash-attn",
                Some(SourceSpec::Tree("./flash-attention".into())),
                "prebuilt wheel not looked for: ./flash-attention is a source tree, which may differ from any release; compiling",
            ),
            (
                JobSpec::new("flash-attn>=2.7"),
                "flash-attn",
                Some(SourceSpec::Requirement("flash-attn>=2.7".into())),
                "prebuilt wheel not looked for: `flash-attn>=2.7` names no exact version (e.g. flash-attn==2.8.3); compiling",
            ),
        ];
        for (spec, recipe, source, want) in cases {
            let (stage, notes) = decide(&spec, recipe, source.as_ref());
            let Stage::Compile(Some(record)) = stage else {
                panic!("{want}: a wheel was used");
            };
            assert_eq!(record, PrebuiltRecord::not_used(want));
            assert_eq!(notes, [want], "one line, and no lookup");
        }
    }
}
