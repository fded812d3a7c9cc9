//! `index.html`: one page that opens from the file system, no server, no network.
//!
//! Figures are linked relatively (`figures/…`), SVG where written, else PNG; the
//! style sheet and the one script are inline. The script only counts the images
//! that loaded and writes the count at the foot of the page, which tells a reader
//! (and the browser test) that nothing is missing.

use std::fmt::Write;

use super::data::ReportData;
use super::markup::{self, Markup};
use super::{Image, Section, Table};

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

/// The HTML writer of the report skeleton.
struct Html(String);

impl Markup for Html {
    fn begin(&mut self, title: &str, intro: &str, nav: &[(String, String)]) {
        let _ = write!(
            self.0,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{t}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{t}</h1>\n\
             <p class=\"muted\">{}</p>\n<nav>",
            inline(intro),
            t = escape(title),
        );
        for (id, label) in nav {
            let _ = write!(self.0, "<a href=\"#{}\">{}</a>", escape(id), escape(label));
        }
        self.0.push_str("</nav>\n");
    }
    fn heading(&mut self, level: u8, id: &str, text: &str) {
        let id = if id.is_empty() { String::new() } else { format!(" id=\"{}\"", escape(id)) };
        let _ = writeln!(self.0, "<h{level}{id}>{}</h{level}>", inline(text));
    }
    fn paragraph(&mut self, text: &str) {
        let _ = writeln!(self.0, "<p class=\"caption\">{}</p>", inline(text));
    }
    fn skipped(&mut self, text: &str) {
        let _ = writeln!(self.0, "<p class=\"skipped\">{}</p>", inline(text));
    }
    fn table(&mut self, t: &Table) {
        self.0.push_str(&table(t));
    }
    fn image(&mut self, img: &Image) {
        let src = img.svg.as_ref().or(img.png.as_ref()).expect("an image has at least one file");
        let _ = write!(
            self.0,
            "<figure>\n<img src=\"{}\" width=\"{}\" height=\"{}\" alt=\"{}\">\n<figcaption>{}",
            escape(src),
            img.size.0,
            img.size.1,
            escape(&img.heading),
            inline(&img.heading)
        );
        for (label, file) in [("SVG", &img.svg), ("PNG", &img.png)] {
            if let Some(file) = file {
                let _ = write!(self.0, " · <a href=\"{}\">{label}</a>", escape(file));
            }
        }
        self.0.push_str("</figcaption>\n</figure>\n");
    }
    fn end(&mut self) {
        let _ = write!(
            self.0,
            "<p class=\"muted\" id=\"image-status\" data-loaded=\"\" data-total=\"\">figures loading…</p>\n\
             <script>{SCRIPT}</script>\n</body>\n</html>\n"
        );
    }
}

pub fn page(data: &ReportData, sections: &[Section]) -> String {
    let mut html = Html(String::new());
    markup::write_page(&mut html, data, sections, "");
    html.0
}
