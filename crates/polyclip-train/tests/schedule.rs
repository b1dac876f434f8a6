//! CAPIVARA's CosineWarmupLR at its defining points.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use polyclip_train::LrSchedule;

#[test]
fn cosine_warmup_rises_linearly_then_returns_to_the_minimum() {
    let schedule = LrSchedule::CosineWarmup {
        lr_min: 1e-7,
        lr_max: 5e-7,
        warmup_steps: 500,
    };
    let total = 5863;
    assert_eq!(schedule.lr(0, total), 1e-7);
    assert!((schedule.lr(250, total) - 3e-7).abs() < 1e-18);
    assert!((schedule.lr(500, total) - 5e-7).abs() < 1e-18);
    let middle = 500 + (total - 500) / 2;
    assert!((schedule.lr(middle, total) - 3e-7).abs() < 1e-10);
    assert!((schedule.lr(total, total) - 1e-7).abs() < 1e-18);
    // Monotone decrease after the warm-up.
    let rates: Vec<f64> = (500..=total).map(|s| schedule.lr(s, total)).collect();
    assert!(rates.windows(2).all(|w| w[1] <= w[0]));
}

#[test]
fn linear_warmup_decay_matches_get_linear_schedule_with_warmup() {
    // The captioner seed: lr 5e-5, 1000 warm-up steps, then linear to 0.
    let schedule = LrSchedule::LinearWarmupDecay {
        lr_max: 5e-5,
        warmup_steps: 1000,
    };
    let total = 5000;
    assert_eq!(schedule.lr(0, total), 0.0);
    assert!((schedule.lr(500, total) - 2.5e-5).abs() < 1e-18);
    assert!((schedule.lr(1000, total) - 5e-5).abs() < 1e-18);
    assert!((schedule.lr(3000, total) - 2.5e-5).abs() < 1e-18);
    assert_eq!(schedule.lr(total, total), 0.0);
}
