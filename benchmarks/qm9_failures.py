"""Where generated molecules fail the EDM stability check: unstable atoms by (element, valence).

    python benchmarks/qm9_quality.py --n 1000 --steps 100 --seed 0 --sdf-dir samples
    python benchmarks/qm9_failures.py samples/steps100.sdf

Bonds are inferred from the coordinates with the QM9 bond-length table, as in
``moldiff evaluate``. Prints one JSON line: molecules by number of unstable atoms, and
the unstable atoms counted by element and valence.
"""
from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from _common import report
from moldiff.chem import from_rdkit, read_sdf
from moldiff.chem.molecule import infer_bonds
from moldiff.chem.bonds import orders_from_bond_list
from moldiff.metrics.stability import atom_valences, stable_atoms


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sdf", help="generated molecules (e.g. from qm9_quality.py --sdf-dir)")
    p.add_argument("--json", help="also write the result here")
    args = p.parse_args()
    per_molecule, atoms = Counter(), Counter()
    mols = [m for m in read_sdf(args.sdf).mols if m is not None]
    for mol in mols:
        bonded = infer_bonds(from_rdkit(mol, with_bonds=False), "table")
        bonds = bonded.bonds if bonded.bonds is not None else np.zeros((0, 3))
        valence = atom_valences(orders_from_bond_list(bonded.num_atoms, bonds))
        ok = stable_atoms(bonded.symbols, valence)
        per_molecule[int((~ok).sum())] += 1
        atoms.update(f"{s}{int(v)}" for s, v, good in zip(bonded.symbols, valence, ok) if not good)
    report({
        "benchmark": "qm9_failures", "file": args.sdf, "molecules": len(mols),
        "molecules_by_unstable_atoms": {str(k): per_molecule[k] for k in sorted(per_molecule)},
        "unstable_atoms": sum(atoms.values()),
        "unstable_by_element_valence": dict(atoms.most_common()),
    }, args.json)


if __name__ == "__main__":
    main()
