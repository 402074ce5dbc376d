//! The crate's files form layers: no file of `iss/src` refers to an item of
//! a file that refers back to it, directly or through others. A reader can
//! then learn the crate bottom up, and a change to a low file (the decode
//! table, the architectural state) cannot depend on the tiers above it.
//!
//! A file's references are the paths it names in code (`crate::a::b`,
//! `super::x`, `child::y` for a module it declares); comments and unit-test
//! modules do not count. A path leads to the file of the longest module it
//! names.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Module path (`["jit", "float"]`) to the file that holds it.
type Modules = BTreeMap<Vec<String>, String>;

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("iss/src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The module path of the file at `relative` (`jit/float/mod.rs` is
/// `["jit", "float"]`, `lib.rs` the root).
fn module_path(relative: &str) -> Vec<String> {
    let mut parts: Vec<String> = relative.trim_end_matches(".rs").split('/').map(String::from).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The code of a file without comments and without its unit tests.
fn code(text: &str) -> String {
    let mut kept = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        if trimmed == "#[cfg(test)]" && lines.peek().is_some_and(|next| next.trim_start().starts_with("mod ")) {
            // Unit tests come last in a file (or live in a file of their own).
            break;
        }
        kept.push(line);
    }
    kept.join("\n")
}

fn is_ident_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// The identifier path starting at `at` in `text` (`a::b::c`), and where it
/// ends; a `::{...}` group after it is returned as its members.
fn path_at(text: &str, at: usize) -> (Vec<String>, Vec<Vec<String>>) {
    let bytes = text.as_bytes();
    let mut segments = Vec::new();
    let mut i = at;
    loop {
        let start = i;
        while i < bytes.len() && is_ident_byte(bytes[i]) {
            i += 1;
        }
        if start == i {
            break;
        }
        segments.push(text[start..i].to_string());
        if text[i..].starts_with("::") && i + 2 < bytes.len() && is_ident_byte(bytes[i + 2]) {
            i += 2;
        } else {
            break;
        }
    }
    let mut members = Vec::new();
    if text[i..].starts_with("::{") {
        let end = text[i..].find('}').map_or(text.len(), |end| i + end);
        for member in text[i + 3..end].split(',') {
            let member = member.split_whitespace().next().unwrap_or("");
            let names: Vec<String> = member
                .split("::")
                .filter(|name| !name.is_empty() && *name != "self" && *name != "{")
                .map(|name| name.trim_matches('{').to_string())
                .collect();
            if !names.is_empty() {
                members.push(names);
            }
        }
    }
    (segments, members)
}

/// The files `relative` refers to.
fn references(relative: &str, text: &str, modules: &Modules) -> BTreeSet<String> {
    let here = module_path(relative);
    let code = code(text);
    let children: BTreeSet<String> = code
        .lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let line = line.strip_prefix("pub(crate) ").or_else(|| line.strip_prefix("pub(super) ")).unwrap_or(line);
            let line = line.strip_prefix("pub ").unwrap_or(line);
            line.strip_prefix("mod ").and_then(|rest| rest.strip_suffix(';')).map(String::from)
        })
        .collect();
    let bytes = code.as_bytes();
    let mut found = BTreeSet::new();
    for start in 0..bytes.len() {
        // Paths start at an identifier that follows neither another
        // identifier's characters nor `::`.
        let starts_path = is_ident_byte(bytes[start])
            && (start == 0 || !(is_ident_byte(bytes[start - 1]) || bytes[start - 1] == b':'));
        if !starts_path {
            continue;
        }
        let (segments, members) = path_at(&code, start);
        if segments.len() < 2 && members.is_empty() {
            continue;
        }
        let Some(first) = segments.first() else { continue };
        let base: Vec<String> = match first.as_str() {
            "crate" => segments[1..].to_vec(),
            "super" => {
                let mut parent = here[..here.len().saturating_sub(1)].to_vec();
                parent.extend(segments[1..].iter().cloned());
                parent
            }
            child if children.contains(child) => {
                let mut path = here.clone();
                path.extend(segments.iter().cloned());
                path
            }
            _ => continue,
        };
        let targets: Vec<Vec<String>> = if members.is_empty() {
            vec![base]
        } else {
            members.into_iter().map(|member| base.iter().cloned().chain(member).collect()).collect()
        };
        for target in targets {
            let file = (1..=target.len()).rev().find_map(|len| modules.get(&target[..len]));
            if let Some(file) = file
                && file != relative
            {
                found.insert(file.clone());
            }
        }
    }
    found
}

/// The groups of files that refer to each other in a loop (Tarjan's
/// strongly connected components of more than one file).
fn loops(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Search<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Search<'a> {
        fn visit(&mut self, file: &'a str) {
            let number = self.index.len();
            self.index.insert(file, number);
            self.low.insert(file, number);
            self.stack.push(file);
            for next in self.edges.get(file).into_iter().flatten() {
                if !self.index.contains_key(next.as_str()) {
                    self.visit(next);
                    let low = self.low[file].min(self.low[next.as_str()]);
                    self.low.insert(file, low);
                } else if self.stack.contains(&next.as_str()) {
                    let low = self.low[file].min(self.index[next.as_str()]);
                    self.low.insert(file, low);
                }
            }
            if self.low[file] == self.index[file] {
                let mut group = Vec::new();
                while let Some(top) = self.stack.pop() {
                    group.push(top.to_string());
                    if top == file {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.found.push(group);
                }
            }
        }
    }
    let mut search =
        Search { edges, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), found: Vec::new() };
    for file in edges.keys() {
        if !search.index.contains_key(file.as_str()) {
            search.visit(file);
        }
    }
    search.found
}

fn crate_files() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    source_files(&root, &mut paths);
    paths
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(&root).expect("under src").to_string_lossy().replace('\\', "/");
            let text = fs::read_to_string(&path).expect("a readable source file");
            (relative, text)
        })
        .collect()
}

fn reference_graph(files: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let modules: Modules = files.keys().map(|relative| (module_path(relative), relative.clone())).collect();
    files.iter().map(|(relative, text)| (relative.clone(), references(relative, text, &modules))).collect()
}

#[test]
fn no_file_refers_to_a_file_that_refers_back_to_it() {
    let graph = reference_graph(&crate_files());
    let found = loops(&graph);
    assert!(found.is_empty(), "files of iss/src that refer to each other in a loop: {found:?}");
}

#[test]
fn the_check_sees_references_and_loops() {
    // The layers the test relies on are really seen: the interpreter uses
    // the architectural state, which uses nothing above it.
    let graph = reference_graph(&crate_files());
    assert!(graph["interp.rs"].contains("cpu.rs"), "{:?}", graph["interp.rs"]);
    assert!(graph["cpu.rs"].contains("state.rs"));
    assert!(graph["jit/translator.rs"].contains("jit/analysis.rs"));
    assert!(!graph["state.rs"].contains("interp.rs"));
    // And a loop, made up here, is reported.
    let mut files = BTreeMap::new();
    files.insert("lib.rs".to_string(), "mod a;\nmod b;\n".to_string());
    files.insert("a.rs".to_string(), "use crate::b::Thing;\n".to_string());
    files.insert(
        "b.rs".to_string(),
        "// crate::a is only named here\npub struct Thing;\nfn f() { super::a::g(); }\n".to_string(),
    );
    assert_eq!(loops(&reference_graph(&files)), vec![vec!["a.rs".to_string(), "b.rs".to_string()]]);
}
