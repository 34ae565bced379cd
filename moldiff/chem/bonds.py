"""Bond inference from 3D coordinates.

Two methods:

* ``"table"`` — the QM9/EDM protocol: a pair is bonded when its distance is below the
  reference single-bond length + 10 pm; double below the double length + 5 pm; triple
  below the triple length + 3 pm (:mod:`moldiff.chem.tables`). No charges are assigned.
* ``"rdkit"`` — RDKit's ``rdDetermineBonds`` (xyz2mol, Kim & Kim 2015): connectivity
  from covalent radii, then bond orders *and* formal charges that satisfy the total
  molecular charge. Slower, but chemically consistent; fails on impossible structures.
"""
from __future__ import annotations

import numpy as np

from moldiff.chem.tables import (
    BOND_MARGINS_PM,
    DOUBLE_BOND_PM,
    SINGLE_BOND_PM,
    SUPPORTED_ELEMENTS,
    TRIPLE_BOND_PM,
)

_INDEX = {el: i for i, el in enumerate(SUPPORTED_ELEMENTS)}


def _length_matrix(table: dict[tuple[str, str], float], margin: float) -> np.ndarray:
    """(K, K) thresholds in pm for the supported elements; -inf where no such bond exists."""
    k = len(SUPPORTED_ELEMENTS)
    out = np.full((k, k), -np.inf)
    for (a, b), length in table.items():
        out[_INDEX[a], _INDEX[b]] = length + margin
    return out


_THRESHOLDS = np.stack(
    [
        _length_matrix(SINGLE_BOND_PM, BOND_MARGINS_PM[0]),
        _length_matrix(DOUBLE_BOND_PM, BOND_MARGINS_PM[1]),
        _length_matrix(TRIPLE_BOND_PM, BOND_MARGINS_PM[2]),
    ]
)  # (3, K, K)


def element_indices(symbols: list[str] | tuple[str, ...]) -> np.ndarray:
    """Map element symbols to rows of the protocol tables; raises KeyError for unsupported ones."""
    return np.fromiter((_INDEX[s] for s in symbols), dtype=np.int64, count=len(symbols))


def table_bond_orders(symbols: list[str] | tuple[str, ...], pos: np.ndarray) -> np.ndarray:
    """Bond-order matrix by the EDM/QM9 bond-length protocol.

    Args:
        symbols: N element symbols (each in :data:`SUPPORTED_ELEMENTS`).
        pos: (N, 3) float coordinates in Å.

    Returns:
        (N, N) symmetric int64 matrix with 0 (no bond), 1, 2 or 3; zero diagonal.
    """
    idx = element_indices(symbols)
    pos = np.asarray(pos, dtype=np.float64)
    dist_pm = 100.0 * np.sqrt(((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1))
    thr = _THRESHOLDS[:, idx[:, None], idx[None, :]]  # (3, N, N)
    single, double, triple = (dist_pm < thr[0]), (dist_pm < thr[1]), (dist_pm < thr[2])
    orders = single * (1 + double * (1 + triple))
    np.fill_diagonal(orders, 0)
    return orders.astype(np.int64)


def bond_list(orders: np.ndarray) -> np.ndarray:
    """(M, 3) int array of (i, j, order) with i < j from a bond-order matrix."""
    i, j = np.nonzero(np.triu(orders, k=1))
    return np.stack([i, j, orders[i, j]], axis=1).astype(np.int64)


def orders_from_bond_list(num_atoms: int, bonds: np.ndarray) -> np.ndarray:
    """(N, N) float bond-order matrix from an (M, 3) list of (i, j, order); orders may be 1.5."""
    out = np.zeros((num_atoms, num_atoms), dtype=np.float64)
    if len(bonds):
        i, j = bonds[:, 0].astype(int), bonds[:, 1].astype(int)
        out[i, j] = bonds[:, 2]
        out[j, i] = bonds[:, 2]
    return out
