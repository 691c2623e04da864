//! Publishing to a GitHub release against a stateful fake of GitHub's API
//! (GitHub Enterprise layout, separate API and upload listeners): octocrab
//! itself plus our upload POST, with the faults GitHub really shows.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::fake_github::{self, ApiFault, FakeGithub, UploadFault, GOOD_TOKEN};
use support::{answer, Handler};
use wheelwright_job::publish::{GithubReleaseTarget, PublishStatus, PublishedFile};
use wheelwright_publish::github::{GithubConfig, GithubError, GithubRelease};
use wheelwright_publish::http::{HttpClient, HttpConfig, Request, RetryPolicy};
use wheelwright_publish::wheel_file::WheelFile;

const PIP_NAME: &str = "flash_attn-2.8.3+cu13torch2.11cxx11abitrue-cp312-cp312-linux_x86_64.whl";
const ASSET: &str = "flash_attn-2.8.3+cu13torch2.11cxx11abiTRUE-cp312-cp312-linux_x86_64.whl";

/// A small wheel named as pip names flash-attn's (its METADATA carries the label).
fn flash_attn_wheel(dir: &Path, payload: &str) -> PathBuf {
    let dist_info = "flash_attn-2.8.3+cu13torch2.11cxx11abitrue.dist-info";
    let files = [
        ("flash_attn/__init__.py".to_string(), payload.to_string()),
        (
            format!("{dist_info}/METADATA"),
            "Metadata-Version: 2.1\nName: flash_attn\nVersion: 2.8.3+cu13torch2.11cxx11abitrue\nRequires-Python: >=3.9\n\n".to_string(),
        ),
        (
            format!("{dist_info}/WHEEL"),
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: cp312-cp312-linux_x86_64\n".to_string(),
        ),
        (format!("{dist_info}/RECORD"), String::new()),
    ];
    let path = dir.join(PIP_NAME);
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for (name, text) in files {
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
    path
}

fn client() -> HttpClient {
    let mut c = HttpConfig::from_lookup(|_| None);
    c.retry = RetryPolicy {
        attempts: 5,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
        max_rate_limit_wait: Duration::from_secs(5),
    };
    HttpClient::new(c).unwrap()
}

fn release_with(fake: &FakeGithub, token: &str) -> GithubRelease {
    let target = GithubReleaseTarget {
        tag: "v2.8.3".into(),
        repo: Some("o/r".into()),
        api_url: Some(fake.api_base.clone()),
        token_env: Some("TEST_GH_TOKEN".into()),
    };
    let token = token.to_string();
    let mut config =
        GithubConfig::from_target(&target, |k| (k == "TEST_GH_TOKEN").then(|| token.clone()))
            .unwrap();
    // The derived base is the API host's /api/uploads; the fake also runs a
    // separate upload listener, which these tests use.
    config.upload_base = fake.upload_base.clone();
    GithubRelease::new(&client(), config).unwrap()
}

fn release(fake: &FakeGithub) -> GithubRelease {
    release_with(fake, GOOD_TOKEN)
}

fn statuses(files: &[PublishedFile]) -> Vec<(String, PublishStatus)> {
    files.iter().map(|f| (f.file.clone(), f.status)).collect()
}

fn uploads_of(fake: &FakeGithub) -> Vec<String> {
    fake.state
        .lock()
        .unwrap()
        .log
        .iter()
        .filter(|l| l.starts_with("POST /api/uploads/"))
        .cloned()
        .collect()
}

#[tokio::test]
async fn creates_the_release_uploads_wheel_and_metadata_under_flash_attns_name_then_skips() {
    let fake = fake_github::start();
    let dir = tempfile::tempdir().unwrap();
    let wheel = WheelFile::read(&flash_attn_wheel(dir.path(), "A")).unwrap();
    let gh = release(&fake);

    let out = gh
        .publish_wheels("v2.8.3", std::slice::from_ref(&wheel), false)
        .await
        .unwrap();
    let meta = format!("{ASSET}.metadata");
    assert_eq!(
        statuses(&out),
        vec![
            (ASSET.to_string(), PublishStatus::Uploaded),
            (meta.clone(), PublishStatus::Uploaded)
        ]
    );
    assert_eq!(out[0].sha256, wheel.sha256);
    let assets = fake.state.lock().unwrap().assets("v2.8.3");
    assert_eq!(assets.len(), 2);
    assert_eq!(assets[0].name, ASSET);
    assert_eq!(assets[0].bytes, std::fs::read(&wheel.path).unwrap());
    assert_eq!(assets[1].bytes, wheel.metadata_bytes);
    // The name went out encoded: a raw '+' would have become '.'.
    assert!(
        uploads_of(&fake)[0].contains("name=flash_attn-2.8.3%2Bcu13"),
        "{:?}",
        uploads_of(&fake)
    );

    // Again: the same bytes are there, nothing is sent.
    let again = gh
        .publish_wheels("v2.8.3", std::slice::from_ref(&wheel), false)
        .await
        .unwrap();
    assert_eq!(
        statuses(&again),
        vec![
            (ASSET.to_string(), PublishStatus::Skipped),
            (meta, PublishStatus::Skipped)
        ]
    );
    assert_eq!(uploads_of(&fake).len(), 2);
    assert_eq!(fake.state.lock().unwrap().releases.len(), 1);

    // The lookups the index and the matrix use.
    assert!(gh.wheel_published("v2.8.3", PIP_NAME).await.unwrap());
    assert!(!gh.wheel_published("v9", PIP_NAME).await.unwrap());
    let listed = gh.release_wheels("v2.8.3").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, ASSET);
    assert_eq!(listed[0].sha256, wheel.sha256);
    assert!(listed[0].has_metadata);
}

