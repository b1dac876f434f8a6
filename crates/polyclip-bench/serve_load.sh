#!/usr/bin/env bash
# Load figures for `polyclip serve`: starts the server on the main job's run folder (runs/capivara-seed000, which
# `cargo run --release -p recipes --bin capivara` makes), drives it from this machine with CLIENTS concurrent
# clients (text search, then image search), prints one JSON line per search kind and the server's memory before
# and after, then stops the server. Usage, from the repository root:
#   bash crates/polyclip-bench/serve_load.sh [CLIENTS] [SECONDS] [BACKEND]
set -euo pipefail
clients="${1:-8}"
seconds="${2:-20}"
backend="${3:-ndarray}"
features=""
if [ "$backend" != ndarray ]; then features="--features $backend"; fi
# shellcheck disable=SC2086
cargo build --release -p polyclip-cli -p polyclip-bench $features
log="$(mktemp)"
target/release/polyclip serve --backend "$backend" --addr 127.0.0.1:0 2>"$log" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 600); do
  if grep -q " at http://" "$log"; then break; fi
  if ! kill -0 $server 2>/dev/null; then cat "$log"; exit 1; fi
  sleep 0.5
done
url="$(grep -o 'http://[0-9.:]*' "$log" | head -1)"
grep "serving" "$log"
target/release/polyclip-bench --serve-load "$url" --clients "$clients" --load-seconds "$seconds" \
  --load-requests "${LOAD_REQUESTS:-50000}" --load-picture runs/capivara-seed000/data/images/test/000000.png --server-pid $server
