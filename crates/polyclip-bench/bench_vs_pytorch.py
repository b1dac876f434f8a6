#!/usr/bin/env python3
"""polyclip against PyTorch on the same machine in one run, at real size with random weights (issue #15's three
measures; `--parts` picks some):

  embed     load time and embedding throughput of open_clip's xlm-roberta-base-ViT-B-32 (CAPIVARA's base):
            images/s at `--image-batch`, texts/s at `--text-batch` x `--tokens`;
  train     one CAPIVARA train step (vision frozen, Adam as CAPIVARA's, f32) at batch `--train-batch` x
            `--train-tokens`: seconds of the last of `--train-steps` steps (the median of `--train-repeats`
            processes, alternating) and peak RSS, against open_clip's step (bench_large_batch.py's worker, f32, no
            checkpointing) timed the same way;
  generate  greedy captioning with the KV cache, CLIP ViT-B/32 + mBART-large-50's decoder (CLIP-Vision-mBART50's
            layout), `--generation-batch` pictures x `--generation-length` positions: tokens/s, against
            transformers' `generate` of a VisionEncoderDecoderModel of the same sizes (both time the decoder only:
            the pictures are encoded before the clock starts).

Prints one table per part with the ratio to PyTorch; the figures go into BENCHMARKS.md.

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
import re
import subprocess
import sys
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


def train_rows(args, backends, env):
    """Part `train`: `--train-repeats` rounds of polyclip's `--memory capivara` step per backend and open_clip's
    (bench_large_batch.py's worker), alternating, each in its own process; every row keeps all its timings."""
    sys.path.insert(0, str(Path(__file__).parent))
    import bench_large_batch

    torch_command = [sys.executable, bench_large_batch.__file__, "--torch-worker", "--device", "cpu", "--method",
                     "capivara", "--batch", str(args.train_batch), "--tokens", str(args.train_tokens), "--threads",
                     str(args.threads), "--precision", "f32", "--steps", str(args.train_steps)]
    commands = {f"open_clip / torch {torch.__version__}": torch_command}
    for backend in backends:
        commands[f"polyclip ({backend})"] = [args.polyclip, "--backend", backend, "--memory", "capivara",
                                            "--base-batch", str(args.train_batch), "--tokens", str(args.train_tokens),
                                            "--memory-steps", str(args.train_steps)]
    rows = {name: {"name": name, "seconds": [], "second_step": [], "peak_rss_mib": 0.0} for name in commands}
    for _ in range(args.train_repeats):
        for name, command in commands.items():
            result = bench_large_batch.run(command, env)
            if "failed" in result:
                rows[name]["failed"] = result["failed"]
                continue
            rows[name]["seconds"].append(result["last_step_seconds"])
            rows[name]["second_step"].append(result["step_seconds"][1])
            rows[name]["peak_rss_mib"] = max(rows[name]["peak_rss_mib"], result.get("peak_rss_mib") or 0.0)
    rows = list(rows.values())
    return rows[0], rows[1:]


def torch_generation(batch, length, iterations):
    """transformers' greedy `generate` (KV cache) of CLIP ViT-B/32 + mBART-large-50's decoder, random weights."""
    from transformers import (CLIPVisionConfig, MBartConfig, VisionEncoderDecoderConfig,
                              VisionEncoderDecoderModel)

    decoder = MBartConfig(vocab_size=250054, d_model=1024, decoder_layers=12, decoder_attention_heads=16,
                          decoder_ffn_dim=4096, max_position_embeddings=1024, scale_embedding=True, is_decoder=True,
                          add_cross_attention=True, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                          decoder_start_token_id=2, forced_eos_token_id=None)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(CLIPVisionConfig(), decoder)
    config.decoder_start_token_id, config.pad_token_id, config.eos_token_id = 2, 1, 2
    torch.manual_seed(0)
    model = VisionEncoderDecoderModel(config=config).eval()
    pixels = torch.randn(batch, 3, 224, 224)
    with torch.no_grad():
        encoded = model.encoder(pixel_values=pixels)

        def run(new_tokens):
            # min_new_tokens keeps the end token out, so every picture decodes exactly `new_tokens` positions.
            return model.generate(encoder_outputs=encoded, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                  num_beams=1, do_sample=False, use_cache=True)

        run(2)
        started = time.perf_counter()
        for _ in range(iterations):
            out = run(length)
        seconds = (time.perf_counter() - started) / iterations
    return (out.shape[1] - 1) * batch / seconds


def polyclip_generation(args, backend, env):
    """polyclip-bench's greedy, cached tokens/s for the real-size captioner (the last such line it prints)."""
    done = subprocess.run([args.polyclip, "--backend", backend, "--generation", "--large", "--generation-batch",
                           str(args.generation_batch), "--generation-length", str(args.generation_length),
                           "--generation-searches", "greedy-cache"],
                          check=True, capture_output=True, text=True, env=env)
    rates = re.findall(r"^\s+greedy\s+cache\s+([0-9.]+) tokens/s", done.stdout, flags=re.MULTILINE)
    return float(rates[-1])


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
    parser.add_argument("--gemm-kernels", help="what to print as burn-flex's gemm kernels instead of what the binary "
                        "reports (the CPU's best): for a binary built without burn-flex's x86-v4 (bench_avx2.sh)")
    parser.add_argument("--parts", default="embed,train,generate", help="comma-separated: embed, train, generate")
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--train-tokens", type=int, default=32)
    parser.add_argument("--train-steps", type=int, default=3,
                        help="steps per train process, at least 2, the last timed: the first allocates the optimizer's "
                             "state, the second still touches pages never used before (3: a step as training runs it)")
    parser.add_argument("--train-repeats", type=int, default=3, help="processes per side for the train step (median)")
    parser.add_argument("--generation-batch", type=int, default=4)
    parser.add_argument("--generation-length", type=int, default=32)
    args = parser.parse_args()
    if args.train_steps < 2:
        parser.error("--train-steps: at least 2 (the first allocates the optimizer's state)")
    parts = {p for p in args.parts.split(",") if p}
    torch.set_num_threads(args.threads)
    backends = [b for b in args.backends.split(",") if b]
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    cpuinfo = Path("/proc/cpuinfo").read_text()
    flags = sorted({f for f in cpuinfo.split() if f.startswith("avx512")})
    model = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.M)
    print(f"CPU: {model.group(1) if model else '?'}")
    print(f"{args.threads} threads; CPU flags: {' '.join(flags) or 'no avx512'}; PyTorch's kernels: "
          f"{torch.backends.cpu.get_cpu_capability()}", flush=True)
    if "embed" in parts:
        embed(args, backends, env)
    if "train" in parts:
        theirs, ours = train_rows(args, backends, env)
        print(f"\none CAPIVARA train step, batch {args.train_batch} x {args.train_tokens} tokens, vision frozen, f32; "
              f"median of {args.train_repeats} processes each (step {args.train_steps} of each; "
              f"'2nd step': the median of the second steps)")
        print(f"{'':28s} {'s/step':>8s} {'samples/s':>10s} {'peak MiB':>9s} {'× pt':>6s} {'2nd step':>9s} {'× pt':>6s}"
              f"  every s/step")
        median = lambda values: sorted(values)[len(values) // 2]
        for row in [theirs] + ours:
            if "failed" in row or not row["seconds"]:
                print(f"{row['name']:28s} {row.get('failed', 'no timing')}")
                continue
            seconds, second = median(row["seconds"]), median(row["second_step"])
            ratio = second_ratio = ""
            if row is not theirs and theirs["seconds"]:
                ratio = f"{median(theirs['seconds']) / seconds:6.2f}"
                second_ratio = f"{median(theirs['second_step']) / second:6.2f}"
            print(f"{row['name']:28s} {seconds:8.2f} {args.train_batch / seconds:10.2f} {row['peak_rss_mib']:9.0f} "
                  f"{ratio:>6s} {second:9.2f} {second_ratio:>6s}  {' '.join(f'{s:.2f}' for s in row['seconds'])}")
    if "generate" in parts:
        ours = [(backend, polyclip_generation(args, backend, env)) for backend in backends]
        theirs = torch_generation(args.generation_batch, args.generation_length, args.iterations)
        print(f"\ngreedy captioning with the KV cache, CLIP ViT-B/32 + mBART-large-50 decoder, "
              f"{args.generation_batch} pictures x {args.generation_length} positions")
        print(f"{'':28s} {'tokens/s':>9s} {'× pt':>6s}")
        print(f"{'transformers ' + __import__('transformers').__version__:28s} {theirs:9.2f}")
        for backend, rate in ours:
            print(f"{'polyclip (' + backend + ')':28s} {rate:9.2f} {rate / theirs:6.2f}")


def embed(args, backends, env):
    """Part `embed`: loading and embedding, each polyclip backend and PyTorch."""
    directory = Path(args.dir)
    if not (directory / "open_clip_model.safetensors").is_file():
        write_model(directory)
    ours = [json.loads(subprocess.run(
        [args.polyclip, "--backend", backend, "--checkpoint", str(directory), "--base-batch", str(args.image_batch),
         "--text-batch", str(args.text_batch), "--tokens", str(args.tokens), "--iterations", str(args.iterations)],
        check=True, capture_output=True, text=True, env=env).stdout.strip().splitlines()[-1]) for backend in backends]
    device = torch.device("cuda" if "cuda" in backends else "cpu")
    theirs = bench_torch(directory, args.image_batch, args.text_batch, args.tokens, args.iterations, device)
    theirs["framework"] += f" ({device.type})"
    print(f"\nembedding: images batch {args.image_batch} at 224 px, texts batch {args.text_batch} x {args.tokens} tokens; "
          f"gemm kernels: {args.gemm_kernels or ours[0].get('cpu_kernels', '?')}")
    print(f"{'':28s} {'load s':>8s} {'images/s':>10s} {'texts/s':>10s} {'img ×pt':>8s} {'txt ×pt':>8s}")
    print(f"{theirs['framework']:28s} {theirs['load_s']:8.2f} {theirs['images_per_s']:10.2f} {theirs['texts_per_s']:10.2f}")
    for row in ours:
        name = f"polyclip ({row['backend']})"
        print(f"{name:28s} {row['load_s']:8.2f} {row['images_per_s']:10.2f} {row['texts_per_s']:10.2f} "
              f"{row['images_per_s'] / theirs['images_per_s']:8.2f} {row['texts_per_s'] / theirs['texts_per_s']:8.2f}")

if __name__ == "__main__":
    main()
