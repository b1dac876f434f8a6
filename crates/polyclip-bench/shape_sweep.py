"""What the embedded default's tiny CLIP needs to learn shape (issue #15, BENCHMARKS.md "Shapes and counts").

shape_learning.py trains on the pictures a polyclip run folder holds, so it cannot vary the data. This script draws
its own: a numpy copy of polyclip-shapes' scene sampler and renderer (scene.rs, render.rs: the same backgrounds,
colours, held-out colour-shape pairs, regions, sizes, jitter and 4x4 supersampling; its own random streams), with
the English captions of captions.rs (five phrasings) over the shipped tokenizer. What it can change that the Rust
dataset fixes:

    --shape-scale F       shapes F times the renderer's sizes (small 0.18, large 0.30 of the side)
    --train-images N      training pictures (the embedded default: 4 000)
    --two-group P         the share of two-group scenes (0.4)
    --families K          hard negatives (K from 1 to 4, the fewest kinds every scene allows): each scene is
                          drawn with K different kinds for its first group, in the
                          same places and noise, and a batch holds whole families (its other pictures differ in
                          everything else); the captions differ only in the shape word
    --text-frozen-steps S the text tower is held at its random start for the first S steps
    --tower vit|conv-stem|cnn  the image tower (`vision_tower`): the ViT, the ViT behind a convolutional stem, a CNN

and the objective (`--mode`): `clip` (contrastive, one random phrasing per picture and step; the tiny XLM-R-shaped
text tower of shape_learning.py) or `supervised` (softmax heads on the image embedding for `--heads`). The vision
tower is open_clip's `VisionTransformer` at polyclip's tiny sizes; optimizer and schedule as the recipe's base
stage as shape_learning.py has them (AdamW 0.9/0.98, eps 1e-6, weight decay 0.1, lr 2e-3 with 50 warm-up steps and
a cosine decay to 0, where the recipe starts and ends at 1e-5), batch 128, no augmentation. The pictures are resized
to the tower's input with Pillow's bicubic filter, as shape_learning.py does.

It prints the zero-shot accuracy of the built-in English evaluation (clip mode) on the one-group test pictures, all
of them and apart on seen / held-out colour-shape pairs, and probe_shapes' ridge probe of the image embeddings
(fitted on the first 1 500 one-group training pictures; with `--families` those are about 375 scenes in 4 kinds).
The test scenes come from their own random stream, so every option but the renderer's leaves them the same:

    python shape_sweep.py                                    # the embedded default's data and base stage
    python shape_sweep.py --mode supervised --heads shape --two-group 0 --train-images 20000 --shape-scale 1.6

Needs torch, open_clip_torch, tokenizers, numpy, Pillow. 1 to 3 minutes per run on 2 threads (drawing 20 000
pictures takes about a minute).
"""
import argparse
import math
import random
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from open_clip.transformer import VisionTransformer
from PIL import Image

from probe_shapes import HELD_OUT, TRAIN, probe_labels
from shape_learning import CLASS_NAMES, ShippedTokenizer, TextTower, class_weights

# scene.rs, in the order of ShapeKind::ALL, Color::ALL, Background::ALL, Region::ALL.
SHAPES = ["circle", "square", "triangle", "star", "diamond", "cross"]
PLURALS = ["circles", "squares", "triangles", "stars", "diamonds", "crosses"]
COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]
COLOUR_RGB = [(220, 30, 35), (40, 190, 60), (40, 90, 235), (245, 220, 30), (150, 50, 200), (250, 140, 20),
              (245, 245, 245), (15, 15, 15)]
BACKGROUNDS = ["white", "gray", "black", "blue", "green"]
BACKGROUND_RGB = [(232, 232, 228), (128, 128, 128), (28, 28, 30), (24, 36, 92), (26, 78, 40)]
# Background::admits: no shape in the background's own colour (background, colour).
REFUSED = {(0, 6), (2, 7), (3, 2), (4, 1)}
REGION_BOX = [(0.08, 0.1, 0.42, 0.9), (0.58, 0.1, 0.92, 0.9), (0.1, 0.08, 0.9, 0.42), (0.1, 0.58, 0.9, 0.92),
              (0.3, 0.3, 0.7, 0.7)]
REGION_PHRASE = ["on the left", "on the right", "at the top", "at the bottom", "in the middle"]
OPPOSITE = {0: 1, 1: 0, 2: 3, 3: 2}
NUMERALS = ["one", "two", "three"]
STAR = [((1.0 if i % 2 == 0 else 0.45) * math.cos(-math.pi / 2 + i * math.pi / 5),
         (1.0 if i % 2 == 0 else 0.45) * math.sin(-math.pi / 2 + i * math.pi / 5)) for i in range(10)]


