//! The process's heap: mimalloc, for every binary and test that links this crate (feature `mimalloc`, on by
//! default; turn it off to keep your own `#[global_allocator]`).
//!
//! burn-flex allocates a fresh buffer for most ops' outputs and frees its inputs' buffers. glibc's malloc serves
//! buffers over its mmap threshold (128 KiB to start with) from fresh mappings and returns them to the kernel on
//! free, so a training step of the embedded default paid page faults, page zeroing and `munmap` for every
//! activation: 15 % of the main job's wall time was kernel time (`time`: 30 s sys in a 206 s run). mimalloc keeps
//! freed pages for the next allocation. Measured on 2 cores (BENCHMARKS.md, "burn-flex's hot spots"): the base
//! stage of `capivara --base-steps 150 --steps 60` went from 520 to 611 samples/s with the same losses.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay`: its position in `mi_option_e` (mimalloc.h), the same in mimalloc 3, which
/// libmimalloc-sys 0.1.49 builds, and in mimalloc 2. The Rust bindings name the option after it
/// (`mi_option_use_numa_nodes`, 16) but not this one.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = libmimalloc_sys::mi_option_use_numa_nodes - 1;

/// Keeps freed pages in the process instead of handing them back to the kernel (`purge_delay = -1`), unless the
/// environment sets `MIMALLOC_PURGE_DELAY` (then that value holds).
///
/// By default mimalloc returns a freed block of tens of MiB to the kernel after its purge delay (1000 ms in the
/// mimalloc 3 that libmimalloc-sys 0.1.49 builds; setting 1000 explicitly did not make the step faster, 9.08 s in
/// that run), so at real size every gradient and Adam temporary of the 250 002 × 768 embedding matrix (733 MiB
/// each) came back as fresh pages that the kernel zeroed: `clear_page_erms` was the largest entry of the profile
/// of a CAPIVARA train step. Keeping them took the step from 8.50 to 7.37 s at batch 16 (peak RSS 5 621 → 5 980
/// MiB). The price: a process holds the
/// largest working set it has had until it exits (as PyTorch's CUDA caching allocator does on the GPU).
///
/// Runs once per process: `mi_option_set` is not synchronised, and later calls (one per `run_job`) do nothing.
pub fn keep_freed_pages() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: sets one of mimalloc's process-wide options, which it reads whenever it considers purging;
            // any value is valid for this option, and `ONCE` keeps two threads from writing it at once.
            unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) }
        }
    });
}
