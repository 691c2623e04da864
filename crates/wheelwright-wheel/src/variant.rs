//! Wheel variants (PEP 817 and PEP 825, both Draft as of 2026-08):
//! experimental, opt-in (`build --variants`).
//!
//! A variant wheel carries, after its platform tag, a variant label
//! (`flash_attn-2.8.3-py3-none-linux_x86_64-cu13torch2.11cxx11abitrue.whl`)
//! and in `*.dist-info/variant.json` the properties that label stands for,
//! as `namespace :: feature :: value`; an index serves
//! `{name}-{version}-variants.json` beside the files, the union of its
//! variants' `variant.json`. An installer that implements the PEPs asks its
//! providers (the `nvidia` one reads the driver and the GPUs) which
//! properties the machine has and picks the variant that fits.
//!
//! wheelwright's variant of a build ([`make_variant_wheel`]): a second file
//! written from the finished wheel by the deterministic rewrite
//! ([`crate::retag`]); its label is the wheel's local version label
//! lower-cased (PEP 825: `^[0-9a-z_.]+$`, `null` reserved), its version the
//! public one (`2.8.3`), and its properties
//! - `nvidia :: sm_arch :: {maj}{min}_real` for each SASS arch and
//!   `{maj}{min}_virtual` for each PTX arch `wheel check` read from the
//!   binaries' `.nv_fatbin` (`90a_real` for `sm_90a`);
//! - `nvidia :: cuda_version_lower_bound :: X.Y`, the CUDA toolkit that
//!   compiled it.
//!
//! The first file, with the local label in its version, is what pip and uv
//! install without variant support; both skip the variant file (see the
//! README's "Wheel variants").
//!
//! Documents follow the PEP's format 0.1.1 (its JSON schema is committed in
//! `tests/fixtures/variants/` with its source, and the tests validate what
//! is written against it): `$schema`, `default-priorities.namespace`,
//! `variants` (label → namespace → feature → values, values sorted).
//! [`VariantMetadata::parse`] reads a wheel's or an index's document as
//! untrusted data: bounded, every name and value checked.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::file::{WheelInfo, WheelName};
use crate::retag::{rewrite_wheel, RetagError, WheelEdits};
use crate::WheelCheck;

/// The `$schema` of the documents written here (PEP 825, format 0.1.1).
pub const VARIANT_SCHEMA_URL: &str = "https://variants-schema.wheelnext.dev/peps/825/v0.1.1.json";

/// The namespace of NVIDIA's provider.
pub const NVIDIA: &str = "nvidia";

/// The file in `.dist-info` that holds a variant wheel's metadata.
pub const VARIANT_JSON: &str = "variant.json";

/// A `variant.json` or `-variants.json` larger than this is refused.
pub const MAX_VARIANT_JSON_BYTES: u64 = 1024 * 1024;

/// The properties of one variant: namespace → feature → values (sorted).
pub type VariantProperties = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// Why a variant could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum VariantError {
    /// The wheel has no local version label to name the variant.
    #[error("{file} has no local version label (`+cu12torch2.8...`) to name its variant")]
    NoLabel {
        /// The wheel's file name.
        file: String,
    },
    /// The local label, lower-cased, is not a PEP 825 label.
    #[error(
        "the local label `{label}` does not make a variant label: `{lowered}` is not \
         `^[0-9a-z_.]+$` (PEP 825), or is the reserved `null`"
    )]
    BadLabel {
        /// The label as given, control characters escaped.
        label: String,
        /// Lower-cased.
        lowered: String,
    },
    /// No property to describe: no device code, no CUDA version.
    #[error(
        "{file} has neither device code nor a CUDA version: a variant wheel needs at least one property"
    )]
    NoProperties {
        /// The wheel's file name.
        file: String,
    },
    /// A document that is not PEP 825 metadata wheelwright can read.
    #[error("not PEP 825 variant metadata: {0}")]
    Invalid(String),
    /// Two documents that disagree (same label, other properties).
    #[error("{0}")]
    Conflict(String),
    /// Writing the variant wheel failed.
    #[error(transparent)]
    Rewrite(#[from] RetagError),
}

