//! `publish()` with a GitHub release and `--from-release`, against the
//! stateful fake GitHub: wheels (and their `.metadata`) go to the release,
//! then the per-variant index is rebuilt from the release's asset list,
//! linking to the assets (the PEP 658 attributes only where `<link>.metadata`
//! is really served); a tag with odd characters is refused without writing pages;
//! PEP 825 variant wheels (experimental) take their version's
//! `-variants.json` to the release, and its index lists them from it (read
//! by the real pip and uv).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::fake_github::{self, GOOD_TOKEN};
use wheelwright_job::publish::{
    GithubReleaseTarget, PublishStatus, PublishTargets, StaticIndexTarget, TargetKind,
};
use wheelwright_publish::wheel_file::WheelFile;

/// The release `tag` of `o/r` on the fake GitHub, with the test's token.
fn fake_release(fake: &fake_github::FakeGithub, tag: &str) -> GithubReleaseTarget {
    GithubReleaseTarget {
        tag: tag.into(),
        repo: Some("o/r".into()),
        api_url: Some(fake.api_base.clone()),
        token_env: Some("WHEELWRIGHT_TEST_PUBLISH_RELEASE_TOKEN".into()),
    }
}

/// Targets that publish to `release` and write the index under `dir` from
/// the release's assets at `tag` (links to `base_url`, else to the assets).
fn release_index(
    release: &GithubReleaseTarget,
    dir: &Path,
    base_url: Option<String>,
    tag: &str,
) -> PublishTargets {
    PublishTargets {
        github_release: Some(release.clone()),
        index: Some(StaticIndexTarget {
            dir: dir.to_path_buf(),
            base_url,
            from_release: Some(tag.into()),
        }),
        ..PublishTargets::default()
    }
}

/// A tiny valid wheel from the repository's fixture script (real RECORD).
fn make_wheel(out: &Path, version: &str) -> Option<PathBuf> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/publish/make_wheel.py");
    let out_dir = out.to_str().unwrap();
    let o = match Command::new("python3")
        .arg(&script)
        .args([out_dir, "tinyvar", version])
        .output()
    {
        Ok(o) if o.status.success() => o,
        _ => {
            prerequisite::prerequisite_missing("python3 that can write a wheel");
            return None;
        }
    };
    Some(PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
}

