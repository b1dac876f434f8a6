#!/usr/bin/env python3
"""Memory and speed of one real-size CAPIVARA train step at large contrastive batches: polyclip (whole batch in one
graph, or `--micro-batch` rows at a time: the chunked step of `[stage.train] micro_batch`) and, side by side in the
same run, open_clip in PyTorch (AMP bf16 and gradient checkpointing by default, the same model, optimizer and batch).

Model: open_clip's xlm-roberta-base-ViT-B-32 (CAPIVARA's base, random weights, 366 M parameters), vision frozen;
`capivara` trains the whole text tower and the temperature, `capivara-opt` LoRA r=8 on query/value (the encoder
frozen), the projection and the temperature. Optimizer: Adam (betas 0.9/0.98, eps 1e-8, L2 0.2), as CAPIVARA's.
Every configuration runs in its own process (the peak is the process's): `--steps` steps (2 by default), the
last timed (the first allocates the optimizer's state; on the CPU the second still touches pages the process
never used, from the third on polyclip's allocator reuses its own).

    cargo build --release -p polyclip-bench                       # or ci/build-cuda-release.sh for CUDA
    v/bin/python crates/polyclip-bench/bench_large_batch.py --polyclip target/release/polyclip-bench \\
        --batch 256 --micro-batches none,16,64,256                # CPU: peak RSS must not grow with the batch
    v/bin/python crates/polyclip-bench/bench_large_batch.py --polyclip target/release/polyclip-bench \\
        --backend cuda --method capivara --batch 2816 --micro-batches none,256,704   # the seed's batch on one GPU
    v/bin/python crates/polyclip-bench/bench_large_batch.py ... --method capivara-opt --batch 1000

One JSON line per configuration, then a table. On CUDA the memory column is the device's (`nvidia-smi` after the
steps for polyclip, whose pool keeps what it allocated; `torch.cuda.max_memory_allocated` for PyTorch); on the
CPU it is the peak resident set (VmHWM). A configuration that runs out of memory is reported as such.
(`v` is the fixture venv of tests/fixtures/make_fixtures.py; open_clip builds the model from its own config,
with nothing downloaded.)
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

ADAM = dict(betas=(0.9, 0.98), eps=1e-8, weight_decay=0.2)


def open_clip_model(device):
    import open_clip
    from transformers import XLMRobertaConfig

    text_dir = Path(os.environ.get("TMPDIR", "/tmp")) / "polyclip-bench-xlmr-base-config"
    text_dir.mkdir(parents=True, exist_ok=True)
    XLMRobertaConfig(vocab_size=250002, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                     intermediate_size=3072, max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5,
                     pad_token_id=1, bos_token_id=0, eos_token_id=2).save_pretrained(text_dir)
    cfg = json.loads((Path(open_clip.__file__).parent / "model_configs" / "xlm-roberta-base-ViT-B-32.json").read_text())
    text_cfg = dict(cfg["text_cfg"], hf_model_name=str(text_dir), hf_tokenizer_name=str(text_dir),
                    hf_model_pretrained=False)
    model = open_clip.model.CustomTextCLIP(embed_dim=cfg["embed_dim"], vision_cfg=cfg["vision_cfg"], text_cfg=text_cfg)
    return model.to(device)


class Lora(torch.nn.Module):
    """`W·x + (α/r)·B·A·x` around a frozen linear layer (peft's LoRA, no dropout)."""

    def __init__(self, base, r=8, alpha=8.0):
        super().__init__()
        self.base, self.scale = base, alpha / r
        self.lora_a = torch.nn.Parameter(torch.randn(r, base.in_features, device=base.weight.device) * 0.01)
        self.lora_b = torch.nn.Parameter(torch.zeros(base.out_features, r, device=base.weight.device))

    def forward(self, x):
        return self.base(x) + (x @ self.lora_a.t() @ self.lora_b.t()) * self.scale


def torch_step(args):
    """One configuration of the PyTorch side, in this process: prints one JSON line."""
    import open_clip

    device = torch.device(args.device)
    torch.manual_seed(0)
    model = open_clip_model(device)
    model.visual.requires_grad_(False)
    if args.method == "capivara-opt":
        model.text.transformer.requires_grad_(False)
        for layer in model.text.transformer.encoder.layer:
            layer.attention.self.query = Lora(layer.attention.self.query)
            layer.attention.self.value = Lora(layer.attention.self.value)
    if args.checkpointing:
        model.set_grad_checkpointing(True)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-5, **ADAM)
    loss_fn = open_clip.loss.ClipLoss()
    pixels = torch.randn(args.batch, 3, 224, 224, device=device)
    ids = torch.tensor([[5 + (i * args.tokens + j) * 7919 % (250002 - 10) for j in range(args.tokens)]
                        for i in range(args.batch)], device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            image, text, scale = model(pixels, ids)
            loss = loss_fn(image, text, scale)
        loss.backward()
        optimizer.step()
        return loss.item()

    step_seconds = []
    for _ in range(args.steps):
        started = time.perf_counter()
        loss = step()
        sync()
        step_seconds.append(time.perf_counter() - started)
    seconds = step_seconds[-1]
    row = {
        "framework": f"open_clip {open_clip.__version__} / torch {torch.__version__}",
        "method": args.method, "batch": args.batch, "tokens": args.tokens, "precision": args.precision,
        "checkpointing": args.checkpointing, "loss": loss, "last_step_seconds": seconds,
        "step_seconds": step_seconds,
        "samples_per_s": args.batch / seconds,
    }
    if device.type == "cuda":
        row["gpu_peak_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        row["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(row), flush=True)


def peak_rss_mib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def run(command, env):
    """The last JSON line of a configuration's process, or why it has none."""
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    # cubecl's server thread panics when it cannot allocate and the step may still return: judge from stderr.
    if "can't allocate" in done.stderr or "out of memory" in done.stderr.lower():
        return {"failed": "out of memory"}
    if done.returncode == 0 and lines:
        return json.loads(lines[-1])
    tail = (done.stderr.strip().splitlines() or ["killed"])[-1]
    return {"failed": "out of memory" if "memory" in tail.lower() or done.returncode in (-9, 137) else tail}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--polyclip", help="a release polyclip-bench binary")
    parser.add_argument("--backend", default="flex", help="polyclip's backend (flex, cuda, …); PyTorch follows: cuda or cpu")
    parser.add_argument("--method", choices=["capivara", "capivara-opt"], default="capivara")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--micro-batches", default="none,16,64,256",
                        help="polyclip configurations: `none` (the whole batch in one graph) or rows per chunk")
    parser.add_argument("--precisions", default="f32", help="polyclip precisions, each with every micro-batch: f32,bf16")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--torch-precision", default="bf16", choices=["bf16", "f32"])
    parser.add_argument("--torch-checkpointing", default=True, action=argparse.BooleanOptionalAction)
    parser.add_argument("--no-torch", action="store_true", help="polyclip only")
    parser.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="bf16", help=argparse.SUPPRESS)
    parser.add_argument("--checkpointing", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=2,
                        help="train steps per configuration, at least 2 (the first allocates the optimizer's state); "
                             "the last is timed")
    args = parser.parse_args()
    if args.steps < 2:
        parser.error("--steps: at least 2 (the first allocates the optimizer's state)")
    torch.set_num_threads(args.threads)
    if args.torch_worker:
        return torch_step(args)
    if not args.polyclip:
        parser.error("--polyclip is required")
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    flags = sorted({f for f in Path("/proc/cpuinfo").read_text().split() if f.startswith("avx512")})
    print(f"{args.method}, batch {args.batch}, {args.tokens} tokens, vision frozen; {args.threads} threads; "
          f"CPU flags: {' '.join(flags) or 'no avx512'}", flush=True)
    rows = []
    for precision in [p for p in args.precisions.split(",") if p]:
        for micro in [m for m in args.micro_batches.split(",") if m]:
            command = [args.polyclip, "--backend", args.backend, "--memory", args.method, "--base-batch",
                       str(args.batch), "--tokens", str(args.tokens), "--precision", precision,
                       "--memory-steps", str(args.steps)]
            if micro != "none":
                command += ["--micro-batch", micro]
            row = dict(run(command, env), framework=f"polyclip ({args.backend}, {precision})",
                       micro_batch=None if micro == "none" else int(micro))
            print(json.dumps(row), flush=True)
            rows.append(row)
    if not args.no_torch:
        device = "cuda" if args.backend == "cuda" else "cpu"
        command = [sys.executable, __file__, "--torch-worker", "--device", device, "--method", args.method,
                   "--batch", str(args.batch), "--tokens", str(args.tokens), "--threads", str(args.threads),
                   "--precision", args.torch_precision, "--steps", str(args.steps)] + (["--checkpointing"] if args.torch_checkpointing else [])
        row = dict({"framework": "open_clip", "precision": args.torch_precision,
                    "checkpointing": args.torch_checkpointing}, **run(command, env))
        print(json.dumps(row), flush=True)
        rows.append(row)
    print(f"\n{'':44s} {'micro':>6s} {'memory MiB':>11s} {'s/step':>8s} {'samples/s':>10s}")
    for row in rows:
        name = row["framework"] if "open_clip" not in row["framework"] else \
            f"open_clip ({row['precision']}{', ckpt' if row['checkpointing'] else ''})"
        if "failed" in row:
            print(f"{name:44s} {str(row.get('micro_batch') or '-'):>6s} {row['failed']}")
            continue
        memory = row.get("gpu_used_mib") or row.get("gpu_peak_mib") or row.get("peak_rss_mib")
        seconds = row["last_step_seconds"]
        print(f"{name:44s} {str(row.get('micro_batch') or '-'):>6s} {memory:11.0f} {seconds:8.2f} {args.batch / seconds:10.2f}")


if __name__ == "__main__":
    main()
