#!/usr/bin/env bash
# Builds and tests the LibTorch backend against a pip-installed torch 2.9.0 (tch 0.22 = libtorch 2.9.0).
# Heavy (a ~6.7 GB venv, ~3 GB download): run by hand, not in .ci/run. See README "Backends".
#
#   bash ci/tch.sh                      # venv in .venv-tch (made when missing)
#   VENV=/work/venv-tch bash ci/tch.sh  # an existing venv, relative or absolute
#
# It runs every test that runs on every backend (parity of checkpoints, captioner, optimisers and losses, and the
# learning test) on LibTorch's CPU, then the tch smoke runs.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv-tch}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q torch==2.9.0
fi
VENV=$(cd "$VENV" && pwd)
export LIBTORCH_USE_PYTORCH=1
export PATH="$VENV/bin:$PATH"
TORCH_LIB=$("$VENV/bin/python" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$TORCH_LIB:${LD_LIBRARY_PATH:-}"
# `NAME::tch` tests: the parity and learning tests instantiated for every backend compiled in.
cargo test --profile ci -p polyclip-train -p polyclip-checkpoints -p polyclip-tests \
  --features polyclip-backend/tch \
  --test optimizer_parity --test sequence_loss --test parity --test seq2seq --test learning -- tch
cargo build --release -p polyclip-bench -p recipes --features tch --bins
./target/release/polyclip-bench --backend tch --shapes tiny --iterations 3
./target/release/capivara --backend tch --base-steps 20 --steps 20 --run-dir runs/tch-smoke --no-progress
