//! Drawing helpers every figure shares: titles, axes, legends, label placement.
//!
//! Legends sit in their own column beside the plot, never over data, and point
//! labels go through [`Placer`], which refuses any spot that would overlap text
//! or markers already drawn; both keep figures free of overlapping text.

use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::{Axis, Ticked};
use super::backend::{AnyBackend, Area};
use super::style::{self, SeriesStyle};
use crate::record::Arm;

pub type Coord = Cartesian2d<Ticked, Ticked>;
pub type Plot<'a, 'b> = ChartContext<'a, AnyBackend<'b>, Coord>;

/// Writes `title` (and a smaller `note` below it) across the top of `area`;
/// returns the area left underneath.
pub fn title<'b>(area: &Area<'b>, title: &str, note: &str) -> Result<Area<'b>> {
    area.draw(&Text::new(title.to_string(), (16, 12), style::bold(style::TITLE)))?;
    let mut h = 12 + style::TITLE as i32 + 8;
    if !note.is_empty() {
        area.draw(&Text::new(note.to_string(), (16, h), style::text(style::NOTE).color(&RGBColor(70, 70, 70))))?;
        h += style::NOTE as i32 + 10;
    }
    Ok(area.split_vertically(h).1)
}

/// A heading for one panel of a multi-panel figure; returns the area below it.
pub fn panel_heading<'b>(area: &Area<'b>, heading: &str) -> Result<Area<'b>> {
    let (w, _) = area.dim_in_pixel();
    let s = style::bold(style::AXIS).pos(Pos::new(HPos::Center, VPos::Top));
    area.draw(&Text::new(heading.to_string(), (w as i32 / 2, 14), s))?;
    Ok(area.split_vertically(style::AXIS as i32 + 24).1)
}

/// Axes with round ticks, light grid lines and labelled axes (units in the text).
pub fn plot<'a, 'b>(area: &'a Area<'b>, x: &Axis, y: &Axis, x_desc: &str, y_desc: &str) -> Result<Plot<'a, 'b>> {
    plot_named(area, x, y, x_desc, y_desc, None, None)
}

/// [`plot`] where an axis may be categorical: its ticks sit at 0, 1, 2, ... and
/// are labelled with `names`.
pub fn plot_named<'a, 'b>(
    area: &'a Area<'b>,
    x: &Axis,
    y: &Axis,
    x_desc: &str,
    y_desc: &str,
    x_names: Option<&[String]>,
    y_names: Option<&[String]>,
) -> Result<Plot<'a, 'b>> {
    let label = |axis: &Axis, names: Option<&[String]>, v: f64| match names {
        Some(n) => n.get(v.round().max(0.0) as usize).cloned().unwrap_or_default(),
        None => axis.label(v),
    };
    let widest = y.ticks.iter().map(|&t| style::text_size(&label(y, y_names, t), style::TICK).0).max().unwrap_or(20);
    let y_desc_room = if y_desc.is_empty() { 12 } else { style::AXIS + 26 };
    let mut chart = ChartBuilder::on(area)
        .margin_top(8)
        .margin_right(18)
        .margin_left(6)
        .x_label_area_size(style::TICK + style::AXIS + 26)
        .y_label_area_size(widest + y_desc_room)
        .build_cartesian_2d(x.coord(), y.coord())?;
    let (xf, yf) = (|v: &f64| label(x, x_names, *v), |v: &f64| label(y, y_names, *v));
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(x_desc)
        .y_desc(y_desc)
        .axis_desc_style(style::text(style::AXIS))
        .label_style(style::text(style::TICK))
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .bold_line_style(style::GRID_GREY)
        .light_line_style(TRANSPARENT)
        .axis_style(BLACK);
    if x_names.is_some() {
        mesh.disable_x_mesh();
    }
    if y_names.is_some() {
        mesh.disable_y_mesh();
    }
    mesh.draw()?;
    Ok(chart)
}

/// A categorical axis over `n` categories at 0..n.
pub fn categories(n: usize) -> Axis {
    Axis { lo: -0.5, hi: n as f64 - 0.5, ticks: (0..n).map(|i| i as f64).collect(), log: false }
}

/// What a legend entry shows before its label.
pub enum Key {
    /// A series marker (technique colour, thread shape).
    Marker(SeriesStyle),
    /// A filled swatch (bars, boxes).
    Swatch(RGBColor, bool),
}

pub struct Entry {
    pub label: String,
    pub key: Key,
}

/// Legend blocks, each a heading and its entries.
pub struct Legend(pub Vec<(String, Vec<Entry>)>);

