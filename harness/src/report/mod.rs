//! `harness report`: every figure and table, regenerated from the store alone.
//!
//! Each figure is one file behind the [`Figure`] trait and one line in
//! [`figures`]. A figure turns the [`ReportData`] into charts (drawn once, for
//! SVG and PNG alike, through [`backend::AnyBackend`]) and tables; with no data it
//! returns nothing and the report names the command that produces the data.
//! Output is deterministic: everything is sorted, and nothing time- or
//! machine-dependent beyond the store's own contents goes into a file.

pub mod axis;
pub mod backend;
pub mod data;
pub mod draw;
pub mod html;
pub mod inventory;
pub mod markdown;
mod markup;
pub mod overview;
pub mod style;

mod batch_scaling;
pub mod compare;
mod cost_latency;
mod fastest;
mod pareto;
mod placement;
mod regret_cdf;
mod selectors;
mod serving_latency;
mod speculation;
mod speedup_heatmap;
mod task_picks;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::store;
pub use backend::Area;
pub use data::ReportData;

/// One figure (or table) of the report.
pub trait Figure: Sync {
    /// Stable id, the prefix of its file names, e.g. `speedup_heatmap`.
    fn name(&self) -> &'static str;
    fn title(&self) -> &'static str;
    /// How to read it, shown under it in the page.
    fn caption(&self) -> &'static str;
    /// The data it needs, e.g. `no serving cells`, and the command that produces them.
    fn needs(&self) -> (&'static str, &'static str);
    /// Charts and tables from the data; empty when the data are absent.
    fn build(&self, data: &ReportData) -> Vec<Item>;
}

pub enum Item {
    Chart(Box<dyn Chart>),
    Table(Table),
}

/// One image file of a figure.
pub trait Chart {
    /// File name without extension, unique in the report, e.g. `speedup_heatmap-local`.
    fn stem(&self) -> String;
    /// Shown above the image in the page, e.g. the hardware profile it covers.
    fn heading(&self) -> String;
    fn size(&self) -> (u32, u32);
    fn draw(&self, area: &Area) -> Result<()>;
}

/// A table for the HTML page and the Markdown report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Every figure, in the order the report shows them. A new figure is one file
/// plus one line here.
pub fn figures() -> &'static [&'static dyn Figure] {
    &[
        &speedup_heatmap::SpeedupHeatmap,
        &pareto::Pareto,
        &batch_scaling::BatchScaling,
        &serving_latency::ServingLatency,
        &selectors::SelectorComparison,
        &regret_cdf::RegretCdf,
        &cost_latency::CostLatency,
        &task_picks::TaskPicks,
        &fastest::FastestPerTask,
        &speculation::Speculation,
        &placement::Placement,
    ]
}

/// Image formats to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formats {
    pub svg: bool,
    pub png: bool,
}

/// What `harness report` is asked for.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub store: PathBuf,
    /// Folder for index.html, report.md and figures/.
    pub out: PathBuf,
    pub formats: Formats,
}

/// What became of one figure.
pub struct Section {
    pub figure: &'static dyn Figure,
    /// Images written: heading and file paths relative to the report folder.
    pub images: Vec<Image>,
    pub tables: Vec<Table>,
    /// Why it was skipped (names the command that produces the data).
    pub skipped: Option<String>,
}

pub struct Image {
    pub heading: String,
    pub size: (u32, u32),
    /// Relative to the report folder, e.g. `figures/pareto-smollm2-local.svg`.
    pub svg: Option<String>,
    pub png: Option<String>,
}

/// Reads the store for a report; a missing store is an error that says to run `harness run`.
pub fn load(path: &Path) -> Result<ReportData> {
    let st = store::open_read_only(path)?;
    let cells = st.all().with_context(|| format!("reading cells from {}", path.display()))?;
    let evaluation = st.latest_evaluation().with_context(|| format!("reading evaluations from {}", path.display()))?;
    Ok(ReportData::new(path.display().to_string(), cells, evaluation))
}

