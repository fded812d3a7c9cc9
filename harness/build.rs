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
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default().replace('\x1f', " ");
    println!("cargo:rustc-env=HARNESS_RUSTFLAGS={flags}");
    let feats = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let keep = ["avx", "avx2", "fma", "f16c", "avx512f", "avx512vnni", "avxvnni", "neon", "sse4.2"];
    let feats: Vec<&str> = feats.split(',').filter(|f| keep.contains(f)).collect();
    println!("cargo:rustc-env=HARNESS_TARGET_FEATURES={}", feats.join(","));
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/index");
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
}
