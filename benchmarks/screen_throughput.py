"""Screening throughput: N ligands of one fep_benchmark target screened against its receptor by
moldiff (its docking defaults, and a cheaper search) and by AutoDock Vina (exhaustiveness 8),
each on the same worker processes (``--workers``, one core each), one after the other in one
run. Prints and writes JSON: ligands per minute, median seconds per ligand, the share of
ligands docked, median top-1 score and -- since every fep_benchmark ligand sits in its pocket
in a modelled pose -- the share of top-1 poses within 2 Å of that pose (a sanity check of the
placement, not a docking benchmark: the shipped pocket model was fine-tuned on these targets).

    python benchmarks/screen_throughput.py --target jacs_set__p38 -n 16 --workers 2 \
        --json benchmarks/results/screen_throughput_p38.json
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, median, report  # noqa: E402

#: moldiff settings compared (DockOptions fields); "default" is the shipped docking config's
PRESETS = {
    "moldiff_default": {},
    "moldiff_fast": {"steps": 20, "num_poses": 5, "conformers": 10, "search_steps": 60, "search_chains": 2},
}


def _ligands(folder: Path, n: int, out: Path) -> tuple[Path, dict]:
    """The first ``n`` ligands of the target as a multi-record SDF with unique ids, and their
    modelled poses by id."""
    from rdkit import Chem

    mols = [m for m in Chem.SDMolSupplier(str(next(folder.glob("*_ligands.sdf"))), removeHs=False) if m is not None]
    library, poses = out / "library.sdf", {}
    writer = Chem.SDWriter(str(library))
    for k, mol in enumerate(mols[:n]):
        name = f"{k:03d}_{mol.GetProp('_Name') if mol.HasProp('_Name') else 'ligand'}"
        mol.SetProp("id", name)
        writer.write(mol)
        poses[name] = mol
    writer.close()
    return library, poses


def _screen(method, options, receptor, library, reference, out, workers):
    from moldiff.docking import screen

    start = time.perf_counter()
    table = screen(receptor, library, out, reference=reference, method=method, workers=workers, progress=False,
                   **options)
    return table, time.perf_counter() - start


def _summary(table, wall, poses, folder, n):
    from rdkit import Chem

    from moldiff.docking.pose import symmetric_rmsd

    ok = table[table["status"] == "ok"]
    close = 0
    for ligand_id in ok["id"]:
        pose = next(Chem.SDMolSupplier(str(folder / "poses" / f"{ligand_id}.sdf"), removeHs=False))
        close += symmetric_rmsd(pose, poses[ligand_id]) < 2.0
    errors = table.loc[table["status"] != "ok", "error"].tolist()
    return {
        "ligands": n, "docked": int(len(ok)), "errors": errors[:5],
        "wall_seconds": wall, "ligands_per_minute": 60.0 * n / wall,
        "seconds_per_ligand_median": median(table["seconds"].tolist()),
        "median_top1_score": float(ok["score"].median()) if len(ok) else None,
        "top1_within_2A_of_modelled_pose": close / n,
        "posebusters_valid_top1": float(ok["posebusters_valid"].mean()) if "posebusters_valid" in ok and len(ok) else None,
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="jacs_set__p38", help="fep_benchmark folder")
    ap.add_argument("-n", type=int, default=16, help="ligands (the target's first n)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--methods", nargs="+", default=["moldiff_default", "moldiff_fast", "vina"])
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    data = Path(os.environ.get("MOLDIFF_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    folder = data / "fep_benchmark" / args.target
    receptor = next(folder.glob("*_protein.pdb"))
    reference = next(folder.glob("*_ligand.sdf"))
    result = {"benchmark": "screen_throughput", "target": args.target, "workers": args.workers,
              "machine": machine(), "cores": os.cpu_count(), "methods": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        library, poses = _ligands(folder, args.n, tmp)
        n = len(poses)
        for name in args.methods:
            method, options = ("vina", {}) if name == "vina" else ("moldiff", PRESETS[name])
            out = tmp / name
            table, wall = _screen(method, options, receptor, library, reference, out, args.workers)
            result["methods"][name] = {"options": options, **_summary(table, wall, poses, out / method, n)}
            print(name, result["methods"][name], flush=True)
    vina = result["methods"].get("vina")
    if vina:
        result["throughput_vs_vina"] = {k: v["ligands_per_minute"] / vina["ligands_per_minute"]
                                        for k, v in result["methods"].items() if k != "vina"}
    report(result, args.json)


if __name__ == "__main__":
    main()