/// The fake GitHub with the test token set, a temp dir, and one wheel of
/// `tinyvar` for each version in it; `None` (the test skips loudly) when no
/// python3 can write a wheel.
fn setup<const N: usize>(
    versions: [&str; N],
) -> Option<(fake_github::FakeGithub, tempfile::TempDir, [PathBuf; N])> {
    let fake = fake_github::start();
    std::env::set_var("WHEELWRIGHT_TEST_PUBLISH_RELEASE_TOKEN", GOOD_TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let mut wheels = Vec::with_capacity(N);
    for v in versions {
        wheels.push(make_wheel(dir.path(), v)?);
    }
    Some((fake, dir, wheels.try_into().ok()?))
}

#[test]
fn wheels_go_to_the_release_and_the_index_is_rebuilt_from_its_assets() {
    let Some((fake, dir, [a, b])) = setup(["1.0+cu12torch2.4", "1.0+cu13torch2.11"]) else {
        return;
    };
    let release = fake_release(&fake, "v1.0");
    let site = dir.path().join("site");
    let targets = release_index(&release, &site, None, "v1.0");
    let report = wheelwright_publish::publish(&[a.clone(), b.clone()], &targets).unwrap();
    assert!(!report.any_failed(), "{report:#?}");
    let on_release: Vec<&str> = report
        .files
        .iter()
        .filter(|f| f.target == TargetKind::GithubRelease && f.status == PublishStatus::Uploaded)
        .map(|f| f.file.as_str())
        .collect();
    assert!(on_release.len() >= 2, "{report:#?}");
    let indexed = report
        .files
        .iter()
        .filter(|f| f.target == TargetKind::Index)
        .count();
    assert_eq!(indexed, 2, "{report:#?}");

    let wa = WheelFile::read(&a).unwrap();
    let page =
        std::fs::read_to_string(site.join("cu12torch2.4/simple/tinyvar/index.html")).unwrap();
    assert!(page.contains(&format!("#sha256={}", wa.sha256)), "{page}");
    assert!(!page.contains("cu13torch2.11"), "{page}");
    // The fake serves an asset at /download/<id>, not at GitHub's
    // .../releases/download/TAG/NAME, so `<link>.metadata` is not there:
    // the page must not announce a metadata file pip could not fetch.
    assert!(page.contains("/download/"), "{page}");
    assert!(!page.contains("data-core-metadata"), "{page}");
    let all = std::fs::read_to_string(site.join("simple/tinyvar/index.html")).unwrap();
    assert!(
        all.contains(&wa.file_name) && all.contains("cu13torch2.11"),
        "{all}"
    );

    // Once more: the release and the index already have everything.
    let again = wheelwright_publish::publish(&[a, b], &targets).unwrap();
    assert!(
        again
            .files
            .iter()
            .all(|f| f.status == PublishStatus::Skipped),
        "{again:#?}"
    );

    // A tag with odd characters names no release: refused, no pages written.
    let odd = dir.path().join("odd");
    let e =
        wheelwright_publish::publish(&[], &release_index(&release, &odd, None, "v1 ../../x?y#z"))
            .unwrap_err();
    assert!(e.to_string().contains("v1 ../../x?y#z"), "{e}");
    assert!(!odd.join("wheelwright-index.json").exists());
}

#[allow(dead_code)]
#[path = "../../../tests/common/index_servers.rs"]
mod index_servers;

#[path = "../../wheelwright-core/tests/support/prerequisite.rs"]
mod prerequisite;

#[test]
fn the_index_announces_pep_658_metadata_where_the_links_serve_it() {
    let Some((fake, dir, [a, b])) = setup(["1.0+cu12torch2.4", "1.0+cu13torch2.11"]) else {
        return;
    };
    let release = fake_release(&fake, "v2.0");
    let to_release = PublishTargets {
        github_release: Some(release.clone()),
        ..PublishTargets::default()
    };
    let report = wheelwright_publish::publish(&[a.clone(), b.clone()], &to_release).unwrap();
    assert!(!report.any_failed(), "{report:#?}");
    // A mirror of the release's downloads (GitHub's own layout serves
    // `NAME.whl.metadata` beside `NAME.whl`): a's metadata is there, b's is not.
    let (wa, wb) = (WheelFile::read(&a).unwrap(), WheelFile::read(&b).unwrap());
    let served = dir.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    for w in [&wa, &wb] {
        std::fs::copy(&w.path, served.join(&w.file_name)).unwrap();
    }
    std::fs::write(
        served.join(format!("{}.metadata", wa.file_name)),
        &wa.metadata_bytes,
    )
    .unwrap();
    let Some(python) = prerequisite::required(prerequisite::python_with_pip(), "python3") else {
        return;
    };
    let server = index_servers::Server::http(&python, &served, dir.path().join("http.log"));
    let site = dir.path().join("site");
    let targets = release_index(&release, &site, Some(server.url.clone()), "v2.0");
    let report = wheelwright_publish::publish(&[], &targets).unwrap();
    assert!(!report.any_failed(), "{report:#?}");
    let page_a =
        std::fs::read_to_string(site.join("cu12torch2.4/simple/tinyvar/index.html")).unwrap();
    let announced = format!("data-core-metadata=\"sha256={}\"", wa.metadata_sha256());
    assert!(page_a.contains(&announced), "{page_a}");
    assert!(
        page_a.contains(&format!(
            "data-dist-info-metadata=\"sha256={}\"",
            wa.metadata_sha256()
        )),
        "{page_a}"
    );
    assert!(page_a.contains(&server.url), "{page_a}");
    let page_b =
        std::fs::read_to_string(site.join("cu13torch2.11/simple/tinyvar/index.html")).unwrap();
    assert!(
        page_b.contains(&wb.file_name.replace('+', "%2B")) || page_b.contains(&wb.file_name),
        "{page_b}"
    );
    assert!(!page_b.contains("data-core-metadata"), "{page_b}");
}

/// The PEP 825 variant wheel of `wheel` (experimental `build --variants`),
/// as build writes it: `cuda` gives its one property (the tiny wheel has no
/// device code).
fn variant_of(wheel: &Path, cuda: &str, out: &Path) -> PathBuf {
    std::fs::create_dir_all(out).unwrap();
    let check =
        wheelwright_wheel::check_wheel(wheel, &wheelwright_wheel::CheckOptions::default()).unwrap();
    wheelwright_wheel::variant::make_variant_wheel(wheel, &check, Some(cuda), out)
        .unwrap()
        .wheel
        .path
}

fn asset_bytes(fake: &fake_github::FakeGithub, tag: &str, name: &str) -> Option<Vec<u8>> {
    fake.state
        .lock()
        .unwrap()
        .assets(tag)
        .into_iter()
        .find(|a| a.name == name && a.state == "uploaded")
        .map(|a| a.bytes)
}

/// Variant wheels on a release: each publish merges its labels into the
/// release's `tinyvar-1.0-variants.json` asset (two publishes, one label
/// each: both end up there), a label that already means other properties
/// is refused before its wheel is uploaded, and the index built from the
/// release lists the variant wheels with that document beside the page.
#[test]
fn variant_wheels_carry_their_variants_json_to_the_release_and_its_index() {
    let Some((fake, dir, [a, b])) = setup(["1.0+cu12torch2.4", "1.0+cu13torch2.11"]) else {
        return;
    };
    let va = variant_of(&a, "12.4", &dir.path().join("va"));
    let vb = variant_of(&b, "13.0", &dir.path().join("vb"));
    let release = fake_release(&fake, "v3.0");
    let to_release = PublishTargets {
        github_release: Some(release.clone()),
        ..PublishTargets::default()
    };
    // Two cells, one after the other: the second merges into the first's.
    for pair in [[&a, &va], [&b, &vb]] {
        let report =
            wheelwright_publish::publish(&[pair[0].clone(), pair[1].clone()], &to_release).unwrap();
        assert!(!report.any_failed(), "{report:#?}");
        assert!(
            report
                .files
                .iter()
                .any(|f| f.file == "tinyvar-1.0-variants.json"
                    && f.status == PublishStatus::Uploaded),
            "{report:#?}"
        );
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&asset_bytes(&fake, "v3.0", "tinyvar-1.0-variants.json").unwrap())
            .unwrap();
    assert_eq!(
        doc["variants"]["cu12torch2.4"]["nvidia"]["cuda_version_lower_bound"],
        serde_json::json!(["12.4"]),
        "{doc}"
    );
    assert_eq!(
        doc["variants"]["cu13torch2.11"]["nvidia"]["cuda_version_lower_bound"],
        serde_json::json!(["13.0"]),
        "{doc}"
    );

    // The same label with other properties (same name, other bytes):
    // refused before anything is replaced, even with --clobber.
    let va_other = variant_of(&a, "12.8", &dir.path().join("va-other"));
    let before = asset_bytes(&fake, "v3.0", &file_name(&va)).unwrap();
    let report = wheelwright_publish::publish(
        &[va_other],
        &PublishTargets {
            clobber: true,
            ..to_release.clone()
        },
    )
    .unwrap();
    let refused = report
        .files
        .iter()
        .find(|f| f.target == TargetKind::GithubRelease)
        .unwrap();
    assert_eq!(refused.status, PublishStatus::Failed, "{report:#?}");
    let message = refused.message.as_deref().unwrap();
    assert!(
        message.contains("`cu12torch2.4` is already published with other properties"),
        "{message}"
    );
    assert_eq!(asset_bytes(&fake, "v3.0", &file_name(&va)).unwrap(), before);

    // The index from the release: both variant wheels on the project page,
    // the document beside it; the labels' roots list only the local wheels.
    let site = dir.path().join("site");
    let report =
        wheelwright_publish::publish(&[], &release_index(&release, &site, None, "v3.0")).unwrap();
    assert!(!report.any_failed(), "{report:#?}");
    let page = std::fs::read_to_string(site.join("simple/tinyvar/index.html")).unwrap();
    for v in [&va, &vb] {
        assert!(page.contains(&file_name(v)), "{page}");
    }
    assert!(
        page.contains("href=\"tinyvar-1.0-variants.json\""),
        "{page}"
    );
    let written: serde_json::Value = serde_json::from_slice(
        &std::fs::read(site.join("simple/tinyvar/tinyvar-1.0-variants.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(written, doc);
    let root =
        std::fs::read_to_string(site.join("cu12torch2.4/simple/tinyvar/index.html")).unwrap();
    assert!(!root.contains(&file_name(&va)), "{root}");
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// A release whose `-variants.json` is not PEP 825 metadata (too big, or
/// not the schema): the index lists no variant wheel from it and says why,
/// and a publish of a variant wheel there refuses to merge into it; nothing
/// panics, nothing of it is written.
#[test]
fn a_hostile_variants_json_on_the_release_is_refused_with_a_hint() {
    let Some((fake, dir, [a])) = setup(["1.0+cu12torch2.4"]) else {
        return;
    };
    let va = variant_of(&a, "12.4", &dir.path().join("va"));
    let big = vec![b' '; 2 << 20];
    for (tag, bytes) in [
        (
            "v5.0",
            br#"{"$schema": "https://evil.example/", "variants": {}}"#.to_vec(),
        ),
        ("v5.1", big),
    ] {
        {
            let mut s = fake.state.lock().unwrap();
            s.add_release(tag, false);
            s.add_asset(
                tag,
                &file_name(&va),
                "uploaded",
                &std::fs::read(&va).unwrap(),
            );
            s.add_asset(tag, "tinyvar-1.0-variants.json", "uploaded", &bytes);
        }
        let release = fake_release(&fake, tag);
        let site = dir.path().join(format!("site-{tag}"));
        let report =
            wheelwright_publish::publish(&[], &release_index(&release, &site, None, tag)).unwrap();
        let f = report
            .files
            .iter()
            .find(|f| f.file == file_name(&va))
            .unwrap();
        assert_eq!(f.status, PublishStatus::Failed, "{report:#?}");
        let message = f.message.as_deref().unwrap();
        assert!(message.contains("hint:"), "{message}");
        assert!(
            !site
                .join("simple/tinyvar/tinyvar-1.0-variants.json")
                .exists(),
            "{tag}"
        );

        let report = wheelwright_publish::publish(
            std::slice::from_ref(&va),
            &PublishTargets {
                github_release: Some(release),
                ..PublishTargets::default()
            },
        )
        .unwrap();
        let f = report
            .files
            .iter()
            .find(|f| f.file == file_name(&va))
            .unwrap();
        assert_eq!(f.status, PublishStatus::Failed, "{report:#?}");
        assert!(
            f.message.as_deref().unwrap().contains("delete the asset"),
            "{report:#?}"
        );
    }
}

/// The from-release index of a release with variant wheels, served with a
/// mirror of its assets, read by the real pip and uv: pip installs the
/// plain wheel and skips the variant's file name; uv with `--preview-features
/// wheel-variants`, asked for the variant's exact version, fetches the
/// `-variants.json` the page links (its NVIDIA provider then decides: it
/// needs a driver, which test machines have not).
#[test]
fn pip_and_uv_read_the_from_release_index_of_variant_wheels() {
    let Some((fake, dir, [a])) = setup(["1.0+cu12torch2.4"]) else {
        return;
    };
    let va = variant_of(&a, "12.4", &dir.path().join("va"));
    let release = fake_release(&fake, "v6.0");
    let report = wheelwright_publish::publish(
        &[a.clone(), va.clone()],
        &PublishTargets {
            github_release: Some(release.clone()),
            ..PublishTargets::default()
        },
    )
    .unwrap();
    assert!(!report.any_failed(), "{report:#?}");
    let (Some(python), Some(uv)) = (
        prerequisite::required(prerequisite::python_with_pip(), "python3 with pip"),
        prerequisite::required(prerequisite::on_path("uv"), "uv"),
    ) else {
        return;
    };
    // The mirror of the release's downloads and the index, one server.
    let served = dir.path().join("served");
    std::fs::create_dir_all(served.join("files")).unwrap();
    for w in [&a, &va] {
        std::fs::copy(w, served.join("files").join(file_name(w))).unwrap();
    }
    let server = index_servers::Server::http(&python, &served, dir.path().join("http.log"));
    let report = wheelwright_publish::publish(
        &[],
        &release_index(
            &release,
            &served.join("site"),
            Some(format!("{}/files", server.url)),
            "v6.0",
        ),
    )
    .unwrap();
    assert!(!report.any_failed(), "{report:#?}");
    let index = format!("{}/site/simple", server.url);

    let pip = Command::new(&python)
        .args(["-m", "pip", "install", "-vv", "--no-deps", "--no-cache-dir"])
        .args([
            "--disable-pip-version-check",
            "--index-url",
            &index,
            "--target",
        ])
        .arg(dir.path().join("pip-target"))
        .arg("tinyvar==1.0")
        .env("PIP_NO_INPUT", "1")
        .env_remove("PIP_FIND_LINKS")
        .env_remove("PIP_EXTRA_INDEX_URL")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&pip.stdout),
        String::from_utf8_lossy(&pip.stderr)
    );
    assert!(pip.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "Skipping link: invalid wheel filename: {}/files/{}",
            server.url,
            file_name(&va)
        )),
        "{text}"
    );
    assert!(dir
        .path()
        .join("pip-target/tinyvar-1.0+cu12torch2.4.dist-info")
        .is_dir());

    let target = dir.path().join("uv-exact");
    let out = index_servers::uv_command(&uv, &python, &index, &target, "tinyvar===1.0")
        .args(["-v", "--no-deps", "--preview-features", "wheel-variants"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        assert!(target.join("tinyvar-1.0.dist-info").is_dir(), "{text}");
    } else {
        assert!(
            text.contains("has only unsupported wheel variants"),
            "{text}"
        );
    }
    let requests = server.log_text();
    assert_eq!(
        requests
            .matches("GET /site/simple/tinyvar/tinyvar-1.0-variants.json")
            .count(),
        1,
        "uv with wheel-variants reads the release index's variants.json: {requests}"
    );
}
