#!/usr/bin/env bash
# bench_vs_pytorch.py's `embed` and `train` parts twice on an AVX-512 machine: first with both sides held to
# AVX2-class kernels, as on a CPU without AVX-512 (issue #15 asks for flex at >= 0.7x PyTorch on either kind), then
# with this CPU's own kernels, for the ratio beside it.
#
#   burn-flex: a polyclip-bench built from HEAD in a scratch worktree with burn-flex's `x86-v4` feature dropped from
#              the workspace Cargo.toml, so gemm has no AVX-512 kernels to pick and runs its FMA/AVX2 ones (the
#              binary still reports the CPU's best, `avx512f`; the table is told `fma (avx2)` instead).
#              burn-flex's element-wise SIMD (macerator) still picks AVX-512 at run time: only the matmuls are held.
#   PyTorch:   ATEN_CPU_CAPABILITY=avx2 (ATen's vectorized kernels), MKL_ENABLE_INSTRUCTIONS=AVX2 (MKL's GEMM on
#              Intel CPUs; on AMD ones MKL takes its generic path whatever the variable says) and
#              ONEDNN_MAX_CPU_ISA=AVX2 (oneDNN).
#
# The CPU's own kernels come from POLYCLIP (default: target/release/polyclip-bench, built by `cargo build --release
# -p polyclip-bench` first).
#
#   PYTHON=/path/to/venv/bin/python bash crates/polyclip-bench/bench_avx2.sh [bench_vs_pytorch.py options]
#
# Extra options (e.g. --train-repeats 3) go to both runs. Needs what bench_vs_pytorch.py needs, git and cargo.
# The AVX2 build goes to target/avx2 (AVX2_TARGET_DIR), from a worktree of HEAD kept in target/avx2/src: a full
# release build the first time, then only what changed. Both binaries are HEAD's: the script refuses to build
# with uncommitted changes to the sources.
set -euo pipefail
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
python=${PYTHON:-python3}
bench="$root/crates/polyclip-bench/bench_vs_pytorch.py"

if [ "$(uname -m)" != x86_64 ] || ! grep -qw avx512f /proc/cpuinfo; then
    echo "bench_avx2.sh: needs an x86_64 CPU with avx512f (on an AVX2-only one, run bench_vs_pytorch.py as it is)" >&2
    exit 77
fi

target=${AVX2_TARGET_DIR:-$root/target/avx2}
if [ -z "${POLYCLIP_AVX2:-}" ] || [ -z "${POLYCLIP:-}" ]; then
    # Both binaries are built from HEAD's sources: the AVX2 one from a worktree of HEAD, the other from this tree.
    if ! git -C "$root" diff --quiet HEAD -- '*.rs' '*Cargo.toml' Cargo.lock vendor; then
        echo "bench_avx2.sh: this tree has uncommitted changes to what cargo builds; commit them, or give both POLYCLIP_AVX2 and POLYCLIP" >&2
        exit 1
    fi
fi
if [ -z "${POLYCLIP_AVX2:-}" ]; then
    # A worktree at a fixed path (target/avx2/src), so that cargo rebuilds only what changed since the last run.
    tree="$target/src"
    git -C "$root" worktree prune
    if [ ! -e "$tree/.git" ]; then
        mkdir -p "$target"
        git -C "$root" worktree add -q --detach "$tree" HEAD
    fi
    git -C "$tree" checkout -q --force --detach "$(git -C "$root" rev-parse HEAD)"
    sed -i 's/"rayon", "x86-v4"\]/"rayon"]/' "$tree/Cargo.toml"
    if grep -q '"x86-v4"' "$tree/Cargo.toml"; then
        echo "bench_avx2.sh: could not drop burn-flex's x86-v4 feature from Cargo.toml" >&2
        exit 1
    fi
    (cd "$tree" && CARGO_TARGET_DIR="$target" cargo build --release -q -p polyclip-bench)
    POLYCLIP_AVX2="$target/release/polyclip-bench"
fi
if [ -z "${POLYCLIP:-}" ]; then
    # Built here even when a binary is there: it may be one with other features (ci/tch.sh's needs libtorch).
    echo "bench_avx2.sh: cargo build --release -p polyclip-bench (replaces target/release/polyclip-bench)" >&2
    (cd "$root" && cargo build --release -q -p polyclip-bench)
    POLYCLIP="$root/target/release/polyclip-bench"
fi

echo "== AVX2 on both sides: burn-flex without x86-v4; PyTorch with ATEN_CPU_CAPABILITY=avx2, MKL and oneDNN held to AVX2"
ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 \
    "$python" "$bench" --polyclip "$POLYCLIP_AVX2" --gemm-kernels "fma (avx2)" --backends flex --parts embed,train "$@"
echo
echo "== this CPU's own kernels"
"$python" "$bench" --polyclip "$POLYCLIP" --backends flex --parts embed,train "$@"