impl VariantError {
    /// What to do about it, for the `hint:` line.
    pub fn hint(&self) -> &'static str {
        match self {
            VariantError::NoLabel { .. } | VariantError::BadLabel { .. } => {
                "give the wheel a local version label of ASCII letters, digits, `_` and `.` \
                 (flash-attn: FLASH_ATTN_LOCAL_VERSION; the recipe's label otherwise), or drop --variants"
            }
            VariantError::NoProperties { .. } => {
                "--variants describes CUDA builds: drop it for a wheel without device code"
            }
            VariantError::Invalid(_) => {
                "rebuild the variant wheel with `wheelwright build --variants`"
            }
            VariantError::Conflict(_) => {
                "a variant label must mean the same properties in every wheel of a version: \
                 rebuild the wheels of the release from the same inputs, or give them other labels"
            }
            VariantError::Rewrite(e) => e.hint(),
        }
    }
}

/// The `default-priorities` of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DefaultPriorities {
    /// The namespaces, most important first.
    pub namespace: Vec<String>,
}

/// A PEP 825 document: a wheel's `variant.json` (one variant) or an
/// index's `{name}-{version}-variants.json` (all of a version's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VariantMetadata {
    /// [`VARIANT_SCHEMA_URL`].
    #[serde(rename = "$schema")]
    pub schema: String,
    /// The order of namespaces.
    #[serde(rename = "default-priorities")]
    pub default_priorities: DefaultPriorities,
    /// Label → properties.
    pub variants: BTreeMap<String, VariantProperties>,
}

impl VariantMetadata {
    /// The `variant.json` of one variant.
    pub fn single(label: &str, properties: VariantProperties) -> VariantMetadata {
        VariantMetadata {
            schema: VARIANT_SCHEMA_URL.to_string(),
            default_priorities: DefaultPriorities {
                namespace: properties.keys().cloned().collect(),
            },
            variants: BTreeMap::from([(label.to_string(), properties)]),
        }
    }

    /// Read a document (untrusted): at most [`MAX_VARIANT_JSON_BYTES`], of
    /// the schema written here, every label, namespace, feature and value
    /// of the PEP's characters, value lists non-empty, sorted and unique,
    /// every namespace in `default-priorities`.
    pub fn parse(bytes: &[u8]) -> Result<VariantMetadata, VariantError> {
        if bytes.len() as u64 > MAX_VARIANT_JSON_BYTES {
            return Err(VariantError::Invalid(format!(
                "{} bytes, more than the 1 MiB allowed",
                bytes.len()
            )));
        }
        let doc: VariantMetadata =
            serde_json::from_slice(bytes).map_err(|e| VariantError::Invalid(e.to_string()))?;
        doc.validate()?;
        Ok(doc)
    }

