//! Rasterising a [`Scene`]: a noisy or graded background, then each group's shapes inside its region, with
//! jittered position, size, rotation and colour, anti-aliased by 4×4 supersampling.

use image::{Rgb, RgbImage};
use rand::RngExt;
use rand_pcg::Pcg64;

use crate::scene::{Region, Scene, ShapeKind, Size};

/// Renders `scene` as a `size`×`size` picture; the same rng state gives the same pixels.
pub fn render(scene: &Scene, size: u32, rng: &mut Pcg64) -> RgbImage {
    let mut image = background(scene, size, rng);
    let side = size as f32;
    for group in &scene.groups {
        let (x0, y0, x1, y1) = region_box(group.region);
        let fraction = match group.size {
            Size::Small => 0.18,
            Size::Large => 0.30,
        };
        let mut placed: Vec<(f32, f32, f32)> = Vec::new();
        for _ in 0..group.count {
            let radius = 0.5 * fraction * side * rng.random_range(0.9..1.1);
            let mut center = (0.0, 0.0);
            for _attempt in 0..30 {
                let cx = side * rng.random_range(x0..x1);
                let cy = side * rng.random_range(y0..y1);
                let cx = cx.clamp(radius, side - radius);
                let cy = cy.clamp(radius, side - radius);
                center = (cx, cy);
                let free = placed.iter().all(|&(px, py, pr)| {
                    ((px - cx).powi(2) + (py - cy).powi(2)).sqrt() > 1.05 * (pr + radius)
                });
                if free {
                    break;
                }
            }
            let angle = match group.kind {
                ShapeKind::Circle => 0.0,
                _ => rng.random_range(-0.2..0.2),
            };
            let base = group.color.rgb();
            let color = base.map(|c| (c as i32 + rng.random_range(-12..=12)).clamp(0, 255) as u8);
            draw_shape(&mut image, group.kind, center, radius, angle, color);
            placed.push((center.0, center.1, radius));
        }
    }
    image
}

/// `(x0, y0, x1, y1)` of the region where shape centres are drawn, as fractions of the side.
fn region_box(region: Region) -> (f32, f32, f32, f32) {
    match region {
        Region::Left => (0.08, 0.1, 0.42, 0.9),
        Region::Right => (0.58, 0.1, 0.92, 0.9),
        Region::Top => (0.1, 0.08, 0.9, 0.42),
        Region::Bottom => (0.1, 0.58, 0.9, 0.92),
        Region::Center => (0.3, 0.3, 0.7, 0.7),
    }
}

fn background(scene: &Scene, size: u32, rng: &mut Pcg64) -> RgbImage {
    let base = scene.background.rgb();
    let graded = rng.random::<bool>();
    let (gx, gy) = (
        rng.random_range(-18.0..18.0_f32),
        rng.random_range(-18.0..18.0_f32),
    );
    let noise = rng.random_range(2..8);
    let mut image = RgbImage::new(size, size);
    for (x, y, pixel) in image.enumerate_pixels_mut() {
        let (u, v) = (x as f32 / size as f32 - 0.5, y as f32 / size as f32 - 0.5);
        let shade = if graded { gx * u + gy * v } else { 0.0 };
        let jitter = rng.random_range(-noise..=noise) as f32;
        *pixel = Rgb(base.map(|c| (c as f32 + shade + jitter).round().clamp(0.0, 255.0) as u8));
    }
    image
}

/// Whether the point `(u, v)` (shape frame: centre 0, radius 1, v pointing down) lies inside the shape.
fn inside(kind: ShapeKind, u: f32, v: f32) -> bool {
    match kind {
        ShapeKind::Circle => u * u + v * v <= 1.0,
        ShapeKind::Square => u.abs() <= 0.8 && v.abs() <= 0.8,
        ShapeKind::Triangle => {
            // Upward triangle with vertices (0,-1), (-0.95,0.75), (0.95,0.75).
            v <= 0.75 && v >= -1.0 + 1.75 * u.abs() / 0.95
        }
        ShapeKind::Diamond => u.abs() / 0.7 + v.abs() <= 1.0,
        ShapeKind::Cross => {
            (u.abs() <= 0.3 && v.abs() <= 0.95) || (v.abs() <= 0.3 && u.abs() <= 0.95)
        }
        ShapeKind::Star => inside_star(u, v),
    }
}

/// A five-pointed star (outer radius 1, inner 0.45, one point up), by the even–odd rule.
fn inside_star(u: f32, v: f32) -> bool {
    let vertices: Vec<(f32, f32)> = (0..10)
        .map(|i| {
            let radius = if i % 2 == 0 { 1.0 } else { 0.45 };
            let angle = -std::f32::consts::FRAC_PI_2 + i as f32 * std::f32::consts::PI / 5.0;
            (radius * angle.cos(), radius * angle.sin())
        })
        .collect();
    let mut inside = false;
    let mut j = vertices.len() - 1;
    for i in 0..vertices.len() {
        let (xi, yi) = vertices[i];
        let (xj, yj) = vertices[j];
        if (yi > v) != (yj > v) && u < (xj - xi) * (v - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

fn draw_shape(
    image: &mut RgbImage,
    kind: ShapeKind,
    center: (f32, f32),
    radius: f32,
    angle: f32,
    color: [u8; 3],
) {
    let (cos, sin) = (angle.cos(), angle.sin());
    let size = image.width() as i32;
    let reach = (radius * 1.05).ceil() as i32;
    let (cx, cy) = center;
    for py in (cy as i32 - reach - 1).max(0)..(cy as i32 + reach + 2).min(size) {
        for px in (cx as i32 - reach - 1).max(0)..(cx as i32 + reach + 2).min(size) {
            let mut covered = 0;
            for sy in 0..4 {
                for sx in 0..4 {
                    let x = px as f32 + (sx as f32 + 0.5) / 4.0 - cx;
                    let y = py as f32 + (sy as f32 + 0.5) / 4.0 - cy;
                    let (u, v) = ((cos * x + sin * y) / radius, (-sin * x + cos * y) / radius);
                    covered += i32::from(inside(kind, u, v));
                }
            }
            if covered > 0 {
                let alpha = covered as f32 / 16.0;
                let pixel = image.get_pixel_mut(px as u32, py as u32);
                for (channel, &value) in pixel.0.iter_mut().zip(&color) {
                    *channel =
                        (alpha * value as f32 + (1.0 - alpha) * *channel as f32).round() as u8;
                }
            }
        }
    }
}
