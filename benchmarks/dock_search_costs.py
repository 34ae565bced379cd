"""What the docking search's design rests on: Vina's per-pose cost against our batched energy.

    python benchmarks/dock_search_costs.py [--complex DIR] [--poses 16] [--json out.json]

For one complex (default: the fep_benchmark target opls_stress__fxa_set3, first ligand, 32
heavy atoms; timing only, nothing is fitted) it measures, on one thread: Vina's
``set_ligand_from_string`` (paid for every new pose through Vina's API) and ``optimize``;
one energy + gradient evaluation of ``--poses`` poses by :class:`~moldiff.docking.search.PoseSearch`
(Vina's grid maps); and the crystal pose's intermolecular energy by Vina, by our pair sum
and by our interpolation of Vina's maps. Medians of ``--repeats`` runs.
"""
from __future__ import annotations

import argparse
import glob
import statistics
import time

import numpy as np
import torch
from rdkit import Chem

from _common import machine, report
from moldiff.docking.dock import DOCKING_ELEMENTS, _scorer, box_size, read_site
from moldiff.docking.pose import embed_conformers, prepare_ligand, with_heavy_coordinates
from moldiff.docking.search import PoseSearch


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--complex", default="../shared/data/fep_benchmark/opls_stress__fxa_set3")
    p.add_argument("--poses", type=int, default=16)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json")
    args = p.parse_args()
    torch.set_num_threads(1)
    protein = glob.glob(f"{args.complex}/*protein.pdb")[0]
    ligands = sorted(glob.glob(f"{args.complex}/*ligand*.sdf"))[-1]  # the FEP layout's *_ligands.sdf if present
    ref = next(iter(Chem.SDMolSupplier(ligands, removeHs=False)))
    lig = prepare_ligand(ref, DOCKING_ELEMENTS)
    xtal = with_heavy_coordinates(lig, ref)
    confs = embed_conformers(lig, 8, seed=0)
    prot, pocket, centre, _ = read_site(protein, reference=ref)
    scorer = _scorer(prot.path or protein, pocket, centre, box_size(confs), 0)
    scorer.prepare_maps([xtal])
    text = scorer.pdbqt(xtal)
    set_s = median_seconds(lambda: scorer.vina.set_ligand_from_string(text), args.repeats)
    optimise_times = []
    for _ in range(args.repeats):  # from the crystal pose each time (a second call starts at a minimum)
        scorer.vina.set_ligand_from_string(text)
        start = time.perf_counter()
        scorer.vina.optimize()
        optimise_times.append(time.perf_counter() - start)
    optimise_s = statistics.median(optimise_times)
    scorer.vina.set_ligand_from_string(text)
    vina_inter = float(scorer.vina.score()[1])

    exact = PoseSearch(xtal, scorer.receptor, scorer.center, scorer.size)
    gridded = PoseSearch(xtal, scorer.receptor, scorer.center, scorer.size, vina=scorer.vina)
    x = torch.tensor(xtal.GetConformer().GetPositions())[None]
    poses = gridded.perturb(x.repeat(args.poses, 1, 1), np.random.default_rng(0))
    gridded.opt_steps = 0  # optimise() then costs exactly one energy + gradient evaluation
    eval_s = median_seconds(lambda: gridded.optimise(poses), args.repeats)
    result = {
        "benchmark": "dock_search_costs", "complex": args.complex, "heavy_atoms": len(exact.heavy_list),
        "torsions": len(exact.torsions), "vina_set_ligand_s": set_s, "vina_optimize_s": optimise_s,
        "search_eval_s": eval_s, "search_eval_poses": args.poses,
        "crystal_inter_vina": vina_inter,
        "crystal_inter_pair_sum": float(exact.energy.inter(x[:, exact.heavy])),
        "crystal_inter_grid_maps": float(gridded.energy.inter(x[:, gridded.heavy])),
        "threads": 1, "machine": machine(),
    }
    report(result, args.json)


if __name__ == "__main__":
    main()
