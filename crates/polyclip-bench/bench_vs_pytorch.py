#!/usr/bin/env python3
"""Load time and embedding throughput of a real-size ViT-B/32 + XLM-R-base model (open_clip's
xlm-roberta-base-ViT-B-32, CAPIVARA's base; random weights) in PyTorch and in polyclip, on the same machine in
one run. Prints both and the ratio; the figures go into BENCHMARKS.md.

    cargo build --release -p polyclip-bench
    v/bin/python crates/polyclip-bench/bench_vs_pytorch.py --polyclip target/release/polyclip-bench --threads 2

`--backends ndarray,flex` (the default) runs each polyclip CPU backend in turn; add `tch` with a binary built by
ci/tch.sh. The CPU's AVX-512 flags and the gemm kernels burn-flex picked are printed with the table.

(`v` is the fixture venv of tests/fixtures/make_fixtures.py.) The model folder (1.4 GB) is written to --dir
once and reused. On a GPU machine: build polyclip-bench with `--features cuda` and pass `--backend cuda`;
PyTorch then runs on `cuda` too (its timings synchronise the device).
"""

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import torch


def write_model(directory):
    import open_clip
    from safetensors.torch import save_file
    from transformers import XLMRobertaConfig

    text_dir = directory / "text"
    text_dir.mkdir(parents=True, exist_ok=True)
    XLMRobertaConfig(vocab_size=250002, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                     intermediate_size=3072, max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5,
                     pad_token_id=1, bos_token_id=0, eos_token_id=2).save_pretrained(text_dir)
    cfg = json.loads((Path(open_clip.__file__).parent / "model_configs" / "xlm-roberta-base-ViT-B-32.json").read_text())
    cfg["text_cfg"].update(hf_model_name="text", hf_tokenizer_name="text")
    (directory / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg, "preprocess_cfg": {}}, indent=2))
    model = build(directory, cfg)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(directory / "open_clip_model.safetensors"))


def build(directory, cfg):
    import open_clip

    text_cfg = dict(cfg["text_cfg"], hf_model_name=str(directory / "text"), hf_tokenizer_name=str(directory / "text"),
                    hf_model_pretrained=False)
    return open_clip.model.CustomTextCLIP(embed_dim=cfg["embed_dim"], vision_cfg=cfg["vision_cfg"], text_cfg=text_cfg).eval()


def bench_torch(directory, image_batch, text_batch, tokens, iterations, device):
    from safetensors.torch import load_file

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    started = time.perf_counter()
    cfg = json.loads((directory / "open_clip_config.json").read_text())["model_cfg"]
    model = build(directory, cfg)
    model.load_state_dict(load_file(str(directory / "open_clip_model.safetensors"), device=str(device)))
    model.to(device)
    sync()
    load_s = time.perf_counter() - started
    pixels = torch.randn(image_batch, 3, 224, 224, device=device)
    ids = torch.tensor([[5 + (i * tokens + j) * 7919 % (250002 - 10) for j in range(tokens)] for i in range(text_batch)],
                       device=device)

    def rate(batch, work):
        with torch.no_grad():
            work()
            sync()
            started = time.perf_counter()
            for _ in range(iterations):
                work()
            sync()
            return iterations * batch / (time.perf_counter() - started)

    return {
        "framework": f"pytorch {torch.__version__}",
        "load_s": load_s,
        "images_per_s": rate(image_batch, lambda: model.encode_image(pixels, normalize=True)),
        "texts_per_s": rate(text_batch, lambda: model.encode_text(ids, normalize=True)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--polyclip", required=True, help="path to a release polyclip-bench binary")
    parser.add_argument("--dir", default="/tmp/polyclip-vit-b32-xlmr-base", help="model folder (written once)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--image-batch", type=int, default=8)
    parser.add_argument("--text-batch", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--backends", default="ndarray,flex", help="comma-separated polyclip backends")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    directory = Path(args.dir)
    if not (directory / "open_clip_model.safetensors").is_file():
        write_model(directory)
    backends = [b for b in args.backends.split(",") if b]
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    ours = [json.loads(subprocess.run(
        [args.polyclip, "--backend", backend, "--checkpoint", str(directory), "--base-batch", str(args.image_batch),
         "--text-batch", str(args.text_batch), "--tokens", str(args.tokens), "--iterations", str(args.iterations)],
        check=True, capture_output=True, text=True, env=env).stdout.strip().splitlines()[-1]) for backend in backends]
    device = torch.device("cuda" if "cuda" in backends else "cpu")
    theirs = bench_torch(directory, args.image_batch, args.text_batch, args.tokens, args.iterations, device)
    theirs["framework"] += f" ({device.type})"
    flags = sorted({f for f in Path("/proc/cpuinfo").read_text().split() if f.startswith("avx512")})
    print(f"{args.threads} threads, images batch {args.image_batch} at 224 px, texts batch {args.text_batch} x {args.tokens} tokens")
    print(f"CPU flags: {' '.join(flags) or 'no avx512'}; gemm kernels: {ours[0].get('cpu_kernels', '?')}")
    print(f"{'':28s} {'load s':>8s} {'images/s':>10s} {'texts/s':>10s} {'img ×pt':>8s} {'txt ×pt':>8s}")
    print(f"{theirs['framework']:28s} {theirs['load_s']:8.2f} {theirs['images_per_s']:10.2f} {theirs['texts_per_s']:10.2f}")
    for row in ours:
        name = f"polyclip ({row['backend']})"
        print(f"{name:28s} {row['load_s']:8.2f} {row['images_per_s']:10.2f} {row['texts_per_s']:10.2f} "
              f"{row['images_per_s'] / theirs['images_per_s']:8.2f} {row['texts_per_s'] / theirs['texts_per_s']:8.2f}")

if __name__ == "__main__":
    main()
