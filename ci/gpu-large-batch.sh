#!/usr/bin/env bash
# The large-batch figures of issue #16 on a lent GPU machine, as one command (at most 11 minutes):
# polyclip's real-size CAPIVARA step at the seed's batch of 2816 and CAPIVARA + Opt. at 1000, the whole batch in
# one graph and in micro-batches, each next to open_clip (PyTorch AMP bf16 + gradient checkpointing, same model,
# optimizer and batch) in the same run. Set up as ci/gpu-measure.sh says (release polyclip-bench from
# ci/build-cuda-release.sh in carry/, open_clip wheels in .whl/); logs go to $OUT.
set -uo pipefail
source "$(dirname "$0")/gpu-setup.sh"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/large-batch.txt"
# CAPIVARA (vision frozen, text tower trains) at the seed's batch; the whole batch did not fit at 1536 before.
timeout 420 python3 crates/polyclip-bench/bench_large_batch.py --polyclip carry/polyclip-bench --backend cuda \
  --method capivara --batch 2816 --micro-batches none,704,256 --precisions f32,bf16 --threads "$(nproc)" 2>&1 | tee -a "$OUT/large-batch.txt"
# CAPIVARA + Opt. (LoRA r=8 on query/value) at its batch of 1000.
timeout 240 python3 crates/polyclip-bench/bench_large_batch.py --polyclip carry/polyclip-bench --backend cuda \
  --method capivara-opt --batch 1000 --micro-batches none,250 --precisions f32,bf16 --threads "$(nproc)" 2>&1 | tee -a "$OUT/large-batch.txt"
