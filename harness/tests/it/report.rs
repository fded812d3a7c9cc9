//! `harness report` on a small fixture store: every figure renders as a valid,
//! non-trivial SVG and PNG, output is byte-for-byte deterministic, absent data
//! are skipped with the command that produces them.

use crate::report_fixture;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use harness::report::{self, Formats, Item};

fn fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("harness.db");
    report_fixture::build(&db);
    (dir, db)
}

/// Well-formed enough for a browser: one `<svg>` root, every tag closed in order,
/// and real content (shapes and text).
fn check_svg(name: &str, bytes: &[u8]) {
    let s = std::str::from_utf8(bytes).unwrap_or_else(|e| panic!("{name}: not UTF-8: {e}"));
    assert!(s.starts_with("<svg ") && s.trim_end().ends_with("</svg>"), "{name}: not an <svg> document");
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('<') {
        let j = i + rest[i..].find('>').unwrap_or_else(|| panic!("{name}: unterminated tag"));
        let tag = &rest[i + 1..j];
        if let Some(closing) = tag.strip_prefix('/') {
            assert_eq!(stack.pop(), Some(closing.trim()), "{name}: mismatched </{closing}>");
        } else if !tag.ends_with('/') && !tag.starts_with('?') && !tag.starts_with('!') {
            stack.push(tag.split_whitespace().next().unwrap_or(""));
        }
        rest = &rest[j + 1..];
    }
    assert!(stack.is_empty(), "{name}: unclosed tags {stack:?}");
    let count = |t: &str| s.matches(t).count();
    let shapes =
        count("<path") + count("<rect") + count("<polygon") + count("<circle") + count("<polyline") + count("<line");
    assert!(shapes >= 20, "{name}: only {shapes} shapes");
    assert!(count("<text") >= 8, "{name}: only {} text elements", count("<text"));
}

/// A real PNG of the announced size with more than a handful of colours.
fn check_png(name: &str, bytes: &[u8], size: (u32, u32)) {
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}: no PNG signature");
    let img = image::load_from_memory(bytes).unwrap_or_else(|e| panic!("{name}: does not decode: {e}")).to_rgb8();
    assert_eq!(img.dimensions(), size, "{name}: wrong size");
    let colours: BTreeSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(colours.len() > 20, "{name}: only {} distinct colours", colours.len());
    let white = img.pixels().filter(|p| p.0 == [255, 255, 255]).count();
    assert!(white < img.pixels().len() * 99 / 100, "{name}: almost blank");
}

