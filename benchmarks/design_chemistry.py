"""What the designed molecules are made of: small rings, crowding, embeddability.

    python benchmarks/design_chemistry.py [--ids 6M2B_EZO ...] [--n 8] [--num-atoms 12 18] [--json out.json]

For each posebusters_dev pocket (evaluation only) and each setting -- guided (the default:
clash and connectivity guidance), unguided (``clash_distance=0, join_fragments=False``),
each at the ligand size drawn from the size prior and at each ``--num-atoms`` -- it designs
``n`` ligands (seed 0) and reports, over the assembled ones: connected share, three-membered
rings per heavy atom, mean heavy-atom degree, QED, and the share RDKit's ETKDG can embed from
the bond graph alone (one attempt, ``--embed-timeout`` seconds each; a chemically sensible
molecule embeds in well under a second).
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
from rdkit import Chem
from rdkit.Chem import QED, AllChem

from _common import machine, report
import moldiff
from moldiff.chem.ligand import read_ligand
from moldiff.metrics.pocket import is_connected

SETTINGS = {"guided": {}, "unguided": {"clash_distance": 0, "join_fragments": False}}


def embeds(mol: Chem.Mol, timeout: int) -> bool:
    params = AllChem.ETKDGv3()
    params.randomSeed, params.timeout = 0, timeout
    return AllChem.EmbedMolecule(Chem.Mol(mol), params) == 0


def describe(mols, timeout: int) -> dict:
    made = [m for m in mols if m is not None]
    heavy = [Chem.RemoveHs(m) for m in made]
    return {
        "assembled": len(made), "connected": float(np.mean([is_connected(m) for m in made])),
        "heavy_atoms": float(np.mean([m.GetNumAtoms() for m in heavy])),
        "three_rings_per_atom": float(np.mean([sum(len(r) == 3 for r in m.GetRingInfo().AtomRings()) / m.GetNumAtoms()
                                               for m in heavy])),
        "mean_degree": float(np.mean([np.mean([a.GetDegree() for a in m.GetAtoms()]) for m in heavy])),
        "qed": float(np.mean([QED.qed(m) for m in made])),
        "etkdg_embeds": float(np.mean([embeds(m, timeout) for m in made])),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/posebusters_dev")
    p.add_argument("--ids", nargs="+", default=["6M2B_EZO"])
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--num-atoms", type=int, nargs="*", default=[12, 18])
    p.add_argument("--embed-timeout", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = moldiff.load("pocket")
    rows = []
    for pid in args.ids:
        protein, ligand = f"{args.data}/{pid}/{pid}_protein.pdb", f"{args.data}/{pid}/{pid}_ligand.sdf"
        reference = read_ligand(ligand, hydrogens="add")
        for size in [None, *args.num_atoms]:
            for name, kwargs in SETTINGS.items():
                mols = model.design(protein, ligand=reference, n=args.n, seed=0, num_atoms=size, **kwargs)
                row = {"id": pid, "num_atoms": size or "prior", "setting": name, **describe(mols, args.embed_timeout)}
                rows.append(row)
                print({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    report({"benchmark": "design_chemistry", "model": "pocket", "n": args.n, "seed": 0, "rows": rows,
            "machine": machine()}, args.json)


if __name__ == "__main__":
    main()
