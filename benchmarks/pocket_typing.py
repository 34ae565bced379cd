"""How well residue templates type a pocket for Vina: ``protein_xs_types`` (what design-time
energy guidance uses, no receptor preparation) against the X-Score types Vina derives from the
meeko-prepared receptor (``receptor_pdbqt``, polar hydrogens added) of the same pocket.

    python benchmarks/pocket_typing.py [--limit 5] [--json out.json]

For the first ``--limit`` posebusters_dev complexes (pocket: residues within 10 Å of the crystal
ligand) every pocket heavy atom is matched to the prepared receptor's atom at the same
coordinates; prints the agreement and each disagreeing (residue, atom, ours, Vina's) with counts.
Needs the eval extra (meeko, vina).
"""
from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from _common import machine, report
from moldiff.data.complexes import find_complexes
from moldiff.data.protein import binding_site
from moldiff.vina.atom_types import pdbqt_atoms, protein_xs_types, xs_types
from moldiff.vina.prepare import pocket_residues, receptor_pdbqt


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/posebusters_dev")
    p.add_argument("--limit", type=int, default=5)
    p.add_argument("--json")
    args = p.parse_args()
    matched = agree = unmatched = 0
    wrong = Counter()
    entries = find_complexes(args.data)[: args.limit]
    for e in entries:
        _, site, _ = binding_site(str(e.protein), reference=str(e.ligand), radius=10.0)
        pos, ad = pdbqt_atoms(receptor_pdbqt(e.protein, pocket_residues(site)))
        theirs = xs_types(pos, ad)
        heavy = [i for i, t in enumerate(theirs) if t is not None]
        ours = protein_xs_types(site)
        d = np.sqrt(((site.pos[:, None] - pos[heavy][None]) ** 2).sum(-1))
        nearest, found = d.argmin(1), d.min(1) < 0.01
        unmatched += int((~found).sum())
        for i in np.nonzero(found)[0]:
            matched += 1
            vina = theirs[heavy[nearest[i]]]
            if vina == ours[i]:
                agree += 1
            else:
                wrong[f"{site.residue_name[i]} {site.atom_name[i]}: ours {ours[i]}, Vina {vina}"] += 1
    report({"benchmark": "pocket_typing", "complexes": [e.id for e in entries], "matched_atoms": matched,
            "agree": agree, "unmatched_atoms": unmatched, "disagreements": dict(wrong.most_common()),
            "machine": machine()}, args.json)


if __name__ == "__main__":
    main()
