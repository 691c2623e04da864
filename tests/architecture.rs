//! The architecture, checked: the crates' dependency graph is the one
//! `docs/ARCHITECTURE.md` draws (its mermaid graph, edge for edge, and its
//! layer table: a crate depends only on crates of a lower layer), and no
//! library crate has a file-level import cycle.
//!
//! The file graph is read the way `rust_cycles.py` (the team's quick check)
//! reads it: every `crate::`, `super::` and `self::` path in a file of a
//! crate's `src/`, `use` groups included, resolved to the deepest module file
//! that exists; comments and inline `#[cfg(test)] mod … { … }` blocks are left
//! out. A cycle is a set of files that import each other (a strongly connected
//! component of more than one file).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn no_library_crate_has_a_file_import_cycle() {
    let mut cycles = Vec::new();
    let mut files = 0;
    for src in library_sources() {
        let graph = file_graph(&src);
        files += graph.len();
        for component in strongly_connected(&graph) {
            let names: Vec<String> = component
                .iter()
                .map(|p| p.strip_prefix(repo()).unwrap_or(p).display().to_string())
                .collect();
            cycles.push(names);
        }
    }
    assert!(
        files > 100,
        "only {files} files read: is the workspace where it was?"
    );
    assert!(
        cycles.is_empty(),
        "files that import each other (break each cycle by moving the shared part down):\n{cycles:#?}"
    );
}

#[test]
fn the_crate_graph_is_the_one_drawn_in_architecture_md() {
    let doc = std::fs::read_to_string(repo().join("docs/ARCHITECTURE.md")).unwrap();
    let drawn = drawn_edges(&doc);
    let layers = layer_table(&doc);
    let actual = cargo_edges();

    let members: BTreeSet<&String> = actual.keys().collect();
    let tabled: BTreeSet<&String> = layers.keys().collect();
    assert_eq!(
        members, tabled,
        "the layer table of docs/ARCHITECTURE.md lists other crates than the workspace has"
    );

    let actual_edges: BTreeSet<(String, String)> = actual
        .iter()
        .flat_map(|(from, tos)| tos.iter().map(move |to| (from.clone(), to.clone())))
        .collect();
    let missing: Vec<_> = actual_edges.difference(&drawn).collect();
    let extra: Vec<_> = drawn.difference(&actual_edges).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/ARCHITECTURE.md's graph differs from the Cargo.toml files:\n\
         dependencies not drawn: {missing:?}\ndrawn but not depended on: {extra:?}"
    );

    let upward: Vec<String> = actual_edges
        .iter()
        .filter(|(from, to)| layers[from] <= layers[to])
        .map(|(from, to)| {
            format!(
                "{from} (layer {}) -> {to} (layer {})",
                layers[from], layers[to]
            )
        })
        .collect();
    assert!(
        upward.is_empty(),
        "a crate may depend only on crates of a lower layer:\n{}",
        upward.join("\n")
    );
}

