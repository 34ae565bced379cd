"""Small graph transforms (callables ``Data -> Data``)."""
from __future__ import annotations

from torch_geometric.data import Data


class CenterPositions:
    """Subtract the centre of geometry from ``pos`` (the zero-CoM convention of EDM)."""

    def __call__(self, data: Data) -> Data:
        data.pos = data.pos - data.pos.mean(dim=0, keepdim=True)
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