#[test]
fn every_figure_renders_valid_svg_and_png_deterministically() {
    let (_dir, db) = fixture();
    let data = report::load(&db).unwrap();
    let mut charts = 0;
    for fig in report::figures() {
        let items = fig.build(&data);
        assert!(!items.is_empty(), "{} drew nothing from the full fixture", fig.name());
        for item in items {
            match item {
                Item::Chart(c) => {
                    let name = c.stem();
                    let svg = report::svg(c.as_ref()).unwrap();
                    check_svg(&name, &svg);
                    assert_eq!(svg, report::svg(c.as_ref()).unwrap(), "{name}: SVG differs between two renders");
                    check_png(&name, &report::png(c.as_ref()).unwrap(), c.size());
                    charts += 1;
                }
                Item::Table(t) => {
                    assert!(!t.rows.is_empty(), "{}: empty table", fig.name());
                    assert!(t.rows.iter().all(|r| r.len() == t.header.len()), "{}: ragged table", fig.name());
                }
            }
        }
    }
    // Heatmap x2 hardware, Pareto x2 models x2 hardware + the cluster's, batch scaling x2, serving x1,
    // selectors, regret CDF, cost, speculation, placement (one cluster and workload).
    assert_eq!(charts, 2 + 5 + 2 + 1 + 3 + 1 + 1, "unexpected number of charts");
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn report_folder_is_complete_and_byte_identical_when_regenerated() {
    let (dir, db) = fixture();
    let data = report::load(&db).unwrap();
    let out = dir.path().join("reports");
    let both = Formats { svg: true, png: true };
    let sections = report::write(&data, &out, both).unwrap();
    assert!(sections.iter().all(|s| s.skipped.is_none()), "nothing may be skipped on the full fixture");
    let first = files(&out.join("figures"));
    let (html, md) = (
        std::fs::read_to_string(out.join("index.html")).unwrap(),
        std::fs::read_to_string(out.join("report.md")).unwrap(),
    );
    for (name, _) in &first {
        let rel = format!("figures/{name}");
        if name.ends_with(".svg") {
            assert!(html.contains(&format!("src=\"{rel}\"")), "index.html does not show {rel}");
        } else {
            assert!(md.contains(&format!("({rel})")), "report.md does not show {rel}");
        }
    }
    for needle in
        ["Test CPU 9000", "not applicable", "chat traffic", "edge-pi node", "metainf: pick (regret)", "Problem cells"]
    {
        assert!(html.contains(needle) && md.contains(needle), "page lacks `{needle}`");
    }
    // Delete everything and regenerate: same bytes, SVG, PNG and pages alike.
    std::fs::remove_dir_all(&out).unwrap();
    report::write(&report::load(&db).unwrap(), &out, both).unwrap();
    assert_eq!(first, files(&out.join("figures")));
    assert_eq!(html, std::fs::read_to_string(out.join("index.html")).unwrap());
    assert_eq!(md, std::fs::read_to_string(out.join("report.md")).unwrap());
    // SVG only: the PNGs of the last run are removed, the page still shows every figure.
    report::write(&data, &out, Formats { svg: true, png: false }).unwrap();
    let svgs = files(&out.join("figures"));
    assert!(svgs.iter().all(|(n, _)| n.ends_with(".svg")));
    assert_eq!(svgs.len(), first.len() / 2);
}

/// The text of every `<text>` element of an SVG, trimmed.
fn svg_texts(svg: &[u8]) -> BTreeSet<String> {
    let s = std::str::from_utf8(svg).unwrap();
    s.split("<text").skip(1).filter_map(|t| Some(t[t.find('>')? + 1..t.find("</text>")?].trim().to_string())).collect()
}

/// A store of `experiments/peer.yaml`: every arm on candle and on llama.cpp, llama.cpp
/// slower on the short prompt and faster on the long one (so each engine is the fastest of
/// one task) and stored after candle, as engine is the grid's innermost axis.
fn peer_store(db: &Path) -> usize {
    let grid = Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments/peer.yaml");
    report_fixture::build_grid(db, &grid, |c| {
        let technique = c.technique.as_str();
        let speed = match technique {
            "f32" => 1.0,
            "q8_0" => 1.4,
            "q4_0" => 1.9,
            "q4k" => 2.1,
            _ => 2.0,
        } * c.threads as f64;
        let w = &c.workload_spec;
        let engine = match (c.engine.as_str(), w.prompt_tokens) {
            ("candle", _) => 1.0,
            (_, 64) => 1.3,
            _ => 0.8,
        };
        let work = w.prompt_tokens as f64 * 0.2 + w.output_tokens as f64 * 30.0;
        (work * engine / speed, if technique == "f32" { 0.0 } else { 1.0 })
    })
}

#[test]
fn a_two_engine_store_shows_both_engines_cells_in_every_table_and_figure() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("peer.db");
    let n = peer_store(&db);
    let data = report::load(&db).unwrap();
    let engines = ["candle", "llamacpp"];
    for e in engines {
        let cells = data.measured().filter(|c| c.rec.engine == e).count();
        assert_eq!(cells, n / 2, "{e}: {cells} of its {} cells are measured in the report", n / 2);
    }
    // Each arm of the grid once per engine, its label naming the engine.
    let labels: Vec<String> = ["f32", "q8_0", "q4_0", "q4k", "native"]
        .iter()
        .flat_map(|t| [1, 2].into_iter().flat_map(move |n| engines.map(|e| format!("{t} @{n}t on {e}"))))
        .collect();
    assert_eq!(labels.len(), n / 2, "two workloads per arm");
    let mut drawn = BTreeSet::new();
    let mut tables = Vec::new();
    for fig in report::figures() {
        for item in fig.build(&data) {
            match item {
                Item::Table(t) => tables.push((fig.name(), t)),
                Item::Chart(c) => {
                    let texts = svg_texts(&report::svg(c.as_ref()).unwrap());
                    drawn.insert(fig.name());
                    let shown = |l: &str| texts.contains(l);
                    match fig.name() {
                        // A row per arm.
                        "speedup_heatmap" => {
                            let missing: Vec<_> = labels.iter().filter(|l| !shown(l)).collect();
                            assert!(missing.is_empty(), "{}: no row for {missing:?}", c.stem());
                        }
                        // A marker per thread count and engine.
                        _ => {
                            for m in
                                ["1 thread", "2 threads"].iter().flat_map(|t| engines.map(|e| format!("{t} on {e}")))
                            {
                                assert!(shown(&m), "{}: no legend entry `{m}`", c.stem());
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(drawn, BTreeSet::from(["speedup_heatmap", "pareto", "cost_latency"]), "figures drawn");
    let (_, fastest) = tables.iter().find(|(f, _)| *f == "fastest_per_task").expect("a fastest-per-task table");
    let picks: Vec<(&str, &str)> = fastest.rows.iter().map(|r| (r[0].as_str(), r[1].as_str())).collect();
    assert_eq!(
        picks,
        [
            ("smollm2-135m / prompt512 / local", "q4k @2t on llamacpp"),
            ("smollm2-135m / prompt64 / local", "q4k @2t on candle")
        ],
        "each engine wins one task"
    );
    let speedups: Vec<&str> = fastest.rows.iter().map(|r| r[3].as_str()).collect();
    assert_eq!(speedups, ["2.1×", "2.1×"], "against the f32 cell of the same engine and threads");
    let grids = report::overview::grids(&data);
    let engine_row = grids[0].1.rows.iter().find(|r| r[0] == "engines").expect("an engines row");
    assert_eq!(engine_row[2], "candle, llamacpp");
    // The written pages carry the same tables.
    let out = dir.path().join("reports");
    report::write(&data, &out, Formats { svg: true, png: false }).unwrap();
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for (_, arm) in picks {
        assert!(md.contains(arm), "report.md lacks `{arm}`");
    }
}

#[test]
fn absent_data_is_skipped_with_the_command_that_produces_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("empty.db");
    harness::store::SqliteStore::open(&db).unwrap();
    let data = report::load(&db).unwrap();
    let sections = report::write(&data, &dir.path().join("out"), Formats { svg: true, png: false }).unwrap();
    let skipped: Vec<String> = sections.iter().filter_map(|s| s.skipped.clone()).collect();
    assert_eq!(skipped.len(), report::figures().len(), "{skipped:?}");
    assert!(skipped.iter().any(|s| s.contains("`harness run experiments/serving.yaml`")), "{skipped:?}");
    assert!(skipped.iter().any(|s| s.contains("`harness evaluate`")), "{skipped:?}");
    let html = std::fs::read_to_string(dir.path().join("out/index.html")).unwrap();
    assert!(html.contains("Not drawn") && html.contains("<code>harness evaluate</code>"));
}

#[test]
fn a_missing_store_says_to_run_harness_run() {
    let dir = tempfile::tempdir().unwrap();
    let e = report::load(&dir.path().join("nope.db")).err().expect("a missing store is an error");
    let msg = format!("{e:#}");
    assert!(msg.contains("nope.db") && msg.contains("harness run"), "{msg}");
}

/// `HARNESS_REPORT_FIXTURE=/tmp/f.db cargo test --release --test report -- --ignored`
/// writes the fixture store there, to run `harness report` on it and look.
#[test]
#[ignore]
fn write_fixture_store_for_a_look() {
    let path = std::env::var_os("HARNESS_REPORT_FIXTURE").expect("set HARNESS_REPORT_FIXTURE to a new .db path");
    println!("{} cells", report_fixture::build(Path::new(&path)));
}