#[test]
fn each_library_crate_says_its_job_and_documents_its_api() {
    let mut wrong = Vec::new();
    for src in library_sources() {
        let crate_dir = src.parent().unwrap();
        let name = crate_dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
        if !lib.trim_start().starts_with("//!") {
            wrong.push(format!(
                "{name}: lib.rs does not start with a crate doc (`//!`)"
            ));
        }
        let test_only = name == "wheelwright-test-support";
        if !test_only && !lib.contains("#![warn(missing_docs)]") {
            wrong.push(format!("{name}: no #![warn(missing_docs)]"));
        }
        let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
        if !manifest.contains("[lints]\nworkspace = true") {
            wrong.push(format!("{name}: Cargo.toml lacks [lints] workspace = true"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `crates/*/src` of every crate with a library.
fn library_sources() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(repo().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path().join("src"))
        .filter(|src| src.join("lib.rs").is_file())
        .collect();
    out.sort();
    out
}

/// The workspace's packages and, for each, the workspace packages it depends
/// on as a normal dependency (what its `Cargo.toml` says), from `cargo metadata`.
fn cargo_edges() -> BTreeMap<String, BTreeSet<String>> {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = meta["packages"].as_array().unwrap();
    let names: BTreeSet<String> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| d["name"].as_str().unwrap().to_string())
                .filter(|d| names.contains(d))
                .collect();
            (p["name"].as_str().unwrap().to_string(), deps)
        })
        .collect()
}

/// The edges of the ```mermaid block: `a --> b` (a depends on b), where a
/// node is a crate name without its `wheelwright-` prefix (`core`, `wheelwright`
/// for the binary), and `a --> b & c` stands for two edges.
fn drawn_edges(doc: &str) -> BTreeSet<(String, String)> {
    let block = fenced(doc, "```mermaid");
    let full = |n: &str| {
        let n = n.trim();
        if n == "wheelwright" {
            n.to_string()
        } else {
            format!("wheelwright-{n}")
        }
    };
    let mut edges = BTreeSet::new();
    for line in block.lines() {
        let Some((from, tos)) = line.split_once("-->") else {
            continue;
        };
        for to in tos.split('&') {
            edges.insert((full(from), full(to)));
        }
    }
    assert!(
        !edges.is_empty(),
        "no `a --> b` edges in docs/ARCHITECTURE.md's mermaid block"
    );
    edges
}

/// The layer of each crate, from the table whose rows start `| <layer> | `<crate>` |`.
fn layer_table(doc: &str) -> BTreeMap<String, u32> {
    let mut layers = BTreeMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 3 {
            continue;
        }
        let (Ok(layer), Some(name)) = (
            cells[1].parse::<u32>(),
            cells[2].strip_prefix('`').and_then(|c| c.strip_suffix('`')),
        ) else {
            continue;
        };
        layers.insert(name.to_string(), layer);
    }
    assert!(!layers.is_empty(), "no layer table in docs/ARCHITECTURE.md");
    layers
}

/// The text of the first block fenced by `opening` … "```".
fn fenced<'a>(doc: &'a str, opening: &str) -> &'a str {
    let start = doc.find(opening).expect("no fenced block") + opening.len();
    let len = doc[start..].find("```").expect("unclosed fenced block");
    &doc[start..start + len]
}

/// Each `.rs` file under `src` and the files of the same crate it imports.
fn file_graph(src: &Path) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mut graph = BTreeMap::new();
    for file in rust_files(src) {
        let here = module_of(src, &file);
        let text = strip_comments(&std::fs::read_to_string(&file).unwrap());
        let text = before_inline_tests(&text);
        let mut targets = BTreeSet::new();
        for (anchor, parts) in paths_in(text) {
            let module = match anchor.as_str() {
                "crate" => parts,
                "self" => here.iter().cloned().chain(parts).collect(),
                _ => {
                    // super (then any further supers in `parts`)
                    let mut base = here[..here.len().saturating_sub(1)].to_vec();
                    let mut rest = parts.as_slice();
                    while let Some(("super", tail)) =
                        rest.split_first().map(|(h, t)| (h.as_str(), t))
                    {
                        base.pop();
                        rest = tail;
                    }
                    base.into_iter().chain(rest.iter().cloned()).collect()
                }
            };
            if let Some(target) = file_of(src, &module).filter(|t| *t != file) {
                targets.insert(target);
            }
        }
        graph.insert(file, targets);
    }
    graph
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are module `a::b`; `src/lib.rs` the root.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The file of the deepest module of `path` that exists (an item's path
/// resolves to the module that holds it).
fn file_of(src: &Path, path: &[String]) -> Option<PathBuf> {
    (0..=path.len()).rev().find_map(|k| {
        if k == 0 {
            return Some(src.join("lib.rs")).filter(|p| p.is_file());
        }
        let base = path[..k].iter().fold(src.to_path_buf(), |p, s| p.join(s));
        [base.with_extension("rs"), base.join("mod.rs")]
            .into_iter()
            .find(|p| p.is_file())
    })
}

/// `text` without `//` and `/* */` comments (doc comments included).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let line = rest.find("//");
        let block = rest.find("/*");
        match (line, block) {
            (Some(l), b) if b.is_none_or(|b| l < b) => {
                out.push_str(&rest[..l]);
                rest = rest[l..].find('\n').map_or("", |n| &rest[l + n..]);
            }
            (_, Some(b)) => {
                out.push_str(&rest[..b]);
                rest = rest[b..].find("*/").map_or("", |e| &rest[b + e + 2..]);
            }
            _ => {
                out.push_str(rest);
                rest = "";
            }
        }
    }
    out
}

