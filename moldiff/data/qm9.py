"""QM9 (130,831 molecules with DFT geometries) from the PyPI package ``qm9pack``.

The package's CSVs are read through :mod:`importlib.metadata` (``import qm9pack``
fails with setuptools >= 81), converted once into a compact cache file and reloaded
from it in about a second afterwards.

The split is the one EDM (Hoogeboom et al. 2022) and its successors report on
(inherited from Cormorant): a seed-0 NumPy permutation of the 130,831 molecules in
index order, cut into 100,000 train / 17,748 validation / 13,083 test.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from moldiff.data.qm9_files import NUM_MOLECULES, QM9_MISSING, SPLIT_SIZES, _csv_paths, split_indices  # noqa: F401
from moldiff.errors import InputError
from moldiff.serialization import load_tensors
from moldiff.paths import atomic_path, cache_dir

log = logging.getLogger(__name__)

#: QM9's element vocabulary; ``atom_type`` indexes into it.
QM9_ELEMENTS: tuple[str, ...] = ("H", "C", "N", "O", "F")
_CACHE_VERSION = 1
_CHARGED = re.compile(r"\[[^\]]*[+-]")


@dataclass
class QM9Arrays:
    """All of QM9 as flat arrays (molecule k owns atoms ``ptr[k]:ptr[k+1]``).

    Attributes:
        pos: (A, 3) float32, Å, as in the DFT geometry (not centred).
        atom_type: (A,) int64 index into :data:`QM9_ELEMENTS`.
        charge: (A,) int64 formal charges (from the record's SMILES; zero when its
            heavy-atom order does not match the geometry, 4 molecules).
        ptr: (M + 1,) int64 offsets.
        index: (M,) int64 QM9 ``gdb`` index (1-based, gaps where QM9 excluded molecules).
        smiles: M SMILES strings as shipped.
    """

    pos: torch.Tensor
    atom_type: torch.Tensor
    charge: torch.Tensor
    ptr: torch.Tensor
    index: torch.Tensor
    smiles: list[str]

    def __len__(self) -> int:
        return len(self.index)

    @property
    def num_atoms(self) -> torch.Tensor:
        """(M,) atoms per molecule."""
        return self.ptr[1:] - self.ptr[:-1]


def _formal_charges(smiles: str, heavy: list[str]) -> list[int] | None:
    """Formal charges of the heavy atoms, in geometry order, from a charged SMILES."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    if mol is None or [a.GetSymbol() for a in mol.GetAtoms()] != heavy:
        return None
    return [a.GetFormalCharge() for a in mol.GetAtoms()]


def _parse_csvs(paths: list[Path]) -> QM9Arrays:
    import pandas as pd

    frames = [pd.read_csv(p, usecols=["Index", "SMILES", "Elements", "XYZ_Ang"]) for p in paths]
    df = pd.concat(frames, ignore_index=True)
    if len(df) != NUM_MOLECULES:
        raise InputError(f"qm9pack holds {len(df)} molecules, expected {NUM_MOLECULES}")
    if not df["Index"].is_monotonic_increasing:
        df = df.sort_values("Index", kind="stable").reset_index(drop=True)
    code = {el: i for i, el in enumerate(QM9_ELEMENTS)}
    types, charges, coords, counts = [], [], [], []
    unmatched = 0
    for row, (smiles, elements, xyz) in enumerate(zip(df["SMILES"], df["Elements"], df["XYZ_Ang"])):
        symbols = [e.strip(" '\"") for e in elements.strip("[]").split(",")]
        # np.array(str.split) also reads numbers written as "0." that strict JSON rejects
        xyz_flat = np.array(xyz.replace("[", "").replace("]", "").split(","), dtype=np.float64)
        if xyz_flat.size != 3 * len(symbols):
            raise InputError(f"qm9pack row {row}: {len(symbols)} elements but {xyz_flat.size} coordinates")
        q = [0] * len(symbols)
        if _CHARGED.search(smiles):
            heavy_idx = [k for k, s in enumerate(symbols) if s != "H"]
            heavy_q = _formal_charges(smiles, [symbols[k] for k in heavy_idx])
            if heavy_q is None:
                unmatched += 1
            else:
                for k, c in zip(heavy_idx, heavy_q):
                    q[k] = c
        types.extend(code[s] for s in symbols)
        charges.extend(q)
        coords.append(xyz_flat)
        counts.append(len(symbols))
    if unmatched:
        log.info("QM9: %d charged SMILES did not match their geometry's atom order; charges set to 0", unmatched)
    ptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return QM9Arrays(
        pos=torch.from_numpy(np.concatenate(coords).reshape(-1, 3).astype(np.float32)),
        atom_type=torch.tensor(types, dtype=torch.int64),
        charge=torch.tensor(charges, dtype=torch.int64),
        ptr=torch.from_numpy(ptr),
        index=torch.tensor(df["Index"].to_numpy(), dtype=torch.int64),
        smiles=df["SMILES"].tolist(),
    )


