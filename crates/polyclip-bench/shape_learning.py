"""Why the embedded default's tiny CLIP learns colour but not shape (issue #15, BENCHMARKS.md "Shapes and counts").

A PyTorch replica of the embedded default's base stage, small enough to try training objectives in a minute each
on 2 CPU threads, on the pictures and English captions a polyclip run folder already holds:

- vision: open_clip's `VisionTransformer` at polyclip's tiny sizes (48 px, patch 8, width 64, 2 layers, 4 heads,
  64-d output), pictures resized with bicubic and scaled to [-1, 1];
- text: a 2-layer post-LN transformer encoder of width 64 over the shipped tokenizer
  (datasets/shapes/tokenizer.json), mean pooling over the non-pad tokens, a bias-free 2-layer MLP head (the
  tiny XLM-R tower's shape);
- AdamW (betas 0.9/0.98, eps 1e-6, weight decay 0.1), lr 2e-3 with 50 warm-up steps and a cosine decay, batch 128,
  logit scale learned from 1/0.07, as the built-in recipe's base stage (whose warm-up starts and decay ends at
  1e-5, here at 0); and, unlike it, a random circular shift (`torch.roll`) of up to 3 px per picture.

Modes (`--mode`):
    clip        contrastive training on the captions (one of the five phrasings per picture and step);
    fixed       contrastive training against a fixed random 64-d vector per shape kind of the picture's first
                group instead of a caption embedding (a text side that cannot drop shape); about 21 pictures of a
                batch share each target, so its loss has a floor near ln 21 and is not comparable with the others;
    supervised  softmax classifiers on the image embedding for the attributes in `--heads`, on the one-group
                training pictures (`train.labels.jsonl`);
    lit         `supervised` for `--pre-steps`, then `clip` with the vision tower locked (LiT);
    curriculum  `supervised` for `--pre-steps`, then `clip` with the vision tower trained on.

Each mode prints zero-shot accuracy with the class names and templates of the built-in evaluation (English) and a
ridge probe on the image embeddings (`probe_shapes.probe`, fitted on 1 500 one-group training pictures), on all 321
one-group test pictures and apart on colour-shape pairs seen in training and held out of it.

    cargo run --release -p recipes --bin capivara -- --run-dir RUN --base-steps 1 --steps 1   # writes RUN/data
    python shape_learning.py RUN/data --mode clip
    python shape_learning.py RUN/data --mode supervised --heads shape,color,count

Needs torch, open_clip_torch, tokenizers, numpy, Pillow.
"""
import argparse
import json
import random
import re
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from open_clip.transformer import VisionTransformer
from PIL import Image
from tokenizers import Tokenizer

from probe_shapes import HELD_OUT, TRAIN, probe

SHAPES = ["circle", "square", "triangle", "star", "diamond", "cross"]
COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]
CLASSES = {"shape": 6, "color": 8, "count": 3}
TEMPLATES = ["a picture of {}", "an image with {}", "a drawing of {}", "{} on a plain background"]
CLASS_NAMES = {
    "shape": [("an " if s[0] in "aeiou" else "a ") + s for s in SHAPES],
    "color": [("an " if c[0] in "aeiou" else "a ") + c + " shape" for c in COLOURS],
    "count": ["one shape", "two shapes", "three shapes"],
}


def picture(path, size):
    x = np.asarray(Image.open(path).convert("RGB").resize((size, size), Image.BICUBIC), dtype=np.float32)
    return torch.tensor((x / 255.0 - 0.5) / 0.5).permute(2, 0, 1)


def shift(x, pixels=3):
    out = torch.empty_like(x)
    for i in range(len(x)):
        dx, dy = np.random.randint(-pixels, pixels + 1, 2)
        out[i] = torch.roll(x[i], (int(dy), int(dx)), (1, 2))
    return out


def lr_at(step, steps, peak=2e-3, warmup=50):
    progress = min(1.0, max(0, step - warmup) / max(1, steps - warmup))
    return peak * min(1.0, (step + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * progress))


class ShippedTokenizer:
    """The shipped tokenizer (datasets/shapes/tokenizer.json); called on texts, a batch of ids padded to the longest,
    at most 32 tokens each."""

    def __init__(self):
        self.tokenizer = Tokenizer.from_file(str(Path(__file__).resolve().parents[2] / "datasets/shapes/tokenizer.json"))
        self.pad = self.tokenizer.token_to_id("<pad>")
        self.vocab_size = self.tokenizer.get_vocab_size()

    def __call__(self, texts):
        ids = [self.tokenizer.encode(t).ids[:32] for t in texts]
        longest = max(len(i) for i in ids)
        return torch.tensor([i + [self.pad] * (longest - len(i)) for i in ids])


def class_weights(text, tokens, names):
    """The zero-shot classifier of the built-in evaluation: per class name, the normalised text embeddings of the
    templates averaged and normalised again."""
    return torch.stack([
        F.normalize(F.normalize(text(tokens([t.format(n) for t in TEMPLATES])), dim=-1).mean(0), dim=0)
        for n in names
    ])


