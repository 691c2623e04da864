//! The HTML of a static PEP 503 index: the variants page at the root, a
//! project list per `simple/` root, and one page of file links per project
//! (`#sha256=` fragment, `data-requires-python`, PEP 658/714
//! `data-core-metadata` and the older `data-dist-info-metadata`).
//!
//! Every value comes from a manifest row, which is checked when read, and
//! is escaped here all the same, in text and in every attribute: no value
//! can open or close a tag or an attribute (`tests/index_pages.rs` tries
//! arbitrary strings in every field).

use std::fmt::Write;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::IndexEntry;

/// Everything but RFC 3986's unreserved characters is encoded (`+` → `%2B`).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A file name as one URL path segment.
pub fn encode_segment(name: &str) -> String {
    utf8_percent_encode(name, PATH_SEGMENT).to_string()
}

/// Escape text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.0\">\n    <title>{}</title>\n  </head>\n  <body>\n    <h1>{}</h1>\n{body}  </body>\n</html>\n",
        escape(title),
        escape(title)
    )
}

/// A `simple/` root: one link per project.
pub fn project_list(title: &str, projects: &[&str]) -> String {
    let mut body = String::new();
    for p in projects {
        let _ = writeln!(
            body,
            "    <a href=\"{}/\">{}</a><br>",
            encode_segment(p),
            escape(p)
        );
    }
    page(title, &body)
}

/// A project page at `depth` folders below the index's top (2 for
/// `simple/<project>/`, 3 for `<label>/simple/<project>/`): files without an
/// absolute URL sit at the top.
pub fn project_page(project: &str, entries: &[&IndexEntry], depth: usize) -> String {
    let mut body = String::new();
    for e in entries {
        let href = match &e.url {
            Some(url) => url.clone(),
            None => format!("{}{}", "../".repeat(depth), encode_segment(&e.file)),
        };
        let mut attrs = String::new();
        if let Some(rp) = &e.requires_python {
            let _ = write!(attrs, " data-requires-python=\"{}\"", escape(rp));
        }
        if let Some(m) = &e.metadata_sha256 {
            let m = escape(m);
            let _ = write!(
                attrs,
                " data-core-metadata=\"sha256={m}\" data-dist-info-metadata=\"sha256={m}\""
            );
        }
        let _ = writeln!(
            body,
            "    <a href=\"{}#sha256={}\"{attrs}>{}</a><br>",
            escape(&href),
            escape(&e.sha256),
            escape(&e.file)
        );
    }
    // PEP 825: the versions' `-variants.json`, written beside this page,
    // linked where their variant wheels are.
    let variants: std::collections::BTreeSet<String> = entries
        .iter()
        .filter_map(|e| super::variants::variants_file(e))
        .collect();
    for file in variants {
        let _ = writeln!(
            body,
            "    <a href=\"{}\">{}</a><br>",
            escape(&encode_segment(&file)),
            escape(&file)
        );
    }
    page(&format!("Links for {project}"), &body)
}

/// The top page: how to install from each variant's own root.
pub fn variants_page(labels: &[&str], projects: &[&str]) -> String {
    let example = projects.first().copied().unwrap_or("PACKAGE");
    let mut body = String::new();
    let _ = writeln!(
        body,
        "    <p>pip picks the highest local version label, not the one that matches your torch: install from the root of your variant.</p>"
    );
    let _ = writeln!(body, "    <ul>");
    for label in labels {
        let _ = writeln!(
            body,
            "      <li><a href=\"{0}/simple/\">{1}</a>: <code>pip install --index-url &lt;this page&gt;/{1}/simple/ {2}</code></li>",
            encode_segment(label),
            escape(label),
            escape(example)
        );
    }
    let _ = writeln!(
        body,
        "      <li><a href=\"simple/\">simple</a>: every wheel of every variant</li>"
    );
    let _ = writeln!(body, "    </ul>");
    page("Wheel variants", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_carry_hash_python_and_metadata() {
        let e = IndexEntry {
            file: "flash_attn-2.8.3+cu12torch2.4cxx11abiTRUE-cp312-cp312-linux_x86_64.whl".into(),
            project: "flash-attn".into(),
            version: "2.8.3+cu12torch2.4cxx11abiTRUE".into(),
            label: Some("cu12torch2.4cxx11abitrue".into()),
            sha256: "ab".repeat(32),
            requires_python: Some(">=3.9".into()),
            url: None,
            metadata_sha256: Some("cd".repeat(32)),
            variant: None,
        };
        let html = project_page("flash-attn", &[&e], 3);
        assert!(html.contains(&format!(
            "<a href=\"../../../flash_attn-2.8.3%2Bcu12torch2.4cxx11abiTRUE-cp312-cp312-linux_x86_64.whl#sha256={}\" data-requires-python=\"&gt;=3.9\" data-core-metadata=\"sha256={m}\" data-dist-info-metadata=\"sha256={m}\">flash_attn-2.8.3+cu12torch2.4cxx11abiTRUE-cp312-cp312-linux_x86_64.whl</a>",
            "ab".repeat(32),
            m = "cd".repeat(32)
        )), "{html}");
        let remote = IndexEntry {
            url: Some("https://h/d/x%2By.whl?a=1&b=2".into()),
            metadata_sha256: None,
            variant: None,
            requires_python: None,
            ..e
        };
        let html = project_page("flash-attn", &[&remote], 2);
        assert!(
            html.contains("href=\"https://h/d/x%2By.whl?a=1&amp;b=2#sha256="),
            "{html}"
        );
        assert!(!html.contains("data-core-metadata"), "{html}");
    }

    #[test]
    fn names_are_escaped_and_encoded() {
        assert_eq!(encode_segment("a+b c/d"), "a%2Bb%20c%2Fd");
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let html = project_list("Simple index", &["flash-attn", "tiny-pkg"]);
        assert!(
            html.contains("<a href=\"flash-attn/\">flash-attn</a>"),
            "{html}"
        );
        let html = variants_page(&["cu12torch2.4"], &["flash-attn"]);
        assert!(html.contains("href=\"cu12torch2.4/simple/\""), "{html}");
    }
}
