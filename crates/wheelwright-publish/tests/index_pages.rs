//! The generated index pages against whatever a manifest row holds: every
//! field of every entry, the project names, labels and titles, as arbitrary
//! strings, are escaped, so no value adds or closes a tag or an attribute.

use proptest::prelude::*;
use proptest::test_runner::Config;
use wheelwright_publish::index::html::{project_list, project_page, variants_page};
use wheelwright_publish::index::IndexEntry;

/// Cases per property.
const CASES: u32 = 256;

/// The characters that make markup: a page with escaped values has exactly
/// as many as the same page with harmless ones.
fn markup(html: &str) -> [usize; 4] {
    ['<', '>', '"', '\''].map(|c| html.matches(c).count())
}

/// Any string, control characters, quotes and angle brackets included.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".*",
        "[<>\"'&=a-z/:; ]{0,24}",
        Just("\"><script>alert(1)</script><a x='".to_string()),
        Just("javascript:alert(1)".to_string()),
        Just("x\" onmouseover=\"alert(1)".to_string()),
    ]
}

fn entry(
    [file, project, version, label, sha256, requires_python, url, metadata_sha256]: [String; 8],
    some: [bool; 4],
) -> IndexEntry {
    IndexEntry {
        file,
        project,
        version,
        label: some[0].then_some(label),
        sha256,
        requires_python: some[1].then_some(requires_python),
        url: some[2].then_some(url),
        metadata_sha256: some[3].then_some(metadata_sha256),
        variant: None,
    }
}

proptest! {
    #![proptest_config(Config { cases: CASES, failure_persistence: None, ..Config::default() })]

    #[test]
    fn every_field_is_escaped_in_every_page(
        fields in proptest::array::uniform8(text()),
        some in proptest::array::uniform4(any::<bool>()),
        title in text(),
        depth in 2usize..4,
    ) {
        let hostile = entry(fields.clone(), some);
        let harmless = entry(std::array::from_fn(|_| "x".to_string()), some);
        let project = fields[1].as_str();
        let label = fields[3].as_str();

        let page = project_page(project, &[&hostile], depth);
        prop_assert_eq!(markup(&page), markup(&project_page("x", &[&harmless], depth)), "{}", page);
        let list = project_list(&title, &[project]);
        prop_assert_eq!(markup(&list), markup(&project_list("x", &["x"])), "{}", list);
        let top = variants_page(&[label], &[project]);
        prop_assert_eq!(markup(&top), markup(&variants_page(&["x"], &["x"])), "{}", top);
    }
}
