"""QM9 molecular properties for conditional generation, in the units of EDM's protocol.

EDM (Hoogeboom et al. 2022, Sec. 5.3; GeoLDM, Xu et al. 2023, the same protocol) conditions
on six of QM9's DFT properties. They are read from the qm9pack CSVs (the same rows, in
the same order, as :func:`moldiff.data.qm9.load_qm9`) and converted once:

======== ============================== ============ ==========================
name     qm9pack column                 unit         conversion
======== ============================== ============ ==========================
alpha    Polarizability_bohr3           Bohr^3       --
gap      HOMO_LUMO_gap_au               meV          x 27,211.386 (Hartree)
homo     HOMO_au                        meV          x 27,211.386
lumo     LUMO_au                        meV          x 27,211.386
mu       Dipole_debye                   D            --
Cv       Heatcapacity_Cv_cal_mol_K      cal/(mol K)  --
======== ============================== ============ ==========================

The protocol splits QM9's training split in two halves of 50,000 (EDM's code: a
``numpy.random.seed(42)`` permutation of the training molecules, first half for the property
classifier, second half for the conditional generator): :func:`edm_half`.
"""
from __future__ import annotations

import logging
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from moldiff.errors import InputError
from moldiff.paths import atomic_path, cache_dir
from moldiff.serialization import load_tensors

log = logging.getLogger(__name__)

HARTREE_TO_MEV = 27_211.386_245_988

#: name -> (qm9pack column, unit, factor from the CSV's unit)
PROPERTIES: dict[str, tuple[str, str, float]] = {
    "alpha": ("Polarizability_bohr3", "Bohr^3", 1.0),
    "gap": ("HOMO_LUMO_gap_au", "meV", HARTREE_TO_MEV),
    "homo": ("HOMO_au", "meV", HARTREE_TO_MEV),
    "lumo": ("LUMO_au", "meV", HARTREE_TO_MEV),
    "mu": ("Dipole_debye", "D", 1.0),
    "Cv": ("Heatcapacity_Cv_cal_mol_K", "cal/(mol K)", 1.0),
}
_CACHE_VERSION = 1
HALVES = ("first", "second")


def check_properties(names) -> tuple[str, ...]:
    """``names`` as a tuple, each a known property (:class:`InputError` naming the choices)."""
    names = tuple(names)
    unknown = [n for n in names if n not in PROPERTIES]
    if unknown:
        raise InputError(f"unknown QM9 propert{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
                         f"choose from {', '.join(PROPERTIES)}")
    if len(set(names)) != len(names):
        raise InputError(f"a property is named twice: {', '.join(names)}")
    return names


def unit(name: str) -> str:
    return PROPERTIES[name][1]


def _cache_path(root: Path | None) -> Path:
    from moldiff.data.qm9_files import QM9_MISSING

    try:
        version = metadata.version("qm9pack")
    except metadata.PackageNotFoundError as exc:
        raise InputError(QM9_MISSING) from exc
    return (Path(root) if root else cache_dir()) / f"qm9_properties_v{_CACHE_VERSION}_qm9pack-{version}.pt"


def _parse() -> torch.Tensor:
    import pandas as pd

    from moldiff.data.qm9_files import NUM_MOLECULES, _csv_paths

    columns = [col for col, _, _ in PROPERTIES.values()]
    df = pd.concat([pd.read_csv(p, usecols=["Index", *columns]) for p in _csv_paths()], ignore_index=True)
    if len(df) != NUM_MOLECULES:
        raise InputError(f"qm9pack holds {len(df)} molecules, expected {NUM_MOLECULES}")
    df = df.sort_values("Index", kind="stable").reset_index(drop=True)  # the order of load_qm9
    values = np.stack([df[col].to_numpy(np.float64) * factor for col, _, factor in PROPERTIES.values()], axis=1)
    if not np.isfinite(values).all():
        raise InputError("qm9pack: non-finite property values")
    return torch.from_numpy(values)


def load_qm9_properties(cache: str | Path | None = None) -> torch.Tensor:
    """(130,831, 6) float64: every QM9 molecule's :data:`PROPERTIES` (columns in that order),
    rows as :func:`~moldiff.data.qm9.load_qm9`. Converted from the CSVs once, then cached."""
    path = _cache_path(Path(cache) if cache else None)
    if path.is_file():
        try:
            blob = load_tensors(path, "QM9 property cache")
            if blob.get("version") == _CACHE_VERSION and list(blob.get("names", [])) == list(PROPERTIES):
                return blob["values"]
        except Exception as exc:  # truncated or foreign: rebuild
            log.warning("%s: unusable QM9 property cache (%s), rebuilding", path, exc)
    values = _parse()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save({"version": _CACHE_VERSION, "names": list(PROPERTIES), "values": values}, tmp)
    return values


def property_columns(names) -> list[int]:
    order = list(PROPERTIES)
    return [order.index(n) for n in check_properties(names)]


def edm_half(half: str) -> np.ndarray:
    """QM9 row indices of one half of the training split, EDM's protocol: ``"first"`` (the
    property classifiers train on it) or ``"second"`` (the conditional generators)."""
    from moldiff.data.qm9_files import split_indices

    if half not in HALVES:
        raise InputError(f"unknown half {half!r}; choose first or second")
    train = split_indices("train")
    rng = np.random.RandomState(42)  # numpy.random.seed(42); numpy.random.permutation(100000)
    perm = rng.permutation(len(train))
    cut = len(train) // 2
    return train[perm[:cut] if half == "first" else perm[cut:]]


def mean_mad(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column mean and mean absolute deviation, EDM's normalisation of properties."""
    values = torch.as_tensor(values, dtype=torch.float64)
    mean = values.mean(0)
    return mean, (values - mean).abs().mean(0)


def condition_stats(values: torch.Tensor, num_atoms: torch.Tensor, *, max_rows: int = 10000, seed: int = 0) -> dict:
    """What a conditional model keeps of its training data's properties: their ``mean`` and
    ``mad`` (the normalisation) and ``table``, (M, 1 + P) float32 rows of (atom count, values)
    of up to ``max_rows`` training molecules (seeded subsample), from which sampling draws
    atom counts and values jointly (EDM's protocol draws the values given the count)."""
    values = torch.as_tensor(values, dtype=torch.float64)
    mean, mad = mean_mad(values)
    rows = torch.randperm(len(values), generator=torch.Generator().manual_seed(seed))[:max_rows]
    table = torch.cat([torch.as_tensor(num_atoms)[rows].double().unsqueeze(1), values[rows]], dim=1)
    return {"mean": mean.float(), "mad": mad.float(), "table": table.float()}
