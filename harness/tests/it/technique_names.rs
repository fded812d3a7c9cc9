//! No module outside `src/techniques/` names a technique: learners, rules, accuracy
//! scoring, constraints and reports read the technique descriptors and plans, so a new
//! technique is one file plus one registry line. This test reads every source file
//! (production code, up to its `#[cfg(test)]` module) and fails on any string literal
//! that is a registered technique name or an expression of them (`q4k+kv-off`).

use std::path::{Path, PathBuf};

pub(crate) fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The contents of every `"..."` literal in `code` (escapes kept as written).
pub(crate) fn string_literals(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = code.chars().peekable();
    let mut prev = ' ';
    while let Some(c) = chars.next() {
        // Skip line comments, char literals like '"' and lifetimes.
        if c == '/' && chars.peek() == Some(&'/') {
            for c in chars.by_ref() {
                if c == '\n' {
                    break;
                }
            }
            prev = '\n';
            continue;
        }
        if c == '\'' && prev != '&' && !prev.is_alphanumeric() {
            let lit: String = chars.clone().take(3).collect();
            if lit.starts_with("\"'") || lit.starts_with("\\\"") {
                for _ in 0..if lit.starts_with('\\') { 3 } else { 2 } {
                    chars.next();
                }
                continue;
            }
        }
        if c == '"' {
            let mut s = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        s.push(c);
                        if let Some(n) = chars.next() {
                            s.push(n);
                        }
                    }
                    '"' => break,
                    _ => s.push(c),
                }
            }
            out.push(s);
        }
        prev = c;
    }
    out
}

fn names_a_technique(lit: &str, names: &[&str]) -> bool {
    let parts: Vec<&str> = lit.split('+').map(|p| p.split(':').next().unwrap_or(p).trim()).collect();
    parts.iter().all(|p| !p.is_empty()) && parts.iter().any(|p| names.contains(p))
}

#[test]
fn no_module_outside_techniques_names_a_technique() {
    let names: Vec<&str> = harness::techniques::registry().iter().map(|t| t.name()).collect();
    assert!(names.len() > 10, "the registry lists the techniques");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut found = Vec::new();
    for f in files.iter().filter(|f| !f.starts_with(src.join("techniques"))) {
        let text = std::fs::read_to_string(f).unwrap();
        // The hardware profile of this machine is named `local` too: another namespace, spelled
        // once, in its constant.
        let production: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or("")
            .lines()
            .filter(|l| !l.contains("pub const LOCAL_HARDWARE: &str"))
            .collect::<Vec<_>>()
            .join("\n");
        let production = production.as_str();
        for lit in string_literals(production) {
            if names_a_technique(&lit, &names) {
                found.push(format!("{}: \"{lit}\"", f.strip_prefix(&src).unwrap().display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "technique names spelled outside src/techniques/ (read the registry or the plan instead):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scan_catches_what_it_should() {
    let names = ["f32", "kv-off", "layer-skip"];
    let code = r#"let a = "f32"; let b = "q4k+kv-off"; let c = "layer-skip:2"; // "kv-off" in a comment
        let d = "f32 weights are the reference"; let e = '"'; let f = "ok";"#;
    let hits: Vec<String> = string_literals(code).into_iter().filter(|l| names_a_technique(l, &names)).collect();
    assert_eq!(hits, ["f32", "q4k+kv-off", "layer-skip:2"]);
}
