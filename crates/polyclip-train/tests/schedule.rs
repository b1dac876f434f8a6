//! CAPIVARA's CosineWarmupLR at its defining points.

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