#[tokio::test]
async fn the_fake_treats_a_raw_plus_as_github_does() {
    let fake = fake_github::start();
    let id = fake.state.lock().unwrap().add_release("v1", false);
    let url = format!(
        "{}/repos/o/r/releases/{id}/assets?name=a-1.0+cu12-py3-none-any.whl",
        fake.upload_base
    );
    let resp = client()
        .send_once(
            &Request::post(url)
                .bearer(GOOD_TOKEN)
                .body(wheelwright_publish::http::Payload::bytes("x")),
        )
        .await
        .unwrap();
    assert_eq!(resp.status.as_u16(), 201);
    assert_eq!(
        fake.state.lock().unwrap().assets("v1")[0].name,
        "a-1.0.cu12-py3-none-any.whl"
    );
}

#[tokio::test]
async fn a_502_a_dropped_upload_and_a_rate_limit_are_retried_without_duplicates() {
    let fake = fake_github::start();
    fake.state.lock().unwrap().upload_faults = [
        UploadFault::BadGateway,
        UploadFault::Drop,
        UploadFault::RateLimit,
    ]
    .into();
    let dir = tempfile::tempdir().unwrap();
    let wheel = WheelFile::read(&flash_attn_wheel(dir.path(), "B")).unwrap();
    let out = release(&fake)
        .publish_wheels("v2.8.3", std::slice::from_ref(&wheel), false)
        .await
        .unwrap();
    assert_eq!(out[0].status, PublishStatus::Uploaded, "{out:?}");
    assert_eq!(out[1].status, PublishStatus::Uploaded, "{out:?}");
    let assets = fake.state.lock().unwrap().assets("v2.8.3");
    let wheels: Vec<_> = assets.iter().filter(|a| a.name == ASSET).collect();
    assert_eq!(wheels.len(), 1, "{assets:?}");
    assert_eq!(wheels[0].state, "uploaded");
    assert_eq!(
        wheels[0].bytes,
        std::fs::read(&wheel.path).unwrap(),
        "a retry sent the whole file"
    );
    // 4 POSTs for the wheel (502, drop, 403, ok), 1 for the metadata.
    assert_eq!(uploads_of(&fake).len(), 5, "{:?}", uploads_of(&fake));
    // The starter assets the faults left were deleted before the next attempt.
    let deletes = fake
        .state
        .lock()
        .unwrap()
        .log
        .iter()
        .filter(|l| l.starts_with("DELETE"))
        .count();
    assert_eq!(deletes, 2);
}

#[tokio::test]
async fn a_draft_release_is_found_and_a_concurrent_creator_is_tolerated() {
    let dir = tempfile::tempdir().unwrap();
    let wheel = WheelFile::read(&flash_attn_wheel(dir.path(), "C")).unwrap();

    let fake = fake_github::start();
    fake.state.lock().unwrap().add_release("v2.8.3", true);
    let out = release(&fake)
        .publish_wheels("v2.8.3", std::slice::from_ref(&wheel), false)
        .await
        .unwrap();
    assert_eq!(out[0].status, PublishStatus::Uploaded);
    {
        let s = fake.state.lock().unwrap();
        assert_eq!(
            s.releases.len(),
            1,
            "a second release was created next to the draft"
        );
        assert!(!s
            .log
            .iter()
            .any(|l| l.starts_with("POST /api/v3/repos/o/r/releases?")));
    }

    let fake = fake_github::start();
    fake.state.lock().unwrap().concurrent_creator = true;
    let out = release(&fake)
        .publish_wheels("v2.8.3", &[wheel], false)
        .await
        .unwrap();
    assert_eq!(out[0].status, PublishStatus::Uploaded);
    assert_eq!(fake.state.lock().unwrap().releases.len(), 1);
}

