"""The learned pose ranker: build pose sets, train, and compare rankings on held-out targets.

    python benchmarks/dock_ranker.py poses --split train --per-target 2 --out runs/ranker/sets/train
    python benchmarks/dock_ranker.py poses --split val --per-target 3 --out runs/ranker/sets/val
    python benchmarks/dock_ranker.py train --train runs/ranker/sets/train --val runs/ranker/sets/val \
        --out runs/ranker/model.pt --json benchmarks/results/dock_ranker_train.json
    python benchmarks/dock_ranker.py evaluate --sets runs/ranker/sets/test --ranker runs/ranker/model.pt \
        --json benchmarks/results/dock_ranker_test.json

``poses``: pose sets (:mod:`moldiff.docking.pose_sets`) of ``fep_benchmark`` complexes of one
split of its targets (:func:`moldiff.data.complexes.split_by_target`, seed 0: the split the
pocket models use), the first ``--per-target`` ligands of each target, with the shipped
docking model's search options (``--num-poses`` K gives 2K candidates). Resumable.
``--root`` another complex folder (e.g. posebusters_dev, for evaluation only).

``train``: :func:`moldiff.docking.ranker.train_ranker` on the training sets, its settings
chosen on the validation sets. ``evaluate``: top-1 / top-3 success (< 2 A) of ranking by
Vina, by the ranker's confidence and combined, per complex, on the given sets.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from _common import machine, report


def cmd_poses(args) -> int:
    import moldiff
    from moldiff.chem.ligand import read_ligand
    from moldiff.data.complexes import find_complexes, split_by_target
    from moldiff.docking.dock import Docker
    from moldiff.docking.pose_sets import build_pose_sets

    entries = find_complexes(args.root)
    if args.split != "all":
        entries = split_by_target(entries)[args.split]
    per = defaultdict(list)
    for e in entries:
        if len(per[e.target]) < args.per_target:
            per[e.target].append(e)
    chosen = [e for es in per.values() for e in es]
    complexes = []
    for e in chosen:
        lig = read_ligand(e.ligand, hydrogens="add") if e.record is None else \
            read_ligand(e.ligand, hydrogens="add", all_records=True)[e.record]
        complexes.append((e.id, e.protein, lig))
    docker = Docker(moldiff.load("pocket"), num_poses=args.num_poses, conformers=args.conformers,
                    search_steps=args.search_steps, search_chains=args.search_chains)
    start = time.perf_counter()
    files = build_pose_sets(docker, complexes, args.out, seed=args.seed, workers=args.workers,
                            random=args.random, near_native=args.near_native)
    print(f"{len(files)} pose sets in {args.out} ({time.perf_counter() - start:.0f} s for {len(complexes)} complexes)")
    return 0


def cmd_train(args) -> int:
    from moldiff.docking.pose_sets import load_sets
    from moldiff.docking.ranker import evaluate_rankings, train_ranker

    train, val = load_sets(args.train), load_sets(args.val)
    start = time.perf_counter()
    ranker, history = train_ranker(train, val, epochs=args.epochs, seed=args.seed, hidden=args.hidden,
                                   layers=args.layers, cutoff=args.cutoff, graph=not args.no_graph)
    seconds = time.perf_counter() - start
    ranker.save(args.out)
    result = {"benchmark": "dock_ranker_train", "train_sets": len(train), "val_sets": len(val),
              "train_poses": int(sum(len(s.score) for s in train)), "seconds": round(seconds, 1),
              "history": history, "val": evaluate_rankings(val, ranker), "settings": ranker.settings,
              "machine": machine()}
    report(result, args.json)
    return 0


def cmd_evaluate(args) -> int:
    from moldiff.docking.pose_sets import load_sets
    from moldiff.docking.ranker import PoseRanker, evaluate_rankings

    sets = load_sets(args.sets)
    ranker = PoseRanker.load(args.ranker)
    start = time.perf_counter()
    logits = ranker.set_logits(sets)
    seconds = time.perf_counter() - start
    per_set, gained, lost = [], [], []
    for s, logit in zip(sets, logits):
        prob = 1 / (1 + np.exp(-logit))
        row = {"id": s.id, "candidates": len(s.score), "best_rmsd": round(float(s.rmsd.min()), 2)}
        for name in ("vina", "confidence", "combined"):
            key = s.score if name == "vina" else np.asarray(ranker.rank_key(prob, s.score, name))
            row[f"top1_rmsd_{name}"] = round(float(s.rmsd[np.argmin(key)]), 2)
        per_set.append(row)
        v, c = row["top1_rmsd_vina"] < 2, row["top1_rmsd_confidence"] < 2
        (gained if c and not v else lost if v and not c else []).append(s.id)
    result = {"benchmark": "dock_ranker_evaluate", "sets": [str(x) for x in args.sets], "n": len(sets),
              "ranker": str(args.ranker), "rankings": evaluate_rankings(sets, ranker, logits=logits),
              "confidence_right_vina_wrong": gained, "vina_right_confidence_wrong": lost,
              "ranker_seconds_per_set": round(seconds / len(sets), 4), "per_set": per_set, "machine": machine()}
    report(result, args.json)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("poses")
    p.add_argument("--root", default=None, help="complex folder (default: $MOLDIFF_DATA/fep_benchmark)")
    p.add_argument("--split", default="train", choices=["train", "val", "test", "all"])
    p.add_argument("--per-target", type=int, default=2)
    p.add_argument("--out", required=True)
    p.add_argument("--num-poses", type=int, default=8)
    p.add_argument("--conformers", type=int, default=10)
    p.add_argument("--search-steps", type=int, default=30)
    p.add_argument("--search-chains", type=int, default=2)
    p.add_argument("--random", type=int, default=4, help="random placements per complex")
    p.add_argument("--near-native", type=int, default=4, help="placements near the true pose per complex")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    t = sub.add_parser("train")
    t.add_argument("--train", required=True, nargs="+")
    t.add_argument("--val", required=True, nargs="+")
    t.add_argument("--out", required=True)
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--hidden", type=int, default=64)
    t.add_argument("--layers", type=int, default=2)
    t.add_argument("--cutoff", type=float, default=5.0)
    t.add_argument("--no-graph", action="store_true", help="pose-set features only (ablation)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--json", default=None)
    e = sub.add_parser("evaluate")
    e.add_argument("--sets", required=True, nargs="+")
    e.add_argument("--ranker", default="pose")
    e.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.command == "poses":
        if args.root is None:
            from moldiff.paths import data_path

            args.root = str(data_path(None, "fep_benchmark", "--root"))
        return cmd_poses(args)
    return {"train": cmd_train, "evaluate": cmd_evaluate}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
