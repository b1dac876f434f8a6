#!/usr/bin/env bash
# Measures polyclip on a lent GPU machine (see BENCHMARKS.md "GPU"). Run from the repository root there, with
# the release binaries of ci/build-cuda-release.sh in carry/ (capivara, polyclip-bench; xz-compressed is fine)
# and, for the PyTorch comparison, the wheels of open-clip-torch, ftfy and wcwidth in .whl/ (the machine has
# torch and transformers but no network). Every step runs even if an earlier one failed; logs go to $OUT.
set -uo pipefail
source "$(dirname "$0")/gpu-setup.sh"

step() { echo; echo "=== $* ($(date -u +%H:%M:%S))"; }

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$OUT/machine.txt"
nproc | tee -a "$OUT/machine.txt"

step "capivara, embedded default, --backend cuda"
run=/tmp/capivara-cuda
SECONDS=0
timeout "${CAPIVARA_TIMEOUT:-360}" carry/capivara --backend cuda --no-progress --run-dir "$run" \
  > "$OUT/capivara.stdout" 2> >(while IFS= read -r line; do echo "$(date -u +%T) $line"; done > "$OUT/capivara.stderr")
echo "exit $?, ${SECONDS} s"
tail -n 25 "$OUT/capivara.stdout"
tail -n 5 "$OUT/capivara.stderr"
cp "$run/report.json" "$run/report.md" "$OUT/" 2>/dev/null
for stage in base finetune; do cp "$run/$stage/metrics.jsonl" "$OUT/$stage.metrics.jsonl" 2>/dev/null; done

step "polyclip vs PyTorch, ViT-B/32 + XLM-R base checkpoint"
timeout 150 python3 crates/polyclip-bench/bench_vs_pytorch.py --polyclip carry/polyclip-bench --backend cuda \
  --image-batch 64 --text-batch 256 --iterations 20 --threads "$(nproc)" 2>&1 | tee "$OUT/vs_pytorch.txt"

step "throughput, random weights"
carry/polyclip-bench --backend cuda --shapes tiny --tiny-batch 128 --iterations 20 2>&1 | tee "$OUT/bench.txt"
carry/polyclip-bench --backend cuda --shapes tiny --tiny-batch 128 --iterations 20 --freeze-vision 2>&1 | tee -a "$OUT/bench.txt"
for batch in 64 256; do
  carry/polyclip-bench --backend cuda --shapes vit-b32-xlmr-base --base-batch $batch --iterations 10 2>&1 | tee -a "$OUT/bench.txt"
  carry/polyclip-bench --backend cuda --shapes vit-b32-xlmr-base --base-batch $batch --iterations 10 --freeze-vision 2>&1 | tee -a "$OUT/bench.txt"
done