/// The text before an inline `#[cfg(test)] mod name {`.
fn before_inline_tests(text: &str) -> &str {
    let mut from = 0;
    while let Some(at) = text[from..].find("#[cfg(test)]") {
        let start = from + at;
        let after = text[start + "#[cfg(test)]".len()..].trim_start();
        if let Some(decl) = after.strip_prefix("mod ") {
            let decl = decl.trim_start();
            let name_len = decl
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(decl.len());
            if decl[name_len..].trim_start().starts_with('{') {
                return &text[..start];
            }
        }
        from = start + 1;
    }
    text
}

/// Every `crate::…`, `super::…` and `self::…` path in `text`, `use` groups
/// expanded: (anchor, the names after it).
fn paths_in(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < text.len() {
        let anchor = ["crate", "super", "self"]
            .into_iter()
            .find(|a| bytes[i..].starts_with(format!("{a}::").as_bytes()));
        let boundary = i == 0 || !(is_ident(bytes[i - 1]) || bytes[i - 1] == b':');
        let Some(anchor) = anchor.filter(|_| boundary) else {
            i += 1;
            continue;
        };
        let start = i + anchor.len();
        // The path (and a `{…}` group after it) up to what ends it.
        let mut end = start;
        let mut depth = 0;
        while end < text.len() {
            let b = bytes[end];
            if b == b'{' {
                depth += 1;
            } else if b == b'}' {
                if depth == 0 {
                    break;
                }
                depth -= 1;
            } else if depth == 0 && !(is_ident(b) || b == b':') {
                break;
            }
            end += 1;
        }
        for names in expand(&text[start..end]) {
            out.push((anchor.to_string(), names));
        }
        i = end.max(i + 1);
    }
    out
}

/// `::a::{b, c::{d, e}}` → `[a, b]`, `[a, c, d]`, `[a, c, e]`; `self` and
/// `X as Y` taken as the path they name.
fn expand(tree: &str) -> Vec<Vec<String>> {
    let tree = tree.trim().trim_start_matches("::");
    let (prefix, group) = match tree.find('{') {
        Some(open) => {
            let close = tree.rfind('}').unwrap_or(tree.len());
            (&tree[..open], Some(&tree[open + 1..close]))
        }
        None => (tree, None),
    };
    let head: Vec<String> = prefix
        .split("::")
        .map(|s| s.split(" as ").next().unwrap_or("").trim())
        .filter(|s| !s.is_empty() && *s != "self")
        .map(str::to_string)
        .collect();
    let Some(group) = group else {
        return vec![head];
    };
    let mut items = Vec::new();
    let (mut depth, mut from) = (0, 0);
    for (k, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[from..k]);
                from = k + 1;
            }
            _ => {}
        }
    }
    items.push(&group[from..]);
    items
        .into_iter()
        .filter(|item| !item.trim().is_empty())
        .flat_map(|item| {
            expand(item).into_iter().map(|tail| {
                let mut p = head.clone();
                p.extend(tail);
                p
            })
        })
        .collect()
}

/// The strongly connected components of more than one node (Tarjan).
fn strongly_connected(graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct State<'g> {
        graph: &'g BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'g Path, usize>,
        low: BTreeMap<&'g Path, usize>,
        stack: Vec<&'g Path>,
        on_stack: BTreeSet<&'g Path>,
        out: Vec<Vec<PathBuf>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g Path) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_path();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_path_buf());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_path()) {
            visit(&mut s, v);
        }
    }
    s.out
}
