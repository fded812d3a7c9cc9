//! `index.html`: one page that opens from the file system, no server, no network.
//!
//! Figures are linked relatively (`figures/…`), SVG where written, else PNG; the
//! style sheet and the one script are inline. The script only counts the images
//! that loaded and writes the count at the foot of the page, which tells a reader
//! (and the browser test) that nothing is missing.

use std::fmt::Write;

use super::data::ReportData;
use super::{overview, Section, Table};

const STYLE: &str = "
body { font-family: 'DejaVu Sans', Verdana, sans-serif; margin: 2rem auto; max-width: 1400px; padding: 0 1rem;
       color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } tr:nth-child(even) td { background: #fafafa; }
figure { margin: 1rem 0 2rem; } figure img { max-width: 100%; height: auto; border: 1px solid #e4e4e4; }
figcaption, .caption { color: #444; font-size: 0.92rem; max-width: 70rem; }
.skipped { color: #8a4b00; } code { background: #f3f3f3; padding: 0 0.25rem; }
nav a { margin-right: 0.9rem; } .muted { color: #666; font-size: 0.85rem; }
";

/// Counts images with a decoded size and writes `loaded/total` into `#image-status`.
const SCRIPT: &str = "
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var el = document.getElementById('image-status');
  el.setAttribute('data-loaded', ok);
  el.setAttribute('data-total', imgs.length);
  el.textContent = ok + ' of ' + imgs.length + ' figures loaded';
});
";

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Inline Markdown-ish `code` spans in captions and skip lines to <code>.
fn inline(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in escape(s).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

fn table(t: &Table) -> String {
    let mut s = String::from("<table>\n<tr>");
    for h in &t.header {
        let _ = write!(s, "<th>{}</th>", escape(h));
    }
    s.push_str("</tr>\n");
    for r in &t.rows {
        s.push_str("<tr>");
        for c in r {
            let _ = write!(s, "<td>{}</td>", escape(c));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
    s
}

pub fn page(data: &ReportData, sections: &[Section]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>harness report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>harness report</h1>\n\
         <p class=\"muted\">Every figure and table below was drawn from <code>{}</code> alone by \
         <code>harness report</code> (harness {}).</p>\n<nav>",
        escape(&data.source),
        env!("CARGO_PKG_VERSION")
    );
    s.push_str("<a href=\"#cells\">cells</a><a href=\"#grids\">grids</a><a href=\"#machines\">machines</a>");
    for sec in sections {
        let _ = write!(s, "<a href=\"#{}\">{}</a>", sec.figure.name(), escape(sec.figure.name()));
    }
    s.push_str("<a href=\"#problems\">problem cells</a></nav>\n");

    let _ = write!(s, "<h2 id=\"cells\">Cells</h2>\n{}", table(&overview::counts(data)));
    s.push_str(
        "<p class=\"caption\">valid: measured and within the grid's noise limit; invalid: measured but too noisy \
         or too few samples (drawn, flagged); failed: the worker errored, crashed or timed out; not applicable: \
         the technique cannot apply to that model or workload.</p>\n",
    );
    s.push_str(
        "<h2 id=\"grids\">Grids</h2>\n<p class=\"caption\">The store keeps each cell's resolved configuration, \
         so what each grid ran is listed as stored (workload and hardware descriptions included); the grid \
         file's own description is not stored.</p>\n",
    );
    for (name, t) in overview::grids(data) {
        let _ = write!(s, "<h3>grid <code>{}</code></h3>\n{}", escape(&name), table(&t));
    }
    let _ = write!(s, "<h2 id=\"machines\">Machines</h2>\n{}", table(&overview::machines(data)));

    for sec in sections {
        let f = sec.figure;
        let _ = writeln!(s, "<h2 id=\"{}\">{}</h2>", f.name(), escape(f.title()));
        if let Some(why) = &sec.skipped {
            let _ = writeln!(s, "<p class=\"skipped\">Not drawn: {}.</p>", inline(why));
            continue;
        }
        let _ = writeln!(s, "<p class=\"caption\">{}</p>", inline(f.caption()));
        for img in &sec.images {
            let src = img.svg.as_ref().or(img.png.as_ref()).expect("an image has at least one file");
            let _ = write!(
                s,
                "<figure>\n<img src=\"{}\" width=\"{}\" height=\"{}\" alt=\"{}\">\n<figcaption>{}",
                escape(src),
                img.size.0,
                img.size.1,
                escape(&img.heading),
                inline(&img.heading)
            );
            for (label, file) in [("SVG", &img.svg), ("PNG", &img.png)] {
                if let Some(file) = file {
                    let _ = write!(s, " · <a href=\"{}\">{label}</a>", escape(file));
                }
            }
            s.push_str("</figcaption>\n</figure>\n");
        }
        for t in &sec.tables {
            s.push_str(&table(t));
        }
    }
    let problems = overview::problems(data);
    let _ = writeln!(s, "<h2 id=\"problems\">Problem cells ({})</h2>", problems.rows.len());
    if problems.rows.is_empty() {
        s.push_str("<p>Every cell was measured and valid.</p>\n");
    } else {
        s.push_str(&table(&problems));
    }
    let _ = write!(
        s,
        "<p class=\"muted\" id=\"image-status\" data-loaded=\"\" data-total=\"\">figures loading…</p>\n\
         <script>{SCRIPT}</script>\n</body>\n</html>\n"
    );
    s
}
