//! `report.md`: the same report for reading on a code host (PNG where written,
//! since hosts render it everywhere; otherwise SVG).

use std::fmt::Write;

use super::data::ReportData;
use super::{overview, Section, Table};

/// A cell's text with the characters that would break a Markdown table escaped.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\").replace('|', "\\|").replace('\n', " ")
}

fn table(t: &Table) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "| {} |", t.header.iter().map(|h| cell(h)).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(t.header.len()));
    for r in &t.rows {
        let _ = writeln!(s, "| {} |", r.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | "));
    }
    s.push('\n');
    s
}

pub fn page(data: &ReportData, sections: &[Section]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "# harness report\n\nEvery figure and table below was drawn from `{}` alone by `harness report` \
         (harness {}). Open `index.html` beside this file for the same report in a browser.\n\n",
        data.source,
        env!("CARGO_PKG_VERSION")
    );
    let _ = write!(s, "## Cells\n\n{}", table(&overview::counts(data)));
    s.push_str("## Grids\n\nAs stored in each cell's resolved configuration.\n\n");
    for (name, t) in overview::grids(data) {
        let _ = write!(s, "### grid `{name}`\n\n{}", table(&t));
    }
    let _ = write!(s, "## Machines\n\n{}", table(&overview::machines(data)));
    for sec in sections {
        let f = sec.figure;
        let _ = write!(s, "## {}\n\n", f.title());
        if let Some(why) = &sec.skipped {
            let _ = write!(s, "Not drawn: {why}.\n\n");
            continue;
        }
        let _ = write!(s, "{}\n\n", f.caption());
        for img in &sec.images {
            let src = img.png.as_ref().or(img.svg.as_ref()).expect("an image has at least one file");
            let _ = write!(s, "![{}]({src})\n\n*{}*\n\n", img.heading, img.heading);
        }
        for t in &sec.tables {
            s.push_str(&table(t));
        }
    }
    let problems = overview::problems(data);
    let _ = write!(s, "## Problem cells ({})\n\n", problems.rows.len());
    if problems.rows.is_empty() {
        s.push_str("Every cell was measured and valid.\n");
    } else {
        s.push_str(&table(&problems));
    }
    s
}
