//! PEP 825 variant wheels on a GitHub release (experimental, `build
//! --variants`): a variant wheel's `variant.json` lives inside the file, so
//! an index built from the release's asset list (`--from-release`) cannot
//! see it. Publishing a variant wheel therefore also keeps the release asset
//! `{name}-{version}-variants.json`: the union of the version's variants,
//! merged with the asset already there (a label that already means other
//! properties is refused before the wheel is uploaded, as the wheelhouse
//! refuses it), and the index reads that asset back ([`ReleaseVariants`]):
//! downloaded bounded ([`MAX_VARIANT_JSON_BYTES`]), parsed and checked as
//! untrusted data.
//!
//! Two cells publishing variants of one version at once both read, merge
//! and replace the asset: each re-reads it after its write and merges again
//! until its labels are there (a few rounds), so neither label is lost.

use std::collections::BTreeMap;

use octocrab::models::repos::{Asset, Release};
use wheelwright_wheel::file::WheelName;
use wheelwright_wheel::variant::{variants_file_name, VariantMetadata, MAX_VARIANT_JSON_BYTES};

use super::{GithubError, GithubRelease, Source};
use crate::wheel_file::WheelFile;

/// Rounds of read, merge, replace, re-read for one `-variants.json`.
const MERGE_ROUNDS: usize = 4;

/// The `-variants.json` asset name of a variant wheel's version; `None` for
/// any other wheel.
pub(crate) fn variants_asset(file_name: &str) -> Option<String> {
    let name = WheelName::parse(file_name).ok()?;
    name.variant.as_ref()?;
    Some(variants_file_name(&name))
}

/// What a release's `-variants.json` assets say, for the index built from it.
#[derive(Debug, Default)]
pub(crate) struct ReleaseVariants {
    /// Asset name → its document, or why it cannot be used.
    docs: BTreeMap<String, Result<VariantMetadata, String>>,
}

impl ReleaseVariants {
    /// Read every `-variants.json` asset that a variant wheel of `assets` needs.
    pub(crate) async fn read(gh: &GithubRelease, assets: &[Asset]) -> Self {
        let mut docs = BTreeMap::new();
        for a in assets.iter().filter(|a| a.state == "uploaded") {
            let Some(file) = variants_asset(&a.name) else {
                continue;
            };
            if docs.contains_key(&file) {
                continue;
            }
            let found = assets
                .iter()
                .find(|v| v.name == file && v.state == "uploaded");
            let doc = match found {
                None => Err(format!(
                    "the release has no {file} asset (publish the variant wheel with a wheelwright that uploads it)"
                )),
                Some(v) => gh.read_variants(v).await.map_err(|e| e.to_string()),
            };
            docs.insert(file, doc);
        }
        ReleaseVariants { docs }
    }

    /// The `variant.json` of the variant wheel `file_name` (its label's
    /// entry of the version's document), or why there is none.
    pub(crate) fn for_wheel(&self, file_name: &str) -> Option<Result<VariantMetadata, String>> {
        let name = WheelName::parse(file_name).ok()?;
        let label = name.variant.clone()?;
        let file = variants_file_name(&name);
        let doc = match self.docs.get(&file) {
            Some(Ok(doc)) => doc,
            Some(Err(why)) => return Some(Err(why.clone())),
            None => return Some(Err(format!("the release has no {file} asset"))),
        };
        Some(match doc.variants.get(&label) {
            Some(props) => Ok(VariantMetadata::single(&label, props.clone())),
            None => Err(format!("the release's {file} does not describe `{label}`")),
        })
    }
}

impl GithubRelease {
    /// The document of a `-variants.json` asset: at most
    /// [`MAX_VARIANT_JSON_BYTES`] (and the size GitHub gives), parsed and
    /// checked ([`VariantMetadata::parse`]).
    pub(crate) async fn read_variants(
        &self,
        asset: &Asset,
    ) -> Result<VariantMetadata, GithubError> {
        let what = format!("reading asset {}", asset.name);
        let bad = |message: String| GithubError::Api {
            what: what.clone(),
            status: 200,
            message,
        };
        let size = u64::try_from(asset.size).unwrap_or(u64::MAX);
        if size > MAX_VARIANT_JSON_BYTES {
            return Err(bad(format!(
                "{size} bytes, more than the {MAX_VARIANT_JSON_BYTES} a variants.json may have"
            )));
        }
        let (_dir, fetched) = self.download_asset(asset, &what, size).await?;
        let bytes = std::fs::read(&fetched.path).map_err(|e| bad(e.to_string()))?;
        VariantMetadata::parse(&bytes).map_err(|e| bad(e.to_string()))
    }

