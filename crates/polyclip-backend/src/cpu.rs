//! Which matrix-multiply kernels the CPU backends run on this machine.

/// The gemm kernels burn-flex picks on this CPU at run time (it is built with the AVX-512 ones; they run only
/// where the CPU has `avx512f`), e.g. `"avx512f"`, `"fma (avx2)"`, `"neon"` or `"scalar"`. Benchmarks print it
/// next to their figures.
pub fn cpu_kernels() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            "avx512f"
        } else if std::arch::is_x86_feature_detected!("fma") {
            "fma (avx2)"
        } else {
            "scalar"
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        "neon"
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "scalar"
    }
}
