"""A light 3D molecule record and its conversion to and from RDKit.

`Mol3D` is what the metrics work on: element symbols, coordinates (Å), formal charges
and, optionally, bonds. RDKit molecules go in and come out at the edges
(:func:`from_rdkit`, :func:`to_rdkit`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import rdDetermineBonds
from rdkit.Geometry import Point3D

from moldiff.chem.bonds import bond_list, table_bond_orders

_BOND_TYPES = {
    1: Chem.BondType.SINGLE,
    2: Chem.BondType.DOUBLE,
    3: Chem.BondType.TRIPLE,
    1.5: Chem.BondType.AROMATIC,
}
_PTABLE = Chem.GetPeriodicTable()


@dataclass
class Mol3D:
    """One molecule as arrays.

    Attributes:
        symbols: N element symbols (``"C"``, ``"Cl"``, ...).
        pos: (N, 3) float64 coordinates in Å.
        charge: (N,) int formal charges (zeros when unknown).
        bonds: optional (M, 3) float array of (i, j, order), order in {1, 2, 3, 1.5};
            ``None`` means "no bonds given, infer them".
        name: optional title (the SDF ``_Name``).
        props: SD properties written with the molecule (name -> number or text), e.g. the
            condition a conditional model was asked for.
    """

    symbols: list[str]
    pos: np.ndarray
    charge: np.ndarray = field(default=None)  # type: ignore[assignment]
    bonds: np.ndarray | None = None
    name: str = ""
    props: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.pos = np.asarray(self.pos, dtype=np.float64).reshape(-1, 3)
        if len(self.symbols) != len(self.pos):
            raise ValueError(f"{len(self.symbols)} symbols but {len(self.pos)} positions")
        if self.charge is None:
            self.charge = np.zeros(len(self.symbols), dtype=np.int64)
        self.charge = np.asarray(self.charge, dtype=np.int64).reshape(-1)
        if len(self.charge) != len(self.symbols):
            raise ValueError(f"{len(self.symbols)} symbols but {len(self.charge)} charges")

    @property
    def num_atoms(self) -> int:
        return len(self.symbols)


def symbols_from_atomic_numbers(z) -> list[str]:
    """Element symbols for an iterable of atomic numbers."""
    return [_PTABLE.GetElementSymbol(int(a)) for a in z]


def from_rdkit(mol: Chem.Mol, conf_id: int = -1, *, with_bonds: bool = True) -> Mol3D:
    """Convert an RDKit molecule with a 3D conformer to a :class:`Mol3D`.

    Bond orders are taken as RDKit stores them (aromatic = 1.5) when ``with_bonds``.
    Raises ValueError if the molecule has no conformer.
    """
    if mol.GetNumConformers() == 0:
        raise ValueError("molecule has no conformer (3D coordinates)")
    pos = mol.GetConformer(conf_id).GetPositions()
    symbols = [a.GetSymbol() for a in mol.GetAtoms()]
    charge = np.array([a.GetFormalCharge() for a in mol.GetAtoms()], dtype=np.int64)
    bonds = None
    if with_bonds:
        bonds = np.array(
            [[b.GetBeginAtomIdx(), b.GetEndAtomIdx(), b.GetBondTypeAsDouble()] for b in mol.GetBonds()],
            dtype=np.float64,
        ).reshape(-1, 3)
    name = mol.GetProp("_Name") if mol.HasProp("_Name") else ""
    return Mol3D(symbols, pos, charge, bonds, name)


def to_rdkit(
    m: Mol3D,
    *,
    sanitize: bool = False,
    use_charges: bool = True,
    implicit_hydrogens: bool = False,
) -> Chem.Mol:
    """Build an RDKit molecule (one conformer) from a :class:`Mol3D`.

    Bonds must be present (call :func:`infer_bonds` first). By default every hydrogen
    is explicit and atoms get no implicit hydrogens (what a 3D structure says);
    ``implicit_hydrogens=True`` and ``use_charges=False`` reproduce the EDM validity
    protocol, where RDKit may complete under-bonded atoms with implicit hydrogens.
    With ``sanitize=True`` RDKit sanitisation runs and its exception propagates.
    """
    if m.bonds is None:
        raise ValueError("Mol3D has no bonds; infer them first")
    rw = Chem.RWMol()
    conf = Chem.Conformer(m.num_atoms)
    charges = np.asarray(m.charge, dtype=np.int64).tolist() if use_charges else None
    for k, sym in enumerate(m.symbols):
        atom = Chem.Atom(sym)
        if charges is not None and charges[k]:
            atom.SetFormalCharge(charges[k])
        atom.SetNoImplicit(not implicit_hydrogens)
        rw.AddAtom(atom)
    pos = np.ascontiguousarray(m.pos, dtype=np.float64).reshape(m.num_atoms, 3)
    if hasattr(conf, "SetPositions"):  # RDKit >= 2024.03: one call instead of a Point3D per atom
        conf.SetPositions(pos)
    else:
        for k, p in enumerate(pos.tolist()):
            conf.SetAtomPosition(k, Point3D(*p))
    for i, j, order in np.asarray(m.bonds, dtype=np.float64).reshape(-1, 3).tolist():
        i, j = int(i), int(j)
        rw.AddBond(i, j, _BOND_TYPES[order if order == 1.5 else int(order)])
        if order == 1.5:  # RDKit's aromatic bonds join aromatic atoms (kekulised on sanitising)
            rw.GetBondBetweenAtoms(i, j).SetIsAromatic(True)
            rw.GetAtomWithIdx(i).SetIsAromatic(True)
            rw.GetAtomWithIdx(j).SetIsAromatic(True)
    mol = rw.GetMol()
    mol.UpdatePropertyCache(strict=False)  # valences known even for unsanitised structures
    mol.AddConformer(conf, assignId=True)
    if m.name:
        mol.SetProp("_Name", m.name)
    for key, value in m.props.items():
        if isinstance(value, float):
            mol.SetDoubleProp(key, value)
        elif isinstance(value, int) and not isinstance(value, bool):
            mol.SetIntProp(key, value)
        else:
            mol.SetProp(key, str(value))
    if sanitize:
        Chem.SanitizeMol(mol)
    return mol


def infer_bonds(m: Mol3D, method: str = "table", *, total_charge: int | None = None) -> Mol3D:
    """Return a copy of ``m`` with bonds inferred from coordinates.

    Args:
        m: the molecule (existing bonds are ignored).
        method: ``"table"`` (EDM/QM9 bond-length protocol, charges kept as given) or
            ``"rdkit"`` (``rdDetermineBonds``; sets bond orders and formal charges).
        total_charge: net charge for ``"rdkit"`` (default: the sum of ``m.charge``).

    Raises:
        ValueError: unknown method, or RDKit could not assign bond orders.
    """
    if method == "table":
        bonds = bond_list(table_bond_orders(m.symbols, m.pos)).astype(np.float64)
        return Mol3D(list(m.symbols), m.pos.copy(), m.charge.copy(), bonds, m.name, dict(m.props))
    if method == "rdkit":
        bare = Mol3D(list(m.symbols), m.pos, np.zeros(m.num_atoms), np.zeros((0, 3)), m.name)
        mol = to_rdkit(bare)
        charge = int(m.charge.sum()) if total_charge is None else int(total_charge)
        try:
            with rdBase.BlockLogs():
                rdDetermineBonds.DetermineBonds(mol, charge=charge)
        except (ValueError, RuntimeError) as exc:
            raise ValueError(f"rdDetermineBonds failed: {exc}") from exc
        out = from_rdkit(Chem.Mol(mol))
        out.name, out.props = m.name, dict(m.props)
        return out
    raise ValueError(f"unknown bond inference method {method!r}; choose 'table' or 'rdkit'")


def canonical_smiles(mol: Chem.Mol | None, *, largest_fragment: bool = True) -> str | None:
    """Sanitise a copy of ``mol`` and return its canonical SMILES (None if invalid).

    With ``largest_fragment`` (the EDM protocol) the SMILES of the fragment with the
    most atoms is returned. Hydrogens are written implicitly (``CCO``, not
    ``[H]OC([H])...``) so the result compares with SMILES from any other source.
    """
    if mol is None:
        return None
    mol = Chem.Mol(mol)
    try:
        with rdBase.BlockLogs():  # an invalid molecule is an expected outcome, not noise
            Chem.SanitizeMol(mol)
            if largest_fragment:
                frags = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=False)
                mol = max(frags, key=lambda f: f.GetNumAtoms())
            return Chem.MolToSmiles(Chem.RemoveHs(mol))
    except (ValueError, RuntimeError):  # Chem.rdchem.MolSanitizeException is a ValueError
        return None
