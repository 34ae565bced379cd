"""Small graph transforms (callables ``Data -> Data``)."""
from __future__ import annotations

import torch
from torch_geometric.data import Data


class CenterPositions:
    """Subtract the centre of geometry from ``pos`` (the zero-CoM convention of EDM)."""

    def __call__(self, data: Data) -> Data:
        from moldiff.geometry import remove_mean

        data.pos = remove_mean(data.pos, data.pos.new_zeros(len(data.pos), dtype=torch.long), 1)
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