/// Draws one chart as SVG text.
pub fn svg(chart: &dyn Chart) -> Result<Vec<u8>> {
    style::register_fonts();
    backend::render_svg(chart.size(), |a| chart.draw(a)).with_context(|| format!("drawing {}.svg", chart.stem()))
}

/// Draws one chart as a PNG image.
pub fn png(chart: &dyn Chart) -> Result<Vec<u8>> {
    style::register_fonts();
    backend::render_png(chart.size(), |a| chart.draw(a)).with_context(|| format!("drawing {}.png", chart.stem()))
}

/// Builds every figure, writes images under `out/figures/`, then `out/index.html`
/// and `out/report.md`. Images this run did not write are removed from
/// `out/figures/`, so the folder always matches the page.
pub fn write(data: &ReportData, out: &Path, formats: Formats) -> Result<Vec<Section>> {
    let dir = out.join("figures");
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating {}: pass --out with a folder you can write", dir.display()))?;
    let mut sections = Vec::new();
    let mut written: Vec<PathBuf> = Vec::new();
    for fig in figures() {
        let items = fig.build(data);
        let mut section = Section { figure: *fig, images: vec![], tables: vec![], skipped: None };
        if items.is_empty() {
            let (what, command) = fig.needs();
            section.skipped = Some(format!("{what} in the store; run `{command}`"));
        }
        for item in items {
            match item {
                Item::Table(t) => section.tables.push(t),
                Item::Chart(c) => {
                    let mut image = Image { heading: c.heading(), size: c.size(), svg: None, png: None };
                    for (on, ext) in [(formats.svg, "svg"), (formats.png, "png")] {
                        if !on {
                            continue;
                        }
                        let bytes = if ext == "svg" { svg(c.as_ref())? } else { png(c.as_ref())? };
                        let path = dir.join(format!("{}.{ext}", c.stem()));
                        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
                        let rel = format!("figures/{}.{ext}", c.stem());
                        if ext == "svg" {
                            image.svg = Some(rel);
                        } else {
                            image.png = Some(rel);
                        }
                        written.push(path);
                    }
                    section.images.push(image);
                }
            }
        }
        sections.push(section);
    }
    remove_stale(&dir, &written)?;
    let index = out.join("index.html");
    std::fs::write(&index, html::page(data, &sections)).with_context(|| format!("writing {}", index.display()))?;
    let md = out.join("report.md");
    std::fs::write(&md, markdown::page(data, &sections)).with_context(|| format!("writing {}", md.display()))?;
    Ok(sections)
}

/// Removes `.svg`/`.png` files in `dir` that this run did not write (figures whose
/// data are gone, or the other format).
fn remove_stale(dir: &Path, written: &[PathBuf]) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        let ours = matches!(path.extension().and_then(|e| e.to_str()), Some("svg" | "png"));
        if ours && !written.contains(&path) {
            std::fs::remove_file(&path).with_context(|| format!("removing stale {}", path.display()))?;
        }
    }
    Ok(())
}

/// The `harness report` command.
pub fn run(a: &ReportOptions) -> Result<ExitCode> {
    let data = load(&a.store)?;
    let sections = write(&data, &a.out, a.formats)?;
    let (mut drawn, mut skipped) = (0, 0);
    for s in &sections {
        if let Some(why) = &s.skipped {
            println!("skipped {}: {why}", s.figure.name());
            skipped += 1;
            continue;
        }
        drawn += 1;
        for i in &s.images {
            for f in [&i.svg, &i.png].into_iter().flatten() {
                println!("wrote {}", a.out.join(f).display());
            }
        }
        if !s.tables.is_empty() {
            println!("table {} (in index.html and report.md)", s.figure.name());
        }
    }
    println!(
        "{} and {}: {drawn} figures and tables from {} cells, {skipped} skipped",
        a.out.join("index.html").display(),
        a.out.join("report.md").display(),
        data.cells.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// A file-name-safe version of a name (hardware profiles, models).
pub fn slug(s: &str) -> String {
    let mut out: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '_' { c } else { '-' }).collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').to_lowercase()
}