def _cache_path(root: Path | None) -> Path:
    try:
        version = metadata.version("qm9pack")
    except metadata.PackageNotFoundError as exc:
        raise InputError(QM9_MISSING) from exc
    return (Path(root) if root else cache_dir()) / f"qm9_v{_CACHE_VERSION}_qm9pack-{version}.pt"


def write_cache(arrays: QM9Arrays, path: str | Path | None = None) -> Path:
    """Write ``arrays`` as the processed-QM9 cache file that :func:`load_qm9` reads
    (default: its own path), atomically. Returns the path."""
    path = _cache_path(None) if path is None else Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save({"version": _CACHE_VERSION, "arrays": vars(arrays)}, tmp)
    return path


def _check_arrays(arrays: QM9Arrays) -> None:
    """Raise ValueError unless the arrays are one consistent copy of QM9."""
    n = len(arrays.index)
    atoms = int(arrays.ptr[-1]) if len(arrays.ptr) else -1
    if not (n == NUM_MOLECULES == len(arrays.smiles) == len(arrays.ptr) - 1 and
            atoms == len(arrays.pos) == len(arrays.atom_type) == len(arrays.charge)):
        raise ValueError(f"{n} molecules / {len(arrays.pos)} atoms do not make up QM9")


def load_qm9(cache: str | Path | None = None) -> QM9Arrays:
    """Load all of QM9, converting the qm9pack CSVs on first use.

    Args:
        cache: folder for the processed file (default: ``MOLDIFF_CACHE`` or the
            platform cache dir).
    """
    path = _cache_path(Path(cache) if cache else None)
    if path.is_file():
        try:
            blob = load_tensors(path, "QM9 cache")  # tensors and plain data only: never runs code
            if blob.get("version") == _CACHE_VERSION:
                arrays = QM9Arrays(**blob["arrays"])
                _check_arrays(arrays)
                return arrays
            log.warning("%s: cache version %s, rebuilding", path, blob.get("version"))
        except Exception as exc:  # a truncated, foreign or crafted file: rebuild rather than fail
            log.warning("%s: unusable QM9 cache (%s), rebuilding", path, exc)
    start = time.perf_counter()
    log.info("QM9: converting the qm9pack CSVs (once) into %s", path)
    arrays = _parse_csvs(_csv_paths())
    write_cache(arrays, path)
    log.info("QM9: %d molecules converted in %.1f s", len(arrays), time.perf_counter() - start)
    return arrays


def qm9_molecules(split: str, *, limit: int | None = None, cache: str | Path | None = None):
    """QM9 molecules of a split as :class:`moldiff.chem.Mol3D` records (formal charges included).

    Args:
        split: "train", "val" or "test".
        limit: keep only the first ``limit`` molecules of the split's order.
    """
    from moldiff.chem.molecule import Mol3D

    arrays = load_qm9(cache)
    rows = split_indices(split)[:limit]
    out = []
    for k in rows:
        lo, hi = int(arrays.ptr[k]), int(arrays.ptr[k + 1])
        symbols = [QM9_ELEMENTS[i] for i in arrays.atom_type[lo:hi].tolist()]
        name = f"gdb_{int(arrays.index[k])}"
        out.append(Mol3D(symbols, arrays.pos[lo:hi].numpy(), arrays.charge[lo:hi].numpy(), None, name))
    return out


