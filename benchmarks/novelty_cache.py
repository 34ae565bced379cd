"""Building the QM9 novelty reference (canonical SMILES of the 100,000 training molecules),
side by side: the full assessment per molecule in this process (how the cache was built before)
against ``edm_smiles`` in a process per core (how ``qm9_train_smiles`` builds it now). Checks that
the two give the same SMILES set; prints and writes JSON (seconds, molecules per second, ratio).

    python benchmarks/novelty_cache.py --json benchmarks/results/novelty_cache.json
"""
from __future__ import annotations

import argparse
import time

from _common import machine, report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=None, help="first N training molecules (default: all)")
    p.add_argument("--json", default=None)
    args = p.parse_args()

    from moldiff.data.qm9 import qm9_molecules
    from moldiff.metrics.evaluate import assess_all
    from moldiff.metrics.reference import _smiles_of
    from moldiff.parallel import default_workers, ordered_map

    molecules = list(qm9_molecules("train", limit=args.limit))
    start = time.perf_counter()
    before = {r.smiles for r in assess_all(molecules, "table") if r.smiles}
    t_before = time.perf_counter() - start

    workers = default_workers()
    start = time.perf_counter()
    chunks = [molecules[k:k + 2000] for k in range(0, len(molecules), 2000)]
    now = {s for part in ordered_map(_smiles_of, chunks, workers) for s in part if s}
    t_now = time.perf_counter() - start

    report({"benchmark": "novelty_cache", "molecules": len(molecules), "workers": workers,
            "same_smiles": before == now, "distinct_smiles": len(now),
            "seconds_assess_one_process": round(t_before, 1), "seconds_edm_smiles_pool": round(t_now, 1),
            "speedup": round(t_before / t_now, 2), "machine": machine()}, args.json)


if __name__ == "__main__":
    main()
