"""Linear probe of image embeddings on the embedded shapes dataset (issue #15, BENCHMARKS.md "Shapes and counts").

Can shape, colour and count be read out of a model's image embeddings? Fits a ridge one-vs-rest classifier on
the first 1 500 one-group training pictures and scores it on the one-group test pictures, on all of them and
apart on colour-shape pairs seen in training and held out of it.

    cd RUN/data
    polyclip embed --model RUN/base --images $(python3 - <<'P'
    import json
    rows = [json.loads(l)['image'] for l in open('train.labels.jsonl')][:1500]
    rows += [json.loads(l)['image'] for l in open('test.labels.jsonl')]
    print(' '.join(rows))
    P
    ) --output /tmp/probe --format npy
    python probe_shapes.py RUN/data /tmp/probe.images.npy

Needs numpy. Class indices follow `labels.jsonl` (ShapeKind::ALL, Color::ALL, counts 1-3).
"""
import json
import sys

import numpy as np

# SceneSampler::default_held_out() as (colour, shape) indices: yellow star, red square, blue triangle,
# green circle, purple cross, orange diamond.
HELD_OUT = {(3, 3), (0, 1), (2, 2), (1, 0), (4, 5), (5, 4)}
TRAIN = 1500


def probe(data, x_train, x_test):
    """Fits the probe on the embeddings of the first TRAIN one-group training pictures (`x_train`) and prints its
    accuracy on those of the one-group test pictures (`x_test`), in `data`'s labels order."""
    train = [json.loads(line) for line in open(data + "/train.labels.jsonl")][:TRAIN]
    test = [json.loads(line) for line in open(data + "/test.labels.jsonl")]
    probe_labels(x_train, train, x_test, test)


def probe_labels(x_train, train, x_test, test):
    """The probe on embeddings whose labels are given as rows of `labels.jsonl` (`shape`, `color`, `count`)."""
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    a = np.c_[(x_train - mean) / std, np.ones(len(x_train))]
    b = np.c_[(x_test - mean) / std, np.ones(len(x_test))]
    seen = np.array([(r["color"], r["shape"]) not in HELD_OUT for r in test])
    for key, classes in [("shape", 6), ("color", 8), ("count", 3)]:
        y_train = np.array([r[key] for r in train])
        y_test = np.array([r[key] for r in test])
        weights = np.linalg.solve(a.T @ a + np.eye(a.shape[1]), a.T @ np.eye(classes)[y_train])
        predicted = (b @ weights).argmax(1)

        def accuracy(mask):
            return 100 * (predicted[mask] == y_test[mask]).mean()

        print(f"probe {key}: all {accuracy(np.ones(len(test), bool)):.1f} seen {accuracy(seen):.1f} "
              f"held-out {accuracy(~seen):.1f}")


def main():
    data, embeddings = sys.argv[1], np.load(sys.argv[2])
    probe(data, embeddings[:TRAIN], embeddings[TRAIN:])


if __name__ == "__main__":
    main()