def inside(kind, u, v):
    """render.rs `inside`: the shape frame has centre 0, radius 1, v pointing down."""
    if kind == 0:
        return u * u + v * v <= 1
    if kind == 1:
        return (np.abs(u) <= 0.8) & (np.abs(v) <= 0.8)
    if kind == 2:
        return (v <= 0.75) & (v >= -1 + 1.75 * np.abs(u) / 0.95)
    if kind == 4:
        return np.abs(u) / 0.7 + np.abs(v) <= 1
    if kind == 5:
        return ((np.abs(u) <= 0.3) & (np.abs(v) <= 0.95)) | ((np.abs(v) <= 0.3) & (np.abs(u) <= 0.95))
    result, j = np.zeros(u.shape, bool), len(STAR) - 1
    for i, (xi, yi) in enumerate(STAR):
        xj, yj = STAR[j]
        result ^= ((yi > v) != (yj > v)) & (u < (xj - xi) * (v - yi) / (yj - yi) + xi)
        j = i
    return result


def sample_group(rng, background, train, region, other_kind, held_out):
    if held_out:
        candidates = [(c, k) for c, k in sorted(HELD_OUT) if (background, c) not in REFUSED and k != other_kind]
    else:
        candidates = [(c, k) for c in range(8) for k in range(6)
                      if (background, c) not in REFUSED and k != other_kind and not (train and (c, k) in HELD_OUT)]
    colour, kind = candidates[rng.integers(len(candidates))]
    return dict(kind=kind, color=colour, count=int(rng.integers(1, 4)), size=int(rng.integers(2)), region=region)


def sample_scene(rng, train, two_group):
    """SceneSampler::sample: a test scene's first group is a held-out pair half of the time."""
    background = int(rng.integers(5))
    two = rng.random() < two_group
    held_out = not train and rng.random() < 0.5
    region = int(rng.integers(4)) if two else int(rng.integers(5))
    groups = [sample_group(rng, background, train, region, None, held_out)]
    if two:
        groups.append(sample_group(rng, background, train, OPPOSITE[region], groups[0]["kind"], False))
    return dict(background=background, groups=groups)


def render(scene, side, rng, scale):
    """render.rs `render`: a flat or graded noisy background, then each group's shapes in its region."""
    y, x = np.mgrid[0:side, 0:side] / side - 0.5
    graded = rng.random() < 0.5
    gx, gy = rng.uniform(-18, 18, 2)
    noise = int(rng.integers(2, 8))
    image = np.array(BACKGROUND_RGB[scene["background"]], np.float32) + ((gx * x + gy * y) * graded)[..., None]
    image = np.clip(np.round(image + rng.integers(-noise, noise + 1, (side, side, 1))), 0, 255)
    sy, sx = (np.mgrid[0:side * 4, 0:side * 4] + 0.5) / 4
    for group in scene["groups"]:
        x0, y0, x1, y1 = REGION_BOX[group["region"]]
        fraction = (0.18, 0.30)[group["size"]] * scale
        placed = []
        for _ in range(group["count"]):
            radius = 0.5 * fraction * side * rng.uniform(0.9, 1.1)
            for _attempt in range(30):
                cx = np.clip(side * rng.uniform(x0, x1), radius, side - radius)
                cy = np.clip(side * rng.uniform(y0, y1), radius, side - radius)
                if all(math.hypot(px - cx, py - cy) > 1.05 * (pr + radius) for px, py, pr in placed):
                    break
            # Drawn for circles too (render.rs draws none for them), so that the members of a family read the
            # random stream alike whatever their kinds and keep their places and noise.
            angle = rng.uniform(-0.2, 0.2)
            angle = 0.0 if group["kind"] == 0 else angle
            colour = np.clip(np.array(COLOUR_RGB[group["color"]]) + rng.integers(-12, 13, 3), 0, 255)
            cos, sin = math.cos(angle), math.sin(angle)
            u, v = (cos * (sx - cx) + sin * (sy - cy)) / radius, (-sin * (sx - cx) + cos * (sy - cy)) / radius
            alpha = inside(group["kind"], u, v).reshape(side, 4, side, 4).mean((1, 3))[..., None]
            image = np.round(alpha * colour + (1 - alpha) * image)
            placed.append((cx, cy, radius))
    return image.astype(np.uint8)


