"""Where QM9 comes from: the qm9pack CSVs and the EDM/Cormorant split (shared by the
molecule arrays of :mod:`moldiff.data.qm9` and the properties of
:mod:`moldiff.data.qm9_properties`)."""
from __future__ import annotations

from importlib import metadata
from pathlib import Path

import numpy as np

from moldiff.errors import InputError

NUM_MOLECULES = 130_831
SPLIT_SIZES = {"train": 100_000, "val": 17_748, "test": 13_083}
_CSV_FILES = ("qm9pack/data/qm9_part1.csv", "qm9pack/data/qm9_part2.csv", "qm9pack/data/qm9_part3.csv")

#: the message when QM9 is asked for without its data package (an extra, not a core dependency)
QM9_MISSING = ("QM9 needs its data package (qm9pack, 224 MB), not installed by default: "
               "pip install 'moldiff[qm9]'")


def _csv_paths() -> list[Path]:
    try:
        dist = metadata.distribution("qm9pack")
    except metadata.PackageNotFoundError as exc:
        raise InputError(QM9_MISSING) from exc
    paths = [Path(dist.locate_file(f)) for f in _CSV_FILES]
    for p in paths:
        if not p.is_file():
            raise InputError(f"{p}: qm9pack is installed but this data file is missing")
    return paths


def split_indices(split: str, num_molecules: int = NUM_MOLECULES) -> np.ndarray:
    """Row indices of ``split`` ("train", "val" or "test") in the EDM/Cormorant split.

    ``numpy.random.seed(0); numpy.random.permutation(130831)`` cut at 100,000 and
    117,748 (the legacy global-seed generator, reproduced with ``RandomState(0)``).
    """
    if split not in SPLIT_SIZES:
        raise InputError(f"unknown QM9 split {split!r}; choose one of {', '.join(SPLIT_SIZES)}")
    perm = np.random.RandomState(0).permutation(num_molecules)
    n_train, n_val = SPLIT_SIZES["train"], SPLIT_SIZES["val"]
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, num_molecules)}
    lo, hi = bounds[split]
    return perm[lo:hi]
