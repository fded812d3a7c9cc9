//! The inventory of a folder of stores: per store file and grid, the machine class, the
//! engines, when the cells were measured and how many ended how. The tables of
//! `results/*/README.md` are this output, spliced between two markers, and a test
//! regenerates them from the committed stores and compares.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result};

use crate::record::time::utc_minute;
use crate::record::CellStatus;
use crate::store;

/// The line before a generated table in a README.
pub const BEGIN: &str = "<!-- inventory: generated from the stores by `harness inventory DIR --update DIR/README.md`; do not edit by hand -->";
/// The line after it.
pub const END: &str = "<!-- end of inventory -->";

/// One grid of one store file.
#[derive(Debug, Default)]
struct Row {
    machines: BTreeSet<String>,
    engines: BTreeSet<String>,
    first: f64,
    last: f64,
    cells: usize,
    failed: usize,
    not_applicable: usize,
    invalid: usize,
    emulated: usize,
}

/// The Markdown table of every `*.db` file in `dir` (sorted by name), read-only.
pub fn markdown(dir: &Path) -> Result<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "db"))
        .collect();
    files.sort();
    let mut out = String::from(
        "| file | grid | machine class | engines | measured (UTC) | cells | failed | not applicable | invalid | on emulated nodes |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for f in &files {
        let s = store::open_read_only(f)?;
        let mut by_grid: BTreeMap<String, Row> = BTreeMap::new();
        for r in s.all()? {
            let row = by_grid.entry(r.grid.clone()).or_insert_with(|| Row {
                first: f64::INFINITY,
                last: f64::NEG_INFINITY,
                ..Row::default()
            });
            row.machines.insert(r.machine().label());
            row.engines.insert(r.engine.clone());
            row.first = row.first.min(r.started_at);
            row.last = row.last.max(r.started_at + r.wall_s);
            row.cells += 1;
            match r.status {
                CellStatus::Failed => row.failed += 1,
                CellStatus::NotApplicable => row.not_applicable += 1,
                CellStatus::Ok => {}
            }
            row.invalid += usize::from(r.summary.as_ref().is_some_and(|s| !s.verdict.is_valid()));
            row.emulated += usize::from(r.emulated);
        }
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for (grid, r) in &by_grid {
            let join = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join("; ");
            let (a, b) = (utc_minute(r.first), utc_minute(r.last));
            let when = if a[..10] == b[..10] { format!("{a}–{}", &b[11..]) } else { format!("{a} – {b}") };
            out.push_str(&format!(
                "| `{name}` | {grid} | {} | {} | {when} | {} | {} | {} | {} | {} |\n",
                join(&r.machines),
                join(&r.engines),
                r.cells,
                r.failed,
                r.not_applicable,
                r.invalid,
                r.emulated
            ));
        }
    }
    Ok(out)
}

/// `readme` with the text between [`BEGIN`] and [`END`] replaced by `table`; `None` when
/// the markers are missing or out of order.
pub fn splice(readme: &str, table: &str) -> Option<String> {
    let (b, e) = between_markers(readme)?;
    Some(format!("{}\n{}{}", &readme[..b], table, &readme[e..]))
}

/// The table between the markers of `readme`, as [`splice`] writes it.
pub fn spliced(readme: &str) -> Option<&str> {
    let (b, e) = between_markers(readme)?;
    readme.get(b + 1..e)
}

/// Where the text between [`BEGIN`] and the [`END`] after it starts and ends.
fn between_markers(readme: &str) -> Option<(usize, usize)> {
    let b = readme.find(BEGIN)? + BEGIN.len();
    Some((b, b + readme[b..].find(END)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splicing_replaces_only_between_the_markers_and_reads_back() {
        let readme = format!("intro\n{BEGIN}\nold table\n{END}\noutro\n");
        let new = splice(&readme, "| a |\n").unwrap();
        assert_eq!(new, format!("intro\n{BEGIN}\n| a |\n{END}\noutro\n"));
        assert_eq!(spliced(&new), Some("| a |\n"));
        assert_eq!(splice(&new, "| a |\n").unwrap(), new, "idempotent");
        assert!(splice("no markers", "x").is_none());
        assert!(splice(&format!("{END}\n{BEGIN}\n"), "x").is_none());
    }
}
