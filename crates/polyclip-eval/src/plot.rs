//! A small PNG line plot (no system fonts: glyphs come from the public-domain `font8x8` bitmaps), used for the
//! training curves of a run.

use std::path::Path;

use font8x8::{BASIC_FONTS, UnicodeFonts};
use image::{Rgb, RgbImage};

use crate::error::EvalError;

/// One curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub color: [u8; 3],
}

/// One panel: a title, axis labels and its curves.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

impl Panel {
    /// A training-loss curve over steps: `(step, loss)` points in one series.
    pub fn loss_curve(title: &str, y_label: &str, points: Vec<(f64, f64)>) -> Self {
        Self {
            title: title.to_owned(),
            x_label: "step".into(),
            y_label: y_label.to_owned(),
            series: vec![Series {
                label: "loss".into(),
                points,
                color: [31, 119, 180],
            }],
        }
    }
}

const PANEL_W: u32 = 480;
const PANEL_H: u32 = 360;
const MARGIN_L: u32 = 64;
const MARGIN_R: u32 = 16;
const MARGIN_T: u32 = 36;
const MARGIN_B: u32 = 44;
const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
const INK: Rgb<u8> = Rgb([30, 30, 30]);
const GRID: Rgb<u8> = Rgb([225, 225, 225]);
const GRID_TEXT: Rgb<u8> = Rgb([110, 110, 110]);

/// Renders panels side by side into a PNG file.
pub fn save_panels(panels: &[Panel], path: &Path) -> Result<(), EvalError> {
    let width = PANEL_W * panels.len().max(1) as u32;
    let mut canvas = RgbImage::from_pixel(width, PANEL_H, WHITE);
    for (index, panel) in panels.iter().enumerate() {
        draw_panel(&mut canvas, index as u32 * PANEL_W, panel);
    }
    canvas.save(path).map_err(|e| EvalError::Write {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn draw_panel(canvas: &mut RgbImage, left: u32, panel: &Panel) {
    let plot_x0 = left + MARGIN_L;
    let plot_x1 = left + PANEL_W - MARGIN_R;
    let plot_y0 = MARGIN_T;
    let plot_y1 = PANEL_H - MARGIN_B;
    let points = panel.series.iter().flat_map(|s| s.points.iter());
    let (mut x_min, mut x_max, mut y_min, mut y_max) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        x_min = x_min.min(x);
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if x_min > x_max {
        (x_min, x_max, y_min, y_max) = (0.0, 1.0, 0.0, 1.0);
    }
    if x_max - x_min < 1e-12 {
        x_max = x_min + 1.0;
    }
    if y_max - y_min < 1e-12 {
        y_max = y_min + 1.0;
    }
    let to_px = |x: f64, y: f64| {
        let px = plot_x0 as f64 + (x - x_min) / (x_max - x_min) * (plot_x1 - plot_x0) as f64;
        let py = plot_y1 as f64 - (y - y_min) / (y_max - y_min) * (plot_y1 - plot_y0) as f64;
        (px, py)
    };
    for tick in 0..=4 {
        let fraction = tick as f64 / 4.0;
        let y = plot_y1 as f64 - fraction * (plot_y1 - plot_y0) as f64;
        line(canvas, plot_x0 as f64, y, plot_x1 as f64, y, GRID);
        let value = y_min + fraction * (y_max - y_min);
        text(canvas, left + 4, y as u32 - 4, &format_tick(value), INK);
        let x = plot_x0 as f64 + fraction * (plot_x1 - plot_x0) as f64;
        line(canvas, x, plot_y1 as f64, x, plot_y1 as f64 + 4.0, INK);
        let label = format_x_tick(x_min + fraction * (x_max - x_min), x_max - x_min);
        let half = label.len() as u32 * 4;
        text(
            canvas,
            (x as u32).saturating_sub(half),
            plot_y1 + 8,
            &label,
            INK,
        );
    }
    line(
        canvas,
        plot_x0 as f64,
        plot_y0 as f64,
        plot_x0 as f64,
        plot_y1 as f64,
        INK,
    );
    line(
        canvas,
        plot_x0 as f64,
        plot_y1 as f64,
        plot_x1 as f64,
        plot_y1 as f64,
        INK,
    );
    text(canvas, plot_x0, 8, &panel.title, INK);
    let x_label_width = panel.x_label.len() as u32 * 8;
    text(
        canvas,
        (plot_x0 + plot_x1 - x_label_width) / 2,
        PANEL_H - 16,
        &panel.x_label,
        INK,
    );
    let title_width = (panel.title.chars().count() as u32 + 2) * 8;
    text(
        canvas,
        plot_x0 + title_width,
        8,
        &format!("({})", panel.y_label),
        GRID_TEXT,
    );
    for (index, series) in panel.series.iter().enumerate() {
        let color = Rgb(series.color);
        for pair in series.points.windows(2) {
            let (ax, ay) = to_px(pair[0].0, pair[0].1);
            let (bx, by) = to_px(pair[1].0, pair[1].1);
            line(canvas, ax, ay, bx, by, color);
        }
        let legend_y = plot_y0 + 6 + index as u32 * 12;
        let legend_x = plot_x1.saturating_sub(8 * series.label.len() as u32 + 24);
        line(
            canvas,
            legend_x as f64,
            legend_y as f64 + 4.0,
            legend_x as f64 + 14.0,
            legend_y as f64 + 4.0,
            color,
        );
        text(canvas, legend_x + 18, legend_y, &series.label, INK);
    }
}

/// Whole numbers when the axis spans more than a few units (steps, epochs).
fn format_x_tick(value: f64, span: f64) -> String {
    if span >= 10.0 {
        format!("{}", value.round() as i64)
    } else {
        format_tick(value)
    }
}

fn format_tick(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1000.0 || (magnitude > 0.0 && magnitude < 0.01) {
        format!("{value:.1e}")
    } else if magnitude >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

fn put(canvas: &mut RgbImage, x: i64, y: i64, color: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u32) < canvas.width() && (y as u32) < canvas.height() {
        canvas.put_pixel(x as u32, y as u32, color);
    }
}

fn line(canvas: &mut RgbImage, x0: f64, y0: f64, x1: f64, y1: f64, color: Rgb<u8>) {
    let steps = (x1 - x0).abs().max((y1 - y0).abs()).ceil().max(1.0) as usize;
    for step in 0..=steps {
        let t = step as f64 / steps as f64;
        let x = (x0 + t * (x1 - x0)).round() as i64;
        let y = (y0 + t * (y1 - y0)).round() as i64;
        put(canvas, x, y, color);
    }
}

fn text(canvas: &mut RgbImage, x: u32, y: u32, content: &str, color: Rgb<u8>) {
    for (index, ch) in content.chars().enumerate() {
        let glyph = BASIC_FONTS
            .get(ch)
            .or_else(|| BASIC_FONTS.get('?'))
            .unwrap_or([0; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) != 0 {
                    put(
                        canvas,
                        x as i64 + index as i64 * 8 + col,
                        y as i64 + row as i64,
                        color,
                    );
                }
            }
        }
    }
}