impl Legend {
    /// Entries for every technique, and every thread count and engine, that the `used`
    /// arms mention, in the report's fixed order.
    pub fn techniques(data: &super::data::ReportData, used: &[Arm]) -> Legend {
        let techs: Vec<Entry> = data
            .techniques
            .iter()
            .filter_map(|t| {
                let first = used.iter().find(|u| u.technique.as_str() == t)?;
                let s = SeriesStyle { marker: style::Marker::Circle, ..data.series_style(first) };
                Some(Entry { label: t.clone(), key: Key::Marker(s) })
            })
            .collect();
        let mut blocks = vec![("technique".to_string(), techs)];
        if data.runs.len() > 1 {
            let grey = RGBColor(90, 90, 90);
            let entries = data
                .runs
                .iter()
                .filter(|(n, e)| used.iter().any(|u| u.threads == *n && u.engine == *e))
                .map(|(n, e)| {
                    let marker = style::Marker::nth(data.run_rank(*n, e));
                    let mut label = format!("{n} thread{}", if *n == 1 { "" } else { "s" });
                    if data.shows_engines() {
                        label.push_str(&format!(" on {e}"));
                    }
                    Entry { label, key: Key::Marker(SeriesStyle { color: grey, filled: true, marker }) }
                })
                .collect();
            blocks.push(("marker".to_string(), entries));
        }
        Legend(blocks)
    }

    pub fn width(&self) -> u32 {
        let widest = self
            .0
            .iter()
            .flat_map(|(h, es)| {
                std::iter::once(style::text_size(h, style::LEGEND).0 + 8)
                    .chain(es.iter().map(|e| style::text_size(&e.label, style::LEGEND).0))
            })
            .max()
            .unwrap_or(60);
        widest + 48
    }

    pub fn height(&self) -> u32 {
        self.0.iter().map(|(_, es)| (es.len() as u32 + 1) * ROW + 10).sum::<u32>() + 10
    }

    /// Draws the legend top-down in `area` (a column beside the plots).
    pub fn draw(&self, area: &Area) -> Result<()> {
        let mut y = 10i32;
        for (heading, entries) in &self.0 {
            area.draw(&Text::new(heading.clone(), (10, y), style::bold(style::LEGEND)))?;
            y += ROW as i32;
            for e in entries {
                let mid = (20, y + ROW as i32 / 2 - 3);
                match &e.key {
                    Key::Marker(s) => style::draw_marker(area, mid, 6, s)?,
                    Key::Swatch(c, filled) => {
                        let fill = if *filled { c.mix(0.45).filled() } else { WHITE.filled() };
                        area.draw(&Rectangle::new([(12, mid.1 - 7), (28, mid.1 + 7)], fill))?;
                        area.draw(&Rectangle::new([(12, mid.1 - 7), (28, mid.1 + 7)], c.stroke_width(2)))?;
                    }
                }
                let s = style::text(style::LEGEND).pos(Pos::new(HPos::Left, VPos::Center));
                area.draw(&Text::new(e.label.clone(), (36, mid.1), s))?;
                y += ROW as i32;
            }
            y += 10;
        }
        Ok(())
    }
}

const ROW: u32 = 22;

/// Splits `area` into the plotting part and a legend column on the right.
pub fn with_legend<'b>(area: &Area<'b>, legend: &Legend) -> Result<Area<'b>> {
    let (w, _) = area.dim_in_pixel();
    let (left, right) = area.split_horizontally(w as i32 - legend.width() as i32);
    legend.draw(&right)?;
    Ok(left)
}

/// Rectangles (x0, y0, x1, y1) in absolute pixels.
type Rect = (i32, i32, i32, i32);

fn overlaps(a: &Rect, b: &Rect) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// Greedy placement of point labels: each label takes the first free spot
/// around its point; a label with no free spot is left out rather than overlap.
pub struct Placer {
    taken: Vec<Rect>,
    bounds: Rect,
}

impl Placer {
    /// Labels must stay inside `bounds`; the points themselves are reserved up front.
    pub fn new(bounds: Rect, points: &[(i32, i32)]) -> Placer {
        let taken = points.iter().map(|&(x, y)| (x - 7, y - 7, x + 7, y + 7)).collect();
        Placer { taken, bounds }
    }

    /// Keeps labels off a drawn polyline (each segment's bounding box, padded).
    pub fn reserve_path(&mut self, path: &[(i32, i32)]) {
        for w in path.windows(2) {
            let (a, b) = (w[0], w[1]);
            self.taken.push((a.0.min(b.0) - 3, a.1.min(b.1) - 3, a.0.max(b.0) + 3, a.1.max(b.1) + 3));
        }
    }

