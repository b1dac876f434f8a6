#!/usr/bin/env bash
# Issue #5's measurements on a lent GPU machine (BENCHMARKS.md "Recipes on CUDA" and "Memory"): every built-in
# recipe end to end on CUDA, then one CAPIVARA vs one CAPIVARA + Opt. train step of the real-size model
# (ViT-B/32 + XLM-R base) with and without gradient checkpointing, doubling the batch until it no longer fits.
# Run from the repository root there, with the release binaries of
# `cargo build --release -p recipes -p polyclip-bench --features cuda --bin recipe --bin polyclip-bench`
# in carry/ (recipe, polyclip-bench; xz-compressed is fine). Logs go to $OUT. Usage: ci/gpu-recipes.sh [recipes|memory]
set -uo pipefail
OUT=${OUT:-/tmp/polyclip-gpu}
what=${1:-all}
mkdir -p "$OUT" carry
for packed in carry/*.xz; do
  [ -e "$packed" ] || continue
  python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[1][:-3], "wb"))' "$packed"
done
chmod +x carry/recipe carry/polyclip-bench
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/machine.txt"
if [ "$what" = all ] || [ "$what" = recipes ]; then
  for recipe in capivara capivara-opt clip-italian themo capivara-hi; do
    SECONDS=0
    timeout 300 carry/recipe run "recipes/$recipe.toml" --backend cuda --no-progress --run-dir "/tmp/gpu-$recipe" \
      > "$OUT/$recipe.stdout" 2> "$OUT/$recipe.stderr"
    echo "$recipe exit $? ${SECONDS} s" | tee -a "$OUT/recipes.txt"
    cp "/tmp/gpu-$recipe/report.json" "$OUT/$recipe.report.json" 2>/dev/null
  done
fi
if [ "$what" = all ] || [ "$what" = memory ]; then
  for method in capivara capivara-opt; do
    for checkpointing in "" "--checkpointing"; do
      for batch in 128 256 512 1024 2048 4096; do
        timeout 180 carry/polyclip-bench --backend cuda --memory "$method" $checkpointing --base-batch "$batch" \
          --tokens 32 >> "$OUT/memory.jsonl" 2>> "$OUT/memory.stderr" \
          || { echo "{\"method\":\"$method\",\"checkpointing\":\"${checkpointing:-off}\",\"batch\":$batch,\"failed\":true}" \
                 >> "$OUT/memory.jsonl"; break; }
      done
    done
  done
  cat "$OUT/memory.jsonl"
fi
