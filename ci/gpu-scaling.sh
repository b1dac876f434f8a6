#!/usr/bin/env bash
# Issue #18's GPU scaling figures on a lent machine with several GPUs, as one command (at most ~8 minutes):
# samples/s of the embedded CAPIVARA job's stages on 1, 2, … GPUs of one node (`--devices cuda:0,…`, one peer per
# GPU, the recipe's global batch raised to 1024 so every GPU has rows to embed), then the same GPUs as two nodes on
# the loopback (`--num-nodes 2`, half the GPUs each). Set up as ci/gpu-measure.sh says (release `capivara` built by
# ci/build-cuda-release.sh in carry/); the table goes to $OUT/scaling.txt. The losses of every run are in its run
# folder: they must match the one-GPU run's within reduction order.
set -uo pipefail
source "$(dirname "$0")/gpu-setup.sh"
gpus=$(nvidia-smi --list-gpus | wc -l)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/scaling.txt"
if [ "$gpus" -lt 2 ]; then
  echo "one GPU: nothing to scale" | tee -a "$OUT/scaling.txt"
  exit 0
fi
common=(--backend cuda --batch-size 1024 --base-steps 60 --steps 30 --no-progress)
line() { grep -E '^stage (base|finetune):' "$1" | sed 's/^/  /'; }
for n in $(seq 1 "$gpus"); do
  devices=$(seq -s, -f 'cuda:%g' 0 $((n - 1)))
  echo "== $n GPU(s) of one node: --devices $devices" | tee -a "$OUT/scaling.txt"
  timeout 240 carry/capivara "${common[@]}" --devices "$devices" --run-dir "$OUT/gpus-$n" > "$OUT/gpus-$n.log" 2>&1
  line "$OUT/gpus-$n.log" | tee -a "$OUT/scaling.txt"
done
half=$((gpus / 2))
first=$(seq -s, -f 'cuda:%g' 0 $((half - 1)))
echo "== 2 nodes on the loopback, $half GPU(s) each" | tee -a "$OUT/scaling.txt"
# Both processes see every GPU; the second node takes the upper half through CUDA_VISIBLE_DEVICES.
upper=$(seq -s, "$half" $((2 * half - 1)))
timeout 240 carry/capivara "${common[@]}" --devices "$first" --num-nodes 2 --node-rank 0 \
  --coordinator 127.0.0.1:29500 --node-address 127.0.0.1:29501 --run-dir "$OUT/nodes-0" > "$OUT/nodes-0.log" 2>&1 &
CUDA_VISIBLE_DEVICES="$upper" timeout 240 carry/capivara "${common[@]}" --devices "$first" --num-nodes 2 \
  --node-rank 1 --coordinator 127.0.0.1:29500 --node-address 127.0.0.1:29502 --run-dir "$OUT/nodes-1" \
  > "$OUT/nodes-1.log" 2>&1
wait
line "$OUT/nodes-0.log" | tee -a "$OUT/scaling.txt"