    /// Top-left corner for a `w`×`h` label near `p` and its distance ring, or `None`.
    pub fn place(&mut self, p: (i32, i32), w: i32, h: i32) -> Option<(i32, i32, i32)> {
        for d in [9, 22, 38, 56, 80, 110] {
            let spots = [
                (p.0 + d, p.1 - h / 2),
                (p.0 - d - w, p.1 - h / 2),
                (p.0 - w / 2, p.1 - d - h),
                (p.0 - w / 2, p.1 + d),
                (p.0 + d, p.1 - d - h / 2),
                (p.0 + d, p.1 + d - h / 2),
                (p.0 - d - w, p.1 - d - h / 2),
                (p.0 - d - w, p.1 + d - h / 2),
            ];
            for (x, y) in spots {
                let r = (x - 2, y - 1, x + w + 2, y + h + 1);
                let inside =
                    r.0 >= self.bounds.0 && r.1 >= self.bounds.1 && r.2 <= self.bounds.2 && r.3 <= self.bounds.3;
                if inside && !self.taken.iter().any(|t| overlaps(t, &r)) {
                    self.taken.push(r);
                    return Some((x, y, d));
                }
            }
        }
        None
    }
}

/// The plot's inner rectangle in absolute pixels.
pub fn plot_bounds(chart: &Plot) -> Rect {
    let (xr, yr) = (chart.plotting_area().get_x_axis_pixel_range(), chart.plotting_area().get_y_axis_pixel_range());
    (xr.start, yr.start, xr.end, yr.end)
}

/// Labels points of a plot (pixel positions) without overlapping each other, the
/// points, or the `paths` drawn; returns how many fit.
pub fn label_points(
    screen: &Area,
    chart: &Plot,
    all_points: &[(i32, i32)],
    paths: &[&[(i32, i32)]],
    labels: &[((i32, i32), String)],
) -> Result<usize> {
    let mut placer = Placer::new(plot_bounds(chart), all_points);
    for p in paths {
        placer.reserve_path(p);
    }
    let mut placed = 0;
    for (p, text) in labels {
        let (w, h) = style::text_size(text, style::NOTE);
        let (w, h) = (w as i32, h as i32);
        if let Some((x, y, d)) = placer.place(*p, w, h) {
            if d > 9 {
                // Far from its point: a thin leader line says which point it names.
                let to = (p.0.clamp(x, x + w), p.1.clamp(y, y + h));
                screen.draw(&PathElement::new(vec![*p, to], RGBColor(140, 140, 140)))?;
            }
            screen.draw(&Text::new(text.clone(), (x, y), style::text(style::NOTE)))?;
            placed += 1;
        }
    }
    Ok(placed)
}

/// Draws `style`d markers at data points (axis-space coordinates); returns their pixels.
pub fn markers(screen: &Area, chart: &Plot, points: &[((f64, f64), SeriesStyle)]) -> Result<Vec<(i32, i32)>> {
    let mut px = Vec::with_capacity(points.len());
    for (p, s) in points {
        let at = chart.backend_coord(p);
        style::draw_marker(screen, at, 6, s)?;
        px.push(at);
    }
    Ok(px)
}

/// Panels in a grid of at most `max_cols` columns: (columns, rows).
pub fn grid_shape(n: usize, max_cols: usize) -> (usize, usize) {
    let cols = n.clamp(1, max_cols);
    (cols, n.div_ceil(cols).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placed_labels_never_overlap_points_or_each_other() {
        let points: Vec<(i32, i32)> = (0..30).map(|i| (100 + (i * 37) % 300, 100 + (i * 53) % 200)).collect();
        let mut placer = Placer::new((0, 0, 500, 400), &points);
        let mut boxes: Vec<Rect> = Vec::new();
        for p in &points {
            if let Some((x, y, _)) = placer.place(*p, 60, 14) {
                let r = (x, y, x + 60, y + 14);
                assert!(r.0 >= 0 && r.1 >= 0 && r.2 <= 500 && r.3 <= 400, "{r:?} outside");
                assert!(!boxes.iter().any(|b| overlaps(b, &r)), "{r:?} overlaps a label");
                assert!(
                    !points.iter().any(|q| overlaps(&(q.0 - 6, q.1 - 6, q.0 + 6, q.1 + 6), &r)),
                    "{r:?} covers a point"
                );
                boxes.push(r);
            }
        }
        assert!(boxes.len() >= 10, "only {} of 30 labels placed", boxes.len());
    }
}