#[tokio::test]
async fn without_a_digest_the_asset_is_hashed_from_its_download_and_clobber_is_needed_to_replace() {
    let fake = fake_github::start();
    let dir = tempfile::tempdir().unwrap();
    let wheel = WheelFile::read(&flash_attn_wheel(dir.path(), "D")).unwrap();
    let same = std::fs::read(&wheel.path).unwrap();
    {
        let mut s = fake.state.lock().unwrap();
        s.digest_null = true;
        s.add_release("v2.8.3", false);
        s.add_asset("v2.8.3", ASSET, "uploaded", &same);
    }
    let gh = release(&fake);
    let out = gh
        .publish_wheels("v2.8.3", std::slice::from_ref(&wheel), false)
        .await
        .unwrap();
    assert_eq!(out[0].status, PublishStatus::Skipped, "{out:?}");
    assert!(fake
        .state
        .lock()
        .unwrap()
        .log
        .iter()
        .any(|l| l.starts_with("GET /download/")));

    // Different bytes under the name: refused, then replaced with --clobber.
    let other = tempfile::tempdir().unwrap();
    let changed = WheelFile::read(&flash_attn_wheel(other.path(), "E")).unwrap();
    let out = gh
        .publish_wheels("v2.8.3", std::slice::from_ref(&changed), false)
        .await
        .unwrap();
    assert_eq!(out[0].status, PublishStatus::Failed);
    assert!(
        out[0].message.as_deref().unwrap().contains("--clobber"),
        "{out:?}"
    );
    assert_eq!(fake.state.lock().unwrap().assets("v2.8.3")[0].bytes, same);
    let out = gh
        .publish_wheels("v2.8.3", std::slice::from_ref(&changed), true)
        .await
        .unwrap();
    assert_eq!(out[0].status, PublishStatus::Uploaded, "{out:?}");
    let assets = fake.state.lock().unwrap().assets("v2.8.3");
    let w: Vec<_> = assets.iter().filter(|a| a.name == ASSET).collect();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].bytes, std::fs::read(&changed.path).unwrap());
}

#[tokio::test]
async fn an_asset_left_in_starter_state_is_deleted_and_uploaded_again() {
    let fake = fake_github::start();
    {
        let mut s = fake.state.lock().unwrap();
        s.add_release("v2.8.3", false);
        s.add_asset("v2.8.3", ASSET, "starter", b"");
    }
    let dir = tempfile::tempdir().unwrap();
    let wheel = WheelFile::read(&flash_attn_wheel(dir.path(), "F")).unwrap();
    let out = release(&fake)
        .publish_wheels("v2.8.3", std::slice::from_ref(&wheel), false)
        .await
        .unwrap();
    assert_eq!(out[0].status, PublishStatus::Uploaded);
    let assets = fake.state.lock().unwrap().assets("v2.8.3");
    let w: Vec<_> = assets.iter().filter(|a| a.name == ASSET).collect();
    assert_eq!((w.len(), w[0].state.as_str()), (1, "uploaded"));
}

#[tokio::test]
async fn a_bad_token_is_a_clear_error_that_never_shows_the_token() {
    let fake = fake_github::start();
    let dir = tempfile::tempdir().unwrap();
    let wheel = WheelFile::read(&flash_attn_wheel(dir.path(), "G")).unwrap();
    let e = release_with(&fake, "ghp_WRONG_secret_value")
        .publish_wheels("v2.8.3", &[wheel], false)
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, GithubError::Auth { status: 401, .. }), "{text}");
    assert!(
        text.contains("TEST_GH_TOKEN") && text.contains("Bad credentials"),
        "{text}"
    );
    assert!(!text.contains("ghp_WRONG_secret_value"), "{text}");
    assert!(!format!("{e:?}").contains("ghp_WRONG_secret_value"));
}

