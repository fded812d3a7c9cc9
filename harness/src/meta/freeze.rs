//! The freeze manifest: which selectors are frozen, since when, and the sha256 of every
//! source file their picks depend on (`selectors/FROZEN.yaml`, committed; git tags do not
//! travel with this repository, a committed file does).
//!
//! A selector's files are its own (`Selector::source`), the base every selector reads
//! ([`BASE`]: folds and training sets, task features, task tables, objectives, the selector
//! interface), and every file of `harness/src/meta` those reach through `crate::meta::…`
//! and `super::…` paths, transitively. Code outside `meta` (technique recipes, model
//! descriptors) is not on the path: what it feeds the selectors is in the task table,
//! whose tasks are hashed into every evaluation record instead.
//!
//! The binary carries the sources it was built from (the build script lists every file of
//! `src/meta`), so `harness evaluate` says for each selector it scores whether the running
//! code is the frozen code, and a test fails when a frozen selector's files change without
//! a new name. `harness freeze` prints the manifest with new entries added.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::selectors::{self, Selector};

// `META_SOURCES: &[(&str, &str)]`: (path under `src/meta`, text) of every file there.
include!(concat!(env!("OUT_DIR"), "/meta_sources.rs"));

/// Where the manifest lives, relative to the repository root.
pub const MANIFEST_PATH: &str = "selectors/FROZEN.yaml";

/// The manifest as committed when this binary was built.
pub const MANIFEST: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../selectors/FROZEN.yaml"));

/// Files every selector's picks depend on, whatever it imports.
pub const BASE: &[&str] = &["cv.rs", "features.rs", "tasks.rs", "objective.rs", "selectors/mod.rs"];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Selector name → its entry.
    #[serde(default)]
    pub selectors: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The day it was frozen (YYYY-MM-DD).
    pub frozen: String,
    /// The freeze it belongs to (`selectors-frozen-N`, as `Selector::frozen` says).
    pub tag: String,
    /// Path under `harness/src/meta` → sha256 of the file.
    pub files: BTreeMap<String, String>,
}

/// Whether the running code is the frozen code.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Matches {
        frozen: String,
    },
    /// Files whose hash differs, that joined its path, or that left it.
    Differs {
        frozen: String,
        files: Vec<String>,
    },
    NotFrozen,
}

impl Status {
    pub fn label(&self) -> String {
        match self {
            Status::Matches { frozen } => format!("matches the manifest (frozen {frozen})"),
            Status::Differs { frozen, files } => {
                format!("DIFFERS from the manifest (frozen {frozen}): {}", files.join(", "))
            }
            Status::NotFrozen => "not in the manifest".into(),
        }
    }
    pub fn short(&self) -> &'static str {
        match self {
            Status::Matches { .. } => "matches",
            Status::Differs { .. } => "differs",
            Status::NotFrozen => "not frozen",
        }
    }
}

/// sha256 of a text, hex.
pub fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The part of a `file!()` path under `src/meta/` (`selectors/gbdt.rs`).
pub fn relative(path: &str) -> &str {
    let p = path.rsplit_once("src/meta/").map_or(path, |(_, r)| r);
    p.trim_start_matches(['/', '\\'])
}

fn text_of(sources: &[(&'static str, &'static str)], rel: &str) -> Option<&'static str> {
    sources.iter().find(|(p, _)| *p == rel).map(|(_, t)| *t)
}

