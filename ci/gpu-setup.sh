# Sourced by the GPU measurement scripts (ci/gpu-measure.sh, ci/gpu-large-batch.sh), from the repository root of
# a lent GPU machine: $OUT for the logs, the carried release binaries in carry/ unpacked (xz-compressed is fine)
# and made executable, the CUDA libraries on the loader path, and the wheels in .whl/ (open-clip-torch, ftfy,
# wcwidth: the machine has torch and transformers but no network) on PYTHONPATH.
OUT=${OUT:-/tmp/polyclip-gpu}
mkdir -p "$OUT" carry
for packed in carry/*.xz; do
  [ -e "$packed" ] || continue
  python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[1][:-3], "wb"))' "$packed"
done
for binary in carry/*; do
  case "$binary" in *.xz) ;; *) chmod +x "$binary" ;; esac
done
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
