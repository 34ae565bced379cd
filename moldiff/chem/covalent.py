"""The one distance rule for "bonded" used across moldiff: two atoms are bonded when closer
than ``scale`` x the sum of their covalent radii. Callers differ only in the scale and, where
a program's own convention must be reproduced (Vina's atom typing), in the radii table.

numpy only (no RDKit at import): Vina typing and guidance use it on machines without RDKit.
"""
from __future__ import annotations

import numpy as np


def covalent_radii(symbols) -> np.ndarray:
    """Covalent radii (Å) of element ``symbols``, RDKit's periodic table (H 0.31, C 0.76, N 0.71,
    O 0.66, F 0.57, ...)."""
    from rdkit import Chem

    table = Chem.GetPeriodicTable()
    return np.array([table.GetRcovalent(s) for s in symbols], dtype=np.float64)


def bonded_pairs(pos: np.ndarray, radii: np.ndarray, scale: float) -> np.ndarray:
    """(N, N) bool: atoms ``i != j`` closer than ``scale`` x (r_i + r_j); ``pos`` (N, 3) Å."""
    pos = np.asarray(pos, dtype=np.float64).reshape(-1, 3)
    radii = np.asarray(radii, dtype=np.float64)
    dist = np.sqrt(((pos[:, None] - pos[None]) ** 2).sum(-1))
    bonded = dist < scale * (radii[:, None] + radii[None, :])
    np.fill_diagonal(bonded, False)
    return bonded
