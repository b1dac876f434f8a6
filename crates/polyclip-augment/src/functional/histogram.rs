//! Per-channel lookup-table operations of `PIL.ImageOps`: `equalize`, `autocontrast`, `posterize`, `solarize`.
//! `equalize`, `posterize` and `solarize` also compute exactly what torchvision's tensor versions compute
//! (AugMix uses those); `autocontrast` here is Pillow's (the tensor one is in `functional_tensor`).

use image::RgbImage;

/// One 256-entry histogram per channel.
pub fn histograms(image: &RgbImage) -> [[u64; 256]; 3] {
    let mut histograms = [[0_u64; 256]; 3];
    for pixel in image.pixels() {
        for (histogram, &value) in histograms.iter_mut().zip(&pixel.0) {
            histogram[value as usize] += 1;
        }
    }
    histograms
}

/// Maps every channel through its own lookup table.
pub fn apply_luts(image: &RgbImage, luts: &[[u8; 256]; 3]) -> RgbImage {
    let mut out = image.clone();
    for pixel in out.pixels_mut() {
        for (value, lut) in pixel.0.iter_mut().zip(luts) {
            *value = lut[*value as usize];
        }
    }
    out
}

/// Maps every channel through one lookup table.
pub fn apply_lut(image: &RgbImage, lut: &[u8; 256]) -> RgbImage {
    apply_luts(image, &[*lut; 3])
}

/// `ImageOps.equalize`: per channel, `step = (pixels − pixels of the last used level) // 255` and
/// `lut[i] = (step//2 + Σ_{j<i} hist[j]) // step` (identity when a channel uses one level or `step` is 0).
pub fn equalize(image: &RgbImage) -> RgbImage {
    let histograms = histograms(image);
    let luts = histograms.map(|histogram| {
        let mut lut = identity_lut();
        let used: Vec<u64> = histogram.iter().copied().filter(|&n| n > 0).collect();
        if used.len() <= 1 {
            return lut;
        }
        let last = used.last().copied().unwrap_or(0);
        let step = (used.iter().sum::<u64>() - last) / 255;
        if step == 0 {
            return lut;
        }
        let mut n = step / 2;
        for (entry, &count) in lut.iter_mut().zip(&histogram) {
            *entry = (n / step).min(255) as u8;
            n += count;
        }
        lut
    });
    apply_luts(image, &luts)
}

/// `ImageOps.autocontrast` (no cutoff): per channel, stretches `[lo, hi]` to `[0, 255]` with
/// `lut[i] = int(i·scale − lo·scale)`, `scale = 255/(hi − lo)` in double; a flat channel is left alone.
pub fn autocontrast(image: &RgbImage) -> RgbImage {
    let histograms = histograms(image);
    let luts = histograms.map(|histogram| {
        let lo = histogram.iter().position(|&n| n > 0);
        let hi = histogram.iter().rposition(|&n| n > 0);
        let mut lut = identity_lut();
        if let (Some(lo), Some(hi)) = (lo, hi)
            && hi > lo
        {
            let scale = 255.0 / (hi - lo) as f64;
            let offset = -(lo as f64) * scale;
            for (i, entry) in lut.iter_mut().enumerate() {
                *entry = ((i as f64 * scale + offset) as i64).clamp(0, 255) as u8;
            }
        }
        lut
    });
    apply_luts(image, &luts)
}

/// `ImageOps.posterize` / torchvision `posterize`: keeps the `bits` high bits (0 keeps none, as the tensor
/// version does; Pillow itself accepts 1–8).
pub fn posterize(image: &RgbImage, bits: u8) -> RgbImage {
    let mask = if bits >= 8 {
        0xFF
    } else {
        !((1_u16 << (8 - bits)) - 1) as u8
    };
    let mut lut = identity_lut();
    for entry in &mut lut {
        *entry &= mask;
    }
    apply_lut(image, &lut)
}

/// `ImageOps.solarize` / torchvision `solarize`: inverts every value `>= threshold`.
pub fn solarize(image: &RgbImage, threshold: f64) -> RgbImage {
    let mut lut = identity_lut();
    for entry in &mut lut {
        if *entry as f64 >= threshold {
            *entry = 255 - *entry;
        }
    }
    apply_lut(image, &lut)
}

fn identity_lut() -> [u8; 256] {
    std::array::from_fn(|i| i as u8)
}
