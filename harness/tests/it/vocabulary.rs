//! One vocabulary: a task's name (`model / workload / hardware`), an arm's label
//! (`q4k @2t on llamacpp`) and a stored cell's key are formatted or recomputed only in
//! `src/record/` (`TaskId`, `Arm`, `CellRecord::{task_id, task_name, arm, expected_key}`).
//! This test reads every other source file's production code and fails on a string literal
//! that formats either, or on a key computed from a cell identity, outside the few places
//! named below with their reason.

use std::path::Path;

use crate::technique_names::{sources, string_literals};

/// Files allowed one kind of hit, and why.
const ALLOWED: &[(&str, &str, &str)] = &[
    // Where a new cell's key is born: the planner computes the identity of a cell about to run.
    ("execute/plan.rs", "key", "a planned cell's key is made here"),
    // The schema migration rekeys rows of old stores before they are records.
    ("store/sqlite/rekey.rs", "key", "legacy rows, before records exist"),
    // Files of the frozen selectors and of recommend's calibration hash: byte for byte as frozen
    // (selectors/FROZEN.yaml) until they are re-issued under new names.
    ("meta/grouping.rs", "key", "frozen"),
    ("meta/recommend.rs", "task", "frozen"),
];

/// What `lit` formats: a task name, an arm label, or nothing.
fn formats(lit: &str) -> Option<&'static str> {
    let task = lit.contains("} / {") && lit.matches(" / ").count() >= 2 && lit.matches('{').count() >= 3;
    let arm = lit.contains(" @{") && lit.contains("}t");
    if task {
        Some("task")
    } else if arm {
        Some("arm")
    } else {
        None
    }
}

fn hits(code: &str) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> =
        string_literals(code).into_iter().filter_map(|l| formats(&l).map(|k| (k, l))).collect();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        if line.contains("CellIdentity::new(") {
            out.push(("key", line.trim().to_string()));
        }
    }
    out
}

#[test]
fn no_task_name_arm_label_or_key_is_made_outside_record() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut found = Vec::new();
    for f in files.iter().filter(|f| !f.starts_with(src.join("record"))) {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
        if rel.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        let production = text.split("#[cfg(test)]").next().unwrap_or("");
        for (kind, what) in hits(production) {
            if !ALLOWED.iter().any(|(file, k, _)| *file == rel && *k == kind) {
                found.push(format!("{rel}: {kind}: {what}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "task names, arm labels or keys made outside src/record/ (use TaskId, Arm, CellRecord::task_name / arm / \
         expected_key):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scan_catches_what_it_should() {
    let code = r#"let a = format!("{} / {} / {}", m, w, h); let b = format!("{m} / {w} / {h}");
        let c = format!("{} @{}t on {}", t, n, e); let d = format!("{t} @{n}t");
        let e = format!("{} / {}", m, w); let f = "ok / fine"; let g = format!("{x}t");
        let k = CellIdentity::new(&cfg, d, v, c, &m).key();
        // CellIdentity::new( in a comment"#;
    let kinds: Vec<&str> = hits(code).into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["task", "task", "arm", "arm", "key"]);
}
