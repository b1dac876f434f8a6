#!/usr/bin/env bash
# Checks that the CUDA backend compiles (no CUDA toolkit needed: cubecl loads the driver and NVRTC at run time).
# About 1-2 minutes on 2 cores with dependencies cached. Not part of .ci/run, which stays CPU-only.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo check --profile ci -p recipes -p polyclip-bench --features cuda --all-targets