def qm9_stats(split: str = "train", cache: str | Path | None = None, half: str | None = None):
    """Atom-count histogram and atom-type/charge marginals of a QM9 split (from the data);
    ``half``: of one half of the training split (EDM's property protocol)."""
    from moldiff.data.qm9_properties import edm_half
    from moldiff.data.stats import compute_stats

    arrays = load_qm9(cache)
    rows = torch.from_numpy(split_indices(split) if half is None else edm_half(half))
    counts = arrays.num_atoms[rows]
    atom_mask = torch.repeat_interleave(torch.zeros(len(arrays), dtype=torch.bool).index_fill_(0, rows, True), arrays.num_atoms)
    return compute_stats(counts, arrays.atom_type[atom_mask], arrays.charge[atom_mask], QM9_ELEMENTS)


class QM9Dataset(torch.utils.data.Dataset):
    """One QM9 split as PyG ``Data`` graphs (fields: ``pos``, ``atom_type``, ``charge``, ``idx``;
    ``y`` (1, P) with ``properties``).

    Args:
        split: "train", "val" or "test".
        cache: folder of the processed file (see :func:`load_qm9`).
        limit: keep only the first ``limit`` molecules of the split (for quick runs).
        transform: optional callable applied to each ``Data`` (e.g. ``CenterPositions()``).
        half: ``"first"`` or ``"second"``: only that half of the training split, EDM's property
            protocol (:func:`moldiff.data.qm9_properties.edm_half`).
        properties: names of :data:`moldiff.data.qm9_properties.PROPERTIES` carried as ``y``
            (in their units).
    """

    elements = QM9_ELEMENTS

    def __init__(self, split: str, *, cache: str | Path | None = None, limit: int | None = None, transform=None,
                 half: str | None = None, properties=()):
        from moldiff.data.qm9_properties import edm_half, load_qm9_properties, property_columns

        self.split = split
        if half is not None and split != "train":
            raise InputError(f"half {half!r} applies to the train split only (got {split!r})")
        self.rows = (split_indices(split) if half is None else edm_half(half))[:limit]
        self.arrays = load_qm9(cache)
        self.transform = transform
        self.properties = tuple(properties)
        self.y = (load_qm9_properties(cache)[:, property_columns(self.properties)].float()
                  if self.properties else None)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        from torch_geometric.data import Data

        k = int(self.rows[i])
        lo, hi = int(self.arrays.ptr[k]), int(self.arrays.ptr[k + 1])
        data = Data(
            pos=self.arrays.pos[lo:hi].clone(),
            atom_type=self.arrays.atom_type[lo:hi].clone(),
            charge=self.arrays.charge[lo:hi].clone(),
            idx=torch.tensor([k]),
        )
        if self.y is not None:
            data.y = self.y[k].unsqueeze(0).clone()
        return self.transform(data) if self.transform is not None else data

    def collate(self, items, *, center: bool = False):
        """A PyG ``Batch`` of the split's items ``items`` (positions in the dataset), built by
        slicing the flat arrays: the same fields and values as PyG's collate of
        ``[self[i] for i in items]`` (with ``center``: positions centred per molecule, as
        :class:`~moldiff.data.transforms.CenterPositions`), ~30x faster, so that data
        loading keeps up with a GPU. The dataset's own ``transform`` is not applied.
        """
        from torch_geometric.data import Batch

        k = torch.as_tensor(self.rows[np.asarray(items, dtype=np.int64)])
        start, counts = self.arrays.ptr[k], self.arrays.num_atoms[k]
        ptr = torch.zeros(len(k) + 1, dtype=torch.long)
        torch.cumsum(counts, 0, out=ptr[1:])
        batch = torch.repeat_interleave(torch.arange(len(k)), counts)
        atoms = torch.arange(int(ptr[-1])) - ptr[:-1][batch] + start[batch]
        pos = self.arrays.pos[atoms]
        if center:
            means = torch.zeros(len(k), 3, dtype=pos.dtype).index_add_(0, batch, pos) / counts[:, None].to(pos.dtype)
            pos = pos - means[batch]
        extra = {} if self.y is None else {"y": self.y[k]}
        return Batch(pos=pos, atom_type=self.arrays.atom_type[atoms], charge=self.arrays.charge[atoms], idx=k,
                     batch=batch, ptr=ptr, **extra)

    def __repr__(self) -> str:
        return f"QM9Dataset(split={self.split!r}, n={len(self)})"
