//! `report.md`: the same report for reading on a code host (PNG where written,
//! since hosts render it everywhere; otherwise SVG).

use std::fmt::Write;

use super::data::ReportData;
use super::markup::{self, Markup};
use super::{Image, Section, Table};

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

/// The Markdown writer of the report skeleton.
struct Markdown(String);

impl Markup for Markdown {
    fn begin(&mut self, title: &str, intro: &str, _nav: &[(String, String)]) {
        let _ = write!(self.0, "# {title}\n\n{intro}\n\n");
    }
    fn heading(&mut self, level: u8, _id: &str, text: &str) {
        let _ = write!(self.0, "{} {text}\n\n", "#".repeat(level as usize));
    }
    fn paragraph(&mut self, text: &str) {
        let _ = write!(self.0, "{text}\n\n");
    }
    fn skipped(&mut self, text: &str) {
        let _ = write!(self.0, "{text}\n\n");
    }
    fn table(&mut self, t: &Table) {
        self.0.push_str(&table(t));
    }
    fn image(&mut self, img: &Image) {
        let src = img.png.as_ref().or(img.svg.as_ref()).expect("an image has at least one file");
        let _ = write!(self.0, "![{}]({src})\n\n*{}*\n\n", img.heading, img.heading);
    }
    fn end(&mut self) {}
}

pub fn page(data: &ReportData, sections: &[Section]) -> String {
    let mut md = Markdown(String::new());
    markup::write_page(
        &mut md,
        data,
        sections,
        " Open `index.html` beside this file for the same report in a browser.",
    );
    md.0
}
