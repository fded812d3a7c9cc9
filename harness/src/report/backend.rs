//! One drawing backend for both output formats, so every figure is written once.
//!
//! plotters' figures are generic over the backend, but the figure registry holds
//! trait objects; [`AnyBackend`] delegates to the SVG or the bitmap backend, which
//! lets a figure draw into a plain `DrawingArea<AnyBackend, Shift>` either way.
//! Both render into memory; the caller writes the bytes (and names the file in errors).

use std::io::Cursor;

use anyhow::{Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters_backend::{BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind};

/// The drawing area every figure draws into.
pub type Area<'a> = DrawingArea<AnyBackend<'a>, Shift>;

/// A backend error, whichever backend raised it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(String);

/// SVG into a string or RGB pixels into a buffer.
pub enum AnyBackend<'a> {
    Svg(SVGBackend<'a>),
    Bitmap(BitMapBackend<'a>),
}

fn lift<E: std::error::Error + Send + Sync>(e: DrawingErrorKind<E>) -> DrawingErrorKind<BackendError> {
    match e {
        DrawingErrorKind::DrawingError(e) => DrawingErrorKind::DrawingError(BackendError(e.to_string())),
        DrawingErrorKind::FontError(e) => DrawingErrorKind::FontError(e),
    }
}

/// Calls the same method on whichever backend is inside, mapping its error.
macro_rules! delegate {
    ($self:ident, $b:ident => $call:expr) => {
        match $self {
            AnyBackend::Svg($b) => $call.map_err(lift),
            AnyBackend::Bitmap($b) => $call.map_err(lift),
        }
    };
}

impl DrawingBackend for AnyBackend<'_> {
    type ErrorType = BackendError;

    fn get_size(&self) -> (u32, u32) {
        match self {
            AnyBackend::Svg(b) => b.get_size(),
            AnyBackend::Bitmap(b) => b.get_size(),
        }
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<BackendError>> {
        delegate!(self, b => b.ensure_prepared())
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<BackendError>> {
        delegate!(self, b => b.present())
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Result<(), DrawingErrorKind<BackendError>> {
        delegate!(self, b => b.draw_pixel(point, color))
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<BackendError>> {
        delegate!(self, b => b.draw_line(from, to, style))
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<BackendError>> {
        delegate!(self, b => b.draw_rect(upper_left, bottom_right, style, fill))
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<BackendError>> {
        delegate!(self, b => b.draw_path(path, style))
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<BackendError>> {
        delegate!(self, b => b.draw_circle(center, radius, style, fill))
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<BackendError>> {
        delegate!(self, b => b.fill_polygon(vert, style))
    }

    fn draw_text<T: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &T,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<BackendError>> {
        match self {
            AnyBackend::Svg(b) => b.draw_text(text, style, pos).map_err(lift),
            AnyBackend::Bitmap(b) => raster_text(b, text, style, pos),
        }
    }

    fn estimate_text_size<T: BackendTextStyle>(
        &self,
        text: &str,
        style: &T,
    ) -> Result<(u32, u32), DrawingErrorKind<BackendError>> {
        delegate!(self, b => b.estimate_text_size(text, style))
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<BackendError>> {
        delegate!(self, b => b.blit_bitmap(pos, size, src))
    }
}

/// Rasterises `text` with the embedded font. Unlike plotters' own glyph loop, each
/// glyph is placed at its pen position plus its side bearing, and the box is the
/// font's ascent to descent, so the text lands exactly where its estimated size says.
fn raster_text<T: BackendTextStyle>(
    b: &mut BitMapBackend,
    text: &str,
    style: &T,
    pos: BackendCoord,
) -> Result<(), DrawingErrorKind<BackendError>> {
    use ab_glyph::{point, Font, FontRef, ScaleFont};
    use plotters_backend::text_anchor::{HPos, VPos};
    let color = style.color();
    if color.alpha == 0.0 {
        return Ok(());
    }
    let font =
        FontRef::try_from_slice(super::style::FONT_BYTES).map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
    let font = font.as_scaled(style.size() as f32);
    let mut glyphs = Vec::new();
    let (mut pen, mut prev) = (0f32, None);
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = prev {
            pen += font.kern(p, id);
        }
        glyphs.push(id.with_scale_and_position(font.scale(), point(pen, 0.0)));
        pen += font.h_advance(id);
        prev = Some(id);
    }
    let anchor = style.anchor();
    let dx = match anchor.h_pos {
        HPos::Left => 0.0,
        HPos::Center => -pen / 2.0,
        HPos::Right => -pen,
    };
    let (ascent, descent) = (font.ascent(), font.descent());
    let baseline = match anchor.v_pos {
        VPos::Top => ascent,
        VPos::Center => (ascent + descent) / 2.0,
        VPos::Bottom => descent,
    };
    let trans = style.transform();
    for g in glyphs {
        let Some(outline) = font.outline_glyph(g) else { continue };
        let bounds = outline.px_bounds();
        let mut result = Ok(());
        outline.draw(|gx, gy, coverage| {
            if coverage <= 0.0 || result.is_err() {
                return;
            }
            let x = (bounds.min.x + gx as f32 + dx).round() as i32;
            let y = (bounds.min.y + gy as f32 + baseline).round() as i32;
            let (x, y) = trans.transform(x, y);
            let c = BackendColor { alpha: color.alpha * coverage.min(1.0) as f64, rgb: color.rgb };
            result = b.draw_pixel((pos.0 + x, pos.1 + y), c);
        });
        result.map_err(lift)?;
    }
    Ok(())
}

/// Draws with `draw` onto a white canvas of `size` pixels and returns the SVG text.
pub fn render_svg(size: (u32, u32), draw: impl FnOnce(&Area) -> Result<()>) -> Result<Vec<u8>> {
    let mut text = String::new();
    {
        let area = AnyBackend::Svg(SVGBackend::with_string(&mut text, size)).into_drawing_area();
        area.fill(&WHITE)?;
        draw(&area)?;
        area.present()?;
    }
    Ok(text.into_bytes())
}

/// Draws with `draw` onto a white canvas of `size` pixels and returns it PNG-encoded.
pub fn render_png(size: (u32, u32), draw: impl FnOnce(&Area) -> Result<()>) -> Result<Vec<u8>> {
    let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let area = AnyBackend::Bitmap(BitMapBackend::with_buffer(&mut pixels, size)).into_drawing_area();
        area.fill(&WHITE)?;
        draw(&area)?;
        area.present()?;
    }
    let image = image::RgbImage::from_raw(size.0, size.1, pixels).context("pixel buffer of the wrong size")?;
    let mut png = Cursor::new(Vec::new());
    image.write_to(&mut png, image::ImageFormat::Png).context("encoding PNG")?;
    Ok(png.into_inner())
}