#[tokio::test]
async fn the_enterprise_upload_base_derived_from_the_api_base_works() {
    let fake = fake_github::start();
    let target = GithubReleaseTarget {
        tag: "v1".into(),
        repo: Some("o/r".into()),
        api_url: Some(fake.api_base.clone()),
        token_env: None,
    };
    let config = GithubConfig::from_target(&target, |k| {
        (k == "GITHUB_TOKEN").then(|| GOOD_TOKEN.to_string())
    })
    .unwrap();
    assert_eq!(
        config.upload_base,
        fake.api_base.replace("/api/v3", "/api/uploads")
    );
    let dir = tempfile::tempdir().unwrap();
    let wheel = WheelFile::read(&flash_attn_wheel(dir.path(), "H")).unwrap();
    let out = GithubRelease::new(&client(), config)
        .unwrap()
        .publish_wheels("v1", &[wheel], false)
        .await
        .unwrap();
    assert_eq!(out[0].status, PublishStatus::Uploaded);
    let ups = uploads_of(&fake);
    assert!(
        ups[0].starts_with("POST /api/uploads/repos/o/r/releases/"),
        "{ups:?}"
    );
}

#[test]
fn the_synchronous_entry_points_publish_and_look_up() {
    let fake = fake_github::start();
    // A variable only this test reads (the token never goes through argv).
    std::env::set_var("WHEELWRIGHT_TEST_SYNC_GH_TOKEN", GOOD_TOKEN);
    let target = GithubReleaseTarget {
        tag: "v2.8.3".into(),
        repo: Some("o/r".into()),
        api_url: Some(fake.api_base.clone()),
        token_env: Some("WHEELWRIGHT_TEST_SYNC_GH_TOKEN".into()),
    };
    let net = wheelwright_publish::HttpNetwork::with_client(client());
    let dir = tempfile::tempdir().unwrap();
    let wheel = WheelFile::read(&flash_attn_wheel(dir.path(), "S")).unwrap();
    assert!(!net.github_wheel_published(&target, PIP_NAME).unwrap());
    let out = net
        .publish_to_github(&target, std::slice::from_ref(&wheel), false)
        .unwrap();
    assert_eq!(out[0].status, PublishStatus::Uploaded);
    assert!(net.github_wheel_published(&target, PIP_NAME).unwrap());
    let wheels = net.github_release_wheels(&target).unwrap();
    assert_eq!(
        (wheels.len(), wheels[0].sha256.as_str()),
        (1, wheel.sha256.as_str())
    );
    // Without a repository anywhere: a usage error with a hint.
    let e = net
        .github_release_wheels(&GithubReleaseTarget {
            repo: Some("not a repo".into()),
            ..target.clone()
        })
        .unwrap_err();
    assert!(e.is_usage() && e.hint().contains("--repo"), "{e}");
}

