//! How polyclip derives a seed from several parts (a run seed, an epoch, a position, a stream tag): every
//! seeded draw — loader order, augmentation, the embedded dataset — goes through this one function, so a
//! draw is reproducible from its parts alone.

/// SplitMix64 finaliser: decorrelates seeds built from small integers.
pub fn mix_seed(parts: &[u64]) -> u64 {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for &part in parts {
        let mut z = state ^ part.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        state = z ^ (z >> 31);
    }
    state
}
