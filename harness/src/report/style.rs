//! Fonts, colours and markers shared by every figure.
//!
//! Colours are the Okabe–Ito palette (distinguishable under the common colour-vision
//! deficiencies). A technique keeps one colour in every figure of a report: its rank
//! in the report's technique list picks it; past eight techniques the colours repeat
//! with hollow markers. Thread counts are told apart by marker shape, not colour.

use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{FontStyle, RGBColor};

/// The family every text element uses; DejaVu Sans is registered under it, and the
/// SVGs name it, so a browser falls back to its own sans-serif.
pub const FONT: &str = "sans-serif";
pub const TITLE: u32 = 24;
pub const AXIS: u32 = 18;
pub const TICK: u32 = 15;
pub const LEGEND: u32 = 15;
pub const NOTE: u32 = 14;

/// DejaVu Sans (harness/assets, Bitstream Vera licence), embedded in the binary.
pub static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Registers the embedded font once per process (plotters' bitmap backend has no
/// other source of glyphs here).
pub fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            if plotters::style::register_font(FONT, style, FONT_BYTES).is_err() {
                panic!("the embedded DejaVuSans.ttf is not a valid font");
            }
        }
    });
}

pub fn text(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&BLACK)
}

pub fn bold(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().style(FontStyle::Bold).color(&BLACK)
}

/// Width and height of `s` in pixels at `size`.
pub fn text_size(s: &str, size: u32) -> (u32, u32) {
    register_fonts();
    (FONT, size).into_font().box_size(s).unwrap_or((s.chars().count() as u32 * size * 6 / 10, size))
}

/// Okabe & Ito (2008), with black last so the reference technique is not black by accident.
pub const OKABE_ITO: [RGBColor; 8] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(230, 159, 0),   // orange
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(240, 228, 66),  // yellow
    RGBColor(0, 0, 0),       // black
];

pub const GRID_GREY: RGBColor = RGBColor(220, 220, 220);
pub const MISSING_GREY: RGBColor = RGBColor(235, 235, 235);

/// How one series looks: colour, whether its markers are filled, and marker shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesStyle {
    pub color: RGBColor,
    pub filled: bool,
    pub marker: Marker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Triangle,
    Square,
    Diamond,
    Cross,
}

impl Marker {
    /// Shape for the `rank`-th thread count (or any other secondary category).
    pub fn nth(rank: usize) -> Marker {
        [Marker::Circle, Marker::Triangle, Marker::Square, Marker::Diamond, Marker::Cross][rank % 5]
    }
}

/// Colour and fill of the `rank`-th entry of a categorical palette.
pub fn categorical(rank: usize) -> (RGBColor, bool) {
    (OKABE_ITO[rank % OKABE_ITO.len()], (rank / OKABE_ITO.len()).is_multiple_of(2))
}

/// Draws `marker` centred on pixel `at` with half-size `r`.
pub fn draw_marker(area: &super::backend::Area, at: (i32, i32), r: i32, s: &SeriesStyle) -> anyhow::Result<()> {
    let (x, y) = at;
    let fill = if s.filled { s.color.filled() } else { WHITE.filled() };
    let edge = s.color.stroke_width(2);
    let poly = |pts: Vec<(i32, i32)>| -> anyhow::Result<()> {
        area.draw(&Polygon::new(pts.clone(), fill))?;
        let mut closed = pts;
        closed.push(closed[0]);
        area.draw(&PathElement::new(closed, edge))?;
        Ok(())
    };
    match s.marker {
        Marker::Circle => {
            area.draw(&Circle::new(at, r, fill))?;
            area.draw(&Circle::new(at, r, edge))?;
        }
        Marker::Square => poly(vec![(x - r, y - r), (x + r, y - r), (x + r, y + r), (x - r, y + r)])?,
        Marker::Triangle => poly(vec![(x, y - r - 1), (x + r + 1, y + r), (x - r - 1, y + r)])?,
        Marker::Diamond => poly(vec![(x, y - r - 1), (x + r + 1, y), (x, y + r + 1), (x - r - 1, y)])?,
        Marker::Cross => {
            let thick = s.color.stroke_width(3);
            area.draw(&PathElement::new(vec![(x - r, y - r), (x + r, y + r)], thick))?;
            area.draw(&PathElement::new(vec![(x - r, y + r), (x + r, y - r)], thick))?;
        }
    }
    Ok(())
}

/// Paul Tol's diverging BuRd scheme, red (slower) → white → blue (faster).
const BU_RD: [(u8, u8, u8); 9] = [
    (178, 24, 43),
    (214, 96, 77),
    (244, 165, 130),
    (253, 219, 199),
    (247, 247, 247),
    (209, 229, 240),
    (146, 197, 222),
    (67, 147, 195),
    (33, 102, 172),
];

/// Colour for `t` in [-1, 1] on the diverging scale (0 = white).
pub fn diverging(t: f64) -> RGBColor {
    let t = t.clamp(-1.0, 1.0);
    let pos = (t + 1.0) / 2.0 * (BU_RD.len() - 1) as f64;
    let i = (pos.floor() as usize).min(BU_RD.len() - 2);
    let f = pos - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (BU_RD[i], BU_RD[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Black or white, whichever reads better on `bg`.
pub fn ink_on(bg: RGBColor) -> RGBColor {
    let l = 0.299 * bg.0 as f64 + 0.587 * bg.1 as f64 + 0.114 * bg.2 as f64;
    if l > 140.0 {
        BLACK
    } else {
        WHITE
    }
}