def noun_phrase(group, size=False, region=False, numeral_one=False):
    """captions.rs `noun_phrase` in English."""
    count = group["count"]
    adjectives = ([("small", "large")[group["size"]]] if size else []) + [COLOURS[group["color"]]]
    if count == 1 and not numeral_one:
        article = "an" if adjectives[0][0] in "aeiou" else "a"
    else:
        article = NUMERALS[count - 1]
    noun = SHAPES[group["kind"]] if count == 1 else PLURALS[group["kind"]]
    return " ".join([article, *adjectives, noun] + ([REGION_PHRASE[group["region"]]] if region else []))


def captions(scene):
    """captions.rs `captions` in English: the five phrasings."""
    background = BACKGROUNDS[scene["background"]]

    def groups(**style):
        return " and ".join(noun_phrase(g, **style) for g in scene["groups"])

    return [f"{groups(size=True, region=True)}, on a {background} background",
            f"a {background} background with {groups()}",
            f"a picture of {groups(numeral_one=True)}",
            f"{groups(size=True)} on a {background} background",
            f"there {'are' if scene['groups'][0]['count'] > 1 else 'is'} {groups()}"]


def label_row(scene):
    group = scene["groups"][0]
    return dict(shape=group["kind"], color=group["color"], count=group["count"] - 1)