    /// The `-variants.json` each version of `wheels` with variant wheels
    /// would have on `release`: the release's document merged with theirs,
    /// or why not (a label that means other properties, an unreadable
    /// asset): asset name → result. Nothing is written.
    pub(crate) async fn plan_variants(
        &self,
        release: &Release,
        wheels: &[WheelFile],
    ) -> Result<BTreeMap<String, Result<VariantMetadata, String>>, GithubError> {
        let mut ours: BTreeMap<String, Result<VariantMetadata, String>> = BTreeMap::new();
        for w in wheels {
            let (Some(doc), Some(file)) = (&w.variant, variants_asset(&w.file_name)) else {
                continue;
            };
            let next = match ours.remove(&file) {
                Some(Ok(known)) => known.merge(doc).map_err(|e| e.to_string()),
                Some(Err(why)) => Err(why),
                None => Ok(doc.clone()),
            };
            ours.insert(file, next);
        }
        if ours.is_empty() {
            return Ok(ours);
        }
        let assets = self.list_assets(release.id.into_inner()).await?;
        let mut out = BTreeMap::new();
        for (file, doc) in ours {
            let merged = match (doc, self.current_variants(&assets, &file).await) {
                (Err(why), _) | (_, Err(why)) => Err(why),
                (Ok(doc), Ok(None)) => Ok(doc),
                (Ok(doc), Ok(Some(there))) => there
                    .merge(&doc)
                    .map_err(|e| format!("{e} (in the release's {file})")),
            };
            out.insert(file, merged);
        }
        Ok(out)
    }

    /// The release's document `file` as it is now (`None`: no such asset),
    /// or why it cannot be merged with.
    async fn current_variants(
        &self,
        assets: &[Asset],
        file: &str,
    ) -> Result<Option<VariantMetadata>, String> {
        match assets
            .iter()
            .find(|a| a.name == file && a.state == "uploaded")
        {
            None => Ok(None),
            Some(a) => {
                self.read_variants(a).await.map(Some).map_err(|e| {
                    format!("{e}; delete the asset {file} or fix it, then publish again")
                })
            }
        }
    }

    /// Put `doc` as the asset `file` of `release`, merged with what is there
    /// at each round, until a re-read holds every label of `doc`.
    pub(crate) async fn put_variants(
        &self,
        release: &Release,
        file: &str,
        doc: &VariantMetadata,
    ) -> Result<wheelwright_job::publish::PublishedFile, GithubError> {
        use wheelwright_job::publish::{PublishStatus, PublishedFile, TargetKind};
        let entry =
            |status, url: Option<String>, sha256: String, message: Option<String>| PublishedFile {
                target: TargetKind::GithubRelease,
                file: file.to_string(),
                path: None,
                status,
                url,
                sha256,
                message,
            };
        let mut put_any = false;
        for _ in 0..MERGE_ROUNDS {
            let assets = self.list_assets(release.id.into_inner()).await?;
            let there = match self.current_variants(&assets, file).await {
                Ok(t) => t,
                Err(why) => {
                    return Ok(entry(PublishStatus::Failed, None, String::new(), Some(why)))
                }
            };
            let merged = match &there {
                None => doc.clone(),
                Some(t) => match t.merge(doc) {
                    Ok(m) => m,
                    Err(e) => {
                        return Ok(entry(
                            PublishStatus::Failed,
                            None,
                            String::new(),
                            Some(format!("{e} (in the release's {file}; hint: {})", e.hint())),
                        ))
                    }
                },
            };
            let bytes = merged.to_bytes();
            let sha = wheelwright_base::digest::sha256_bytes(&bytes);
            if there.as_ref() == Some(&merged) {
                let url = assets
                    .iter()
                    .find(|a| a.name == file)
                    .map(|a| a.browser_download_url.to_string());
                let status = if put_any {
                    PublishStatus::Uploaded
                } else {
                    PublishStatus::Skipped
                };
                return Ok(entry(status, url, sha, None));
            }
            let (status, url, message) = self
                .put_asset(release, file, &Source::Bytes(&bytes), &sha, true)
                .await?;
            if status == PublishStatus::Failed {
                return Ok(entry(status, url, sha, message));
            }
            put_any = true;
        }
        Ok(entry(
            PublishStatus::Failed,
            None,
            String::new(),
            Some(format!(
                "{file} kept changing under {MERGE_ROUNDS} rounds of merging (another publish at the same time); run again"
            )),
        ))
    }
}
