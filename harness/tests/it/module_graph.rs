//! The data path is one way: every top-level module of the library sits in one layer of
//! [`LAYERS`] and imports only modules of lower layers (production code; tests may reach
//! anywhere), so no module imports, directly or through others, a module that imports it
//! back. The command line (`src/app/`) sits outside the library.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn files(p: &Path, out: &mut Vec<std::path::PathBuf>) {
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            files(&e.unwrap().path(), out);
        }
    } else if p.is_file() && p.extension().is_some_and(|x| x == "rs") {
        out.push(p.to_path_buf());
    }
}

/// The library's layers, lowest first. A module imports only modules of the layers below
/// its own; a new module is placed here (the test fails until it is).
const LAYERS: &[(&str, &[&str])] = &[
    ("kernels, model files and required resources", &["models", "require"]),
    ("techniques: names and plans", &["techniques"]),
    ("engines: names and capabilities", &["engines"]),
    ("grid files", &["config"]),
    ("records and serving policies", &["record", "serving"]),
    ("the machine, stores, workload text, exports", &["hardware", "store", "workloads", "export"]),
    ("measurement, the distributed pipeline, errors", &["measure", "distributed", "error"]),
    ("execution, figures, the engine bench", &["execute", "report", "bench_engine"]),
    ("learning and evaluation", &["meta"]),
    ("measuring while learning (the active sweep)", &["sweep"]),
];

#[test]
fn top_level_modules_import_each_other_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let mods: Vec<String> =
        lib.lines().filter_map(|l| l.strip_prefix("pub mod ")).map(|m| m.trim_end_matches(';').to_string()).collect();
    assert!(mods.len() > 10 && !mods.iter().any(|m| m == "app" || m == "cli"), "{mods:?}");
    let mut deps: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for m in &mods {
        let mut fs = Vec::new();
        files(&src.join(m), &mut fs);
        files(&src.join(format!("{m}.rs")), &mut fs);
        let entry = deps.entry(m).or_default();
        // Test modules kept in their own files (`tests.rs`, `engine_tests.rs`) may reach anywhere.
        for f in fs.into_iter().filter(|f| !f.to_string_lossy().ends_with("tests.rs")) {
            let text = std::fs::read_to_string(f).unwrap();
            let production: String = text
                .split("#[cfg(test)]")
                .next()
                .unwrap_or("")
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            for (i, _) in production.match_indices("crate::") {
                let name: String =
                    production[i + 7..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                if name != *m && mods.contains(&name) {
                    entry.insert(name);
                }
            }
        }
    }
    let layer = |m: &str| LAYERS.iter().position(|(_, ms)| ms.contains(&m));
    for m in &mods {
        let Some(own) = layer(m) else { panic!("`{m}` is in no layer of LAYERS: place it there") };
        for d in &deps[m.as_str()] {
            let theirs = layer(d).unwrap_or(usize::MAX);
            assert!(
                theirs < own,
                "`{m}` (layer {own}: {}) imports `{d}` (layer {theirs}), which is not below it",
                LAYERS[own].0
            );
        }
    }
    for (_, ms) in LAYERS {
        for m in *ms {
            assert!(mods.iter().any(|x| x == m), "LAYERS names `{m}`, which lib.rs does not declare");
        }
    }
    for m in &mods {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<String> = deps[m.as_str()].iter().cloned().collect();
        while let Some(x) = stack.pop() {
            assert_ne!(&x, m, "`{m}` imports a module that imports it back; dependencies: {deps:#?}");
            if seen.insert(x.clone()) {
                stack.extend(deps[x.as_str()].iter().cloned());
            }
        }
    }
    // The command line is the binary's: the library never parses arguments.
    assert!(!lib.contains("clap"));
    let mut all = Vec::new();
    files(&src, &mut all);
    for f in all.iter().filter(|f| !f.starts_with(src.join("app")) && !f.ends_with("main.rs")) {
        assert!(!std::fs::read_to_string(f).unwrap().contains("clap"), "{} uses clap", f.display());
    }
}