    /// The checks of [`Self::parse`].
    pub fn validate(&self) -> Result<(), VariantError> {
        let bad = |why: String| Err(VariantError::Invalid(why));
        if self.schema != VARIANT_SCHEMA_URL {
            return bad(format!(
                "`$schema` is {:?}; this wheelwright reads {VARIANT_SCHEMA_URL}",
                self.schema
            ));
        }
        let ns = &self.default_priorities.namespace;
        if ns.is_empty() || !ns.iter().all(|n| name_ok(n)) {
            return bad(
                "`default-priorities.namespace` must list namespaces `^[a-z0-9_]+$`".into(),
            );
        }
        if ns.iter().collect::<BTreeSet<_>>().len() != ns.len() {
            return bad("`default-priorities.namespace` lists a namespace twice".into());
        }
        for (label, props) in &self.variants {
            if !label_ok(label) {
                return bad(format!("the label {label:?} is not `^[0-9a-z_.]+$`"));
            }
            for (namespace, features) in props {
                if !name_ok(namespace) || !ns.contains(namespace) {
                    return bad(format!(
                        "variant {label:?}: namespace {namespace:?} is not `^[a-z0-9_]+$` or not in `default-priorities`"
                    ));
                }
                for (feature, values) in features {
                    let sorted = values.windows(2).all(|w| w[0] < w[1]);
                    if !name_ok(feature)
                        || values.is_empty()
                        || !sorted
                        || !values.iter().all(|v| label_ok(v))
                    {
                        return bad(format!(
                            "variant {label:?}: `{namespace} :: {feature}` needs values `^[a-z0-9_.]+$`, sorted, once each"
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// This document with `other`'s (PEP 825's combination): the longer
    /// namespace list when one starts with the other, the union of the
    /// variants; a label with other properties is a conflict.
    pub fn merge(&self, other: &VariantMetadata) -> Result<VariantMetadata, VariantError> {
        let (a, b) = (
            &self.default_priorities.namespace,
            &other.default_priorities.namespace,
        );
        let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
        if !long.starts_with(short) {
            return Err(VariantError::Conflict(format!(
                "the namespace orders {a:?} and {b:?} do not extend one another"
            )));
        }
        let mut variants = self.variants.clone();
        for (label, props) in &other.variants {
            match variants.get(label) {
                Some(known) if known != props => {
                    return Err(VariantError::Conflict(format!(
                        "variant `{label}` is already published with other properties"
                    )))
                }
                _ => {
                    variants.insert(label.clone(), props.clone());
                }
            }
        }
        Ok(VariantMetadata {
            schema: VARIANT_SCHEMA_URL.to_string(),
            default_priorities: DefaultPriorities {
                namespace: long.clone(),
            },
            variants,
        })
    }

    /// Pretty JSON with a final newline (the bytes written).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }
}

/// `^[0-9a-z_.]+$`: a label or a value.
fn label_ok(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'_' || b == b'.')
}

/// `^[a-z0-9_]+$`: a namespace or a feature.
fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'_')
}

/// The variant label of a local version label: lower-cased, refused
/// unless it matches `^[0-9a-z_.]+$` (PEP 825) and is not the reserved `null`.
pub fn variant_label(local: &str) -> Result<String, VariantError> {
    let lowered = local.to_ascii_lowercase();
    if label_ok(&lowered) && lowered != "null" {
        Ok(lowered)
    } else {
        Err(VariantError::BadLabel {
            label: local.escape_debug().to_string(),
            lowered: lowered.escape_debug().to_string(),
        })
    }
}

/// `nvidia :: sm_arch` values of the device code `wheel check` read:
/// `90_real` for SASS `sm_90`, `90a_real` for `sm_90a`, `90_virtual` for
/// PTX `compute_90`; sorted, once each.
pub fn sm_arch_values(check: &WheelCheck) -> Vec<String> {
    let mut out = BTreeSet::new();
    for b in &check.binaries {
        for sass in &b.sass {
            if let Some(n) = sass.strip_prefix("sm_").filter(|n| label_ok(n)) {
                out.insert(format!("{n}_real"));
            }
        }
        for ptx in &b.ptx {
            if let Some(n) = ptx.strip_prefix("compute_").filter(|n| label_ok(n)) {
                out.insert(format!("{n}_virtual"));
            }
        }
    }
    out.into_iter().collect()
}

/// `X.Y` of a CUDA version (`12.8` of `12.8.93`); `None` when it is not
/// digits and dots.
pub fn cuda_lower_bound(version: &str) -> Option<String> {
    let mut parts = version.trim().split('.');
    let (major, minor) = (parts.next()?, parts.next().unwrap_or("0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(major) && digits(minor)).then(|| format!("{major}.{minor}"))
}

/// The `nvidia` properties of a wheel: its `sm_arch` values and the CUDA
/// lower bound; features without a value are left out.
pub fn nvidia_properties(sm_arch: &[String], cuda_lower_bound: Option<&str>) -> VariantProperties {
    let mut features = BTreeMap::new();
    if !sm_arch.is_empty() {
        let mut values = sm_arch.to_vec();
        values.sort();
        values.dedup();
        features.insert("sm_arch".to_string(), values);
    }
    if let Some(cuda) = cuda_lower_bound {
        features.insert(
            "cuda_version_lower_bound".to_string(),
            vec![cuda.to_string()],
        );
    }
    let mut props = BTreeMap::new();
    if !features.is_empty() {
        props.insert(NVIDIA.to_string(), features);
    }
    props
}

/// The index's file name: `{name}-{version}-variants.json`, the
/// distribution as wheel files spell it (`flash_attn`), the public version.
pub fn variants_file_name(name: &WheelName) -> String {
    format!(
        "{}-{}-variants.json",
        name.normalized_distribution(),
        name.public_version()
    )
}

/// The variant wheel a build made, as its report records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct VariantWheel {
    /// The second file (size, sha256), beside the wheel.
    pub wheel: WheelInfo,
    /// Its variant label (`cu13torch2.11cxx11abitrue`).
    pub label: String,
    /// What its `variant.json` says the label stands for.
    pub properties: VariantProperties,
}

/// Write the variant wheel of `wheel` (the finished build's, which `check`
/// read) into `out_dir`: label from its local label, the `nvidia`
/// properties of its device code and `cuda` (the toolkit's version), the
/// public version, `variant.json` added; the rest of its bytes as they are.
pub fn make_variant_wheel(
    wheel: &Path,
    check: &WheelCheck,
    cuda: Option<&str>,
    out_dir: &Path,
) -> Result<VariantWheel, VariantError> {
    let file = wheel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = WheelName::parse(&file).map_err(RetagError::from)?;
    let local = name
        .local_version()
        .ok_or_else(|| VariantError::NoLabel { file: file.clone() })?;
    let label = variant_label(local)?;
    let cuda = cuda.and_then(cuda_lower_bound);
    let properties = nvidia_properties(&sm_arch_values(check), cuda.as_deref());
    if properties.is_empty() {
        return Err(VariantError::NoProperties { file });
    }
    let doc = VariantMetadata::single(&label, properties.clone());
    doc.validate()?;
    let edits = WheelEdits {
        dist_info_files: vec![(VARIANT_JSON.to_string(), doc.to_bytes())],
        variant: Some(label.clone()),
        version: Some(name.public_version().to_string()),
        ..WheelEdits::default()
    };
    let path = rewrite_wheel(wheel, &edits, out_dir)?;
    let info = std::path::absolute(&path)
        .and_then(|p| WheelInfo::from_file(&p))
        .map_err(|source| RetagError::Io {
            what: format!("cannot read {}", path.display()),
            source,
        })?;
    Ok(VariantWheel {
        wheel: info,
        label,
        properties,
    })
}

/// The `variant.json` of the variant wheel at `path` (whose name has a
/// label), checked: one variant, the file name's label. `Ok(None)` for a
/// wheel without a variant label.
pub fn read_variant_json(path: &Path) -> Result<Option<VariantMetadata>, VariantError> {
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = WheelName::parse(&file).map_err(RetagError::from)?;
    let Some(label) = name.variant.as_deref() else {
        return Ok(None);
    };
    let io = |e: std::io::Error| VariantError::Invalid(format!("cannot read {file}: {e}"));
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).map_err(io)?)
        .map_err(|e| VariantError::Invalid(format!("{file} is not a zip: {e}")))?;
    let entry = zip
        .file_names()
        .find(|n| {
            n.strip_suffix(&format!("/{VARIANT_JSON}"))
                .is_some_and(|d| d.ends_with(".dist-info") && !d.contains('/'))
        })
        .map(str::to_string)
        .ok_or_else(|| VariantError::Invalid(format!("{file} has no .dist-info/{VARIANT_JSON}")))?;
    let mut bytes = Vec::new();
    zip.by_name(&entry)
        .map_err(|e| VariantError::Invalid(format!("cannot read {entry}: {e}")))?
        .take(MAX_VARIANT_JSON_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let doc = VariantMetadata::parse(&bytes)?;
    if doc.variants.len() != 1 || !doc.variants.contains_key(label) {
        return Err(VariantError::Invalid(format!(
            "{entry} must describe exactly the variant `{label}` of the file name"
        )));
    }
    Ok(Some(doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_local_labels() {
        assert_eq!(
            variant_label("cu12torch2.8cxx11abiTRUE").unwrap(),
            "cu12torch2.8cxx11abitrue"
        );
        assert_eq!(variant_label("cu13_torch2.11").unwrap(), "cu13_torch2.11");
        for bad in ["cu12-torch", "", "null", "NULL", "cu12+x", "cü12"] {
            let e = variant_label(bad).unwrap_err();
            assert!(matches!(e, VariantError::BadLabel { .. }), "{bad}: {e}");
            assert!(e.hint().contains("drop --variants"));
        }
    }

    #[test]
    fn cuda_bounds_are_major_and_minor() {
        assert_eq!(cuda_lower_bound("12.8.93").as_deref(), Some("12.8"));
        assert_eq!(cuda_lower_bound("13.0").as_deref(), Some("13.0"));
        assert_eq!(cuda_lower_bound("13").as_deref(), Some("13.0"));
        assert_eq!(cuda_lower_bound("v13"), None);
    }

    #[test]
    fn documents_merge_and_conflicts_are_refused() {
        let a =
            VariantMetadata::single("cu12", nvidia_properties(&["90_real".into()], Some("12.8")));
        let b = VariantMetadata::single(
            "cu13",
            nvidia_properties(&["90_virtual".into(), "100_real".into()], Some("13.0")),
        );
        let merged = a.merge(&b).unwrap();
        assert_eq!(merged, b.merge(&a).unwrap(), "order does not matter");
        assert_eq!(
            merged.variants["cu13"]["nvidia"]["sm_arch"],
            ["100_real", "90_virtual"]
        );
        assert_eq!(merged.default_priorities.namespace, ["nvidia"]);
        merged.validate().unwrap();
        let round = VariantMetadata::parse(&merged.to_bytes()).unwrap();
        assert_eq!(round, merged);

        let other =
            VariantMetadata::single("cu12", nvidia_properties(&["80_real".into()], Some("12.8")));
        assert!(matches!(
            a.merge(&other),
            Err(VariantError::Conflict(m)) if m.contains("`cu12`")
        ));
    }

    #[test]
    fn untrusted_documents_are_checked() {
        let good = VariantMetadata::single("cu13", nvidia_properties(&[], Some("13.0")));
        let text = String::from_utf8(good.to_bytes()).unwrap();
        for (what, broken) in [
            (
                "unknown key",
                text.replace("\"variants\"", "\"providers\": {}, \"variants\""),
            ),
            ("bad label", text.replace("\"cu13\"", "\"CU13\"")),
            ("bad value", text.replace("\"13.0\"", "\"13-0\"")),
            ("schema", text.replace("v0.1.1", "v9.0.0")),
            (
                "namespace",
                text.replace(
                    "\"namespace\": [\n      \"nvidia\"\n    ]",
                    "\"namespace\": [\"x86_64\"]",
                ),
            ),
        ] {
            assert_ne!(broken, text, "{what}: the breakage must apply");
            assert!(
                matches!(
                    VariantMetadata::parse(broken.as_bytes()),
                    Err(VariantError::Invalid(_))
                ),
                "{what}"
            );
        }
        let huge = vec![b' '; MAX_VARIANT_JSON_BYTES as usize + 1];
        assert!(VariantMetadata::parse(&huge).is_err());
    }
}
