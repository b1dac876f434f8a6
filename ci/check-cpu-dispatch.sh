#!/usr/bin/env bash
# Which matrix-multiply kernels one polyclip binary runs on CPUs of different kinds (issue #15).
#
# burn-flex multiplies with the `gemm` crate, built with its AVX-512 kernels (burn-flex's `x86-v4` feature) beside
# its AVX2+FMA and scalar ones; gemm picks one at run time from CPUID. This script runs `polyclip embed --backend
# flex` on the same pictures three times: on this machine, and under QEMU's user-mode emulator presenting a Haswell
# CPU (AVX2 + FMA, no AVX-512) and a Nehalem CPU (no AVX). It prints which family of gemm's f32 kernels each run
# called (`avx512f`, `fma` or `scalar`: on this machine gdb stops at the first call; under QEMU its log of the code
# it translated names every function that ran), then compares the embeddings of the three runs with each other.
# Exit status 1 (logs kept) if a run fails, if a CPU gets another kernel family than it has, or if the embeddings
# differ by more than 1e-5 (they differ in the last bits: each family sums in its own order); 77 if the check
# cannot run here (not x86_64, tools missing and not installable, QEMU older than 7.2, a stripped binary).
#
#   bash ci/check-cpu-dispatch.sh [MODEL_DIR]      # default: runs/capivara-seed000/base, left by the main job
#
# Needs qemu-user (7.2 or later), gdb, binutils and python3 (installed from Debian when missing and run as root);
# builds target/release/polyclip unless POLYCLIP names a binary. Emulation says nothing about speed: the time of
# the AVX2 kernels needs an AVX2-only machine.
set -euo pipefail
MODEL=$(realpath -m "${1:-$(dirname "$0")/../runs/capivara-seed000/base}")
[ -z "${POLYCLIP:-}" ] || POLYCLIP=$(realpath -m "$POLYCLIP")
cd "$(dirname "$0")/.."
[ -f "$MODEL/model.json" ] || {
    echo "no model at $MODEL: run the main job first (cargo run --release -p recipes --bin capivara) or name one" >&2
    exit 2
}
DATA=$(dirname "$MODEL")/data/images/test
if [ -d "$DATA" ]; then
    mapfile -t PICTURES < <(ls "$DATA"/*.png | head -8)
else
    mapfile -t PICTURES < <(find tests/fixtures/serve/pictures -name '*.png' | sort | head -8)
fi
if [ -z "${POLYCLIP:-}" ]; then
    cargo build --release -p polyclip-cli --bin polyclip
    POLYCLIP=target/release/polyclip
fi
# Exit status 77: the check cannot run on this machine (said why), as against 1: it ran and found a fault.
skip() {
    echo "check-cpu-dispatch: skipped: $*" >&2
    exit 77
}
[ "$(uname -m)" = x86_64 ] || skip "not an x86_64 machine"
missing=()
command -v qemu-x86_64 >/dev/null || missing+=(qemu-user)
command -v gdb >/dev/null || missing+=(gdb)
command -v nm >/dev/null || missing+=(binutils)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
    { command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; } || skip "needs ${missing[*]} (Debian packages)"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
# QEMU emulates AVX2 from 7.2 on; an older one would fail the Haswell run for its own reasons.
qemu_version=$(qemu-x86_64 --version | grep -o -m1 -E '[0-9]+\.[0-9]+' | head -1)
[ "$(printf '%s\n7.2\n' "$qemu_version" | sort -V | head -1)" = 7.2 ] || skip "QEMU $qemu_version emulates no AVX2 (7.2 does)"
SYMBOL='gemm_f32(::|[0-9]+)gemm(::|[0-9]+)f32(::|[0-9]+)(avx512f|fma|scalar)(::|[0-9]+)gemm_basic'
[ "$(nm "$POLYCLIP" 2>/dev/null | grep -c -E "$SYMBOL" || true)" -gt 0 ] || skip "$POLYCLIP has no gemm symbols (stripped?)"

OUT=$(mktemp -d)
EMBED=(embed --backend flex --model "$MODEL" --images "${PICTURES[@]}" --output)

# The kernel families of gemm's f32 entry point that `polyclip embed` ran on CPU model $1 (`none` if it called
# none), writing the embeddings to $OUT/$1.jsonl; fails if the run itself fails. `host`: this machine, under gdb,
# stopping at the first call. Emulated CPUs: QEMU logs every block of code it translates (`-d in_asm`), named after
# its symbol, so the log names every function that ran.
kernels_on() {
    local log="$OUT/$1.log"
    if [ "$1" = host ]; then
        {
            echo "set pagination off"
            nm "$POLYCLIP" | grep -E "$SYMBOL" | awk '{ print "break " $3 }'
        } >"$OUT/breaks.gdb"
        timeout 120 gdb -batch -x "$OUT/breaks.gdb" -ex run --args "$POLYCLIP" "${EMBED[@]}" "$OUT/gdb.jsonl" \
            >"$log" 2>&1 || true
        "$POLYCLIP" "${EMBED[@]}" "$OUT/$1.jsonl" >"$OUT/$1.out" 2>&1 || return 1
        { grep -m1 -E "Breakpoint [0-9]+, " "$log" || true; } | { grep -o -E "$SYMBOL" || true; } |
            { grep -o -E "avx512f|fma|scalar" || echo none; }
    else
        qemu-x86_64 -cpu "$1" -d in_asm -D "$log" "$POLYCLIP" "${EMBED[@]}" "$OUT/$1.jsonl" >"$OUT/$1.out" 2>&1 ||
            return 1
        local families
        families=$(grep "^IN: " "$log" | { grep -o -E "$SYMBOL" || true; } | { grep -o -E "avx512f|fma|scalar" || true; } |
            sort -u | paste -sd+ -)
        echo "${families:-none}"
    fi
}

status=0
host_expect=scalar
grep -q -w avx2 /proc/cpuinfo && grep -q -w fma /proc/cpuinfo && host_expect=fma
grep -q -w avx512f /proc/cpuinfo && host_expect=avx512f
for cpu in host Haswell Nehalem; do
    case $cpu in
        host) expect=$host_expect ;;
        Haswell) expect=fma ;;
        Nehalem) expect=scalar ;;
    esac
    if got=$(kernels_on "$cpu"); then
        verdict=ok
        [ "$got" = "$expect" ] || { verdict="WRONG (expected $expect)"; status=1; }
    else
        got=failed verdict="the run failed: $(tail -1 "$OUT/$cpu.out")"
        status=1
    fi
    printf '%-8s gemm kernels: %-8s %s\n' "$cpu" "$got" "$verdict"
done
[ $status = 0 ] || { echo "logs kept in $OUT" >&2; exit 1; }
if ! python3 - "$OUT" <<'PY'
import json, sys
runs = {cpu: [json.loads(line)["embedding"] for line in open(f"{sys.argv[1]}/{cpu}.jsonl")]
        for cpu in ("host", "Haswell", "Nehalem")}
if len({len(rows) for rows in runs.values()}) != 1 or not runs["host"]:
    sys.exit(f"the runs wrote different numbers of embeddings: { {cpu: len(rows) for cpu, rows in runs.items()} }")
worst = 0.0
for a, b in (("host", "Haswell"), ("host", "Nehalem"), ("Haswell", "Nehalem")):
    pairs = [(x, y) for ra, rb in zip(runs[a], runs[b]) for x, y in zip(ra, rb)]
    diff = max(abs(x - y) for x, y in pairs)
    same = sum(x == y for x, y in pairs) / len(pairs)
    worst = max(worst, diff)
    print(f"{a} vs {b}: max difference {diff:.2e}, {same * 100:.0f} % of values bit-identical")
sys.exit(0 if worst <= 1e-5 else "the embeddings differ by more than 1e-5")
PY
then
    echo "logs kept in $OUT" >&2
    exit 1
fi
rm -rf "$OUT"
