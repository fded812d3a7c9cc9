//! Records what the binary was built from and with, for every result's fingerprint.
use std::process::Command;

fn main() {
    let rev = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=HARNESS_GIT_REV={rev}");
    // The last commit that changed the selectors' code (what an evaluation was run with),
    // `+modified` when the working tree differs from it there.
    let meta = ["src/meta/selectors", "src/meta/learn", "src/meta/features.rs", "src/meta/cv.rs"];
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let mut log = vec!["log", "-1", "--format=%h", "--abbrev=12", "--"];
    log.extend(meta);
    let mut status = vec!["status", "--porcelain", "--"];
    status.extend(meta);
    let sel = match (git(&log), git(&status)) {
        (Some(r), Some(s)) if !s.is_empty() => format!("{r}+modified"),
        (Some(r), _) if !r.is_empty() => r,
        _ => "unknown".into(),
    };
    println!("cargo:rustc-env=HARNESS_SELECTORS_REV={sel}");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default().replace('\x1f', " ");
    println!("cargo:rustc-env=HARNESS_RUSTFLAGS={flags}");
    let feats = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let keep = ["avx", "avx2", "fma", "f16c", "avx512f", "avx512vnni", "avxvnni", "neon", "sse4.2"];
    let feats: Vec<&str> = feats.split(',').filter(|f| keep.contains(f)).collect();
    println!("cargo:rustc-env=HARNESS_TARGET_FEATURES={}", feats.join(","));
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/index");
    for m in meta {
        println!("cargo:rerun-if-changed={m}");
    }
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    meta_sources();
}

/// Every file of `src/meta`, embedded, for the freeze manifest's hashes (`meta::freeze`).
fn meta_sources() {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).expect("src/meta").flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    let root = std::path::Path::new("src/meta");
    let mut files = vec![];
    walk(root, &mut files);
    let mut code = String::from("/// (path under `src/meta`, text) of every source file there, as built.\n");
    code.push_str("pub const META_SOURCES: &[(&str, &str)] = &[\n");
    for f in &files {
        let rel = f.strip_prefix(root).expect("under src/meta").to_string_lossy().replace('\\', "/");
        code.push_str(&format!(
            "    ({rel:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/src/meta/{rel}\"))),\n"
        ));
    }
    code.push_str("];\n");
    let out = std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("meta_sources.rs");
    std::fs::write(out, code).expect("write meta_sources.rs");
    println!("cargo:rerun-if-changed=src/meta");
    println!("cargo:rerun-if-changed=../selectors/FROZEN.yaml");
}