def vision_tower(args):
    """The image tower `--tower` names: open_clip's ViT at polyclip's tiny sizes; that ViT with its patchify
    replaced by a stack of 3×3 stride-2 convolutions (`--stem-channels`, then a convolution to the width over what
    is left of the patch, so the ViT sees the same token grid; "early convolutions", Xiao et al. 2021); or a plain
    CNN (four 3×3 convolutions of 32, 64, 128, 128 channels, max pooling after the first three, global average
    pooling, a linear map to 64)."""
    if args.tower == "cnn":
        return nn.Sequential(nn.Conv2d(3, 32, 3, 1, 1), nn.GELU(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 3, 1, 1), nn.GELU(), nn.MaxPool2d(2),
                             nn.Conv2d(64, 128, 3, 1, 1), nn.GELU(), nn.MaxPool2d(2),
                             nn.Conv2d(128, 128, 3, 1, 1), nn.GELU(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 64))
    vision = VisionTransformer(image_size=args.image_size, patch_size=args.patch, width=args.width,
                               layers=args.layers, heads=4, mlp_ratio=4.0, output_dim=64)
    if args.tower == "conv-stem":
        channels = [3] + [int(c) for c in args.stem_channels.split(",")]
        stride = 2 ** (len(channels) - 1)
        if args.patch % stride:
            raise SystemExit(f"--stem-channels: {len(channels) - 1} stride-2 convolutions do not divide patch {args.patch}")
        layers = []
        for a, b in zip(channels, channels[1:]):
            layers += [nn.Conv2d(a, b, 3, 2, 1), nn.GELU()]
        rest = args.patch // stride
        # open_clip's forward calls conv1 and reshapes its [batch, width, rows, cols] output into tokens.
        vision.conv1 = nn.Sequential(*layers, nn.Conv2d(channels[-1], args.width, rest, rest))
    return vision


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["clip", "supervised"], default="clip")
    parser.add_argument("--heads", default="shape", help="supervised: comma-separated shape, color, count")
    parser.add_argument("--train-images", type=int, default=4000)
    parser.add_argument("--test-images", type=int, default=500)
    parser.add_argument("--image-px", type=int, default=64, help="the rendered side")
    parser.add_argument("--image-size", type=int, default=48, help="the vision tower's input side")
    parser.add_argument("--patch", type=int, default=8)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--shape-scale", type=float, default=1.0)
    parser.add_argument("--two-group", type=float, default=0.4)
    parser.add_argument("--families", type=int, default=1)
    parser.add_argument("--text-frozen-steps", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tower", choices=["vit", "conv-stem", "cnn"], default="vit")
    parser.add_argument("--stem-channels", default="16,32,64", help="conv-stem: each a 3x3 stride-2 convolution")
    args = parser.parse_args()
    if not 1 <= args.families <= 4:
        # A two-group scene whose colour has a held-out pair leaves its first group only 4 kinds.
        parser.error("--families must be 1 to 4")
    torch.set_num_threads(2)
    torch.manual_seed(args.seed), random.seed(args.seed)
    start = time.time()

    def draw(count, train, family, rng):
        scenes, pictures = [], []
        while len(scenes) < count:
            scene = sample_scene(rng, train, args.two_group)
            members = [scene]
            if family > 1:
                first, rest = scene["groups"][0], scene["groups"][1:]
                kinds = [k for k in range(6) if k != first["kind"] and all(k != g["kind"] for g in rest)
                         and (first["color"], k) not in HELD_OUT]
                rng.shuffle(kinds)
                members += [dict(scene, groups=[dict(first, kind=k), *rest]) for k in kinds[:family - 1]]
            state = rng.bit_generator.state
            for member in members:
                rng.bit_generator.state = state  # same places, sizes and noise
                pictures.append(render(member, args.image_px, rng, args.shape_scale))
                scenes.append(member)
        return scenes[:count], np.stack(pictures[:count])

    family = args.families
    train_scenes, train_pictures = draw(args.train_images, True, family, np.random.default_rng([args.seed, 1]))
    test_scenes, test_pictures = draw(args.test_images, False, 1, np.random.default_rng([args.seed, 2]))

    def tensor(pictures):
        side = args.image_size
        if side != args.image_px:
            pictures = np.stack([np.asarray(Image.fromarray(p).resize((side, side), Image.BICUBIC)) for p in pictures])
        return (torch.tensor(pictures, dtype=torch.float32).permute(0, 3, 1, 2) / 255 - 0.5) / 0.5

    x_train, x_test = tensor(train_pictures), tensor(test_pictures)
    print(f"data: {len(train_scenes)} + {len(test_scenes)} pictures in {time.time() - start:.0f} s", flush=True)

    tokens = ShippedTokenizer()

    vision = vision_tower(args)
    text = TextTower(tokens.vocab_size, tokens.pad)
    scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    sizes = {"shape": 6, "color": 8, "count": 3}
    heads = nn.ModuleDict({k: nn.Linear(64, sizes[k]) for k in args.heads.split(",")})
    labels = {k: torch.tensor([label_row(s)[k] for s in train_scenes]) for k in heads}
    phrasings = [captions(s) for s in train_scenes]
    optimizer = torch.optim.AdamW([{"params": [scale, *vision.parameters(), *heads.parameters()]},
                                   {"params": [*text.parameters()]}], betas=(0.9, 0.98), eps=1e-6, weight_decay=0.1)
    one_group_train = [i for i, s in enumerate(train_scenes) if len(s["groups"]) == 1]
    start = time.time()
    for step in range(args.steps):
        progress = min(1.0, max(0, step - 50) / max(1, args.steps - 50))
        lr = args.lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * progress))
        for group in optimizer.param_groups:
            group["lr"] = lr
        # Frozen: no gradients, so AdamW keeps no moments for the text tower either until it thaws.
        text.requires_grad_(step >= args.text_frozen_steps)
        if args.mode == "supervised":
            # The first group's labels: only one-group pictures, as train.labels.jsonl.
            rows = torch.tensor(one_group_train)[torch.randint(0, len(one_group_train), (args.batch,))]
            features = vision(x_train[rows])
            loss = sum(F.cross_entropy(heads[k](features), labels[k][rows]) for k in heads)
        else:
            families = torch.randint(0, len(train_scenes) // family, (args.batch // family,))
            rows = (families[:, None] * family + torch.arange(family)[None]).flatten()
            images = F.normalize(vision(x_train[rows]), dim=-1)
            texts = F.normalize(text(tokens([random.choice(phrasings[i]) for i in rows.tolist()])), dim=-1)
            logits = scale.exp().clamp(max=100) * images @ texts.T
            target = torch.arange(len(rows))
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        optimizer.zero_grad(), loss.backward(), optimizer.step()
    print(f"{args.mode}: {args.steps} steps in {time.time() - start:.0f} s, final loss {loss.item():.3f}")

    vision.eval(), text.eval()
    one_group_test = [i for i, s in enumerate(test_scenes) if len(s["groups"]) == 1]
    test_rows = [label_row(test_scenes[i]) for i in one_group_test]
    seen = np.array([(r["color"], r["shape"]) not in HELD_OUT for r in test_rows])
    with torch.no_grad():
        test_embeddings = F.normalize(vision(x_test[one_group_test]), dim=-1)
        train_embeddings = F.normalize(vision(x_train[one_group_train[:TRAIN]]), dim=-1)
        for key, names in CLASS_NAMES.items() if args.mode == "clip" else ():
            weights = class_weights(text, tokens, names)
            right = (test_embeddings @ weights.T).argmax(1).numpy() == np.array([r[key] for r in test_rows])
            print(f"zero-shot {key}: {right.mean() * 100:.1f} (seen {right[seen].mean() * 100:.1f}, "
                  f"held-out {right[~seen].mean() * 100:.1f})")
    probe_labels(train_embeddings.numpy(), [label_row(train_scenes[i]) for i in one_group_train[:TRAIN]],
                 test_embeddings.numpy(), test_rows)


if __name__ == "__main__":
    main()
