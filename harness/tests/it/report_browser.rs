//! `harness report` end to end, then `index.html` opened from the file system in
//! headless Chromium: every image on the page must load.
//!
//! Needs Debian's `chromium` (`scripts/setup.sh` and `.ci/run` install it). Without it
//! the browser test is skipped with a message on a developer's machine; `.ci/run` sets
//! `HARNESS_REQUIRE=all`, so there a missing browser fails instead of passing unseen.

use crate::report_fixture;

use std::path::{Path, PathBuf};
use std::process::Command;

/// `$CHROMIUM`, else `chromium` on the PATH (Debian: /usr/bin/chromium).
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let on_path = std::env::split_paths(&path).map(|d| d.join("chromium"));
    let mut candidates = std::env::var_os("CHROMIUM").map(PathBuf::from).into_iter().chain(on_path);
    let found = candidates.find(|p| p.is_file());
    found.or_else(|| {
        harness::require::Resource::Chromium.missing(
            "headless Chromium not found (no `chromium` on PATH, $CHROMIUM unset): install it with \
             `sudo apt-get install -y chromium` (Debian's package; scripts/setup.sh does this)",
        )
    })
}

fn harness(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_harness")).args(args).output().expect("harness runs")
}

/// The page's own script writes `data-loaded` / `data-total` once the load event fired.
fn image_status(dom: &str) -> Option<(usize, usize)> {
    let at = dom.find("id=\"image-status\"")?;
    let tag = &dom[dom[..at].rfind('<')?..at + dom[at..].find('>')?];
    let attr = |name: &str| -> Option<usize> {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        tag[start..start + tag[start..].find('"')?].parse().ok()
    };
    Some((attr("data-loaded")?, attr("data-total")?))
}

fn dump_dom(browser: &Path, page: &Path, profile: &Path) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--allow-file-access-from-files",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn index_html_shows_every_figure_in_headless_chromium() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("harness.db");
    report_fixture::build(&db);
    let out = dir.path().join("reports");
    let run = harness(&["report", "--store", db.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let text = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "harness report failed:\n{text}");
    assert!(!text.lines().any(|l| l.starts_with("skipped")), "the full fixture skips nothing:\n{text}");
    assert!(text.contains("wrote ") && text.contains("index.html"), "{text}");

    let page = out.canonicalize().unwrap().join("index.html");
    let dom = dump_dom(&browser, &page, &dir.path().join("chromium-profile"));
    let (loaded, total) = image_status(&dom).unwrap_or_else(|| panic!("the page's image count never ran:\n{dom}"));
    let expected = std::fs::read_dir(out.join("figures"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "svg"));
    assert_eq!(total, expected.count(), "the page should show every SVG written");
    assert_eq!(loaded, total, "only {loaded} of {total} images loaded");
}

#[test]
fn a_missing_store_fails_with_exit_code_2_and_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.db");
    let run =
        harness(&["report", "--store", missing.to_str().unwrap(), "--out", dir.path().join("r").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(err.contains("none.db") && err.contains("harness run"), "{err}");
    assert!(!dir.path().join("r").exists(), "nothing may be written without a store");
}
