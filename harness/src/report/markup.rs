//! The one skeleton both report pages follow: the same sections, headings, captions
//! and tables in the same order. `index.html` and `report.md` only say how each
//! piece is written ([`Markup`]), so the two pages cannot drift apart.

use super::data::ReportData;
use super::{overview, Image, Section, Table};

/// How one page format writes the pieces of the report. Text may hold `code` spans
/// in backticks.
pub trait Markup {
    /// Page title, the line naming the store, and the section links (`(id, label)`).
    fn begin(&mut self, title: &str, intro: &str, nav: &[(String, String)]);
    fn heading(&mut self, level: u8, id: &str, text: &str);
    fn paragraph(&mut self, text: &str);
    /// A figure that could not be drawn, and why.
    fn skipped(&mut self, text: &str);
    fn table(&mut self, t: &Table);
    fn image(&mut self, img: &Image);
    fn end(&mut self);
}

const CELLS_CAPTION: &str = "valid: measured and within the grid's noise limit; invalid: measured but too noisy or \
    too few samples (drawn, flagged); failed: the worker errored, crashed or timed out; not applicable: the \
    technique cannot apply to that model or workload.";

const GRIDS_CAPTION: &str = "The store keeps each cell's resolved configuration, so what each grid ran is listed as \
    stored (workload and hardware descriptions included); the grid file's own description is not stored.";

/// Writes the whole report through `m`.
pub fn write_page(m: &mut dyn Markup, data: &ReportData, sections: &[Section], also: &str) {
    let mut nav = vec![
        ("cells".to_string(), "cells".to_string()),
        ("grids".to_string(), "grids".to_string()),
        ("machines".to_string(), "machines".to_string()),
    ];
    nav.extend(sections.iter().map(|s| (s.figure.name().to_string(), s.figure.name().to_string())));
    nav.push(("problems".to_string(), "problem cells".to_string()));
    let intro = format!(
        "Every figure and table below was drawn from `{}` alone by `harness report` (harness {}).{also}",
        data.source,
        env!("CARGO_PKG_VERSION")
    );
    m.begin("harness report", &intro, &nav);
    m.heading(2, "cells", "Cells");
    m.table(&overview::counts(data));
    m.paragraph(CELLS_CAPTION);
    m.heading(2, "grids", "Grids");
    m.paragraph(GRIDS_CAPTION);
    for (name, t) in overview::grids(data) {
        m.heading(3, "", &format!("grid `{name}`"));
        m.table(&t);
    }
    m.heading(2, "machines", "Machines");
    m.table(&overview::machines(data));
    for sec in sections {
        let f = sec.figure;
        m.heading(2, f.name(), f.title());
        if let Some(why) = &sec.skipped {
            m.skipped(&format!("Not drawn: {why}."));
            continue;
        }
        m.paragraph(f.caption());
        for img in &sec.images {
            m.image(img);
        }
        for t in &sec.tables {
            m.table(t);
        }
    }
    let problems = overview::problems(data);
    m.heading(2, "problems", &format!("Problem cells ({})", problems.rows.len()));
    if problems.rows.is_empty() {
        m.paragraph("Every cell was measured and valid.");
    } else {
        m.table(&problems);
    }
    m.end();
}
