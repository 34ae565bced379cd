"""Calibration of moldiff's metrics on the QM9 data, plus QM9 load times.

Prints JSON with the first (cold) and second (cached) QM9 load times, the metrics
of the QM9 test split under the EDM protocol beside the published data statistics
(EDM: 99.0 / 95.2 / 97.7), and the evaluation throughput.

    python benchmarks/qm9_calibration.py [--split test] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time

import torch

from moldiff import __version__
from moldiff.data import load_qm9, qm9_molecules
from moldiff.metrics import evaluate, qm9_train_smiles

PUBLISHED = {"atom_stability": 0.990, "mol_stability": 0.952, "validity": 0.977}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument("--json", help="write the result here too")
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as cold:
        t0 = time.perf_counter()
        load_qm9(cold)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        load_qm9(cold)
        second = time.perf_counter() - t0

    reference = qm9_train_smiles()
    mols = qm9_molecules(args.split)
    t0 = time.perf_counter()
    metrics = evaluate(mols, reference=reference)
    seconds = time.perf_counter() - t0
    result = {
        "benchmark": "qm9_calibration",
        "moldiff_version": __version__,
        "machine": f"{platform.node()} {platform.processor() or platform.machine()} ({torch.get_num_threads()} torch thread)",
        "qm9_first_load_s": round(first, 2),
        "qm9_cached_load_s": round(second, 3),
        "split": args.split,
        "metrics": metrics,
        "published_qm9_data": PUBLISHED,
        "difference_points": {k: round(100 * (metrics[k] - v), 2) for k, v in PUBLISHED.items()},
        "evaluate_seconds": round(seconds, 2),
        "evaluate_molecules_per_s": round(len(mols) / seconds, 1),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
