"""Geometry distributions of 3D molecules: bond lengths, bond angles, torsions, counts.

Used to compare generated molecules with training molecules (``moldiff.viz`` plots them
with the Wasserstein distance between the two). Input: RDKit molecules with a conformer
and bonds (e.g. from :func:`moldiff.chem.molecule.to_rdkit` after bond inference).
Keys are element patterns in sorted, canonical order: ``"C-H"``, ``"C-C-O"``, ``"C-C-C-N"``.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
from rdkit import Chem


def _key(symbols) -> str:
    fwd, rev = "-".join(symbols), "-".join(reversed(symbols))
    return min(fwd, rev)


def _with_conformer(mols):
    """The molecules that have a conformer (``None`` records and 2D molecules skipped)."""
    return (m for m in mols if m is not None and m.GetNumConformers() > 0)


def bond_lengths(mols) -> dict[str, np.ndarray]:
    """Bond lengths (Å) per element pair over all molecules."""
    out = defaultdict(list)
    for mol in _with_conformer(mols):
        pos = mol.GetConformer().GetPositions()
        for b in mol.GetBonds():
            i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
            out[_key((mol.GetAtomWithIdx(i).GetSymbol(), mol.GetAtomWithIdx(j).GetSymbol()))].append(
                float(np.linalg.norm(pos[i] - pos[j])))
    return {k: np.asarray(v) for k, v in out.items()}


def bond_angles(mols) -> dict[str, np.ndarray]:
    """Bond angles (degrees) per element triple (the middle one is the vertex)."""
    out = defaultdict(list)
    for mol in _with_conformer(mols):
        pos = mol.GetConformer().GetPositions()
        for atom in mol.GetAtoms():
            j = atom.GetIdx()
            nbrs = [n.GetIdx() for n in atom.GetNeighbors()]
            for a in range(len(nbrs)):
                for b in range(a + 1, len(nbrs)):
                    i, k = nbrs[a], nbrs[b]
                    u, v = pos[i] - pos[j], pos[k] - pos[j]
                    cos = np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-12)
                    sym = (mol.GetAtomWithIdx(i).GetSymbol(), atom.GetSymbol(), mol.GetAtomWithIdx(k).GetSymbol())
                    out[_key(sym)].append(float(np.degrees(np.arccos(np.clip(cos, -1, 1)))))
    return {k: np.asarray(v) for k, v in out.items()}


def torsions(mols) -> dict[str, np.ndarray]:
    """Torsion angles (degrees, [-180, 180]) per element quadruple over heavy-atom paths i-j-k-l."""
    from rdkit.Chem import rdMolTransforms

    out = defaultdict(list)
    for mol in _with_conformer(mols):
        conf = mol.GetConformer()
        for bond in mol.GetBonds():
            j, k = bond.GetBeginAtom(), bond.GetEndAtom()
            if j.GetSymbol() == "H" or k.GetSymbol() == "H":
                continue
            for a in j.GetNeighbors():
                for d in k.GetNeighbors():
                    if a.GetIdx() in (k.GetIdx(),) or d.GetIdx() in (j.GetIdx(), a.GetIdx()):
                        continue
                    if a.GetSymbol() == "H" or d.GetSymbol() == "H":
                        continue
                    sym = (a.GetSymbol(), j.GetSymbol(), k.GetSymbol(), d.GetSymbol())
                    out[_key(sym)].append(rdMolTransforms.GetDihedralDeg(conf, a.GetIdx(), j.GetIdx(), k.GetIdx(),
                                                                         d.GetIdx()))
    return {k: np.asarray(v) for k, v in out.items()}


def atom_counts(mols) -> np.ndarray:
    """(M,) atoms per molecule (hydrogens included)."""
    return np.array([m.GetNumAtoms() for m in mols if m is not None], dtype=np.int64)


def element_fractions(mols) -> dict[str, float]:
    """Fraction of all atoms per element."""
    counts: dict[str, int] = defaultdict(int)
    for m in mols:
        if m is None:
            continue
        for a in m.GetAtoms():
            counts[a.GetSymbol()] += 1
    total = sum(counts.values()) or 1
    return {k: v / total for k, v in sorted(counts.items())}


def wasserstein(a: np.ndarray, b: np.ndarray) -> float:
    """1-D Wasserstein (earth mover's) distance between two samples (same units as the data)."""
    from scipy.stats import wasserstein_distance

    if len(a) == 0 or len(b) == 0:
        return float("nan")
    return float(wasserstein_distance(a, b))


def with_bonds(mols3d, bonds: str = "table") -> list[Chem.Mol]:
    """:class:`~moldiff.chem.Mol3D` records -> RDKit molecules with inferred bonds (None kept out)."""
    from moldiff.chem.molecule import infer_bonds, to_rdkit

    return [to_rdkit(infer_bonds(m, bonds)) for m in mols3d if m is not None]
