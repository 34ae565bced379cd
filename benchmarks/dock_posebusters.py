"""Docking benchmark on posebusters_dev: moldiff and AutoDock Vina side by side.

    python benchmarks/dock_posebusters.py --limit 20 --out-dir runs/dock_pb20 --json out.json [key=value ...]

Runs ``configs/docking/posebusters_dev.yaml`` (any key overridable) through the resumable
experiment runner -- pointing ``--out-dir`` at a finished run only re-reads its records --
and prints/writes one JSON: per-method summaries, the paired per-complex comparison
(complexes where each method is within 2 Å, median time ratio) and the machine.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from _common import machine, report
from moldiff.config import DockConfig, load_config, to_dict
from moldiff.docking.experiment import run_experiment

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="first N complexes (default: all 100)")
    parser.add_argument("--out-dir", default="runs/docking/posebusters_dev")
    parser.add_argument("--json", default=None, help="write the result here too")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. num_poses=10 baseline=none")
    args = parser.parse_args(argv)
    overrides = [f"output.dir={args.out_dir}", *([f"limit={args.limit}"] if args.limit else []), *args.overrides]
    cfg = load_config(REPO / "configs" / "docking" / "posebusters_dev.yaml", DockConfig, overrides)
    summaries = run_experiment(cfg)
    table = pd.read_csv(Path(cfg.output.dir) / "results.csv")
    result = {"benchmark": "dock_posebusters", "config": to_dict(cfg), "summaries": summaries, "machine": machine()}
    if {"moldiff", "vina"} <= set(table.method):
        wide = table.pivot(index="id", columns="method", values="top1_rmsd")
        secs = table.pivot(index="id", columns="method", values="seconds")
        ok_m, ok_v = wide.moldiff < 2, wide.vina < 2
        result["paired"] = {
            "complexes": int(len(wide)),
            "both_within_2A": int((ok_m & ok_v).sum()), "only_moldiff": int((ok_m & ~ok_v).sum()),
            "only_vina": int((~ok_m & ok_v).sum()), "neither": int((~ok_m & ~ok_v).sum()),
            "median_seconds_moldiff_over_vina": float((secs.moldiff / secs.vina).median()),
        }
        result["per_complex"] = table.astype(object).where(table.notna(), None).to_dict(orient="records")
    report(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
