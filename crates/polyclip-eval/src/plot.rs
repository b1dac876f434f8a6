//! The training curves a run writes (`curves.png`), drawn with plotters: one panel per stage, round tick
//! values, axis titles, and the evaluation figures marked on the curve. The font is DejaVu Sans compiled into
//! the binary (the `dejavu` crate), so nothing depends on the machine's fonts.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::error::EvalError;

/// One curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub color: [u8; 3],
}

/// A figure marked on a panel (an evaluation after the stage), drawn as a point with its label.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub x: f64,
    pub y: f64,
    pub label: String,
}

/// One panel: a title, axis titles, its curves and marks.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub marks: Vec<Mark>,
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
            marks: Vec::new(),
        }
    }

    /// Marks `label` at the curve's last point (what an evaluation after the stage scored).
    pub fn mark_end(mut self, label: &str) -> Self {
        if let Some(&(x, y)) = self.series.first().and_then(|s| s.points.last()) {
            self.marks.push(Mark {
                x,
                y,
                label: label.to_owned(),
            });
        }
        self
    }
}

const PANEL_W: u32 = 560;
const PANEL_H: u32 = 400;
const PER_ROW: usize = 3;
const FONT: &str = "polyclip-sans";

/// The embedded font, registered once per process.
fn font() -> Result<&'static str, String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
                .map_err(|_| "the embedded DejaVu Sans font cannot be read".to_string())
        })
        .clone()
        .map(|()| FONT)
}

/// Renders the panels, `PER_ROW` to a row, into a PNG file.
pub fn save_panels(panels: &[Panel], path: &Path) -> Result<(), EvalError> {
    let fail = |reason: String| EvalError::Write {
        path: path.to_owned(),
        reason,
    };
    let columns = panels.len().clamp(1, PER_ROW);
    let rows = panels.len().div_ceil(PER_ROW).max(1);
    let (width, height) = (PANEL_W * columns as u32, PANEL_H * rows as u32);
    let mut pixels = vec![255_u8; (width * height * 3) as usize];
    {
        let font = font().map_err(fail)?;
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        let areas = root.split_evenly((rows, columns));
        for (panel, area) in panels.iter().zip(areas) {
            draw_panel(&area, panel, font).map_err(fail)?;
        }
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    let image = image::RgbImage::from_raw(width, height, pixels)
        .ok_or_else(|| fail("the plot's buffer has the wrong size".into()))?;
    image.save(path).map_err(|e| fail(e.to_string()))
}

/// The finite points' bounds, padded so that a flat curve still has a range.
fn bounds(panel: &Panel) -> ((f64, f64), (f64, f64)) {
    let points = panel
        .series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .chain(panel.marks.iter().map(|m| (m.x, m.y)))
        .filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return ((0.0, 1.0), (0.0, 1.0));
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.05).max(1e-6);
    ((x0, x1), (y0 - pad, y1 + pad))
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
    font: &str,
) -> Result<(), String> {
    let ((x0, x1), (y0, y1)) = bounds(panel);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (font, 20))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| e.to_string())?;
    // plotters places the mesh's ticks on round values (1, 2 or 5 times a power of ten).
    chart
        .configure_mesh()
        .x_desc(&panel.x_label)
        .y_desc(&panel.y_label)
        .label_style((font, 13))
        .axis_desc_style((font, 15))
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(215, 215, 215))
        .x_label_formatter(&|v| format_tick(*v))
        .y_label_formatter(&|v| format_tick(*v))
        .draw()
        .map_err(|e| e.to_string())?;
    for series in &panel.series {
        let color = RGBColor(series.color[0], series.color[1], series.color[2]);
        let points: Vec<(f64, f64)> = series
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(series.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    // Evaluation figures: a point at the curve's end, the figure itself in the legend.
    let mark_color = RGBColor(196, 80, 27);
    for mark in &panel.marks {
        chart
            .draw_series(std::iter::once(Circle::new(
                (mark.x, mark.y),
                5,
                mark_color.filled(),
            )))
            .map_err(|e| e.to_string())?
            .label(mark.label.clone())
            .legend(move |(x, y)| Circle::new((x + 9, y), 5, mark_color.filled()));
    }
    chart
        .configure_series_labels()
        .label_font((font, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| e.to_string())
}

/// A tick value without float noise: integers as integers, small values with 2–3 significant digits.
fn format_tick(value: f64) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let magnitude = value.abs();
    if !(1e-3..1e5).contains(&magnitude) {
        return format!("{value:.1e}");
    }
    if (value - value.round()).abs() < 1e-9 {
        return format!("{}", value.round() as i64);
    }
    let decimals = (2 - magnitude.log10().floor() as i32).clamp(0, 6) as usize;
    let text = format!("{value:.decimals$}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_read_as_people_write_them() {
        assert_eq!(format_tick(200.0), "200");
        assert_eq!(format_tick(2.5), "2.5");
        assert_eq!(format_tick(0.30000000000000004), "0.3");
        assert_eq!(format_tick(0.0001), "1.0e-4");
        assert_eq!(format_tick(-1.25), "-1.25");
    }
}