/// The module path of a file under `src/meta` (`learn/rules.rs` → [learn, rules]).
fn module_of(rel: &str) -> Vec<String> {
    let stem = rel.trim_end_matches(".rs");
    let mut parts: Vec<String> = stem.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Files of `sources` a module path names: every `mod.rs` on the way and the deepest file.
fn files_for(sources: &[(&'static str, &'static str)], segs: &[String]) -> Vec<String> {
    let mut out = vec![];
    for i in 1..=segs.len() {
        let base = segs[..i].join("/");
        for cand in [format!("{base}.rs"), format!("{base}/mod.rs")] {
            if text_of(sources, &cand).is_some() {
                out.push(cand);
            }
        }
    }
    out
}

fn ident_at(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// Module paths a file's text names through `crate::meta::` or `super::`, resolved to
/// files; one level of `{a, b::c}` groups is followed.
fn references(sources: &[(&'static str, &'static str)], rel: &str, text: &str) -> BTreeSet<String> {
    let me = module_of(rel);
    // `super` of a file `a/b.rs` is `a`; of `a/mod.rs` (module `a`) it is the root.
    let parent: Vec<String> = me[..me.len().saturating_sub(1)].to_vec();
    let mut out = BTreeSet::new();
    for (prefix, base) in [("crate::meta::", vec![]), ("super::", parent)] {
        let mut rest = text;
        while let Some(i) = rest.find(prefix) {
            rest = &rest[i + prefix.len()..];
            let mut segs = base.clone();
            let mut s = rest;
            loop {
                let (id, after) = ident_at(s);
                if id.is_empty() {
                    if let Some(group) = s.strip_prefix('{') {
                        let inner = group.split('}').next().unwrap_or_default();
                        for item in inner.split(',') {
                            let (id, _) = ident_at(item.trim());
                            if !id.is_empty() {
                                let mut g = segs.clone();
                                g.push(id.to_string());
                                out.extend(files_for(sources, &g));
                            }
                        }
                    }
                    break;
                }
                segs.push(id.to_string());
                match after.strip_prefix("::") {
                    Some(next) => s = next,
                    None => break,
                }
            }
            out.extend(files_for(sources, &segs));
        }
    }
    out.remove(rel);
    out
}

/// Every file under `src/meta` a selector defined in `source` depends on, sorted.
pub fn files_of_in(sources: &[(&'static str, &'static str)], source: &str) -> Result<Vec<String>> {
    let start = relative(source).to_string();
    if text_of(sources, &start).is_none() {
        bail!("selector source `{source}` is not a file of harness/src/meta");
    }
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<String> = vec![start];
    todo.extend(BASE.iter().map(|s| s.to_string()));
    while let Some(f) = todo.pop() {
        if !seen.insert(f.clone()) {
            continue;
        }
        let text = text_of(sources, &f).with_context(|| format!("{f}: not a file of harness/src/meta"))?;
        todo.extend(references(sources, &f, text).into_iter().filter(|r| !seen.contains(r)));
    }
    Ok(seen.into_iter().collect())
}

/// The files of the selector defined in `source`, in the sources this binary was built from.
pub fn files_of(source: &str) -> Result<Vec<String>> {
    files_of_in(META_SOURCES, source)
}

/// An entry for the selector defined in `source` as its code stands in `sources`.
pub fn entry_in(sources: &[(&'static str, &'static str)], source: &str, tag: &str, date: &str) -> Result<Entry> {
    let files = files_of_in(sources, source)?
        .into_iter()
        .map(|f| {
            let h = sha256(text_of(sources, &f).unwrap_or_default());
            (f, h)
        })
        .collect();
    Ok(Entry { frozen: date.to_string(), tag: tag.to_string(), files })
}

/// Whether `name` (defined in `source`) is frozen in `manifest` as its code stands in `sources`.
pub fn status_in(manifest: &Manifest, sources: &[(&'static str, &'static str)], name: &str, source: &str) -> Status {
    let Some(e) = manifest.selectors.get(name) else { return Status::NotFrozen };
    let now = match entry_in(sources, source, &e.tag, &e.frozen) {
        Ok(n) => n,
        Err(err) => return Status::Differs { frozen: e.frozen.clone(), files: vec![format!("{err}")] },
    };
    let mut files = vec![];
    for (f, h) in &e.files {
        match now.files.get(f) {
            Some(h2) if h2 == h => {}
            Some(_) => files.push(format!("{f} changed")),
            None => files.push(format!("{f} left its path")),
        }
    }
    for f in now.files.keys().filter(|f| !e.files.contains_key(*f)) {
        files.push(format!("{f} joined its path"));
    }
    if files.is_empty() {
        Status::Matches { frozen: e.frozen.clone() }
    } else {
        Status::Differs { frozen: e.frozen.clone(), files }
    }
}

/// The committed manifest (as built into this binary).
pub fn manifest() -> Result<Manifest> {
    parse(MANIFEST)
}

pub fn parse(text: &str) -> Result<Manifest> {
    serde_yaml::from_str(text).with_context(|| format!("{MANIFEST_PATH}: not a freeze manifest"))
}

/// Whether the selector is frozen and its code unchanged, against the committed manifest.
pub fn status(sel: &dyn Selector) -> Status {
    match manifest() {
        Ok(m) => status_in(&m, META_SOURCES, sel.name(), sel.source()),
        Err(e) => Status::Differs { frozen: "?".into(), files: vec![format!("{e:#}")] },
    }
}

/// The committed manifest with entries added for `names` (frozen on `date`), as YAML. A name
/// already frozen with unchanged code keeps its entry; one whose code changed is refused
/// (freeze the new code under a new name).
pub fn add(names: &[String], date: &str) -> Result<String> {
    let mut m = manifest()?;
    for n in names {
        let sel = selectors::by_name(n)?;
        match status_in(&m, META_SOURCES, sel.name(), sel.source()) {
            Status::Matches { .. } => {}
            Status::Differs { frozen, files } => bail!(
                "`{n}` was frozen on {frozen} and its code has changed since ({}): give the changed selector a new \
                 name and freeze that",
                files.join(", ")
            ),
            Status::NotFrozen => {
                m.selectors.insert(n.clone(), entry_in(META_SOURCES, sel.source(), sel.frozen(), date)?);
            }
        }
    }
    render(&m)
}

pub fn render(m: &Manifest) -> Result<String> {
    Ok(format!(
        "# The freeze manifest (harness/src/meta/freeze.rs): per frozen selector, the day it was frozen and the\n\
         # sha256 of every file under harness/src/meta its picks depend on. `harness evaluate` reports, per\n\
         # selector, whether the running code matches; tests fail when a frozen selector's files change.\n\
         # Changing a frozen selector means a new name. Written by `harness freeze`.\n{}",
        serde_yaml::to_string(m)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_through_crate_super_and_groups() {
        let srcs: &[(&str, &str)] = &[
            ("cv.rs", "use super::features::X;"),
            ("features.rs", ""),
            ("tasks.rs", ""),
            ("objective.rs", ""),
            ("selectors/mod.rs", ""),
            ("selectors/a.rs", "use crate::meta::learn::{prior::P, regress};\nuse super::Family;"),
            ("selectors/b.rs", ""),
            ("learn/mod.rs", ""),
            ("learn/prior.rs", "use super::tune::t;"),
            ("learn/regress.rs", ""),
            ("learn/tune.rs", ""),
            ("learn/unused.rs", ""),
        ];
        let f = files_of_in(srcs, "harness/src/meta/selectors/a.rs").unwrap();
        assert_eq!(
            f,
            [
                "cv.rs",
                "features.rs",
                "learn/mod.rs",
                "learn/prior.rs",
                "learn/regress.rs",
                "learn/tune.rs",
                "objective.rs",
                "selectors/a.rs",
                "selectors/mod.rs",
                "tasks.rs"
            ]
        );
    }

    #[test]
    fn a_changed_file_on_the_path_is_reported_and_one_off_it_is_not() {
        let v1: &[(&str, &str)] = &[
            ("cv.rs", ""),
            ("features.rs", ""),
            ("tasks.rs", ""),
            ("objective.rs", ""),
            ("selectors/mod.rs", ""),
            ("selectors/a.rs", "use crate::meta::learn::rules::R;"),
            ("learn/mod.rs", ""),
            ("learn/rules.rs", "fn r() -> u8 { 1 }"),
            ("learn/other.rs", "x"),
        ];
        let mut m = Manifest::default();
        m.selectors.insert("a".into(), entry_in(v1, "selectors/a.rs", "t", "2026-12-07").unwrap());
        assert_eq!(status_in(&m, v1, "a", "selectors/a.rs"), Status::Matches { frozen: "2026-12-07".into() });
        let off_path: Vec<(&str, &str)> =
            v1.iter().map(|&(p, t)| if p == "learn/other.rs" { (p, "y") } else { (p, t) }).collect();
        assert!(matches!(status_in(&m, &off_path, "a", "selectors/a.rs"), Status::Matches { .. }));
        let changed: Vec<(&str, &str)> =
            v1.iter().map(|&(p, t)| if p == "learn/rules.rs" { (p, "fn r() -> u8 { 2 }") } else { (p, t) }).collect();
        match status_in(&m, &changed, "a", "selectors/a.rs") {
            Status::Differs { files, .. } => assert_eq!(files, vec!["learn/rules.rs changed".to_string()]),
            s => panic!("{s:?}"),
        }
        let joined: Vec<(&str, &str)> = v1
            .iter()
            .map(
                |&(p, t)| {
                    if p == "selectors/a.rs" {
                        (p, "use crate::meta::learn::{rules::R, other};")
                    } else {
                        (p, t)
                    }
                },
            )
            .collect();
        match status_in(&m, &joined, "a", "selectors/a.rs") {
            Status::Differs { files, .. } => {
                assert!(files.contains(&"learn/other.rs joined its path".to_string()), "{files:?}");
                assert!(files.contains(&"selectors/a.rs changed".to_string()), "{files:?}");
            }
            s => panic!("{s:?}"),
        }
        assert_eq!(status_in(&m, v1, "b", "selectors/a.rs"), Status::NotFrozen);
    }

    /// The freeze holds: every selector in the committed manifest exists and its files are
    /// the frozen ones. A change to any file on a frozen selector's path fails here; the way
    /// out is a new name (a new selector file and registry line) frozen with `harness freeze`.
    #[test]
    fn every_frozen_selector_matches_its_manifest_entry() {
        let m = manifest().unwrap();
        assert!(!m.selectors.is_empty(), "{MANIFEST_PATH} freezes no selector");
        for name in m.selectors.keys() {
            let sel = selectors::by_name(name).unwrap_or_else(|e| panic!("{MANIFEST_PATH}: {e:#}"));
            let st = status_in(&m, META_SOURCES, sel.name(), sel.source());
            assert!(matches!(st, Status::Matches { .. }), "{name}: {}", st.label());
            assert_eq!(m.selectors[name].tag, sel.frozen(), "{name}: the manifest's tag is not the selector's");
        }
    }

    #[test]
    fn every_selector_names_its_own_file() {
        for sel in selectors::registry() {
            let rel = relative(sel.source());
            assert!(rel.starts_with("selectors/"), "{}: {rel}", sel.name());
            assert!(text_of(META_SOURCES, rel).is_some_and(|t| t.contains(sel.name())), "{}: {rel}", sel.name());
        }
    }

    #[test]
    fn the_manifest_parses_and_round_trips() {
        let m = manifest().unwrap();
        let text = render(&m).unwrap();
        assert_eq!(parse(&text).unwrap(), m);
    }
}
