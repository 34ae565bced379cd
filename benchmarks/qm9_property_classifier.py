"""Train a QM9 property classifier of EDM's protocol and measure its reference lines.

    python benchmarks/qm9_property_classifier.py alpha --out runs/classifier_alpha \
        --steps 8000 --hidden 64 --layers 4 --max-minutes 25

trains on the first half of QM9's training split (continuing ``--out`` if it holds a run),
then measures on the second half: the classifier's MAE (the protocol's lower bound), the MAE
with values shuffled (upper bound) and the atom-count-only baseline. Prints them and writes
``<out>/reference_lines.json``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from moldiff.property_classifier import reference_lines, train_classifier


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("properties", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=7)
    ap.add_argument("--val-every", type=int, default=1000)
    ap.add_argument("--max-minutes", type=float, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    clf = train_classifier(args.properties, args.out, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                           hidden=args.hidden, layers=args.layers, val_every=args.val_every,
                           max_minutes=args.max_minutes, seed=args.seed)
    trained = time.perf_counter() - start
    lines = reference_lines(clf)
    result = {"properties": list(clf.names), "classifier": clf.card, "config": clf.config,
              "train_seconds_this_call": round(trained, 1), "torch_threads": torch.get_num_threads(),
              "reference_lines_second_half": lines}
    Path(args.out, "reference_lines.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
