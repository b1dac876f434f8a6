#!/usr/bin/env bash
# Builds the release binaries with the CUDA backend, for a GPU machine (carry target/release/{capivara,
# polyclip-bench}). The binaries start on machines without a GPU and say so in one line.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p recipes -p polyclip-bench --features cuda --bins
