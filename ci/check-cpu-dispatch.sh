#!/usr/bin/env bash
# Which matrix-multiply kernels one polyclip binary runs on CPUs of different kinds (issue #15).
#
# burn-flex multiplies with the `gemm` crate, built with its AVX-512 kernels (burn-flex's `x86-v4` feature) beside
# its AVX2+FMA and scalar ones; gemm picks one at run time from CPUID. This script runs `polyclip embed --backend
# flex` on the same pictures three times: on this machine, and under QEMU's user-mode emulator presenting a Haswell
# CPU (AVX2 + FMA, no AVX-512) and a Nehalem CPU (no AVX). It prints which family of gemm's f32 kernels each run
# called (`avx512f`, `fma` or `scalar`: on this machine gdb stops at the first call; under QEMU its log of the code
# it translated names every function that ran), then compares the embeddings of the three runs with each other. Fails if an emulated CPU gets a kernel it does not have, or if the embeddings differ
# by more than 1e-5 (they differ in the last bits: each kernel family sums in its own order).
#
#   bash ci/check-cpu-dispatch.sh [MODEL_DIR]      # default: runs/capivara-seed000/base, left by the main job
#
# Needs qemu-user and gdb (installed from Debian when missing) and python3; builds target/release/polyclip
# unless POLYCLIP names a binary. Emulation says nothing about speed: the time of AVX2-only kernels needs an
# AVX2-only machine.
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
missing=()
command -v qemu-x86_64 >/dev/null || missing+=(qemu-user)
command -v gdb >/dev/null || missing+=(gdb)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
EMBED=(embed --backend flex --model "$MODEL" --images "${PICTURES[@]}" --output)
SYMBOL='gemm_f32(::|[0-9]+)gemm(::|[0-9]+)f32(::|[0-9]+)(avx512f|fma|scalar)(::|[0-9]+)gemm_basic'

# The kernel families of gemm's f32 entry point that `polyclip embed` ran on CPU model $1, writing the embeddings
# to $OUT/$1.jsonl. `host`: this machine, under gdb, stopping at the first call. Emulated CPUs: QEMU logs every
# block of code it translates (`-d in_asm`), named after its symbol, so the log names every function that ran.
kernels_on() {
    local log="$OUT/$1.log"
    if [ "$1" = host ]; then
        {
            echo "set pagination off"
            nm "$POLYCLIP" | grep -E "$SYMBOL" | awk '{ print "break " $3 }'
        } >"$OUT/breaks.gdb"
        timeout 120 gdb -batch -x "$OUT/breaks.gdb" -ex run --args "$POLYCLIP" "${EMBED[@]}" "$OUT/gdb.jsonl" \
            >"$log" 2>&1 || true
        "$POLYCLIP" "${EMBED[@]}" "$OUT/$1.jsonl" >/dev/null 2>&1
        grep -m1 "hit Breakpoint" "$log" | grep -o -E "$SYMBOL" | grep -o -E "avx512f|fma|scalar" || echo none
    else
        qemu-x86_64 -cpu "$1" -d in_asm -D "$log" "$POLYCLIP" "${EMBED[@]}" "$OUT/$1.jsonl" >/dev/null 2>&1
        grep "^IN: " "$log" | grep -o -E "$SYMBOL" | grep -o -E "avx512f|fma|scalar" | sort -u | paste -sd+ -
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
    got=$(kernels_on "$cpu")
    verdict=ok
    [ "$got" = "$expect" ] || { verdict="WRONG (expected $expect)"; status=1; }
    printf '%-8s gemm kernels: %-8s %s\n' "$cpu" "${got:-none}" "$verdict"
done
python3 - "$OUT" <<'PY' || status=1
import json, sys
runs = {cpu: [json.loads(line)["embedding"] for line in open(f"{sys.argv[1]}/{cpu}.jsonl")]
        for cpu in ("host", "Haswell", "Nehalem")}
worst = 0.0
for a, b in (("host", "Haswell"), ("host", "Nehalem"), ("Haswell", "Nehalem")):
    pairs = [(x, y) for ra, rb in zip(runs[a], runs[b]) for x, y in zip(ra, rb)]
    diff = max(abs(x - y) for x, y in pairs)
    same = sum(x == y for x, y in pairs) / len(pairs)
    worst = max(worst, diff)
    print(f"{a} vs {b}: max difference {diff:.2e}, {same * 100:.0f} % of values bit-identical")
sys.exit(0 if worst <= 1e-5 else 1)
PY
exit $status