class TextTower(nn.Module):
    def __init__(self, vocab, pad):
        super().__init__()
        self.pad = pad
        self.embed = nn.Embedding(vocab, 64)
        self.position = nn.Parameter(torch.randn(64, 64) * 0.02)
        layer = nn.TransformerEncoderLayer(64, 4, 256, 0.0, activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2)
        self.norm = nn.LayerNorm(64)
        self.head = nn.Sequential(nn.Linear(64, 64, bias=False), nn.GELU(), nn.Linear(64, 64, bias=False))

    def forward(self, ids):
        mask = ids == self.pad
        hidden = self.encoder(self.norm(self.embed(ids) + self.position[: ids.shape[1]]), src_key_padding_mask=mask)
        keep = (~mask).float().unsqueeze(-1)
        return self.head((hidden * keep).sum(1) / keep.sum(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("--mode", choices=["clip", "fixed", "supervised", "lit", "curriculum"], default="clip")
    parser.add_argument("--heads", default="shape")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--pre-steps", type=int, default=600)
    parser.add_argument("--image-size", type=int, default=48)
    parser.add_argument("--width", type=int, default=64, help="the vision tower's width (its MLP is 4x)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(args.seed), random.seed(args.seed), np.random.seed(args.seed)
    data, size = args.data, args.image_size

    tokens = ShippedTokenizer()

    vision = VisionTransformer(
        image_size=size, patch_size=8, width=args.width, layers=2, heads=4, mlp_ratio=4.0, output_dim=64
    )
    text = TextTower(tokens.vocab_size, tokens.pad)
    labelled = [json.loads(line) for line in open(f"{data}/train.labels.jsonl")]
    test = [json.loads(line) for line in open(f"{data}/test.labels.jsonl")]
    seen = np.array([(r["color"], r["shape"]) not in HELD_OUT for r in test])

    def supervised(steps):
        x = torch.stack([picture(f"{data}/{r['image']}", size) for r in labelled])
        heads = nn.ModuleDict({k: nn.Linear(64, CLASSES[k]) for k in args.heads.split(",")})
        y = {k: torch.tensor([r[k] for r in labelled]) for k in heads}
        optimizer = torch.optim.AdamW([*vision.parameters(), *heads.parameters()], betas=(0.9, 0.98), eps=1e-6, weight_decay=0.1)
        for step in range(steps):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, steps)
            rows = torch.randint(0, len(x), (128,))
            features = vision(shift(x[rows]))
            loss = sum(F.cross_entropy(heads[k](features), y[k][rows]) for k in heads)
            optimizer.zero_grad(), loss.backward(), optimizer.step()
        print(f"supervised ({args.heads}, {steps} steps): final loss {loss.item():.3f}")

    def contrastive(steps, fixed_targets, lock_vision):
        rows = [json.loads(line) for line in open(f"{data}/train.en.jsonl")]
        x = torch.stack([picture(f"{data}/{r['image']}", size) for r in rows])
        captions = [r["captions"] + r.get("generated_captions", []) for r in rows]
        first_shape = [SHAPES.index(re.search("|".join(SHAPES), c[0]).group(0)) for c in captions]
        targets = torch.randn(len(SHAPES), 64)
        scale = nn.Parameter(torch.tensor(np.log(1 / 0.07), dtype=torch.float32))
        params = [scale, *text.parameters()] + ([] if lock_vision else [*vision.parameters()])
        optimizer = torch.optim.AdamW(params, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.1)
        for step in range(steps):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, steps)
            batch = torch.randint(0, len(x), (128,))
            images = F.normalize(vision(shift(x[batch])), dim=-1)
            if fixed_targets:
                texts = F.normalize(targets[[first_shape[i] for i in batch]], dim=-1)
            else:
                texts = F.normalize(text(tokens([random.choice(captions[i]) for i in batch])), dim=-1)
            logits = scale.exp().clamp(max=100) * images @ texts.T
            labels = torch.arange(len(batch))
            loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
            optimizer.zero_grad(), loss.backward(), optimizer.step()
        print(f"contrastive ({'fixed shape targets' if fixed_targets else 'captions'}"
              f"{', vision locked' if lock_vision else ''}, {steps} steps): final loss {loss.item():.3f}")

    if args.mode == "supervised":
        supervised(args.steps)
    elif args.mode == "lit":
        supervised(args.pre_steps)
        for p in vision.parameters():
            p.requires_grad_(False)
        contrastive(args.steps, fixed_targets=False, lock_vision=True)
    elif args.mode == "curriculum":
        supervised(args.pre_steps)
        contrastive(args.steps, fixed_targets=False, lock_vision=False)
    else:
        contrastive(args.steps, fixed_targets=args.mode == "fixed", lock_vision=False)

    vision.eval()
    with torch.no_grad():
        test_embeddings = F.normalize(vision(torch.stack([picture(f"{data}/{r['image']}", size) for r in test])), dim=-1)
        train_embeddings = F.normalize(vision(torch.stack([picture(f"{data}/{r['image']}", size) for r in labelled[:TRAIN]])), dim=-1)
        # The text tower is trained only in the caption modes.
        for key, names in CLASS_NAMES.items() if args.mode in ("clip", "lit", "curriculum") else ():
            weights = class_weights(text, tokens, names)
            right = ((test_embeddings @ weights.T).argmax(1).numpy() == np.array([r[key] for r in test]))
            print(f"zero-shot {key}: {right.mean() * 100:.1f} (seen {right[seen].mean() * 100:.1f}, held-out {right[~seen].mean() * 100:.1f})")
    probe(data, train_embeddings.numpy(), test_embeddings.numpy())

if __name__ == "__main__":
    main()
