"""Bond orders and formal charges of every QM9 molecule, for models that generate bonds.

QM9 ships DFT geometries and one SMILES per molecule, not a bond table. Per molecule:

1. **From the SMILES** when it describes this geometry: RDKit parses it (with hydrogens);
   its heavy atoms must come in the geometry's order, each hydrogen of the geometry is
   attached to its nearest heavy atom and the hydrogen counts must agree, and every bond
   of the SMILES must be at most 1.3 x the two covalent radii long in the geometry. Bond
   classes follow RDKit's aromaticity model (class 4 = aromatic).
2. Otherwise **from the geometry** with RDKit's ``rdDetermineBonds`` (xyz2mol, Kim & Kim
   2015) at total charge 0 -- for the molecules whose SMILES is another isomer than the
   relaxed structure (QM9's known GDB-SMILES / geometry mismatches).
3. Molecules neither route explains are marked ``ok = False`` and left out of bond-model
   training (counted in the cache's metadata).

The result is cached beside the QM9 cache (``qm9_bonds_v1_...pt``, plain tensors read with
``weights_only``), built once in a few minutes with a worker process per core.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from moldiff.errors import InputError

log = logging.getLogger(__name__)

_CACHE_VERSION = 1
#: charge classes of QM9 bond models: class k is formal charge CHARGES[k]
CHARGES = (-1, 0, 1)
_BOND_CLASS = {1.0: 1, 2.0: 2, 3.0: 3, 1.5: 4}
_SLACK = 1.3


@dataclass
class QM9Bonds:
    """Per-molecule bond tables aligned with :class:`~moldiff.data.qm9.QM9Arrays`.

    Attributes:
        pairs: (2, P) long, atom indices *within* each molecule (i < j).
        bond_class: (P,) long, 1 single, 2 double, 3 triple, 4 aromatic.
        bond_ptr: (M + 1,) long, molecule k owns pairs ``bond_ptr[k]:bond_ptr[k+1]``.
        charge: (A,) long formal charges matching the bonds (per atom, as QM9Arrays.pos).
        ok: (M,) bool, the molecule has a bond table. source: (M,) 1 SMILES, 2 geometry, 0 none.
    """

    pairs: torch.Tensor
    bond_class: torch.Tensor
    bond_ptr: torch.Tensor
    charge: torch.Tensor
    ok: torch.Tensor
    source: torch.Tensor


def _from_smiles(smiles: str, symbols: list[str], pos: np.ndarray):
    from rdkit import Chem, rdBase

    from moldiff.chem.covalent import bonded_pairs, covalent_radii

    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    heavy = [k for k, s in enumerate(symbols) if s != "H"]
    if [a.GetSymbol() for a in mol.GetAtoms()] != [symbols[k] for k in heavy]:
        return None
    hydrogens = [k for k, s in enumerate(symbols) if s == "H"]
    if hydrogens:
        d = np.linalg.norm(pos[hydrogens][:, None] - pos[heavy][None], axis=-1)
        owner = d.argmin(1)
    else:
        owner = np.zeros(0, dtype=int)
    counts = np.bincount(owner, minlength=len(heavy))
    if [a.GetTotalNumHs() for a in mol.GetAtoms()] != counts.tolist():
        return None
    within = bonded_pairs(pos, covalent_radii(symbols), _SLACK)  # close enough to be bonded
    pairs, classes = [], []
    for b in mol.GetBonds():
        i, j = heavy[b.GetBeginAtomIdx()], heavy[b.GetEndAtomIdx()]
        if not within[i, j]:
            return None  # the SMILES bonds atoms that are apart in this geometry: another isomer
        pairs.append((min(i, j), max(i, j)))
        classes.append(_BOND_CLASS[b.GetBondTypeAsDouble()])
    for h, o in zip(hydrogens, owner):
        i = heavy[o]
        if not within[h, i]:
            return None
        pairs.append((min(h, i), max(h, i)))
        classes.append(1)
    charges = np.zeros(len(symbols), dtype=np.int64)
    charges[heavy] = [a.GetFormalCharge() for a in mol.GetAtoms()]
    return pairs, classes, charges


def _from_geometry(symbols: list[str], pos: np.ndarray):
    from rdkit import Chem, rdBase
    from rdkit.Chem import rdDetermineBonds
    from rdkit.Geometry import Point3D

    mol = Chem.RWMol()
    for s in symbols:
        mol.AddAtom(Chem.Atom(s))
    conf = Chem.Conformer(len(symbols))
    for k, p in enumerate(pos):
        conf.SetAtomPosition(k, Point3D(*map(float, p)))
    mol.AddConformer(conf, assignId=True)
    try:
        with rdBase.BlockLogs():
            rdDetermineBonds.DetermineBonds(mol, charge=0)
            Chem.SanitizeMol(mol)
    except Exception:  # noqa: BLE001 -- RDKit raises assorted errors for what it cannot explain
        return None
    pairs, classes = [], []
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        pairs.append((min(i, j), max(i, j)))
        classes.append(_BOND_CLASS[b.GetBondTypeAsDouble()])
    charges = np.array([a.GetFormalCharge() for a in mol.GetAtoms()], dtype=np.int64)
    return pairs, classes, charges


def molecule_bonds(smiles: str, symbols: list[str], pos: np.ndarray):
    """``(pairs, classes, charges, source)`` of one molecule (source 1 SMILES, 2 geometry), or
    ``None`` when neither route gives a table (or a charge outside :data:`CHARGES`)."""
    def usable(result):
        return result is not None and set(result[2].tolist()) <= set(CHARGES)

    result, source = _from_smiles(smiles, symbols, pos), 1
    if not usable(result):
        result, source = _from_geometry(symbols, pos), 2
    return (*result, source) if usable(result) else None


def _job(args):
    k, smiles, symbols, pos = args
    return k, molecule_bonds(smiles, symbols, pos)


def _cache_path(root: Path | None) -> Path:
    from moldiff.data.qm9 import _cache_path as qm9_cache_path

    base = qm9_cache_path(root)
    return base.with_name(base.name.replace("qm9_v", f"qm9_bonds_v{_CACHE_VERSION}_from_v"))


def _read(path: Path, num_molecules: int, num_atoms: int) -> QM9Bonds | None:
    from moldiff.serialization import load_tensors

    try:
        blob = load_tensors(path, "QM9 bond cache")
        bonds = QM9Bonds(**blob["bonds"])
        if not (len(bonds.ok) == num_molecules == len(bonds.bond_ptr) - 1 and len(bonds.charge) == num_atoms
                and int(bonds.bond_ptr[-1]) == bonds.pairs.shape[1] == len(bonds.bond_class)):
            raise ValueError("counts do not match QM9")
    except (InputError, KeyError, TypeError, ValueError) as exc:
        log.warning("%s: unusable QM9 bond cache (%s), rebuilding", path, exc)
        return None
    return bonds


def load_qm9_bonds(cache: str | Path | None = None, *, workers: int | None = None,
                   progress: bool = False) -> QM9Bonds:
    """The bond tables of all of QM9 (:class:`QM9Bonds`), computed once and cached."""
    from moldiff.data.qm9 import QM9_ELEMENTS, _csv_paths, load_qm9
    from moldiff.parallel import default_workers, ordered_map
    from moldiff.paths import atomic_path

    arrays = load_qm9(cache)
    path = _cache_path(Path(cache) if cache else None)
    if path.is_file() and (stored := _read(path, len(arrays), len(arrays.pos))) is not None:
        return stored
    import pandas as pd

    smiles = pd.concat([pd.read_csv(p, usecols=["Index", "SMILES"]) for p in _csv_paths()], ignore_index=True)
    smiles = dict(zip(smiles["Index"], smiles["SMILES"]))
    start = time.perf_counter()
    jobs = []
    for k in range(len(arrays)):
        lo, hi = int(arrays.ptr[k]), int(arrays.ptr[k + 1])
        symbols = [QM9_ELEMENTS[i] for i in arrays.atom_type[lo:hi].tolist()]
        jobs.append((k, smiles[int(arrays.index[k])], symbols, arrays.pos[lo:hi].double().numpy()))
    workers = workers or default_workers()
    log.info("QM9: bond tables for %d molecules (once; %d processes) -> %s", len(jobs), workers, path)
    results = list(_bar(ordered_map(_job, jobs, workers, chunksize=256), len(jobs), progress))
    pairs, classes, counts, source = [], [], [], []
    charge = arrays.charge.clone()
    for k, res in results:
        if res is None:
            counts.append(0)
            source.append(0)
            continue
        p, c, q, s = res
        pairs.extend(p)
        classes.extend(c)
        counts.append(len(p))
        source.append(s)
        lo = int(arrays.ptr[k])
        charge[lo:lo + len(q)] = torch.as_tensor(q)
    bond_ptr = torch.zeros(len(counts) + 1, dtype=torch.long)
    torch.cumsum(torch.tensor(counts), 0, out=bond_ptr[1:])
    source_t = torch.tensor(source, dtype=torch.long)
    bonds = QM9Bonds(pairs=torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T.contiguous(),
                     bond_class=torch.tensor(classes, dtype=torch.long), bond_ptr=bond_ptr, charge=charge,
                     ok=source_t > 0, source=source_t)
    log.info("QM9 bonds: %d from SMILES, %d from geometry, %d without (%.0f s)", int((source_t == 1).sum()),
             int((source_t == 2).sum()), int((source_t == 0).sum()), time.perf_counter() - start)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save({"version": _CACHE_VERSION, "bonds": vars(bonds)}, tmp)
    return bonds


def _bar(iterable, total, enabled):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc="QM9 bond tables", unit="mol")


class QM9BondDataset(torch.utils.data.Dataset):
    """One QM9 split with bond tables, for models that generate bonds: the molecules of
    ``split`` that have a table (``ok``), first ``limit`` of them. :meth:`collate` gives a PyG
    ``Batch`` with ``pos`` (centred), ``atom_type``, ``charge`` (class index into
    :data:`CHARGES`), ``edge_index`` (every ordered pair of a molecule) and ``bond_type``
    (class of each pair, 0 = none), ``batch``, ``ptr``, ``idx``."""

    def __init__(self, split: str, *, cache: str | Path | None = None, limit: int | None = None) -> None:
        from moldiff.data.qm9 import load_qm9, split_indices

        self.split = split
        self.arrays = load_qm9(cache)
        self.bonds = load_qm9_bonds(cache)
        rows = split_indices(split)
        self.rows = rows[self.bonds.ok.numpy()[rows]][:limit]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        from torch_geometric.data import Data

        b = self.collate([i])
        return Data(pos=b.pos, atom_type=b.atom_type, charge=b.charge, edge_index=b.edge_index,
                    bond_type=b.bond_type, idx=b.idx)

    def collate(self, items, *, center: bool = True):
        from torch_geometric.data import Batch

        from moldiff.geometry import full_edges

        a, bt = self.arrays, self.bonds
        k = torch.as_tensor(self.rows[np.asarray(items, dtype=np.int64)])
        start, counts = a.ptr[k], a.num_atoms[k]
        ptr = torch.zeros(len(k) + 1, dtype=torch.long)
        torch.cumsum(counts, 0, out=ptr[1:])
        batch = torch.repeat_interleave(torch.arange(len(k)), counts)
        atoms = torch.arange(int(ptr[-1])) - ptr[:-1][batch] + start[batch]
        pos = a.pos[atoms]
        if center:
            means = torch.zeros(len(k), 3, dtype=pos.dtype).index_add_(0, batch, pos) / counts[:, None].to(pos.dtype)
            pos = pos - means[batch]
        edge_index = full_edges(batch)
        n = int(ptr[-1])
        # the bond table's pairs (local, i < j) of these molecules, as global atom indices
        b_start, b_count = bt.bond_ptr[k], bt.bond_ptr[k + 1] - bt.bond_ptr[k]
        b_mol = torch.repeat_interleave(torch.arange(len(k)), b_count)
        b_ptr = torch.zeros(len(k) + 1, dtype=torch.long)
        torch.cumsum(b_count, 0, out=b_ptr[1:])
        rows = torch.arange(int(b_ptr[-1])) - b_ptr[:-1][b_mol] + b_start[b_mol]
        gi, gj = bt.pairs[0, rows] + ptr[:-1][b_mol], bt.pairs[1, rows] + ptr[:-1][b_mol]
        keys = edge_index[0] * n + edge_index[1]
        order = keys.argsort()
        bond_type = torch.zeros(edge_index.shape[1], dtype=torch.long)
        for src, dst in ((gi, gj), (gj, gi)):
            bond_type[order[torch.searchsorted(keys[order], src * n + dst)]] = bt.bond_class[rows]
        charge = bt.charge[atoms] - CHARGES[0]
        return Batch(pos=pos, atom_type=a.atom_type[atoms], charge=charge, edge_index=edge_index,
                     bond_type=bond_type, idx=k, batch=batch, ptr=ptr)

    def priors(self) -> dict:
        """Class frequencies of the split (the marginal priors): ``atom_type`` (K,), ``charge``
        (C,), ``bond_type`` (5,) over every atom pair (class 0 = no bond)."""
        from moldiff.data.qm9 import QM9_ELEMENTS

        a, bt = self.arrays, self.bonds
        k = torch.as_tensor(self.rows)
        counts = a.num_atoms[k]
        mask = torch.zeros(len(a), dtype=torch.bool).index_fill_(0, k, True)
        atom_mask = torch.repeat_interleave(mask, a.num_atoms)
        types = torch.bincount(a.atom_type[atom_mask], minlength=len(QM9_ELEMENTS)).double()
        charges = torch.bincount(bt.charge[atom_mask] - CHARGES[0], minlength=len(CHARGES)).double()
        bond_mask = torch.repeat_interleave(mask, bt.bond_ptr[1:] - bt.bond_ptr[:-1])
        bonds = torch.bincount(bt.bond_class[bond_mask], minlength=5).double()
        bonds[0] = float((counts * (counts - 1) // 2).sum()) - bonds[1:].sum()
        return {name: (v / v.sum()).float() for name, v in (("atom_type", types), ("charge", charges),
                                                              ("bond_type", bonds))}
