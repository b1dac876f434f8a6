#!/usr/bin/env bash
# A model trained here, exported, loads in Python with the same outputs: runs a short capivara recipe, exports
# the fine-tuned stage in open_clip's layout with `polyclip export`, embeds held-out pictures and captions with
# `polyclip embed`, then has open_clip load the export and embed the same inputs
# (tests/fixtures/make_fixtures.py verify-embeddings). Also re-exports every parity fixture and checks it with
# transformers / open_clip / multilingual_clip (verify-exports). Needs the fixture venv (VENV, default
# .venv-fixtures; see make_fixtures.py for its packages). Not part of .ci/run: it needs Python.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv-fixtures}
WORK=${WORK:-runs/verify-export}
rm -rf "$WORK" && mkdir -p "$WORK"
cargo build --release -p recipes -p polyclip-cli --bins
target/release/capivara --run-dir "$WORK/run" --base-steps 60 --steps 30 --no-progress > "$WORK/capivara.log"
target/release/polyclip export --model "$WORK/run/finetune" --format open-clip --out "$WORK/trained/capivara-finetune"
mapfile -t pictures < <(ls "$WORK"/run/data/images/test/*.png | head -n 4)
target/release/polyclip embed --model "$WORK/run/finetune" --images "${pictures[@]}" \
  --texts "dois círculos vermelhos" "uma estrela amarela à esquerda" "three blue squares" \
  --output "$WORK/embeddings.jsonl"
"$VENV/bin/python" tests/fixtures/make_fixtures.py verify-embeddings "$WORK/trained/capivara-finetune" "$WORK/embeddings.jsonl"

for fixture in hf_clip hf_clip_sharded openclip_vit openclip_xlmr capivara clip_italian mclip; do
  target/release/polyclip export --model "tests/fixtures/models/$fixture" --out "$WORK/exported/$fixture" 2>/dev/null
done
for fixture in hf_clip_sharded openclip_vit; do
  target/release/polyclip export --model "tests/fixtures/models/$fixture" --format open-clip \
    --out "$WORK/exported/$fixture-open_clip" 2>/dev/null
done
"$VENV/bin/python" tests/fixtures/make_fixtures.py verify-exports "$WORK/exported"
