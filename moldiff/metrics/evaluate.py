"""Community-standard metrics over a set of 3D molecules.

Definitions follow EDM (Hoogeboom et al. 2022) so that figures are comparable with
the literature:

* ``atom_stability``: stable atoms / all atoms (EDM valence table, charges ignored).
* ``mol_stability``: molecules whose atoms are all stable / all molecules.
* ``atom_stability_charged`` / ``mol_stability_charged``: the same with the
  charge-aware (MiDi-style) table and the formal charges given with the molecules.
* ``validity``: share of molecules that RDKit sanitises. With inferred bonds this is
  EDM's protocol: atoms without formal charges, implicit hydrogens allowed.
* ``connectivity``: share of molecules whose bond graph is a single fragment.
* ``uniqueness``: distinct canonical SMILES (largest fragment) / valid molecules.
* ``novelty``: unique SMILES absent from the reference set / unique SMILES.
* ``radicals``: share of the valid molecules that carry unpaired electrons *as written*
  (formal charges given, explicit hydrogens only: what the SDF says). EDM's validity lets RDKit
  add implicit hydrogens, so a molecule missing a hydrogen still counts as valid there.

Malformed records (``None``) count in ``n`` and fail every per-molecule metric.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
from rdkit import Chem, rdBase

from moldiff.chem.bonds import orders_from_bond_list
from moldiff.chem.molecule import Mol3D, canonical_smiles, from_rdkit, infer_bonds, to_rdkit
from moldiff.metrics.stability import atom_valences, stable_atoms

log = logging.getLogger(__name__)

BOND_SOURCES = ("table", "rdkit", "file")
METRIC_KEYS = ("n", "atom_stability", "mol_stability", "validity", "connectivity", "uniqueness", "novelty")


@dataclass
class Assessment:
    """Per-molecule results (one row of the table behind the summary)."""

    readable: bool
    num_atoms: int = 0
    num_stable_atoms: int = 0
    num_stable_atoms_charged: int = 0
    stable: bool = False
    stable_charged: bool = False
    valid: bool = False
    connected: bool = False
    smiles: str | None = None
    radical: bool = False
    error: str = ""


def _kekulized_bonds(m: Mol3D) -> Mol3D:
    """Replace aromatic (1.5) bond orders by a Kekulé structure when RDKit can find one."""
    if m.bonds is None or not np.any(m.bonds[:, 2] == 1.5):
        return m
    mol = to_rdkit(m)
    try:
        with rdBase.BlockLogs():
            Chem.Kekulize(mol, clearAromaticFlags=True)
    except (ValueError, RuntimeError):
        return m  # keep 1.5: such atoms cannot reach an integer valence and count as unstable
    return from_rdkit(mol)


def assess(m: Mol3D | Chem.Mol | None, bonds: str = "table") -> Assessment:
    """Score one molecule.

    Args:
        m: the molecule (``None`` for a malformed record).
        bonds: ``"table"`` (EDM bond-length protocol), ``"rdkit"`` (``rdDetermineBonds``)
            or ``"file"`` (trust the bonds given with the molecule).
    """
    if bonds not in BOND_SOURCES:
        raise ValueError(f"unknown bond source {bonds!r}; choose one of {', '.join(BOND_SOURCES)}")
    if m is None:
        return Assessment(readable=False, error="malformed record")
    if isinstance(m, Chem.Mol):
        m = from_rdkit(m, with_bonds=bonds == "file")
    if m.num_atoms == 0:
        return Assessment(readable=True, error="no atoms")
    try:
        bonded = _kekulized_bonds(m) if bonds == "file" else infer_bonds(m, bonds)
    except ValueError as exc:  # rdDetermineBonds could not assign orders
        return Assessment(readable=True, num_atoms=m.num_atoms, error=str(exc))
    if bonded.bonds is None:
        bonded.bonds = np.zeros((0, 3))
    orders = orders_from_bond_list(bonded.num_atoms, bonded.bonds)
    valence = atom_valences(orders)
    ok = stable_atoms(bonded.symbols, valence)
    ok_q = stable_atoms(bonded.symbols, valence, bonded.charge, table="charged")
    mol, smiles = _smiles_mol(bonded, edm=bonds == "table")
    return Assessment(
        radical=smiles is not None and has_radicals(bonded),
        readable=True,
        num_atoms=bonded.num_atoms,
        num_stable_atoms=int(ok.sum()),
        num_stable_atoms_charged=int(ok_q.sum()),
        stable=bool(ok.all()),
        stable_charged=bool(ok_q.all()),
        valid=smiles is not None,
        connected=len(Chem.GetMolFrags(mol)) == 1,
        smiles=smiles,
    )


def _smiles_mol(bonded: Mol3D, *, edm: bool) -> tuple[Chem.Mol, str | None]:
    """``(RDKit molecule, canonical SMILES or None)`` of a bonded molecule as :func:`assess`
    scores it: the EDM protocol (``edm``: charges ignored, implicit hydrogens allowed) or as
    written."""
    mol = to_rdkit(bonded, use_charges=not edm, implicit_hydrogens=edm)
    return mol, canonical_smiles(mol)


def edm_smiles(m: Mol3D) -> str | None:
    """The canonical SMILES :func:`assess` gives ``m`` with ``bonds="table"`` (the EDM
    protocol: bonds from lengths, no charges, implicit hydrogens), without the rest of the
    assessment; ``None`` when RDKit cannot sanitise it."""
    if m.num_atoms == 0:
        return None
    return _smiles_mol(infer_bonds(m, "table"), edm=True)[1]


def has_radicals(m: Mol3D) -> bool:
    """Whether ``m`` (with bonds) has unpaired electrons as written: formal charges as given,
    explicit hydrogens only (RDKit's radical perception on a sanitised copy). A structure RDKit
    cannot sanitise is not counted here (it is invalid)."""
    mol = to_rdkit(m, use_charges=True, implicit_hydrogens=False)
    try:
        with rdBase.BlockLogs():
            Chem.SanitizeMol(mol)
    except (ValueError, RuntimeError):
        return False
    return any(a.GetNumRadicalElectrons() for a in mol.GetAtoms())


def assess_all(molecules: Iterable, bonds: str = "table", *, progress: bool = False) -> list[Assessment]:
    """:func:`assess` over many molecules, with an optional progress bar (off when not a terminal)."""
    from moldiff.progress import progress_iter

    if progress and not hasattr(molecules, "__len__"):
        molecules = list(molecules)
    return [assess(m, bonds) for m in progress_iter(molecules, "evaluating", "mol", enabled=None if progress else False,
                                                    leave=False)]


def summarise(rows: list[Assessment], reference: set[str] | None = None) -> dict[str, float | int | None]:
    """Aggregate :class:`Assessment` rows into the metric dictionary (fractions in [0, 1])."""
    n = len(rows)
    if n == 0:
        raise ValueError("no molecules to evaluate")
    atoms = sum(r.num_atoms for r in rows)
    valid = [r.smiles for r in rows if r.valid]
    unique = set(valid)
    out: dict[str, float | int | None] = {
        "n": n,
        "n_malformed": sum(not r.readable for r in rows),
        "atom_stability": sum(r.num_stable_atoms for r in rows) / atoms if atoms else 0.0,
        "mol_stability": sum(r.stable for r in rows) / n,
        "atom_stability_charged": sum(r.num_stable_atoms_charged for r in rows) / atoms if atoms else 0.0,
        "mol_stability_charged": sum(r.stable_charged for r in rows) / n,
        "validity": len(valid) / n,
        "connectivity": sum(r.connected for r in rows) / n,
        "uniqueness": len(unique) / len(valid) if valid else 0.0,
        "novelty": None,
        "radicals": sum(r.radical for r in rows if r.valid) / len(valid) if valid else 0.0,
    }
    if reference is not None:
        out["novelty"] = len(unique - reference) / len(unique) if unique else 0.0
    return out


def evaluate(
    molecules: Iterable[Mol3D | Chem.Mol | None],
    *,
    bonds: str = "table",
    reference: set[str] | None = None,
    druglike: bool = False,
    progress: bool = False,
) -> dict[str, float | int | None]:
    """Metrics over a set of molecules.

    Args:
        molecules: :class:`Mol3D` records or RDKit molecules with a conformer;
            ``None`` marks a malformed record.
        bonds: where bonds come from (see :func:`assess`).
        reference: canonical SMILES for novelty (e.g. :func:`moldiff.metrics.reference_smiles`);
            ``novelty`` is ``None`` without one.
        druglike: add mean QED, SA, logP and the Lipinski pass rate over valid molecules.
        progress: show a progress bar.

    Returns:
        A dict with the keys of :data:`METRIC_KEYS` plus ``n_malformed`` and the
        charge-aware stabilities (and drug-likeness keys when asked).
    """
    rows = assess_all(molecules, bonds, progress=progress)
    out = summarise(rows, reference)
    if druglike:
        from moldiff.metrics.druglike import summarise_druglike

        valid = [Chem.MolFromSmiles(r.smiles) for r in rows if r.valid]
        out.update(summarise_druglike([m for m in valid if m is not None]))
    return out


def assessment_table(rows: list[Assessment]):
    """The per-molecule rows as a pandas DataFrame (for notebooks)."""
    import pandas as pd

    return pd.DataFrame([asdict(r) for r in rows])
