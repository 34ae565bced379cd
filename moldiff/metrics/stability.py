"""Atom and molecule stability (EDM protocol, Hoogeboom et al. 2022, Sec. 5.1).

An atom is stable when the sum of its bond orders is an allowed valence for its
element; a molecule is stable when all its atoms are. The EDM table ignores formal
charges; the charge-aware table (MiDi-style) looks the valence up by (element, charge).
"""
from __future__ import annotations

import numpy as np

from moldiff.chem.tables import CHARGED_VALENCES, EDM_VALENCES


def atom_valences(orders: np.ndarray) -> np.ndarray:
    """(N,) total bond order per atom from an (N, N) bond-order matrix (aromatic = 1.5)."""
    return np.asarray(orders, dtype=np.float64).sum(axis=1)


def stable_atoms(
    symbols: list[str],
    valences: np.ndarray,
    charge: np.ndarray | None = None,
    *,
    table: str = "edm",
) -> np.ndarray:
    """(N,) bool: does each atom have an allowed valence?

    Args:
        symbols: element symbols.
        valences: (N,) total bond order per atom; non-integers (aromatic) are never stable
            under these integer tables unless they round exactly.
        charge: (N,) formal charges, used by ``table="charged"`` only.
        table: ``"edm"`` (charges ignored) or ``"charged"`` (by element and charge).
    """
    if table == "edm":
        allowed = [EDM_VALENCES.get(s, ()) for s in symbols]
    elif table == "charged":
        q = np.zeros(len(symbols), dtype=np.int64) if charge is None else np.asarray(charge)
        allowed = [CHARGED_VALENCES.get((s, int(c)), ()) for s, c in zip(symbols, q)]
    else:
        raise ValueError(f"unknown valence table {table!r}; choose 'edm' or 'charged'")
    return np.array([float(v) in a for v, a in zip(valences, allowed)], dtype=bool)
