//! The tables of `results/*/README.md` are generated from their stores: regenerated here
//! from the committed files, they must equal what the READMEs hold.

use crate::common::*;

#[test]
fn every_committed_readme_table_is_what_its_stores_give() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("results");
    let mut checked = 0;
    for dir in ["reference", "evaluation"] {
        let dir = root.join(dir);
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        let held = harness::report::inventory::spliced(&readme)
            .unwrap_or_else(|| panic!("{}/README.md has no inventory markers", dir.display()));
        let o = run(&["inventory", dir.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
        let fresh = String::from_utf8(o.stdout).unwrap();
        assert_eq!(
            held,
            fresh,
            "{}/README.md's table is stale: run `harness inventory {0} --update {0}/README.md`",
            dir.display()
        );
        assert!(fresh.lines().count() > 3, "{fresh}");
        checked += 1;
    }
    assert_eq!(checked, 2);
}

#[test]
fn update_needs_the_markers_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("README.md");
    std::fs::write(&md, "no markers here\n").unwrap();
    let evaluation = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("results/reference");
    let o = run(&["inventory", evaluation.to_str().unwrap(), "--update", md.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no inventory markers"), "{}", text(&o));
    let begin = harness::report::inventory::BEGIN;
    let end = harness::report::inventory::END;
    std::fs::write(&md, format!("# Stores\n\n{begin}\n{end}\n\nmore prose\n")).unwrap();
    for _ in 0..2 {
        let o = run(&["inventory", evaluation.to_str().unwrap(), "--update", md.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let written = std::fs::read_to_string(&md).unwrap();
    assert!(written.starts_with("# Stores\n\n") && written.ends_with("\nmore prose\n"), "{written}");
    assert_eq!(written.matches("| file | grid |").count(), 1, "{written}");
    assert!(written.contains("standard-amd-epyc-avx2-2cpu.db"), "{written}");
}