#[tokio::test]
async fn an_api_that_never_answers_is_a_timeout_not_a_hang() {
    let silent = support::silent_server();
    let target = GithubReleaseTarget {
        tag: "v1".into(),
        repo: Some("o/r".into()),
        api_url: Some(format!("http://{silent}/api/v3")),
        token_env: None,
    };
    let config = GithubConfig::from_target(&target, |k| {
        (k == "GITHUB_TOKEN").then(|| GOOD_TOKEN.to_string())
    })
    .unwrap();
    let mut c = HttpConfig::from_lookup(|_| None);
    c.total_timeout = Duration::from_millis(500);
    c.retry = RetryPolicy::never();
    let start = std::time::Instant::now();
    let e = GithubRelease::new(&HttpClient::new(c).unwrap(), config)
        .unwrap()
        .find_release("v1")
        .await
        .unwrap_err();
    assert!(matches!(e, GithubError::Transport { .. }), "{e}");
    assert!(e.to_string().contains("no answer within"), "{e}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// How often the fake saw `line` ("METHOD path", query left out).
fn requests(fake: &FakeGithub, line: &str) -> usize {
    fake.state
        .lock()
        .unwrap()
        .log
        .iter()
        .filter(|l| l.split('?').next() == Some(line))
        .count()
}

/// The calls without a body (by tag, list releases, list assets, delete)
/// are retried as the create POST is: after a 500, and after a 429 with
/// `Retry-After`, whose seconds are waited.
#[tokio::test]
async fn api_calls_without_a_body_are_retried_after_a_500_and_a_429_with_retry_after() {
    let fake = fake_github::start();
    let (id, asset_id) = {
        let mut s = fake.state.lock().unwrap();
        let id = s.add_release("v1", false);
        s.add_asset("v1", "a-1.0-py3-none-any.whl", "uploaded", b"A");
        s.add_asset("v1", "b-1.0-py3-none-any.whl", "uploaded", b"B");
        (id, s.assets("v1")[0].id)
    };
    let by_tag = "GET /api/v3/repos/o/r/releases/tags/v1".to_string();
    let list = "GET /api/v3/repos/o/r/releases".to_string();
    let assets = format!("GET /api/v3/repos/o/r/releases/{id}/assets");
    let delete = format!("DELETE /api/v3/repos/o/r/releases/assets/{asset_id}");
    let gh = release(&fake);

    fake.state.lock().unwrap().api_faults = [&by_tag, &list, &assets, &delete]
        .into_iter()
        .map(|l| (l.clone(), ApiFault::ServerError))
        .collect();
    let found = gh.find_release("v1").await.unwrap().unwrap();
    assert_eq!(found.id.into_inner(), id);
    assert_eq!(gh.list_releases().await.unwrap().len(), 1);
    assert_eq!(gh.list_assets(id).await.unwrap().len(), 2);
    gh.delete_asset(asset_id).await.unwrap();
    assert_eq!(fake.state.lock().unwrap().assets("v1").len(), 1);
    for line in [&by_tag, &list, &assets, &delete] {
        assert_eq!(requests(&fake, line), 2, "{line}: one 500, one retry");
    }

    fake.state.lock().unwrap().api_faults = [&by_tag, &assets]
        .into_iter()
        .map(|l| (l.clone(), ApiFault::TooManyRequests { retry_after: 1 }))
        .collect();
    let start = Instant::now();
    assert!(gh.find_release("v1").await.unwrap().is_some());
    assert_eq!(gh.list_assets(id).await.unwrap().len(), 1);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(2),
        "Retry-After: 1 was not waited twice: {waited:?}"
    );
    assert_eq!(requests(&fake, &by_tag), 4);
    assert_eq!(requests(&fake, &assets), 4);
}

/// A server on another host that records the `Authorization` header of
/// every request and answers with bytes of its own.
fn recording_host(ip: &str) -> (std::net::SocketAddr, Arc<Mutex<Vec<Option<String>>>>) {
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let seen2 = seen.clone();
    let handler: Handler = Arc::new(move |req| {
        let seen = seen2.clone();
        Box::pin(async move {
            let auth = req
                .headers()
                .get("authorization")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            seen.lock().unwrap().push(auth);
            Ok(answer(200, "bytes of another host"))
        })
    });
    (support::serve_on(ip, handler, None), seen)
}

/// The token goes only to the configured API and upload hosts: an asset
/// whose API `url` names another host (127.0.0.2), and a download redirect
/// to another host, are fetched without it.
#[tokio::test]
async fn the_token_goes_only_to_the_configured_api_and_upload_hosts() {
    let (elsewhere, seen) = recording_host("127.0.0.2");
    let fake = fake_github::start();
    {
        let mut s = fake.state.lock().unwrap();
        s.digest_null = true;
        s.asset_url_root = Some(format!("http://{elsewhere}"));
        s.add_release("v1", false);
        // As large as what the other host serves (a download is held to the size).
        s.add_asset(
            "v1",
            "a-1.0-py3-none-any.whl",
            "uploaded",
            b"bytes on the API host",
        );
    }
    let gh = release(&fake);
    let wheels = gh.release_wheels("v1").await.unwrap();
    assert_eq!(wheels.len(), 1);
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "the asset was not fetched from its URL");
        assert_eq!(seen[0], None, "the token went to {elsewhere}");
    }

    // The asset's URL on the API host, redirecting elsewhere.
    let (redirected_to, seen) = recording_host("127.0.0.2");
    {
        let mut s = fake.state.lock().unwrap();
        s.asset_url_root = None;
        s.download_root = Some(format!("http://{redirected_to}"));
    }
    gh.release_wheels("v1").await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "the redirect was not followed");
    assert_eq!(seen[0], None, "the token followed the redirect");
    // The API host itself got the token for the asset (it is configured).
    let s = fake.state.lock().unwrap();
    let asset_get = s
        .log
        .iter()
        .position(|l| l.starts_with("GET /api/v3/repos/o/r/releases/assets/"))
        .unwrap();
    assert_eq!(
        s.auth_log[asset_get].as_deref(),
        Some(format!("Bearer {GOOD_TOKEN}").as_str())
    );
}
